"""The parts the HTTP shell calls, built once from Settings (``build.build_parts``).

One value instead of a long parameter list, so a route module takes what it needs and a
test can build the whole app in-process from ``Settings``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from dynopypi.audit.trail import AuditTrail
from dynopypi.auth.policy import Gate
from dynopypi.catalog import Catalog
from dynopypi.core.index import Index
from dynopypi.core.usage import UsageMemo
from dynopypi.ops.metrics import Metrics
from dynopypi.publish.releases import ReleaseChanges
from dynopypi.publish.shelf import Shelf
from dynopypi.render.renderer import Renderer
from dynopypi.settings.config import Settings
from dynopypi.store.base import Reader, Storage
from dynopypi.trust.mint import Trust


class PackageStore(Protocol):
    """Where the packages are, as the server and the routes see it: the package directories
    (``store.directory.store``) or a bucket (``store.bucket.store``) look alike from here."""

    @property
    def storage(self) -> Storage | None: ...  # one that hands out pre-signed URLs

    @property
    def reader(self) -> Reader: ...

    @property
    def shelf(self) -> Shelf: ...

    @property
    def releases(self) -> ReleaseChanges: ...

    def load(self) -> None: ...

    def settle(self) -> None: ...

    def reload(self) -> None: ...

    def problem(self) -> str | None: ...

    def stop(self) -> None: ...


@dataclass(frozen=True)
class Services:
    settings: Settings
    index: Index
    renderer: Renderer
    gate: Gate
    catalog: Catalog  # what pages and downloads read: local + upstream, with views
    store: PackageStore  # where uploads go, and what is wrong with it
    trust: Trust | None = None  # API tokens and trusted publishing
    audit: AuditTrail | None = None  # where every write is recorded (None: not recorded)
    metrics: Metrics | None = None  # None: --no-metrics
    usage: UsageMemo | None = None  # bytes per project, for quotas
