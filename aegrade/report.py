"""What the instructor reads: the score table and the flagged / ungraded summary."""
from __future__ import annotations

import re


def format_finding(f: dict) -> str:
    """``cell N (grade_id) line L: `code`  [rule] message``."""
    where = f"cell {f['cell_index']}" + (f" ({f['grade_id']})" if f.get("grade_id") else "")
    return f"{where} line {f['lineno']}: `{f['line']}`  [{f['rule']}] {f['message']}"


def failure_reason(res: dict) -> str:
    """The line of a failed worker's log that says why (a dead kernel, a timeout, an error)."""
    text = (res.get("log") or "") + "\n" + (res.get("error") or "")
    for pattern in (r"(DeadKernelError[^\n]*)", r"(Kernel died[^\n]*)",
                    r"(RuntimeError: Kernel didn't respond[^\n]*)", r"(CellTimeoutError[^\n]*)"):
        m = re.search(pattern, text)
        if m:
            return m.group(1).strip()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("[INFO]")]
    errors = [ln for ln in lines if "Error" in ln or "error" in ln]
    return (errors[-1] if errors else (lines[-1] if lines else "unknown error"))[:300]



def fmt(x) -> str:
    """A score for a table: ``-`` for none, ``11`` rather than ``11.0``."""
    if x is None:
        return "-"
    return f"{x:g}" if isinstance(x, float) else str(x)


def format_table(results: dict) -> str:
    """The per-student score table printed by ``autograde`` and ``selfcheck``."""
    rows = [("student", "assignment", "status", "score", "problems")]
    for student in sorted(results):
        for a in sorted(results[student]):
            rec = results[student][a]
            if rec["status"] == "graded":
                score = f"{fmt(rec['total'])}/{fmt(rec['max_total'])}"
                probs = ", ".join(
                    f"{gid} {fmt(p['score'])}/{fmt(p['max'])}" + (" (manual)" if p.get("manual") else "")
                    for gid, p in rec["problems"].items())
            else:
                score, probs = "-", rec.get("reason", "")[:120]
            rows.append((student, a, rec["status"], score, probs))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = []
    for r in rows:
        lines.append("  ".join(r[i].ljust(widths[i]) for i in range(4)) + "  " + r[4])
    lines.insert(1, "-" * min(140, sum(widths) + 8 + 20))
    return "\n".join(lines)


def format_summary(results: dict) -> str:
    """Flagged and ungraded submissions, by name, with the reason."""
    out = []
    for status, title in (("flagged", "FLAGGED for manual review (not executed)"),
                          ("ungraded", "UNGRADED (could not be graded; not exported as zero)")):
        items = [(s, a, rec) for s in sorted(results) for a, rec in sorted(results[s].items())
                 if rec["status"] == status]
        if not items:
            continue
        out.append(f"{title}: {len(items)}")
        for s, a, rec in items:
            out.append(f"  {s} / {a}: {rec.get('reason', '')}")
            for f in rec.get("findings", [])[:10]:
                out.append(f"      {format_finding(f)}")
    graded = sum(rec["status"] == "graded" for r in results.values() for rec in r.values())
    out.append(f"graded: {graded}, flagged: "
               f"{sum(rec['status'] == 'flagged' for r in results.values() for rec in r.values())}, "
               f"ungraded: {sum(rec['status'] == 'ungraded' for r in results.values() for rec in r.values())}")
    return "\n".join(out)
