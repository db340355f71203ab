"""dynopypi: a private Python package index.

The packages, lowest layer first; each imports only those before it, and packages on one
line never import each other (``lint-imports`` checks it, with no cycles anywhere):

- ``errors``: the domain's refusals, with no HTTP in them
- ``dists``: distribution files (names, archives, metadata)
- ``core``: the index model in memory
- ``publish``, ``auth``, ``render``, ``ops``, ``store.base``: the rules, who may do what,
  pages, logging, the storage contract
- ``store.directory``, ``store.bucket``, ``upstream``, ``audit``, ``site``: the two stores,
  the public cache, the audit trail, the pages and files published for nginx
- ``catalog``, ``edge``, ``store.copy``, ``settings``, ``trust``: what routes read (local
  and upstream joined), the waitress edge, copying between stores, settings, API tokens
  and trusted publishing
- ``migrate``: moving in from another index (the import's source, the compare)
- ``services``, ``metering``: the parts the routes call, the metrics read from them
- ``web``: the Bottle routes
- ``build``: every part built from ``Settings``
- ``server``: the running service (threads, waitress, signals)
- ``cli``: the command line

The version comes from the installed package's metadata (pyproject.toml), so
``dynopypi --version``, the ``Server`` header and the welcome page can never disagree
with what pip installed.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("dynopypi")
except PackageNotFoundError:  # pragma: no cover - running from a tree that was never installed
    __version__ = "0+unknown"
