"""What one source (a package directory) holds, as its reconciler last saw it.

Only the index's writer changes these, under its lock; readers never look here, they read
the ``Snapshot`` merged from all sources. Files are kept twice: by relative path (what
reconciliation compares against the disk) and by project (what a merge reads).
"""

from __future__ import annotations

from dynopypi.core.snapshot import Layer
from dynopypi.dists.names import DistFile, NormalizedName

_EMPTY: dict[str, DistFile] = {}


class SourceFiles:
    def __init__(self) -> None:
        self.by_path: dict[str, DistFile] = {}
        self._by_project: dict[NormalizedName, dict[str, DistFile]] = {}

    def put(self, dist: DistFile) -> set[NormalizedName]:
        """Add or replace the file at ``dist.relpath``; the projects that changed."""
        touched = {dist.project}
        old = self.by_path.get(dist.relpath)
        if old is not None and old.project != dist.project:
            touched |= self.drop(dist.relpath)
        self.by_path[dist.relpath] = dist
        self._by_project.setdefault(dist.project, {})[dist.relpath] = dist
        return touched

    def drop(self, relpath: str) -> set[NormalizedName]:
        old = self.by_path.pop(relpath, None)
        if old is None:
            return set()
        members = self._by_project.get(old.project)
        if members is not None:
            members.pop(relpath, None)
            if not members:
                del self._by_project[old.project]
        return {old.project}

    def layer(self, name: NormalizedName) -> Layer:
        return self._by_project.get(name, _EMPTY)

    def under(self, prefix: str) -> list[str]:
        """Relative paths below ``prefix`` ('' for all, else ending in '/')."""
        if not prefix:
            return list(self.by_path)
        return [rel for rel in list(self.by_path) if rel.startswith(prefix)]
