"""nbgrader's exchange between real users: a whole class walked with nbgrader's own commands.

The machine (``tests/class_fixtures.py``): an instructor and three students as real Unix users,
an exchange root with nbgrader's permissions, the instructor's private course. Every step runs as
the user who would run it:

1. instructor: ``nbgrader release_assignment`` of the five problem sets (session fixture
   ``released``), and ``chmod +t`` on the exchange's ``inbound/``;
2. each student: ``nbgrader list``, ``fetch_assignment`` of all five; works them: alice answers
   everything with the reference answers (``aegrade.reference_submission``), bob makes one
   mistake per problem set (``tests/problem_set_mutations.py``), carol answers nothing;
   ``nbgrader validate`` of ps1; ``nbgrader submit``. Alice submits ps1 twice (first with a
   mistake): the later submission is the one graded. The instructor sets ps1's due date
   (``nbgrader db assignment add --duedate``) and carol submits ps1 after it: nbgrader reports it
   late (its default late-submission policy, ``LateSubmissionPlugin.penalty_method = "none"``:
   the seconds late are recorded, no points are taken);
3. bob tries to list ``inbound/``, read alice's submission and rename it: refused;
4. instructor: ``nbgrader collect``; the grader's ``autograde`` and ``feedback`` as root (the
   sandbox needs root; the output is given back to the instructor); manual grades for the written
   answers through nbgrader's gradebook API; ``nbgrader release_feedback``;
5. each student: ``nbgrader fetch_feedback``: their own feedback, with no hidden test in it;
6. the grader's ``grades`` CSV, asserted student by student.
"""
from __future__ import annotations

import csv
import hashlib
import html
import json
import re
import time
from pathlib import Path

import pytest

pytest.register_assert_rewrite("class_fixtures")
from class_fixtures import COURSE_ID, INSTRUCTOR, PROBLEM_SETS, REPO, STUDENTS  # noqa: E402
from problem_set_mutations import MUTATIONS, apply_edits  # noqa: E402
from aegrade import reference_submission  # noqa: E402
from tools.student_release import GENERIC_LINES, MIN_CHARS, secret_lines  # noqa: E402

pytestmark = pytest.mark.slow  # real users, servers and a browser (make test-fast leaves these out)

pytest_plugins = ("class_fixtures",)

ALICE, BOB, CAROL = STUDENTS
PS1 = "ps1_forward_and_losses"
#: bob's mistake in each problem set: the first mutation listed for it
BOB_MISTAKES = {ps: next(m for m in MUTATIONS if m.assignment == ps) for ps in PROBLEM_SETS}
ALICE_FIRST_MISTAKE = next(m for m in MUTATIONS if m.assignment == PS1 and m != BOB_MISTAKES[PS1])
#: manual grade given to each written answer: alice the full marks, bob one point less, carol none
MANUAL = {ALICE: lambda maximum: maximum, BOB: lambda maximum: maximum - 1}


def _source(ps: str) -> dict:
    return json.loads((REPO / "solutions" / ps / f"{ps}.ipynb").read_text())


def _grade_cells(ps: str) -> dict:
    """``{grade_id: (points, written)}`` of a problem set's graded cells."""
    out = {}
    for cell in _source(ps)["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("grade"):
            out[meta["grade_id"]] = (float(meta["points"]), cell["cell_type"] == "markdown")
    return out


def _ok(results: list[dict]) -> None:
    for r in results:
        assert r["code"] == 0, f"nbgrader {' '.join(r['args'])} failed:\n{r['out'][-2000:]}\n{r['log'][-3000:]}"


def _text(page: str) -> str:
    page = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S | re.I)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", page)).split())


SNOOP = r"""
import json, os, sys
inbound, target = sys.argv[1], sys.argv[2]
out = {}
def attempt(name, fn):
    try:
        fn()
        out[name] = "allowed"
    except PermissionError:
        out[name] = "refused"
    except OSError as exc:
        out[name] = type(exc).__name__
attempt("list inbound", lambda: os.listdir(inbound))
attempt("read notebook", lambda: open(os.path.join(target, sys.argv[3])).read())
attempt("list submission", lambda: os.listdir(target))
attempt("rename submission", lambda: os.rename(target, os.path.join(inbound, "stolen")))
attempt("list feedback", lambda: os.listdir(os.path.join(os.path.dirname(inbound), "feedback")))
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def walked(class_env, released):
    """Walk the whole loop once; return what the tests look at."""
    m = class_env
    t0 = time.monotonic()
    seen: dict = {"timings": {}}

    def lap(name):
        seen["timings"][name] = round(time.monotonic() - t0, 1)

    # ---- 2. each student, in one process: list, fetch, work, validate ps1, submit
    releases = {ps: (REPO / "exercises" / ps / f"{ps}.ipynb").read_text() for ps in PROBLEM_SETS}
    reference = {ps: reference_submission(_source(ps), json.loads(releases[ps])) for ps in PROBLEM_SETS}
    nb_ps1 = f"{PS1}/{PS1}.ipynb"

    def write(ps, nb):  # the student saves their work
        return {"write": f"{ps}/{ps}.ipynb", "text": json.dumps(nb, indent=1)}

    fetch = ([["list"]] + [["fetch_assignment", ps] for ps in PROBLEM_SETS]
             + [{"sha256": f"{ps}/{ps}.ipynb"} for ps in PROBLEM_SETS])
    others = [ps for ps in PROBLEM_SETS if ps != PS1]
    steps = {
        # alice: ps1 with a mistake, validate, submit; fixed, validate, submit again; the rest right
        ALICE: fetch + [write(PS1, apply_edits(reference[PS1], ALICE_FIRST_MISTAKE)),
                        ["validate", nb_ps1], ["submit", PS1],
                        write(PS1, reference[PS1]), ["validate", nb_ps1], ["submit", PS1]]
        + [write(ps, reference[ps]) for ps in others] + [["submit", ps] for ps in others],
        # bob: one mistake in each problem set
        BOB: fetch + [write(ps, apply_edits(reference[ps], BOB_MISTAKES[ps])) for ps in PROBLEM_SETS]
        + [["validate", nb_ps1]] + [["submit", ps] for ps in PROBLEM_SETS],
        # carol: nothing answered; ps1 comes later, after its due date
        CAROL: fetch + [["validate", nb_ps1]] + [["submit", ps] for ps in others],
    }
    res = m.nbgrader_at_once(steps)
    digests = {ps: hashlib.sha256(releases[ps].encode()).hexdigest() for ps in PROBLEM_SETS}
    seen["validate"], seen["list"], seen["fetched_as_released"] = {}, {}, {}
    for s in STUDENTS:
        _ok([r for r in res[s] if r["args"][0] != "validate"])
        seen["list"][s] = res[s][0]["log"]
        seen["fetched_as_released"][s] = [r["out"] == digests[Path(r["args"][1]).stem]
                                          for r in res[s] if r["args"][0] == "sha256"]
        validations = [r for r in res[s] if r["args"][0] == "validate"]
        seen["validate"][s] = validations[-1]
        if s == ALICE:
            seen["validate_alice_first"] = validations[0]
    lap("submitted")

    # ---- the due date of ps1 passes; carol submits ps1 after it
    due = int(time.time()) + 1  # after every submission so far
    duedate = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(due))
    _ok(m.nbgrader(INSTRUCTOR, [["db", "assignment", "add", PS1, f"--duedate={duedate}"]], cwd=m.course))
    while time.time() < due + 1.0:  # strictly after the due date
        time.sleep(0.2)
    res = m.nbgrader(CAROL, [["submit", PS1], ["list", "--cached"]])
    _ok(res)
    seen["carol_cached"] = res[1]["log"]
    seen["duedate"] = duedate
    lap("late submission")

    # ---- 3. bob snoops on alice's submission
    inbound = released / "inbound"
    alice_subs = sorted(p for p in inbound.iterdir() if p.name.startswith(f"{ALICE}+{PS1}+"))
    seen["alice_ps1_submissions"] = [p.name for p in alice_subs]
    seen["inbound_modes"] = {p.name: p.stat().st_mode & 0o7777 for p in inbound.iterdir()}
    seen["inbound_mode"] = inbound.stat().st_mode & 0o7777
    seen["feedback_folder_before"] = (released / "feedback").exists()  # the browser test's, if any
    snoop = m.python(BOB, SNOOP, inbound, alice_subs[-1], f"{PS1}.ipynb")
    assert snoop.returncode == 0, snoop.stderr
    seen["snoop"] = json.loads(snoop.stdout)
    assert all(p.exists() for p in alice_subs)

    # ---- 4. instructor: collect, autograde, manual grades, feedback, release
    _ok(m.nbgrader(INSTRUCTOR, [["collect", ps] for ps in PROBLEM_SETS], cwd=m.course))
    seen["collected_count"] = len([p for p in (m.course / "submitted").glob("*/*") if p.is_dir()])
    seen["collected_timestamp"] = (m.course / "submitted" / ALICE / PS1 / "timestamp.txt").read_text()
    lap("collected")
    graded = m.grader("autograde")
    assert graded.returncode == 0, graded.stdout[-3000:] + graded.stderr[-5000:]
    seen["autograde"] = graded.stdout
    lap("autograded")
    manual = {s: {ps: {gid: MANUAL[s](pts) for gid, (pts, written) in _grade_cells(ps).items() if written}
                  for ps in PROBLEM_SETS} for s in MANUAL}
    code = r"""
import json, sys
from nbgrader.api import Gradebook
manual = json.loads(sys.argv[1])
out = {"late": {}}
with Gradebook("sqlite:///gradebook.db", course_id=sys.argv[2]) as gb:
    for student, per in manual.items():
        for ps, grades in per.items():
            for gid, score in grades.items():
                grade = gb.find_grade(gid, ps, ps, student)
                grade.manual_score = score
            gb.db.commit()
    for sub in gb.find_assignment(sys.argv[3]).submissions:
        out["late"][sub.student.id] = sub.total_seconds_late
print(json.dumps(out))
"""
    res = m.python(INSTRUCTOR, code, json.dumps(manual), COURSE_ID, PS1, cwd=m.course)
    assert res.returncode == 0, res.stderr[-3000:]
    seen["late"] = json.loads(res.stdout.strip().splitlines()[-1])["late"]
    fb = m.grader("feedback")
    seen["feedback_code"] = fb.returncode
    seen["feedback_alarms"] = re.findall(r"hidden test line leaked into (\S+): (.*)", fb.stderr)
    # the feedback files are written before the command's own check (see the xfail test below)
    assert fb.returncode == 0 or seen["feedback_alarms"], fb.stdout[-3000:] + fb.stderr[-5000:]
    _ok(m.nbgrader(INSTRUCTOR, [["release_feedback", ps] for ps in PROBLEM_SETS], cwd=m.course))
    lap("feedback released")

    # ---- 5. students fetch their feedback
    res = m.nbgrader_at_once({s: [["fetch_feedback", ps] for ps in PROBLEM_SETS] for s in STUDENTS})
    for s in STUDENTS:
        _ok(res[s])
    seen["feedback"] = {s: sorted(str(p.relative_to(m.homes[s])) for p in m.homes[s].glob("*/feedback/*/*.html"))
                        for s in STUDENTS}
    snoop = m.python(BOB, SNOOP, inbound, alice_subs[-1], f"{PS1}.ipynb")
    seen["snoop_after"] = json.loads(snoop.stdout)
    lap("feedback fetched")

    # ---- 6. grades
    out = m.course / "grades.csv"
    res = m.grader("grades", "--out", out)
    assert res.returncode == 0, res.stderr
    with open(out) as fh:
        seen["grades"] = {row["student"]: row for row in csv.DictReader(fh)}
    lap("grades")
    print(f"\nexchange loop timings (s since start): {seen['timings']}")
    return seen


def test_every_student_sees_and_fetches_the_released_problem_sets(walked):
    for s in STUDENTS:
        assert walked["fetched_as_released"][s] == [True] * len(PROBLEM_SETS)
        for ps in PROBLEM_SETS:
            assert f"{COURSE_ID} {ps}" in walked["list"][s]


def test_validate_reports_passing_and_failing_notebooks(walked):
    v = walked["validate"]
    assert "Success! Your notebook passes all the tests." in v[ALICE]["out"]
    for s in (BOB, CAROL):
        assert "Success!" not in v[s]["out"]
        assert "VALIDATION FAILED" in v[s]["out"] or "failed" in v[s]["out"].lower()
    first = walked["validate_alice_first"]["out"]
    assert "Success!" not in first and "VALIDATION FAILED" in first
    assert "NotImplementedError" in v[CAROL]["out"]


def test_the_exchange_keeps_submissions_private(walked):
    assert walked["inbound_mode"] == 0o3733  # set-gid, sticky; students write, cannot list
    assert all(mode & 0o007 == 0 for mode in walked["inbound_modes"].values()), walked["inbound_modes"]
    refused = {"list inbound": "refused", "read notebook": "refused",
               "list submission": "refused", "rename submission": "refused"}
    # before this loop's release_feedback the exchange has no feedback folder (unless the browser
    # test released some already)
    before = "refused" if walked["feedback_folder_before"] else "FileNotFoundError"
    assert walked["snoop"] == refused | {"list feedback": before}, walked["snoop"]
    assert walked["snoop_after"] == refused | {"list feedback": "refused"}, walked["snoop_after"]


def test_the_later_of_two_submissions_is_the_one_collected_and_graded(walked):
    subs = walked["alice_ps1_submissions"]
    assert len(subs) == 2
    later = max(subs, key=lambda name: name.split("+")[2])
    assert walked["collected_timestamp"] == later.split("+")[2]
    row = walked["grades"][ALICE]
    assert row[f"{PS1}:total"] == row[f"{PS1}:max"]


def test_a_submission_after_the_due_date_is_reported_late(walked):
    late = walked["late"]
    assert f"{COURSE_ID} {CAROL} {PS1}" in walked["carol_cached"]  # her `nbgrader list --cached`
    assert late[CAROL] > 0
    assert late[ALICE] == 0 and late[BOB] == 0
    assert walked["grades"][CAROL][f"{PS1}:status"] == "graded"


def test_autograde_graded_every_submission(walked):
    out = walked["autograde"]
    assert "flagged: 0, ungraded: 0" in out
    # every collected submission (the browser test's student may have one too) was graded
    assert f"graded: {walked['collected_count']}" in out
    assert walked["collected_count"] >= len(STUDENTS) * len(PROBLEM_SETS)


def test_the_graders_feedback_command_passes_its_own_check(walked):
    assert walked["feedback_code"] == 0, walked["feedback_alarms"][:5]


def test_the_feedback_check_alarms_are_only_lines_that_mean_nothing(walked):
    """What the grader's check flagged is short or generic (the same rules as the student release's
    leak search), never a meaningful hidden-test line."""
    for path, line in walked["feedback_alarms"]:
        text = " ".join(line.split())
        assert len(text) < MIN_CHARS or text in GENERIC_LINES, (path, line)


def test_each_student_fetches_their_own_feedback_without_hidden_tests(walked, class_env):
    hidden = [s.text for s in secret_lines(REPO / "solutions")[0] if s.kind == "hidden test"]
    assert len(hidden) > 50
    for s in STUDENTS:
        files = walked["feedback"][s]
        assert sorted(Path(f).parts[0] for f in files) == PROBLEM_SETS, files
        for f in files:
            ps = Path(f).parts[0]
            text = _text((class_env.homes[s] / f).read_text())
            assert not [line for line in hidden if line in text], f"{s}: hidden test in {f}"
            row = walked["grades"][s]
            # nbgrader's feedback page states the student's score for the notebook
            assert re.search(rf"Score:\s*{re.escape(row[f'{ps}:total'])}(\.0+)?\s*/\s*"
                             rf"{re.escape(row[f'{ps}:max'])}(\.0+)?", text), (s, f, text[:300])
    # alice's first ps1 submission (the one not graded) gets no feedback; her later one does
    alice_ps1 = [f for f in walked["feedback"][ALICE] if f.startswith(PS1)]
    assert len(alice_ps1) == 1
    assert Path(alice_ps1[0]).parts[2] == walked["collected_timestamp"]


def test_the_grades_csv_student_by_student(walked):
    rows = walked["grades"]
    assert set(STUDENTS) <= set(rows)
    overall = {s: 0.0 for s in STUDENTS}
    for ps in PROBLEM_SETS:
        cells = _grade_cells(ps)
        maximum = sum(p for p, _ in cells.values())
        written = {gid: p for gid, (p, w) in cells.items() if w}
        broken = BOB_MISTAKES[ps].breaks
        expected = {
            ALICE: {gid: p for gid, (p, _) in cells.items()},
            BOB: {gid: (0.0 if gid == broken else (p - 1 if gid in written else p))
                  for gid, (p, _) in cells.items()},
            CAROL: {gid: 0.0 for gid in cells},
        }
        for s in STUDENTS:
            row = rows[s]
            assert row[f"{ps}:status"] == "graded", (s, ps, row[f"{ps}:status"])
            assert float(row[f"{ps}:max"]) == maximum
            got = {gid: float(row[f"{ps}:{gid}"]) for gid in cells}
            assert got == expected[s], (s, ps)
            assert float(row[f"{ps}:total"]) == sum(expected[s].values())
            overall[s] += sum(expected[s].values())
    for s in STUDENTS:
        assert float(rows[s]["total"]) == overall[s]
    assert overall[ALICE] > overall[BOB] > overall[CAROL] == 0
