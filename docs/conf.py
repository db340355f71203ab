"""Sphinx settings for the dynopypi documentation (``make docs``, ``make man``).

The pages are Markdown (MyST). Two are generated at build time, never edited: the
command-line reference (``cli_reference.py`` writes it from the argparse parser before
Sphinx reads the sources, and ``reference.md`` includes it) and the architecture page
(``architecture.py``, checked by a test). ``reference.md`` is also the ``dynopypi(1)``
man page, so the man page and the site say the same thing.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

from dynopypi import __version__

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
cli_reference = importlib.import_module("cli_reference")  # docs/cli_reference.py

project = "dynopypi"
author = "the dynopypi authors"
copyright = "the dynopypi authors"
version = release = __version__

extensions = ["myst_parser"]
source_suffix = {".md": "markdown"}
root_doc = "index"
# architecture.py, cli_reference.py and conf.py are code; _generated/ is included, not a page
exclude_patterns = ["_build", "_generated", "*.py", "README.md"]

myst_enable_extensions = ["deflist"]
smartquotes = False  # command lines: --config must stay two hyphens, 'quotes' straight
myst_heading_anchors = 3  # [text](page.md#a-heading) links are checked like page links

# strict: `make docs` runs with -W -n, so a broken link, anchor or reference fails the build
nitpicky = True
suppress_warnings: list[str] = []

html_theme = "furo"
html_title = f"dynopypi {release}"
html_static_path: list[str] = []
html_show_sourcelink = False

# the man page: the generated command-line reference (docs/reference.md)
man_pages = [("reference", "dynopypi", "a private Python package index", [author], 1)]
man_show_urls = False

# no page is fetched from the network: `linkcheck` checks only what the build can resolve
linkcheck_ignore = [r"^https?://"]

cli_reference.write(HERE / "_generated" / "cli.md")


def setup(app: Any) -> None:
    """```console blocks are commands the tests do not run (other machines, root, podman),
    written like ```sh blocks, without prompts: highlight them as shell, not as a session."""
    app.add_lexer("console", importlib.import_module("pygments.lexers.shell").BashLexer)
