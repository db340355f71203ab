"""Where an upload lands in a package directory (``DirectoryShelf``): the file linked into
place atomically (never over an existing one unless ``--overwrite``), the directory
fsynced, the index updated before the next upload decides.

The rules that decide whether an upload is acceptable are ``publish.upload``'s; this is the
directory's half of its ``Shelf`` contract (the bucket's is ``store.bucket.writer``).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import threading
from pathlib import Path

from dynopypi.dists.names import DistFile, ParsedName
from dynopypi.errors import AlreadyExists
from dynopypi.publish.form import CHUNK, UploadForm, storage_error
from dynopypi.publish.shelf import Outcome, exists_error, same_file
from dynopypi.store.directory.durable import fsync_dir
from dynopypi.store.directory.updates import PathUpdates

log = logging.getLogger(__name__)


# ---- placing the file ------------------------------------------------------------------
_place_lock = threading.Lock()


class DirectoryShelf:
    def __init__(self, paths: PathUpdates, root: int = 0) -> None:
        self.paths = paths
        self.root = root

    def stored(self, filename: str, parsed: ParsedName) -> DistFile | None:
        return same_file(self.paths.reconciler.project(parsed.project), filename)

    def unchanged(self, dist: DistFile, sha256: str) -> bool:
        return _indexed_match(self.paths, dist, sha256) is True

    def place(
        self, form: UploadForm, parsed: ParsedName, metadata: bytes | None, *, overwrite: bool
    ) -> Outcome:
        return _place(form, parsed, metadata, self.paths, self.root, overwrite=overwrite)


def _indexed_match(paths: PathUpdates, dist: DistFile, sha256: str) -> bool | None:
    """Whether the stored file has these bytes, by the index's digest; None when the file
    is no longer as indexed (then only reading it can tell)."""
    try:
        st = os.stat(paths.reconciler.index.path_of(dist))
    except OSError:
        return None
    if (st.st_size, st.st_mtime_ns) != (dist.size, dist.mtime_ns):
        return None
    return hmac.compare_digest(dist.sha256, sha256)


def _holds(paths: PathUpdates, existing: DistFile | None, target: Path, sha256: str) -> bool:
    """``target`` has these bytes: from the index while the file is as indexed (a stream of
    conflicting uploads must not re-hash a large stored file each time), else by reading."""
    if existing is not None and paths.reconciler.index.path_of(existing) == target:
        known = _indexed_match(paths, existing, sha256)
        if known is not None:
            return known
    return _same_bytes(target, sha256)


def _place(
    form: UploadForm,
    parsed: ParsedName,
    metadata: bytes | None,
    paths: PathUpdates,
    root: int,
    *,
    overwrite: bool,
) -> Outcome:
    assert form.filename is not None and form.temp_path is not None
    sha256 = form.digests["sha256"]
    index = paths.reconciler.index
    # one decision at a time, and the index updated before the next one looks at it
    with _place_lock:
        existing = same_file(paths.reconciler.project(parsed.project), form.filename)
        relpath, target = form.filename, index.roots[root] / form.filename
        if existing is not None:
            relpath, root, target = existing.relpath, existing.root, index.path_of(existing)
        if target.is_dir() and not target.is_symlink():
            raise AlreadyExists(
                f"File already exists: {form.filename!r} is taken by a directory in the "
                "package directory; nothing was stored"
            )
        if target.is_symlink():
            if not overwrite:
                raise exists_error(form.filename, existing)
        elif target.exists():
            if _holds(paths, existing, target, sha256):
                return Outcome(paths.upsert(root, relpath), created=False)
            if not overwrite:
                raise exists_error(form.filename, existing)
        os.chmod(form.temp_path, 0o644 & ~_UMASK)
        try:
            if overwrite:
                os.replace(form.temp_path, target)  # replaces a symlink, never writes through
            else:
                os.link(form.temp_path, target)  # fails if anything appeared meanwhile
        except FileExistsError:
            if _same_bytes(target, sha256):
                return Outcome(paths.upsert(root, relpath), created=False)
            raise exists_error(form.filename, existing) from None
        except OSError as exc:
            raise storage_error(exc, "move the upload into place") from exc
        fsync_dir(target.parent)
        dist = paths.upsert(root, relpath, known=(form.digests, metadata))
    log.info("stored %s (%d bytes)", relpath, form.size)
    return Outcome(dist, created=True)


def _read_umask() -> int:
    """Read once at import, while single-threaded: os.umask can only be read by setting it."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def _same_bytes(path: Path, sha256: str) -> bool:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(CHUNK):
                digest.update(chunk)
    except OSError:
        return False
    return hmac.compare_digest(digest.hexdigest(), sha256)
