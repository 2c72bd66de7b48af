"""The course website as built (no browser): pages, executed outputs, downloads, no solution, nothing from another host.

The site is built once per session by tests/site_build.py (one lecture executed in fast mode, the
others from the committed notebooks); tests/test_site_browser.py looks at the same build in Chromium.
"""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import nbformat
import pytest

from site_build import EXECUTED_LECTURE, LECTURES, REPO, built_site
from tools import site
from tools.site_checks import external_loads, leaked_lines, normalise, secret_lines, site_text

pytestmark = pytest.mark.slow  # builds the site (executes a lecture; the browser test starts Chromium)

SOLUTION_NOTEBOOKS = sorted((REPO / "solutions").glob("*/*.ipynb"))


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return built_site(tmp_path_factory)


def test_every_page_is_built(built):
    root = built.root
    for page in ("index.html", "notation.html", "references.html", "search.html", "api/index.html"):
        assert (root / page).is_file(), page
    for lecture in LECTURES:
        assert (root / "lectures" / f"{lecture.stem}.html").is_file(), lecture.name
    for ps in site.problem_set_paths():
        assert (root / "problem-sets" / f"{ps.stem}.html").is_file(), ps.name
    for module in site.library_modules():
        assert (root / "api" / f"{module}.html").is_file(), module
    assert built.report["lectures"] == len(LECTURES) and built.report["executed_lectures"] == 1
    assert built.report["problem_sets"] == len(site.problem_set_paths()) >= 5


def test_the_api_reference_comes_from_the_docstrings(built):
    page = (built.root / "api" / "analysis.html").read_text(encoding="utf-8")
    assert 'id="autoencoder_np.analysis.symmetricity"' in page
    assert "Parameters" in page and "(n, n) array" in page  # numpydoc rendered the shapes
    model = (built.root / "api" / "model.html").read_text(encoding="utf-8")
    assert 'id="autoencoder_np.model.Autoencoder.fit"' in model


def test_the_executed_lecture_shows_its_outputs_and_figures(built):
    page = (built.root / "lectures" / f"{EXECUTED_LECTURE.stem}.html").read_text(encoding="utf-8")
    figures = re.findall(r'<img[^>]+src="\.\./(_images/[^"]+\.png)"', page)
    assert figures, "the executed lecture's figures are on its page"
    for figure in figures:
        assert (built.root / figure).stat().st_size > 1000, figure
    assert "cell_output" in page
    assert "fast</em> run" in page, "the page says that its outputs come from a fast run"


def test_lecture_pages_offer_the_clean_notebook_for_download(built):
    for lecture in LECTURES:
        page = (built.root / "lectures" / f"{lecture.stem}.html").read_text(encoding="utf-8")
        link = re.search(rf'href="\.\./(_downloads/[0-9a-f]+/{re.escape(lecture.name)})"', page)
        assert link, f"{lecture.name}: no download link"
        downloaded = json.loads((built.root / link.group(1)).read_text(encoding="utf-8"))
        assert downloaded == json.loads(lecture.read_text(encoding="utf-8")), "the committed notebook, unchanged"
        assert "make lab" in re.sub(r"<[^>]+>", "", page)


def test_math_is_served_by_the_site_itself(built):
    page = (built.root / "notation.html").read_text(encoding="utf-8")
    script = re.search(r'<script[^>]+src="(_static/mathjax/MathJax\.js)\?config=([\w-]+)"', page)
    assert script, "notation.html loads MathJax from the site"
    assert (built.root / script.group(1)).is_file()
    assert (built.root / "_static" / "mathjax" / "config" / f"{script.group(2)}.js").is_file()
    assert external_loads(built.root) == []


def test_external_loads_finds_scripts_styles_fonts_and_images_from_other_hosts(tmp_path):
    (tmp_path / "a.html").write_text(
        '<html><head><script src="https://cdn.example.org/mathjax.js"></script>'
        '<link rel="stylesheet" href="//fonts.example.org/css?family=Lato">'
        '<link rel="canonical" href="https://example.org/a.html">'
        '<script src="_static/local.js"></script><style>@import url("https://example.org/x.css");</style>'
        '</head><body><a href="https://arxiv.org/abs/1506.07643">a paper</a>'
        '<img src="http://example.org/logo.png"><img src="_images/fig.png"></body></html>')
    (tmp_path / "s.css").write_text("@font-face { src: url('https://example.org/font.woff2'); }"
                                    " .a { background: url(data:image/png;base64,AAAA); }")
    found = external_loads(tmp_path)
    assert len(found) == 5, found
    for url in ("cdn.example.org", "fonts.example.org", "x.css", "logo.png", "font.woff2"):
        assert any(url in line for line in found), url


def test_no_solution_or_hidden_test_line_is_published(built):
    """The site holds none of the lines the student release hides.

    Searched: every line between ``### BEGIN SOLUTION``/``### END SOLUTION`` and ``### BEGIN
    HIDDEN TESTS``/``### END HIDDEN TESTS`` in the solution notebooks (and Markdown answer cells),
    in the text of every page, download, page source and the search index. Ignored, as proving
    nothing: lines shorter than 20 characters (``return H``, ``else:``), and lines that the
    released exercises, the lectures or the library contain anyway (a helper that one problem set
    asks for and the next one hands out, ``import numpy as np``).
    """
    assert SOLUTION_NOTEBOOKS
    secrets = [line for nb in SOLUTION_NOTEBOOKS for line in secret_lines(nb)]
    assert len(secrets) > 100, "the solution notebooks hold solutions and hidden tests"
    public = "\n".join(p.read_text(encoding="utf-8") for p in [*site.problem_set_paths(), *LECTURES])
    public = "\n".join([public, *(p.read_text(encoding="utf-8") for p in (REPO / "autoencoder_np").glob("*.py"))])
    public = _notebook_sources(public)
    assert leaked_lines(built.root, SOLUTION_NOTEBOOKS, public) == []


def _notebook_sources(text):
    """Notebook JSON quotes its lines; decode the JSON escapes so that lines compare as code."""
    return text.replace('\\"', '"').replace("\\n", "\n").replace("\\\\", "\\")


def test_the_leak_search_finds_a_solution_line_however_the_page_shows_it(tmp_path):
    secret = next(line for line in secret_lines(SOLUTION_NOTEBOOKS[0]) if "<" in line or "(" in line)
    # as syntax highlighting and HTML escaping show it: split into spans, entities for < > & "
    tokens = re.split(r"(\W)", secret)
    html = "".join(f'<span class="n">{t.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")}</span>'
                   for t in tokens if t)
    (tmp_path / "page.html").write_text(f"<html><body><pre>{html}</pre></body></html>")
    assert normalise(secret) in site_text(tmp_path)
    assert leaked_lines(tmp_path, SOLUTION_NOTEBOOKS[:1]) != []


def test_the_builder_refuses_anything_from_solutions(tmp_path, monkeypatch):
    with pytest.raises(site.SiteError, match="solutions/"):
        site.refuse_solutions(SOLUTION_NOTEBOOKS[0])
    # a problem set that is not a student release (it still has the solution markers) is refused too
    release = tmp_path / "exercises" / "ps9_leak"
    release.mkdir(parents=True)
    shutil.copyfile(SOLUTION_NOTEBOOKS[0], release / "ps9_leak.ipynb")
    monkeypatch.setattr(site, "EXERCISES", tmp_path / "exercises")
    (tmp_path / "src" / "_notebooks").mkdir(parents=True)
    with pytest.raises(site.SiteError, match="not a student release"):
        site.stage_problem_sets(tmp_path / "src")


def test_a_stale_or_missing_executed_lecture_stops_the_build(tmp_path):
    lecture = LECTURES[0]
    with pytest.raises(site.SiteError, match="make course"):
        site.executed_lecture(lecture, tmp_path, allow_unexecuted=False)
    nb = nbformat.read(lecture, as_version=4)
    nb.cells[0].source += "\nAn edit made after the lecture was executed."
    nbformat.write(nb, tmp_path / lecture.name)
    with pytest.raises(site.SiteError, match="another version"):
        site.executed_lecture(lecture, tmp_path, allow_unexecuted=False)
    published, executed = site.executed_lecture(lecture, tmp_path, allow_unexecuted=True)
    assert not executed and not any(c.get("outputs") for c in published.cells)


def test_the_search_index_knows_symmetricity(built):
    index = (built.root / "searchindex.js").read_text(encoding="utf-8")
    assert re.search(r'"symmetr\w*"', index)
