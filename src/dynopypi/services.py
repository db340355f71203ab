"""The parts the HTTP shell calls, built once by the composition root (``server.Server``).

One value instead of a long parameter list, so a route module takes what it needs and a
test can build the whole app in-process from ``Settings``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .catalog import Catalog
from .config import Settings
from .index import Index
from .paths import PathUpdates
from .policy import Gate
from .reader import Reader
from .reconcile import Reconciler
from .releases import ReleaseChanges
from .render import Renderer
from .storage import Storage
from .upload import Shelf


@dataclass(frozen=True)
class Services:
    settings: Settings
    index: Index
    reconciler: Reconciler
    paths: PathUpdates
    reader: Reader
    renderer: Renderer
    gate: Gate
    releases: ReleaseChanges
    catalog: Catalog  # what pages and downloads read: local + upstream, with views
    shelf: Shelf  # where uploads go
    store: Storage | None = None  # a bucket (None: the package directories)
    store_problem: Callable[[], str | None] = lambda: None  # why the store is not answering
