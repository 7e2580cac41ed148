"""Sphinx configuration of the Flask-SockReq documentation.

Build it, with warnings as errors, from the repository root::

    .venv/bin/pip install -e '.[docs]'
    .venv/bin/sphinx-build -W -b html docs docs/_build/html

The build needs no network: there is no intersphinx, and the theme's version
banner (which asks PyPI for the latest release from the reader's browser) is
off. The code samples of these pages are run by ``tests/test_docs.py``.
"""

from __future__ import annotations

from pallets_sphinx_themes import get_version
from pallets_sphinx_themes import ProjectLink

# -- Project -----------------------------------------------------------------

project = "Flask-SockReq"
copyright = "2026, the Flask-SockReq authors"
author = "the Flask-SockReq authors"
release, version = get_version("Flask-SockReq")

# -- General -----------------------------------------------------------------

extensions = [
    "sphinx.ext.autodoc",
    "pallets_sphinx_themes",
]
exclude_patterns = ["_build"]

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_description_target = "documented_params"
autodoc_preserve_defaults = True
autodoc_default_options = {"members": True}

# -- HTML --------------------------------------------------------------------

html_theme = "flask"
html_theme_options = {"index_sidebar_logo": False}
html_context = {
    "project_links": [
        ProjectLink("Wire protocol", "protocol.html"),
        ProjectLink("Changes", "changes.html"),
    ]
}
html_sidebars = {
    "index": ["project.html", "localtoc.html", "searchbox.html"],
    "**": ["localtoc.html", "relations.html", "searchbox.html"],
}
html_title = f"Flask-SockReq Documentation ({version})"
html_show_sourcelink = False
html_static_path: list[str] = []
# The theme's banner asks PyPI, from the reader's browser, whether this is the
# latest release; Flask-SockReq is not released yet.
version_banner = False
