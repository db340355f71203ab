"""The parts the HTTP shell calls, built once from Settings (``build.build_parts``).

One value instead of a long parameter list, so a route module takes what it needs and a
test can build the whole app in-process from ``Settings``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from dynopypi.auth.policy import Gate
from dynopypi.catalog import Catalog
from dynopypi.core.index import Index
from dynopypi.publish.releases import ReleaseChanges
from dynopypi.publish.shelf import Shelf
from dynopypi.render.renderer import Renderer
from dynopypi.settings.config import Settings
from dynopypi.store.base import Reader, Storage


@dataclass(frozen=True)
class Services:
    settings: Settings
    index: Index
    reader: Reader
    renderer: Renderer
    gate: Gate
    releases: ReleaseChanges
    catalog: Catalog  # what pages and downloads read: local + upstream, with views
    shelf: Shelf  # where uploads go
    store: Storage | None = None  # a bucket (None: the package directories)
    store_problem: Callable[[], str | None] = lambda: None  # why the store is not answering
