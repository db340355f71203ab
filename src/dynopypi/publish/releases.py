"""Removing and yanking releases: the rules behind ``remove_pkg``, ``yank`` and ``unyank``.

Kept out of the HTTP layer so that the rules (what a release is, that a removed file takes
its yank state with it, what "no such release" means) are stated once and testable without
a server. Domain errors only; the edge maps them to statuses.
"""

from __future__ import annotations

import logging
from typing import Protocol

from packaging.version import InvalidVersion, Version

from dynopypi.core.index import ProjectLookup
from dynopypi.dists.names import DistFile, normalize
from dynopypi.errors import InvalidInput, NotFound

log = logging.getLogger(__name__)


class ReleaseChanges(Protocol):
    """What the shell asks of a store's releases (a directory's or a bucket's)."""

    def remove(self, name: str, version: str) -> list[DistFile]: ...

    def yank(
        self, name: str, version: str, filename: str | None, reason: str | None
    ) -> list[DistFile]: ...


def release_files(lookup: ProjectLookup, name: str, version: str) -> list[DistFile]:
    """The served files of one release (empty when there are none)."""
    try:
        wanted = Version(version)
    except InvalidVersion:
        raise InvalidInput(f"{version!r} is not a valid version") from None
    project = lookup.project(normalize(name))
    return [f for f in project.files if f.version == wanted] if project else []


def yank_targets(
    release: list[DistFile], name: str, version: str, filename: str | None, reason: str | None
) -> list[DistFile]:
    """The files a yank (``reason`` a string) or un-yank (None) changes: the release's, or
    only ``filename`` among them; an un-yank reports only what was yanked."""
    if not release:
        raise NotFound(f"no release {version!r} of {name!r}")
    files = [f for f in release if f.filename == filename] if filename else release
    if not files:
        names = ", ".join(sorted({f.filename for f in release}))
        raise NotFound(f"{name} {version} has no file {filename!r}; its files: {names}")
    return [f for f in files if f.is_yanked] if reason is None else files
