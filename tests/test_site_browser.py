"""The course website in a real browser: Debian's Chromium driven by Playwright, served over HTTP.

Every page of the site is visited (crawled from the landing page): it loads with no console error,
no failed request and no request to another host; MathJax typeset every formula (no raw ``$``,
``\\(``, ``\\[`` or ``\\begin{`` left in the text outside code and outputs); every image loaded; every
internal link (and its ``#anchor``) resolves. The site search finds "symmetricity". Screenshots of
the landing page, a lecture with a figure and formulas, and the API reference are saved to
``build/site-screenshots/``.
"""
from __future__ import annotations

import functools
import http.server
import threading
from pathlib import Path
from urllib.parse import urldefrag, urljoin, urlparse

import pytest

from real_parts import CHROMIUM, need_chromium
from site_build import EXECUTED_LECTURE, REPO, built_site

pytestmark = pytest.mark.slow  # builds the site (executes a lecture; the browser test starts Chromium)

SCREENSHOTS = REPO / "build" / "site-screenshots"
TABS = 3  # pages loading at once: typesetting formula-heavy lectures is what takes the time
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

# text of the page outside code, program output and MathJax's own elements
VISIBLE_TEXT = """() => {
  const body = document.body.cloneNode(true);
  body.querySelectorAll('pre, code, script, style, .highlight, .cell_output, .output, textarea, .MathJax_Preview')
      .forEach(e => e.remove());
  return body.innerText;
}"""
# MathJax has run its start-up typesetting ("End" posted) and has nothing queued; pages without a
# formula do not load MathJax at all
MATHJAX_DONE = """() => !document.querySelector('.math.notranslate') || (window.MathJax && window.MathJax.Hub
  && window.MathJax.Hub.Startup.signal.posted.includes("End")
  && window.MathJax.Hub.queue.pending === 0 && !window.MathJax.Hub.queue.running)"""
IMAGES = """async () => {
  const imgs = [...document.images];
  await Promise.all(imgs.map(i => i.decode().catch(() => null)));
  return imgs.map(i => [i.getAttribute('src'), i.naturalWidth]);
}"""
PAGE_FACTS = """() => ({
  links: [...document.querySelectorAll('a[href]')].map(a => a.href),
  ids: [...document.querySelectorAll('[id], a[name]')].map(e => e.id || e.getAttribute('name')),
  math: document.querySelectorAll('.math.notranslate').length,   // Sphinx's formulas (MathJax adds other .math)
  typeset: [...document.querySelectorAll('.math.notranslate')].filter(e => e.querySelector('.MathJax')).length,
  runLocally: [...document.querySelectorAll('.run-locally')].map(e => e.textContent).join(' '),
  mathErrors: document.querySelectorAll('.MathJax .noError, .MathJax .merror, .MathJax_Error').length,
})"""


@pytest.fixture(scope="module")
def site_root(tmp_path_factory):
    need_chromium()
    return built_site(tmp_path_factory).root


@pytest.fixture(scope="module")
def server(site_root):
    handler = functools.partial(_QuietHandler, directory=str(site_root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def context(browser):
    """One browser profile for all pages: MathJax and the theme's files come from its cache after the first page."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    yield context
    context.close()


class Visit:
    """One page in a new tab, with every console error, failed and foreign request recorded."""

    def __init__(self, context, server, url, wait=True):
        self.page = context.new_page()
        self.problems = []
        host = urlparse(server).netloc

        # a request to another host is recorded (and, offline, fails too); not intercepted, which
        # would route every request through Python
        self.page.on("request", lambda r: urlparse(r.url).scheme in ("http", "https") and urlparse(r.url).netloc != host
                     and self.problems.append(f"request to another host: {r.url}"))
        self.page.on("console", lambda m: m.type == "error" and self.problems.append(f"console error: {m.text}"))
        self.page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        self.page.on("requestfailed", lambda r: self.problems.append(f"failed request: {r.url} ({r.failure})"))
        self.page.on("response", lambda r: r.status >= 400 and self.problems.append(f"HTTP {r.status}: {r.url}"))
        # "commit": the browser goes on loading while the next tab starts (see crawl)
        self.response = self.page.goto(url, wait_until="commit")
        if wait:
            self.finish()

    def finish(self):
        """Wait until the page has loaded, the network is quiet and MathJax is done."""
        self.page.wait_for_load_state("load")
        self.page.wait_for_load_state("networkidle")
        try:
            self.page.wait_for_function(MATHJAX_DONE, timeout=90_000, polling=100)
        except Exception as exc:  # noqa: BLE001 (Playwright's TimeoutError): reported, not raised
            self.problems.append(f"MathJax did not finish typesetting: {exc}")

    def close(self):
        self.page.close()


def _internal(url, server):
    return url.startswith(server)


@pytest.fixture(scope="module")
def crawl(context, server):
    """Visit every HTML page reachable from the landing page; return what each showed."""
    pages, queue, seen = {}, [server + "index.html", server + "search.html"], set()  # search: a form, not a link
    while queue:
        batch = []
        while queue and len(batch) < TABS:
            url = queue.pop(0)
            if url not in seen:
                seen.add(url)
                batch.append((url, Visit(context, server, url, wait=False)))
        for url, visit in batch:  # the tabs load side by side; each is then looked at in turn
            try:
                visit.finish()
                facts = visit.page.evaluate(PAGE_FACTS)
                pages[url] = {
                    "status": visit.response.status if visit.response else None,
                    "problems": list(visit.problems),
                    "text": visit.page.evaluate(VISIBLE_TEXT),
                    "images": visit.page.evaluate(IMAGES),
                    **facts,
                }
            finally:
                visit.close()
            for link in facts["links"]:
                target = urldefrag(link)[0]
                if _internal(target, server) and target.endswith(".html") and target not in seen:
                    queue.append(target)
    return pages


def test_every_page_is_reached_and_loads_cleanly(crawl, server):
    names = {urlparse(u).path.lstrip("/") for u in crawl}
    for lecture in sorted((REPO / "lectures").glob("[0-9][0-9]*.ipynb")):
        assert f"lectures/{lecture.stem}.html" in names, f"no link reaches the page of {lecture.name}"
    for expected in ("notation.html", "references.html", "api/index.html", "api/model.html", "search.html"):
        assert expected in names, f"no link reaches {expected}"
    assert any(n.startswith("problem-sets/") for n in names)
    bad = {u: p["problems"] for u, p in crawl.items() if p["problems"] or p["status"] != 200}
    assert not bad, bad


def test_math_is_typeset_everywhere(crawl):
    pages_with_math = [u for u, p in crawl.items() if p["math"]]
    assert len(pages_with_math) >= 8, "the lectures and the notation page have formulas"
    for url in pages_with_math:
        page = crawl[url]
        assert page["typeset"] == page["math"], f"{url}: MathJax typeset {page['typeset']} of {page['math']} formulas"
        assert page["mathErrors"] == 0, f"{url}: MathJax reported {page['mathErrors']} errors"
    for url, page in crawl.items():
        for raw in ("$$", "$", "\\begin{", "\\(", "\\["):
            assert raw not in page["text"], f"{url}: raw {raw!r} in the rendered text: " + \
                page["text"][max(0, page["text"].find(raw) - 80):page["text"].find(raw) + 80]


def test_every_image_has_loaded(crawl):
    images = [(u, src, width) for u, p in crawl.items() for src, width in p["images"]]
    assert any("/_images/" in src or "_images/" in src for _, src, _ in images), "the executed lecture's figures"
    broken = [(u, src) for u, src, width in images if not width]
    assert not broken, broken


def test_every_internal_link_resolves(crawl, server, context):
    ids = {u: set(p["ids"]) for u, p in crawl.items()}
    others, broken = set(), []
    for url, page in crawl.items():
        for link in page["links"]:
            target, anchor = urldefrag(link)
            if not _internal(target, server):
                continue
            if target.endswith(".html") or target.endswith("/"):
                target = target if target.endswith(".html") else target + "index.html"
                if target not in ids:
                    broken.append(f"{url} -> {link}: page not reached")
                elif anchor and anchor not in ids[target]:
                    broken.append(f"{url} -> {link}: no element with id {anchor!r}")
            else:
                others.add(target)
    for target in sorted(others):  # notebook downloads, page sources...
        status = context.request.get(target).status
        if status != 200:
            broken.append(f"{target}: HTTP {status}")
    assert any(t.endswith(".ipynb") for t in others), "lecture pages offer their notebooks for download"
    assert not broken, broken


def test_lecture_pages_offer_the_notebook_and_say_how_to_run_it(crawl):
    for url, page in crawl.items():
        if "/lectures/" in url:
            assert "Run this lecture yourself" in page["runLocally"] and "make lab" in page["runLocally"], url
            assert any(l.endswith(".ipynb") and "_downloads" in l for l in page["links"]), url


def test_site_search_finds_symmetricity(context, server):
    visit = Visit(context, server, server + "search.html?q=symmetricity")
    try:
        results = visit.page.locator("#search-results ul.search li")
        results.first.wait_for(timeout=30_000)
        hrefs = visit.page.eval_on_selector_all("#search-results ul.search li a", "as => as.map(a => a.href)")
        assert any("/lectures/" in h for h in hrefs), hrefs
        assert any("/api/" in h for h in hrefs), hrefs
        assert not visit.problems, visit.problems
    finally:
        visit.close()


def test_screenshots_of_landing_page_lecture_and_api(context, server):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shots = {"landing": "index.html", "lecture": f"lectures/{EXECUTED_LECTURE.stem}.html",
             "api": "api/analysis.html"}
    for name, path in shots.items():
        visit = Visit(context, server, server + path)
        try:
            visit.page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))
            if name == "lecture":  # the first figure and the formulas around it
                visit.page.locator(".cell_output img").first.scroll_into_view_if_needed()
                visit.page.screenshot(path=str(SCREENSHOTS / "lecture-figure.png"))
            assert not visit.problems, visit.problems
        finally:
            visit.close()
    for png in SCREENSHOTS.glob("*.png"):
        assert png.stat().st_size > 20_000, f"{png} looks empty"
