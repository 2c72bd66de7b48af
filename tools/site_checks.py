"""Checks of a built course website that need no browser: nothing loaded from another host, no solution published.

Used by ``tools/site.py`` after every build and by ``tests/test_site.py``.
"""
from __future__ import annotations

import html
import json
import re
from html.parser import HTMLParser
from pathlib import Path

from aegrade.notebooks import MIN_SECRET_LINE, hidden_from_students

# tag -> the attributes through which a page loads something (links a reader follows, <a href>, are not loads)
LOADING_ATTRIBUTES = {
    "script": ("src",), "link": ("href",), "img": ("src", "srcset"), "iframe": ("src",),
    "source": ("src", "srcset"), "video": ("src", "poster"), "audio": ("src",), "embed": ("src",),
    "object": ("data",), "track": ("src",), "input": ("src",),
}
# <link rel=...> values that name a page rather than load a resource
NON_LOADING_LINK_RELS = {"canonical", "alternate", "author", "license", "help", "next", "prev", "index", "search"}
CSS_URL = re.compile(r"""url\(\s*['"]?([^'")\s]+)|@import\s+['"]([^'"]+)""")
MIN_SECRET_LENGTH = MIN_SECRET_LINE  # the same threshold as the student release's


def is_external(url: str) -> bool:
    """True when loading ``url`` would ask another host (``http:``, ``https:``, ``//host``, ``ftp:``...)."""
    url = url.strip()
    return bool(re.match(r"^([a-z][a-z0-9+.-]*:)?//", url, re.I)) and not url.lower().startswith("file:")


class _Loads(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.urls, self._in_style = [], False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "link" and set((attrs.get("rel") or "").lower().split()) & NON_LOADING_LINK_RELS:
            return
        for name in LOADING_ATTRIBUTES.get(tag, ()):
            value = attrs.get(name)
            if value:
                urls = [part.split()[0] for part in value.split(",") if part.strip()] if name == "srcset" else [value]
                self.urls += [(f"<{tag} {name}>", u) for u in urls]
        if attrs.get("style"):
            self.urls += [("style attribute", a or b) for a, b in CSS_URL.findall(attrs["style"])]
        self._in_style = tag == "style"

    def handle_endtag(self, tag):
        self._in_style = False

    def handle_data(self, data):
        if self._in_style:
            self.urls += [("<style>", a or b) for a, b in CSS_URL.findall(data)]


def external_loads(site: Path) -> list[str]:
    """Every script, style sheet, font, image or frame a page of ``site`` would fetch from another host.

    Reads every ``.html`` page (tags and inline styles) and every ``.css`` file (``url(...)`` and
    ``@import``). Returns ``"file: what -> url"`` lines; an empty list means the site is self-contained.
    """
    site = Path(site)
    found = []
    for page in sorted(site.rglob("*.html")):
        parser = _Loads()
        parser.feed(page.read_text(encoding="utf-8", errors="replace"))
        found += [f"{page.relative_to(site)}: {what} -> {url}" for what, url in parser.urls if is_external(url)]
    for sheet in sorted(site.rglob("*.css")):
        for a, b in CSS_URL.findall(sheet.read_text(encoding="utf-8", errors="replace")):
            if is_external(a or b):
                found.append(f"{sheet.relative_to(site)}: css -> {a or b}")
    return found


def secret_lines(solution_notebook: Path) -> list[str]:
    """The lines of a solution notebook that its student release hides (solution regions, Markdown
    answers, hidden tests: :func:`aegrade.notebooks.hidden_from_students`), stripped of
    surrounding blanks. Lines shorter than ``MIN_SECRET_LENGTH`` characters are left out: such
    lines (``return H``, ``else:``, ``assert ok``) say nothing about a solution and occur in any code.
    """
    nb = json.loads(Path(solution_notebook).read_text(encoding="utf-8"))
    return [s for s in (line.strip() for _, line, _ in hidden_from_students(nb))
            if len(s) >= MIN_SECRET_LENGTH]


class _Text(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts = []

    def handle_data(self, data):
        self.parts.append(data)


def normalise(text: str) -> str:
    """Collapse runs of white space, so that a line matches however a page wrapped or indented it."""
    return re.sub(r"\s+", " ", text).strip()


def site_text(site: Path) -> str:
    """Everything a reader of ``site`` can get at, as one normalised string.

    The text of every HTML page (tags removed, entities decoded: syntax highlighting splits code
    into many tags), plus every other text file (notebook downloads, page sources, the search
    index, scripts), raw and unescaped.
    """
    chunks = []
    for path in sorted(Path(site).rglob("*")):
        if not path.is_file() or path.suffix.lower() in {".png", ".jpg", ".jpeg", ".gif", ".woff", ".woff2",
                                                         ".ttf", ".eot", ".otf", ".ico", ".svg"}:
            continue
        if "mathjax" in path.relative_to(site).parts:
            continue  # MathJax's own files, copied from its package
        text = path.read_text(encoding="utf-8", errors="replace")
        if path.suffix == ".html":
            parser = _Text()
            parser.feed(text)
            chunks.append("".join(parser.parts))  # highlighted code is one tag per token: no separator
        if path.name.endswith((".ipynb", ".ipynb.txt")):  # notebook sources, once their JSON is decoded
            try:
                nb = json.loads(text)
                chunks += ["".join(c.get("source", "")) for c in nb.get("cells", [])]
            except ValueError:
                pass
        chunks.append(html.unescape(text))
    return normalise("\n".join(chunks))


def leaked_lines(site: Path, solution_notebooks, public_text: str = "") -> list[str]:
    """The secret lines of ``solution_notebooks`` that appear anywhere in ``site``.

    A secret line that also occurs in ``public_text`` (the released exercises, the lectures, the
    library: all published on purpose) is not counted: finding it proves nothing.
    """
    text = site_text(site)
    public = normalise(public_text)
    leaks = []
    for notebook in solution_notebooks:
        for line in secret_lines(notebook):
            needle = normalise(line)
            if needle in text and needle not in public:
                leaks.append(f"{Path(notebook).name}: {line}")
    return leaks
