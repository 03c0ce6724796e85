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
    "myst_nb",  # Markdown (it includes myst_parser) and the notebooks, executed at build
    "sphinxarg.ext",  # the CLI reference from the argparse parsers
]
# No network here: intersphinx would only warn (and -W turns warnings into errors).

source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
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

# The notebooks (docs/notebooks is a link to ../notebooks) are stored without outputs; they run
# at build on the embedded switch, each in a fresh kernel; a notebook that fails fails the build.
# jupyter-cache keeps the outputs between builds until a notebook changes.
nb_execution_mode = "cache"
nb_execution_cache_path = str(ROOT / "docs" / "_build" / ".jupyter_cache")
nb_execution_timeout = 300
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_merge_streams = True
# Bokeh's notebook outputs carry its own mime types beside application/javascript, which the
# HTML builder picks anyway; myst-nb's parse phase still warns about Bokeh's (unrenderable) ones.
suppress_warnings = ["mystnb.unknown_mime_type"]
