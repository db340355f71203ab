"""The package directories as the server's store: the same face as the bucket's
(``store.bucket.store.BucketStore``), so the server and the routes treat both alike.

Its parts: the reconciler (the disk against the index), path updates and the watcher that
keep the index current, the reader of served files, and the directory's halves of the
publishing contracts (``shelf``, ``releases``). Yank state written by the CLI beside the
packages is picked up when the watcher sees it change, and on ``reload`` (SIGHUP).
"""

from __future__ import annotations

import logging
from pathlib import Path

from dynopypi.store.base import Storage
from dynopypi.store.directory.reader import FileReader
from dynopypi.store.directory.reconcile import Reconciler
from dynopypi.store.directory.releases import Releases
from dynopypi.store.directory.shelf import DirectoryShelf
from dynopypi.store.directory.updates import PathUpdates
from dynopypi.store.directory.watcher import Watcher
from dynopypi.store.directory.yanks import YankStore

log = logging.getLogger(__name__)


class DirectoryStore:
    storage: Storage | None = None  # files are sent from here, never from a pre-signed URL

    def __init__(self, reconciler: Reconciler, yanks: YankStore, *, rescan: float) -> None:
        self.reconciler = reconciler
        self.index = reconciler.index
        self.yanks = yanks
        self.paths = PathUpdates(reconciler)
        self.reader = FileReader(self.index, reconciler.cache)
        self.shelf = DirectoryShelf(self.paths)
        self.releases = Releases(self.paths, yanks)
        self.watcher = Watcher(
            self.paths, rescan_interval=rescan, on_state_change=self._state_changed
        )

    def load(self) -> None:
        """Start watching, then load the index (from the cache, else a cold start)."""
        self.watcher.start()  # before the scan, so nothing copied in meanwhile is missed
        if not self.reconciler.load_cached() and not self.reconciler.start_cold():
            self.reconciler.sync()

    def settle(self) -> None:
        """After binding: the disk checked against the snapshot loaded from the cache."""
        self.reconciler.completer.done.wait()  # a cold start reads files first
        if not self.index.verified.is_set():
            changed = self.reconciler.sync()
            log.info("package directories checked: %d files changed meanwhile", changed)

    def reload(self) -> None:
        """SIGHUP: yank state re-read now."""
        for root, path in enumerate(self.index.roots):
            self._state_changed(root, path)

    def _state_changed(self, root: int, path: Path) -> None:
        """Something under <root>/.dynopypi/ changed: pick up yanks made by the CLI."""
        if self.yanks.reload(root):
            self.paths.reyank()

    def problem(self) -> str | None:
        return None  # a directory's problems are per request (or /ready's writable check)

    def stop(self) -> None:
        self.watcher.stop()
