"""What a store does with an accepted upload (the ``Shelf`` contract) and what every store's
shelf shares: which stored file an upload would replace (``same_file``), how a conflict
reads (``exists_error``), what the upload's answer is (``Outcome``).

The rules run first (``upload``); the stores implement the contract
(``store.directory.shelf``, ``store.bucket.writer``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from dynopypi.core.model import Project
from dynopypi.dists.names import DistFile, ParsedName, file_key
from dynopypi.errors import AlreadyExists
from dynopypi.publish.form import UploadForm


@dataclass(frozen=True)
class Outcome:
    dist: DistFile | None
    created: bool  # False: an identical file was already there


class Shelf(Protocol):
    """Where accepted files go: the package directory (``DirectoryShelf``) or a bucket."""

    def stored(self, filename: str, parsed: ParsedName) -> DistFile | None: ...

    def unchanged(self, dist: DistFile, sha256: str) -> bool: ...

    def place(
        self, form: UploadForm, parsed: ParsedName, metadata: bytes | None, *, overwrite: bool
    ) -> Outcome: ...


def same_file(project: Project | None, filename: str) -> DistFile | None:
    """The indexed file that is the same file as ``filename`` to an installer (same name,
    or a variant spelling of the same project, version and tags), if any."""
    if project is None:
        return None
    key = file_key(filename)
    same = [f for f in project.files if f.filename == filename or file_key(f.filename) == key]
    same.sort(key=lambda f: (f.filename != filename, f.root, f.relpath))
    return same[0] if same else None


def exists_error(filename: str, existing: DistFile | None) -> AlreadyExists:
    same = (
        f" as {existing.filename!r} (the same project, version and tags)"
        if existing is not None and existing.filename != filename
        else ""
    )
    return AlreadyExists(
        f"File already exists: {filename!r} is in this index{same} with different content. "
        "Upload a new version instead (or start the server with --overwrite)."
    )
