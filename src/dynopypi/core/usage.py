"""How many bytes each project holds in the index's own stores (not the upstream cache):
for quotas, ``dynopypi usage`` and ``/metrics``. Pure, and remembered per snapshot
generation, so asking again before anything changed costs a comparison."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field

from dynopypi.core.snapshot import Snapshot
from dynopypi.dists.names import NormalizedName


@dataclass(frozen=True)
class Usage:
    projects: Mapping[NormalizedName, int] = field(default_factory=dict)  # bytes each
    files: int = 0

    @property
    def total(self) -> int:
        return sum(self.projects.values())

    def biggest(self, count: int) -> list[tuple[NormalizedName, int]]:
        return sorted(self.projects.items(), key=lambda item: (-item[1], item[0]))[:count]


def usage_of(snapshot: Snapshot, local_roots: int) -> Usage:
    """The bytes of each project's files in the first ``local_roots`` sources."""
    projects: dict[NormalizedName, int] = {}
    files = 0
    for name, project in snapshot.projects.items():
        local = [f.size for f in project.files if f.root < local_roots]
        if local:
            projects[name] = sum(local)
            files += len(local)
    return Usage(projects, files)


class UsageMemo:
    """``usage_of`` the newest snapshot, computed once per generation."""

    def __init__(self, local_roots: int) -> None:
        self.local_roots = local_roots
        self._lock = threading.Lock()
        self._seen: tuple[int, Usage] = (-1, Usage())

    def of(self, snapshot: Snapshot) -> Usage:
        with self._lock:
            generation, usage = self._seen
            if generation != snapshot.generation:
                usage = usage_of(snapshot, self.local_roots)
                self._seen = (snapshot.generation, usage)
            return usage
