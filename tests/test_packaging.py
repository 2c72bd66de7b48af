"""One source of truth for dependencies: environment.yml names what pyproject.toml names."""
import re
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
