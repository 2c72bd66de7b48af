"""Sphinx configuration of the course website (Sphinx + myst-nb + sphinx-book-theme: Jupyter Book 1's stack).

Do not run sphinx-build on this folder directly: ``python -m tools.site`` (``make site``) stages the
pages, the executed lectures, the released problem sets, the API pages and MathJax into
``build/site-src/`` and builds ``build/site/`` from there, with this file as the configuration.
"""
from __future__ import annotations

project = "Autoencoders from scratch"
author = "the course's authors"
copyright = "the course's authors, MIT licence"
html_title = "Autoencoders from scratch"

extensions = [
    "myst_nb",               # Markdown pages (MyST) and notebooks
    "sphinx.ext.autodoc",    # the API reference, from the library's docstrings
    "sphinx.ext.mathjax",
    "numpydoc",              # NumPy-style docstrings
]

# --- pages ---------------------------------------------------------------------------------
root_doc = "index"
exclude_patterns = ["_build", "_notebooks", "**.ipynb_checkpoints"]
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_dmath_double_inline = True          # $$...$$ inside a paragraph is display math too
myst_heading_anchors = 3
suppress_warnings = ["myst.header"]      # notebooks may skip a heading level; that is not an error here

# --- notebooks: never executed here. The lectures were executed by `make course`; the problem
# sets are published as students receive them (no outputs). -------------------------------------
nb_execution_mode = "off"
nb_merge_streams = True
nb_output_stderr = "show"

# --- API reference ---------------------------------------------------------------------------
autodoc_default_options = {"members": True, "member-order": "bysource"}
autodoc_typehints = "none"               # the docstrings give the types and shapes
numpydoc_show_class_members = False      # autodoc lists the members; numpydoc formats them
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

# --- math, served from the site itself (MathJax 2.7 from the PyPI package jupyter-server-mathjax,
# copied into _static/mathjax by tools/site.py): no page asks another host for anything. -------
mathjax_path = "mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full"
mathjax2_config = {
    "HTML-CSS": {
        "availableFonts": [], "preferredFont": None, "webFont": "STIX-Web", "imageFont": None,
        # MathJax 2 declares a fallback font at url('about:blank'), which Chromium refuses with a
        # console error: a local() name gives the same missing font without any request
        "styles": {"@font-face": {"font-family": "MathJax_Blank", "src": "local('MathJax_Blank')"}},
    },
    # myst-nb marks each page `tex2jax_ignore` and the formulas `math`: typeset those only
    "tex2jax": {"processClass": "tex2jax_process|mathjax_process|math|output_area"},
    # no quick preview pass before the real typesetting: it doubles the work on formula-heavy pages
    "fast-preview": {"disabled": True},
    "menuSettings": {"zoom": "None"},
    "messageStyle": "none",
    "MathMenu": {"showLocale": False},
}

# --- look ------------------------------------------------------------------------------------
html_theme = "sphinx_book_theme"
html_static_path = ["_static"]
html_css_files = ["course.css"]
html_favicon = "_static/favicon.svg"
html_theme_options = {
    "home_page_in_toc": True,
    "use_download_button": False,    # the notebook pages link the clean notebook themselves (no copied sources)
    "use_fullscreen_button": False,
    "show_toc_level": 2,
    "show_navbar_depth": 1,
    "navigation_with_keys": False,
    "search_bar_text": "Search the course...",
    "navbar_persistent": [],         # one search box (the sidebar's), not a second one in a header bar
}
html_context = {"default_mode": "light"}   # pydata-sphinx-theme logs a console error without it
html_last_updated_fmt = None
html_show_sourcelink = False
html_copy_source = False             # the pages link the clean notebook to download; the executed copy would double the size
pygments_style = "default"
