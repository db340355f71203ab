"""The parts the HTTP shell calls, built once by the composition root (``server.Server``).

One value instead of a long parameter list, so a route module takes what it needs and a
test can build the whole app in-process from ``Settings``.
"""

from __future__ import annotations

from dataclasses import dataclass

from .catalog import Catalog
from .config import Settings
from .index import Index
from .paths import PathUpdates
from .policy import Gate
from .reader import FileReader
from .reconcile import Reconciler
from .releases import Releases
from .render import Renderer


@dataclass(frozen=True)
class Services:
    settings: Settings
    index: Index
    reconciler: Reconciler
    paths: PathUpdates
    reader: FileReader
    renderer: Renderer
    gate: Gate
    releases: Releases
    catalog: Catalog  # what pages and downloads read: local + upstream, with views
