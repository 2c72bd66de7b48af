"""One source of truth for dependencies: environment.yml names what pyproject.toml names."""
import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def pyproject_requirements():
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib  # noqa: F401  (pulled in by pytest on 3.10)
    data = tomllib.loads((REPO / "pyproject.toml").read_text())
    project = data["project"]
    return project["dependencies"] + project["optional-dependencies"]["dev"], project["requires-python"]


def conda_requirements():
    reqs, python, in_pip, section = [], None, False, None
    for line in (REPO / "environment.yml").read_text().splitlines():
        if line.strip().startswith("#") or not line.strip():
            continue
        if re.match(r"^\w[\w-]*:", line):
            section = line.split(":")[0]
        m = re.match(r"^(\s*)- (.+?)\s*$", line)
        if not m or section != "dependencies":
            continue
        indent, item = len(m.group(1)), m.group(2)
        if item.startswith("pip:"):
            in_pip = True
            continue
        if in_pip and indent > 2:
            continue  # the pip section installs the package itself
        if item.startswith("python"):
            python = item[len("python"):]
        elif item != "pip":
            reqs.append(item)
    return reqs, python


def normalise(req):
    return re.sub(r"\s+", "", req).lower()


def test_environment_yml_and_pyproject_name_the_same_packages_and_versions():
    pip_reqs, requires_python = pyproject_requirements()
    conda_reqs, conda_python = conda_requirements()
    assert sorted(map(normalise, pip_reqs)) == sorted(map(normalise, conda_reqs))
    assert normalise(conda_python) == normalise(requires_python)


def test_environment_yml_installs_the_course_package():
    assert re.search(r"^\s+- -e \.\s*$", (REPO / "environment.yml").read_text(), re.M)


def test_readme_quickstart_names_the_commands_ci_runs():
    readme = (REPO / "README.md").read_text()
    assert "make test" in readme and "make course" in readme
    assert "make test" in (REPO / ".ci" / "run").read_text()


# ---------------------------------------------------------------------------- the two packages
def test_the_grading_engine_is_an_installed_package_with_its_command():
    out = subprocess.run([sys.executable, "-m", "aegrade", "--help"], capture_output=True, text=True,
                         cwd="/", check=True).stdout          # from anywhere: installed, not on a path
    for command in ("release", "autograde", "feedback", "grades", "selfcheck"):
        assert command in out
    script = shutil.which("aegrade", path=str(Path(sys.executable).parent))
    assert script, "the console script aegrade is not installed beside this Python"


def test_no_module_of_the_grading_package_is_over_about_400_lines():
    sizes = {str(p.relative_to(REPO)): len(p.read_text().splitlines())
             for p in (REPO / "aegrade").rglob("*.py")}
    assert sizes and max(sizes.values()) <= 420, sorted(sizes.items(), key=lambda kv: -kv[1])[:3]


def test_the_sandbox_imports_nothing_beyond_the_standard_library():
    import ast

    for path in (REPO / "aegrade" / "sandbox").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 else [])
            for name in names:
                top = name.split(".")[0]
                assert top in sys.stdlib_module_names or top in {"rootfs", "syscalls"}, (path.name, name)


def test_the_fused_step_does_not_import_the_model():
    code = "import sys, autoencoder_np.fused; print('autoencoder_np.model' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "False"


def test_nbclient_still_has_the_private_hooks_the_sandboxed_execute_overrides():
    """aegrade's SandboxedExecute overrides two private nbclient methods: this fails loudly (and
    says which) when an nbclient release renames them, changes their parameters or stops calling
    them, before any grading goes wrong."""
    import inspect

    import nbclient
    from nbclient import NotebookClient

    from aegrade.preprocessors.execute import NBCLIENT_PRIVATE_HOOKS

    callers = inspect.getsource(NotebookClient)
    for name, params in NBCLIENT_PRIVATE_HOOKS.items():
        method = getattr(NotebookClient, name, None)
        assert method is not None, f"nbclient {nbclient.__version__} has no {name}: update aegrade"
        assert tuple(inspect.signature(method).parameters) == params, \
            f"nbclient {nbclient.__version__} changed {name}{inspect.signature(method)}"
        assert callers.count(f"self.{name}(") >= 1, f"nbclient {nbclient.__version__} no longer calls {name}"


def test_pyproject_uses_an_spdx_license_string():
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert isinstance(project["license"], str), "the license table is deprecated: use an SPDX string"


def test_no_path_of_one_particular_machine_in_the_repository():
    tracked = [REPO / p for p in subprocess.run(
        ["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()]
    # no checkout location of one machine (a work folder, a home under the root user) appears; the sandbox's
    # /home/student is a folder inside the sandbox, not a machine's path
    pattern = re.compile(r"(?<![\w.])/(work|root)/")
    hits = [str(p.relative_to(REPO)) for p in tracked
            if p.is_file() and p.suffix in {".py", ".md", ".ipynb", ".toml", ".yml", ".cfg", ""}
            and pattern.search(p.read_text(errors="ignore"))]
    assert not hits, hits
