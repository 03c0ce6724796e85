"""Sphinx configuration for switchio-lab."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # so autodoc works from a checkout even without `pip install -e`

import switchio_lab  # noqa: E402

project = "switchio-lab"
author = "switchio-lab contributors"
copyright = "switchio-lab contributors"
version = release = switchio_lab.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
    "myst_parser",
]
# No network here: intersphinx would only warn (and -W turns warnings into errors).

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"show-inheritance": True}
napoleon_google_docstring = True
napoleon_numpy_docstring = True

html_theme = "furo"
html_title = f"switchio-lab {release}"
html_static_path: list[str] = []
