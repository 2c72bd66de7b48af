"""A student's and an instructor's screens, in a real browser: JupyterLab 4 with nbgrader 0.9.6's
extensions, driven in Debian's Chromium through Playwright.

On the machine of ``tests/class_fixtures.py`` (shared with ``tests/test_exchange.py``; the
instructor has released the five problem sets), the student ``aecls-dave`` runs his own
JupyterLab server (``jupyter lab`` as that user, root folder his home, empty token, JupyterLab's
news off in his user settings, notebooks fully rendered) and, in Chromium:

1. opens ``/lab?reset``, then *Nbgrader > Assignment List*: the five problem sets are listed;
2. clicks **Fetch** on ps1; the notebook arrives in his home. (His answers to problems 2-6 are
   then written into the file, as earlier work would have; the browser does problem 1.)
3. opens the notebook from the list (dismissing a *Select Kernel* dialog if one comes), writes the
   textbook sigmoid ``1/(1+exp(-z))`` into the answer cell, runs the notebook: the visible test
   fails (overflow);
4. saves, clicks **Validate**: the error dialog names the failing test;
5. fixes the answer (the stable sigmoid), runs again: the test passes; saves; **Validate**: success;
6. checks the **Validate** button of Notebook 7's notebook view (``/notebooks/...``): success;
7. clicks **Submit** in the Assignment List: the submission is listed, and it is in the exchange.

The instructor collects it (``nbgrader collect``), the grader autogrades it as root, and the
instructor's own JupyterLab server shows the formgrader's *Manage Submissions* page for ps1 in
Chromium: dave's submission is listed with its score. After the grader's ``feedback`` and the
instructor's ``nbgrader release_feedback``, dave refreshes his Assignment List, clicks **Fetch
Feedback**, follows *(view feedback)* and opens the page: his score is in it, no hidden test is.

Every step leaves a screenshot in ``build/screenshots/`` (``browser-NN-*.png``).
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

pytest.register_assert_rewrite("class_fixtures")
from class_fixtures import BROWSER_STUDENT, INSTRUCTOR, REPO, _write_as  # noqa: E402
from problem_set_mutations import MUTATIONS, apply_edits  # noqa: E402
from aegrade import reference_submission  # noqa: E402
from tools.student_release import secret_lines  # noqa: E402

pytestmark = pytest.mark.slow  # real users, servers and a browser (make test-fast leaves these out)

pytest_plugins = ("class_fixtures",)

PS1 = "ps1_forward_and_losses"
DAVE = BROWSER_STUDENT
SHOTS = REPO / "build" / "screenshots"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
WAIT = 120_000  # ms: JupyterLab on 2 busy cores is slow
#: the student's first try at problem 1, and the answer he fixes it to
NAIVE = next(m for m in MUTATIONS if m.name == "ps1-naive-sigmoid")

#: JupyterLab user settings of the student: no news pop-up, every cell rendered (no windowing)
USER_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings":
        {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``jupyter lab`` as a user (own process group, stopped by its id)."""

    def __init__(self, machine, user: str, root_dir: Path, log: Path):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        argv = [str(machine.bin / "jupyter"), "lab", "--no-browser", f"--port={self.port}",
                "--ip=127.0.0.1", "--ServerApp.token=", "--ServerApp.password=",
                f"--ServerApp.root_dir={root_dir}", "--ServerApp.open_browser=False"]
        self._fh = open(log, "w")
        self.proc = machine.popen(user, argv, cwd=root_dir, stdout=self._fh, stderr=subprocess.STDOUT,
                                  start_new_session=True)

    def wait(self, timeout=180) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter lab exited {self.proc.returncode}:\n{self.log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/api/status", timeout=5) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(1)
        raise RuntimeError(f"jupyter lab did not answer in {timeout} s:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=30)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(timeout=10)
        self._fh.close()


class Shots:
    """Numbered screenshots of every step."""

    def __init__(self):
        SHOTS.mkdir(parents=True, exist_ok=True)
        for old in SHOTS.glob("browser-*.png"):
            old.unlink()
        self.n = 0
        self.taken: list[Path] = []

    def __call__(self, page, name: str) -> Path:
        self.n += 1
        path = SHOTS / f"browser-{self.n:02d}-{name}.png"
        page.screenshot(path=str(path))
        self.taken.append(path)
        return path


def _dismiss_kernel_dialog(page, wait_ms=8000) -> None:
    """Accept JupyterLab's "Select Kernel" dialog if it comes up."""
    dialog = page.locator(".jp-Dialog:has-text('Select Kernel')")
    try:
        dialog.wait_for(state="visible", timeout=wait_ms)
    except Exception:
        return
    dialog.locator("button.jp-mod-accept").click()
    dialog.wait_for(state="hidden", timeout=WAIT)


def _cell_index(nb: dict, grade_id: str) -> int:
    return next(i for i, c in enumerate(nb["cells"])
                if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == grade_id)


def _cell_source(nb: dict, grade_id: str) -> str:
    src = nb["cells"][_cell_index(nb, grade_id)]["source"]
    return src if isinstance(src, str) else "".join(src)


def _set_cell(page, cells, index: int, text: str) -> None:
    """Replace a cell's text as a student would: click into it, select all, type."""
    editor = cells.nth(index).locator(".cm-content")
    editor.click()
    page.keyboard.press("ControlOrMeta+a")
    page.keyboard.press("Delete")
    page.keyboard.insert_text(text)


def _menu(page, menu: str, command: str) -> None:
    page.locator(f"#jp-menu-panel div.lm-MenuBar-itemLabel:text-is('{menu}')").click()
    page.locator(f".lm-Menu li[data-command='{command}']").click()


def _command(page, command: str) -> None:
    """Run a JupyterLab command from the command palette (as nbgrader's own UI tests do)."""
    page.keyboard.press("Escape")
    page.keyboard.press("ControlOrMeta+Shift+c")
    page.locator(f"#modal-command-palette li[data-command='{command}']").click()


def _run_all_and_wait(page, cells, test_index: int) -> None:
    _command(page, "notebook:run-all-cells")
    # the test cell has run once its prompt shows a number
    page.wait_for_function(
        """([i]) => {const c = document.querySelectorAll('.jp-Notebook .jp-Cell')[i];
                      const p = c && c.querySelector('.jp-InputArea-prompt');
                      return p && /\\[\\d+\\]/.test(p.textContent);}""",
        arg=[test_index], timeout=WAIT)


def _save(page) -> None:
    page.keyboard.press("ControlOrMeta+s")
    page.locator(".jp-mod-current.jp-mod-dirty").wait_for(state="detached", timeout=WAIT)


@pytest.fixture(scope="module")
def browser():
    from real_parts import CHROMIUM, need_chromium, need_root

    need_root()
    need_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def test_a_student_and_an_instructor_walk_a_problem_set_in_the_browser(class_env, released, browser,
                                                                      tmp_path):
    from playwright.sync_api import expect

    m = class_env
    home = m.homes[DAVE]
    for rel, value in USER_SETTINGS.items():
        _write_as(m, DAVE, home / ".jupyter" / "lab" / "user-settings" / rel, json.dumps(value))
    logs = Path(tempfile.mkdtemp(prefix="aecls-logs-"))
    shots = Shots()
    student = Server(m, DAVE, home, logs / "student-lab.log")
    instructor = None
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(WAIT)
    expect.set_options(timeout=WAIT)
    try:
        student.wait()
        # ---- 1. JupyterLab, the Assignment List
        page.goto(f"{student.url}/lab?reset")
        page.locator("#jp-main-dock-panel").wait_for()
        page.locator("#jp-menu-panel div.lm-MenuBar-itemLabel:text-is('Nbgrader')").wait_for()
        shots(page, "lab")
        _menu(page, "Nbgrader", "nbgrader:open-assignment-list")
        released_rows = page.locator("#released_assignments_list > .list_item")
        expect(released_rows).to_have_count(5)
        names = sorted(t.strip() for t in released_rows.locator(".item_name").all_inner_texts())
        assert names == sorted(p.name for p in (REPO / "solutions").iterdir() if p.is_dir())
        shots(page, "assignment-list")

        # ---- 2. fetch ps1
        released_rows.filter(has_text=PS1).locator(".item_status button").click()
        fetched = page.locator("#fetched_assignments_list > .list_item").filter(has_text=PS1)
        expect(fetched).to_have_count(1)
        notebook_file = home / PS1 / f"{PS1}.ipynb"
        assert notebook_file.exists()
        shots(page, "fetched")
        # earlier work: problems 2-6 answered in the file (problem 1 is done in the browser)
        release = json.loads(notebook_file.read_text())
        source = json.loads((REPO / "solutions" / PS1 / f"{PS1}.ipynb").read_text())
        answered = reference_submission(source, release)
        earlier = json.loads(json.dumps(answered))
        i_sigmoid, i_test = _cell_index(release, "sigmoid"), _cell_index(release, "test_sigmoid")
        earlier["cells"][i_sigmoid] = release["cells"][i_sigmoid]
        _write_as(m, DAVE, notebook_file, json.dumps(earlier, indent=1))

        # ---- 3. open it, write a first answer, run the visible test
        # expand the assignment (a click that lands before the list's handlers are bound does
        # nothing, seen once on a busy machine: click again until it opens), open the notebook
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        notebook_link = fetched.locator(".collapse.in a").filter(has_text=PS1)
        opened = False
        for _ in range(4):
            try:
                fetched.locator("a").filter(has_text=PS1).first.click(timeout=15_000)
                notebook_link.wait_for(timeout=10_000)
                notebook_link.click()
                opened = True
                break
            except PlaywrightTimeout:
                continue
        if not opened:  # the list kept re-rendering (a busy machine): open the same file by its path
            page.goto(f"{student.url}/lab/tree/{PS1}/{PS1}.ipynb")
        _dismiss_kernel_dialog(page)
        cells = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell")
        expect(cells).to_have_count(len(release["cells"]))
        wrong = _cell_source(apply_edits(answered, NAIVE), "sigmoid")
        right = _cell_source(answered, "sigmoid")
        _set_cell(page, cells, i_sigmoid, wrong)
        shots(page, "first-answer")
        _run_all_and_wait(page, cells, i_test)
        test_output = cells.nth(i_test).locator(".jp-OutputArea")
        expect(test_output).to_contain_text("FloatingPointError")
        cells.nth(i_test).scroll_into_view_if_needed()
        shots(page, "visible-test-fails")

        # ---- 4. save, Validate: the error dialog
        _save(page)
        assert "1.0 / (1.0 + np.exp(-z))" in notebook_file.read_text()
        page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) jp-button.validate-button").click()
        error = page.locator(".nbgrader-ErrorDialog")
        expect(error).to_be_visible()
        expect(error.locator(".validation-failed")).to_be_visible()
        expect(error).to_contain_text("FloatingPointError")
        shots(page, "validate-fails")
        error.locator("button.jp-Dialog-button").click()
        expect(error).to_have_count(0)

        # ---- 5. fix, run, save, Validate: success
        _set_cell(page, cells, i_sigmoid, right)
        _run_all_and_wait(page, cells, i_test)
        last_test = _cell_index(release, "test_cross_entropy_from_logits")
        page.wait_for_function(
            """([i]) => {const c = document.querySelectorAll('.jp-Notebook .jp-Cell')[i];
                          const p = c && c.querySelector('.jp-InputArea-prompt');
                          return p && /\\[\\d+\\]/.test(p.textContent);}""", arg=[last_test], timeout=WAIT)
        expect(cells.nth(i_test).locator(".jp-OutputArea")).not_to_contain_text("Error")
        assert page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) "
                            ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']").count() == 0
        cells.nth(i_test).scroll_into_view_if_needed()
        shots(page, "visible-tests-pass")
        _save(page)
        page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) jp-button.validate-button").click()
        success = page.locator(".nbgrader-SuccessDialog")
        expect(success).to_be_visible()
        expect(success).to_contain_text("Success")
        shots(page, "validate-succeeds")
        success.locator("button.jp-Dialog-button").click()
        expect(success).to_have_count(0)

        # ---- 6. Notebook 7's notebook view has the Validate button too
        nb7 = context.new_page()
        nb7.set_default_timeout(WAIT)
        nb7.goto(f"{student.url}/notebooks/{PS1}/{PS1}.ipynb")
        _dismiss_kernel_dialog(nb7)
        nb7.locator("jp-button.validate-button").click()
        expect(nb7.locator(".nbgrader-SuccessDialog")).to_be_visible()
        shots(nb7, "notebook7-validate")
        nb7.locator(".nbgrader-SuccessDialog button.jp-Dialog-button").click()
        nb7.close()

        # ---- 7. Submit from the Assignment List
        assignments_tab = page.locator("#jp-main-dock-panel .lm-TabBar-tab:has-text('Assignments')")
        if assignments_tab.count() == 0:
            _menu(page, "Nbgrader", "nbgrader:open-assignment-list")
        else:
            assignments_tab.click()
        page.locator("#fetched_assignments_list > .list_item").filter(has_text=PS1).locator(
            "button:text-is('Submit')").first.click()
        submitted = page.locator("#submitted_assignments_list > .list_item")
        expect(submitted).to_have_count(1)
        expect(submitted.first).to_contain_text(PS1)
        shots(page, "submitted")
        inbound = released / "inbound"
        subs = [p for p in inbound.iterdir() if p.name.startswith(f"{DAVE}+{PS1}+")]
        assert len(subs) == 1
        assert "np.exp(-np.abs(z))" in (subs[0] / f"{PS1}.ipynb").read_text()
        assert subs[0].stat().st_mode & 0o007 == 0

        # ---- the instructor: collect, autograde, the formgrader lists it
        res = m.nbgrader(INSTRUCTOR, [["collect", f"--student={DAVE}", PS1]], cwd=m.course)
        assert res[0]["code"] == 0, res[0]["log"]
        only_dave = tmp_path / "submitted"
        shutil.copytree(m.course / "submitted" / DAVE, only_dave / DAVE)
        graded = m.grader("autograde", "--submitted", only_dave)
        assert graded.returncode == 0, graded.stdout[-2000:] + graded.stderr[-3000:]
        assert "graded: 1, flagged: 0, ungraded: 0" in graded.stdout
        instructor = Server(m, INSTRUCTOR, m.course, logs / "instructor-lab.log")
        instructor.wait()
        grader_page = context.new_page()
        grader_page.set_default_timeout(WAIT)
        grader_page.goto(f"{instructor.url}/formgrader/manage_submissions/{PS1}")
        row = grader_page.locator(f"tr:has-text('{DAVE}')")
        expect(row).to_be_visible()
        maximum = sum(float(c["metadata"]["nbgrader"]["points"]) for c in source["cells"]
                      if c.get("metadata", {}).get("nbgrader", {}).get("grade"))
        expect(row).to_contain_text(f"{maximum:g} / {maximum:g}")
        shots(grader_page, "formgrader-submissions")
        grader_page.close()
        instructor.stop()
        instructor = None

        # ---- feedback: generated, released, fetched and opened by the student
        fb = m.grader("feedback")  # its exit code: see the xfail test in tests/test_exchange.py
        assert (m.course / "feedback" / DAVE / PS1 / f"{PS1}.html").exists(), fb.stderr[-3000:]
        res = m.nbgrader(INSTRUCTOR, [["release_feedback", f"--student={DAVE}", PS1]], cwd=m.course)
        assert res[0]["code"] == 0, res[0]["log"]
        page.locator("#refresh_assignments_list").click()
        fetch_feedback = page.locator("#submitted_assignments_list button:text-is('Fetch Feedback')")
        expect(fetch_feedback).to_be_visible()
        shots(page, "feedback-offered")
        fetch_feedback.click()
        view = page.locator("#submitted_assignments_list a:has-text('view feedback')")
        expect(view).to_be_visible()
        shots(page, "feedback-fetched")
        view.click()
        item = page.locator(f".jp-DirListing-item:has-text('{PS1}.html')")
        expect(item).to_be_visible()
        item.dblclick()
        frame = page.frame_locator(".jp-HTMLViewer:not(.lm-mod-hidden) iframe, "
                                   ".lm-Widget:not(.lm-mod-hidden) > iframe").first
        body = frame.locator("body")
        expect(body).to_contain_text("Score")
        text = " ".join(body.inner_text().split())
        assert f"{maximum:g}" in text
        hidden = [s.text for s in secret_lines(REPO / "solutions")[0]
                  if s.kind == "hidden test" and PS1 in s.where]
        assert len(hidden) > 5
        assert not [line for line in hidden if line in text]
        shots(page, "feedback-opened")
    finally:
        context.close()
        student.stop()
        if instructor is not None:
            instructor.stop()
        for log in logs.glob("*.log"):
            print(f"--- {log.name} (last lines)\n" + "\n".join(log.read_text().splitlines()[-15:]))
        shutil.rmtree(logs, ignore_errors=True)
    assert len(shots.taken) >= 12 and all(p.stat().st_size > 10_000 for p in shots.taken)
