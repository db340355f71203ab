"""The index: the current ``Snapshot`` and the sources it is merged from.

Readers take ``index.snapshot`` (one attribute read, no lock) and use it for a whole
request. Writers (reconciler, uploads, removals) call ``change``, which serializes on one
lock, updates a source and publishes the next snapshot. Reading files and computing hashes
happens before ``change``, never under the lock.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Protocol

from dynopypi.core.model import Project
from dynopypi.core.snapshot import Layer, MergeRule, Snapshot, first_directory_wins, holding, merged
from dynopypi.core.sources import SourceFiles
from dynopypi.dists.names import DistFile, NormalizedName

# told of every published change, under the writers' lock: (before, after, touched projects)
Observer = Callable[[Snapshot, Snapshot, set[NormalizedName]], None]


class ProjectLookup(Protocol):
    """How served projects and files are found by name: from the snapshot, a project still
    being read on a cold start read first (the directory's ``Reconciler`` does that). What
    the catalog, the publishing rules and the bucket's writer need, and no more."""

    def project(self, name: NormalizedName) -> Project | None: ...

    def file_at(self, url_path: str) -> DistFile | None: ...


class Index:
    def __init__(
        self,
        roots: tuple[Path, ...],
        rule: MergeRule = first_directory_wins,
        *,
        upstream_root: Path | None = None,
    ) -> None:
        """``upstream_root``: where cached upstream files live; their source comes last
        (number ``len(roots)``) and is never a package directory."""
        self.roots = tuple(Path(os.path.abspath(r)) for r in roots)
        extra = () if upstream_root is None else (Path(os.path.abspath(upstream_root)),)
        self.file_roots = self.roots + extra
        self.sources = tuple(SourceFiles() for _ in self.file_roots)
        self.rule = rule
        self.snapshot = Snapshot()
        self.lock = threading.RLock()  # writers only
        self.loaded = False  # serving (possibly from the cache snapshot)
        self.verified = threading.Event()  # a full scan of the disk has completed
        self.observers: list[Observer] = []  # e.g. the pages published for nginx

    # ---- writers ---------------------------------------------------------------------
    def change(
        self,
        added: Iterable[DistFile] = (),
        removed: Iterable[str] = (),
        *,
        source: int = 0,
        settled: Iterable[NormalizedName] = (),
    ) -> Snapshot:
        """Apply changes and publish the next snapshot, all at once: a project with files
        in several directories never appears with only some of them.

        Each added file goes to its own source (``dist.root``); ``removed`` are relative
        paths in ``source``; ``settled`` projects are complete, no longer pending.
        """
        with self.lock:
            touched: set[NormalizedName] = set()
            for relpath in removed:
                touched |= self.sources[source].drop(relpath)
            for dist in added:
                touched |= self.sources[dist.root].put(dist)
            before = self.snapshot
            self.snapshot = merged(before, touched, self._layers, self.rule, settled=settled)
            self._tell(before, touched)
            return self.snapshot

    def hold(self, names: Mapping[NormalizedName, str]) -> None:
        """List projects whose files are still being read (see ``Snapshot.pending``)."""
        with self.lock:
            before = self.snapshot
            self.snapshot = holding(before, names)
            self._tell(before, set())

    def _tell(self, before: Snapshot, touched: set[NormalizedName]) -> None:
        """Observers learn of a change before its writer returns (an upload's answer is
        sent after its pages are published)."""
        if self.snapshot is not before:
            for observer in self.observers:
                observer(before, self.snapshot, touched)

    def layers(self, name: NormalizedName) -> Sequence[Layer]:
        """Every source's files of ``name`` (writer-side state; for evidence, not serving)."""
        return self._layers(name)

    def _layers(self, name: NormalizedName) -> Sequence[Layer]:
        return [source.layer(name) for source in self.sources]

    # ---- what only the writers' side knows ------------------------------------------
    def copies(self, relpath: str) -> list[DistFile]:
        """The file at ``relpath`` in every package directory (the first one is served)."""
        found = (source.by_path.get(relpath) for source in self.sources[: len(self.roots)])
        return [dist for dist in found if dist is not None]

    def path_of(self, dist: DistFile) -> Path:
        return self.file_roots[dist.root] / dist.relpath
