"""Removing and yanking releases in the package directories (``Releases``): every copy of a
release's files deleted, yank state kept beside them (``yanks``), the index updated.

The rules (what a release is, what "no such release" means) are ``publish.releases``';
this is the directory's half of its ``ReleaseChanges`` contract (the bucket's is
``store.bucket.writer``).
"""

from __future__ import annotations

import logging

from dynopypi.dists.names import DistFile
from dynopypi.errors import NotFound
from dynopypi.publish.releases import release_files, yank_targets
from dynopypi.store.directory.updates import PathUpdates
from dynopypi.store.directory.yanks import YankStore

log = logging.getLogger(__name__)


class Releases:
    def __init__(self, paths: PathUpdates, yanks: YankStore) -> None:
        self.paths = paths
        self.reconciler = paths.reconciler
        self.index = paths.reconciler.index
        self.yanks = yanks

    def files_of(self, name: str, version: str) -> list[DistFile]:
        return release_files(self.reconciler, name, version)

    def remove(self, name: str, version: str) -> list[DistFile]:
        """Delete every copy of the release's files (in every package directory)."""
        files = self.files_of(name, version)
        if not files:
            raise NotFound(f"no release {version!r} of {name!r}")
        copies = [copy for f in files for copy in self.index.copies(f.relpath)]
        for dist in copies:
            self.index.path_of(dist).unlink(missing_ok=True)
            self.paths.discard_tree(dist.root, dist.relpath)
            log.info("removed %s", dist.relpath)
        for root in sorted({f.root for f in copies if f.is_yanked}):
            # a later upload under the same name must not inherit the yank
            self.yanks.update(root, [f.filename for f in copies if f.root == root], None)
        self.paths.reyank()
        return files

    def yank(
        self, name: str, version: str, filename: str | None, reason: str | None
    ) -> list[DistFile]:
        """Yank (``reason`` a string, possibly empty) or un-yank (None) a release's files,
        or only ``filename`` among them."""
        files = yank_targets(self.files_of(name, version), name, version, filename, reason)
        for root in sorted({f.root for f in files}):
            self.yanks.update(root, [f.filename for f in files if f.root == root], reason)
        self.paths.reyank()
        return files
