"""dynopypi: a private Python package index.

The version comes from the installed package's metadata (pyproject.toml), so
``dynopypi --version``, the ``Server`` header and the welcome page can never disagree
with what pip installed.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("dynopypi")
except PackageNotFoundError:  # pragma: no cover - running from a tree that was never installed
    __version__ = "0+unknown"
