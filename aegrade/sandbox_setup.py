"""A grading run's sandbox: the launcher's settings file and the kernelspec that runs it."""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

from . import defaults
from .course import SOURCE_DIR, log
from .options import GradingOptions
from .sandbox import LAUNCHER


def ro_paths(course_dir: Path, opts: GradingOptions) -> list[str]:
    """What the kernel may read: the Python installation and environment, the course library
    (``autoencoder_np``, from the course or wherever it is installed), the data folder."""
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
             str(Path(os.path.realpath(sys.executable)).parent.parent)}
    lib = Path(course_dir) / "autoencoder_np"
    if lib.is_dir():
        paths.add(str(lib))
    spec = importlib.util.find_spec("autoencoder_np")
    for location in (spec.submodule_search_locations or []) if spec else []:
        paths.add(str(Path(location).resolve()))
    data = os.environ.get("AUTOENCODER_NP_DATA")
    if data and Path(data).exists():
        paths.add(str(Path(data).resolve()))
    paths.update(str(Path(p).resolve()) for p in opts.ro_paths)
    return sorted(paths)


def write_sandbox(course_dir: Path, work: Path, opts: GradingOptions, level: str,
                  submitted: list, mpl_cache: Path | None) -> Path:
    """Write the launcher's settings (``work/sandbox.json``, mode 600) and the kernelspec that
    runs it (``work/jupyter/kernels/<KERNEL_NAME>``); return the settings file.

    ``submitted`` lists the folders submissions come from: hidden in the sandbox, like the
    course and ``work``."""
    hidden = sorted({str(Path(course_dir).resolve()), str(work.resolve())}
                    | {str(Path(p).resolve()) for p in submitted})
    ro = []
    for p in ro_paths(course_dir, opts):
        # never expose a folder that contains a hidden one (e.g. "/work" around the course)
        if any(h == p or h.startswith(p.rstrip("/") + "/") for h in hidden):
            log(f"grading: not exposing {p} to the sandbox (it contains a protected folder)")
            continue
        ro.append(p)
    env = {}
    if os.environ.get("AUTOENCODER_NP_DATA"):
        env["AUTOENCODER_NP_DATA"] = str(Path(os.environ["AUTOENCODER_NP_DATA"]).resolve())
    env.update(opts.env)
    cfg = {
        "level": level,
        "python": sys.executable,
        "kernel_args": ["-m", "ipykernel_launcher", "--HistoryManager.hist_file=:memory:"],
        "ro_paths": ro,
        "hidden": hidden,
        "limits": dict(opts.limits),
        "scratch": str(work / "scratch"),
        "env": env,
        "mpl_cache": str(mpl_cache) if mpl_cache else None,
        "copy_max_bytes": int(opts.max_submission_bytes),
        "tmpfs_mb": {"root": 96, "tmp": 64, "shm": 16},
        "log": str(work / "logs" / "sandbox.log"),  # one line per kernel start/exit (uid, level)
    }
    path = work / "sandbox.json"
    path.write_text(json.dumps(cfg, indent=1))
    os.chmod(path, 0o600)
    kdir = work / "jupyter" / "kernels" / defaults.KERNEL_NAME
    kdir.mkdir(parents=True, exist_ok=True)
    spec = {
        "argv": [sys.executable, "-I", "-S", str(LAUNCHER), "-f", "{connection_file}"],
        "display_name": "Python 3 (sandboxed grader)",
        "language": "python",
        "interrupt_mode": "signal",
        "env": {"AEGRADE_SANDBOX_CONFIG": str(path)},
    }
    (kdir / "kernel.json").write_text(json.dumps(spec, indent=1))
    return path


def matplotlib_cache(course_dir: Path, work: Path) -> Path | None:
    """Build matplotlib's font cache once if the assignments use matplotlib."""
    uses = any("matplotlib" in p.read_text(errors="ignore")
               for p in (Path(course_dir) / SOURCE_DIR).rglob("*.ipynb"))
    if not uses:
        return None
    cache = work / "mplcache"
    cache.mkdir(exist_ok=True)
    subprocess.run([sys.executable, "-c", "import matplotlib.font_manager"],
                   env=dict(os.environ, MPLCONFIGDIR=str(cache), MPLBACKEND="Agg"),
                   capture_output=True, timeout=300, check=False)
    return cache
