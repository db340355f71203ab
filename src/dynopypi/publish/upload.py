"""Accepting an upload of the legacy API that twine and uv publish speak.

``form.read_form`` has already streamed the file to a hidden temp file; here
``accept_upload`` runs the named checks (filename, digests, metadata, overwrite rule) and
only then links the file into place. Whatever goes wrong, the temp file is removed: a
refused upload leaves nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from packaging.version import InvalidVersion, Version

from dynopypi.core.model import Project
from dynopypi.dists.check import check_distribution
from dynopypi.dists.names import (
    DistFile,
    NormalizedName,
    ParsedName,
    file_key,
    is_valid_project_name,
    normalize,
    parse_filename,
)
from dynopypi.errors import AlreadyExists, InvalidFilename, InvalidInput, MetadataError
from dynopypi.publish.form import CHUNK, DIGEST_FIELDS, UploadForm, storage_error
from dynopypi.store.directory.storage import fsync_dir
from dynopypi.store.directory.updates import PathUpdates

log = logging.getLogger(__name__)


# ---- checks (pure, or reading only the temp file) ------------------------------------
def check_filename(filename: str | None) -> ParsedName:
    if not filename:
        raise InvalidInput("the upload has no file: send it as the 'content' part with a filename")
    if "\x00" in filename or "/" in filename or "\\" in filename or filename in (".", ".."):
        raise InvalidInput(f"invalid filename {filename!r}: it must be a plain file name")
    if not filename.isascii():
        raise InvalidInput(
            f"invalid filename {filename!r}: distribution file names are ASCII "
            "(letters, digits, '.', '_', '-', '+', '!')"
        )
    if filename.startswith("."):
        raise InvalidInput(f"invalid filename {filename!r}: it must not start with a dot")
    if len(filename) > 255:
        raise InvalidInput(f"invalid filename {filename[:60]!r}...: longer than 255 bytes")
    try:
        return parse_filename(filename)
    except InvalidFilename as exc:
        raise InvalidInput(f"invalid distribution filename: {exc}") from exc


def canonical_project(name: str) -> NormalizedName:
    """The one name a form's ``name`` field can stand for, or ``InvalidInput``: exactly a
    valid project name (ASCII letters, digits, ``._-``), no spaces or control characters,
    so the name that rights are checked against is the name that is changed."""
    if not name.isascii() or not is_valid_project_name(name):
        raise InvalidInput(
            f"the form's name {name[:100]!r} is not a valid project name: ASCII letters, "
            "digits, '.', '_' and '-', starting and ending with a letter or digit"
        )
    return normalize(name)


def check_form_matches(form: UploadForm, parsed: ParsedName) -> None:
    """The form says what the file name says (the file name is the one that counts)."""
    name, version_text = form.fields.get("name", ""), form.fields.get("version", "")
    if not name or not version_text:
        raise InvalidInput("the upload form needs 'name' and 'version' fields")
    if canonical_project(name) != parsed.project:
        raise InvalidInput(
            f"the form's name {name!r} does not match the file {form.filename!r} "
            f"(project {parsed.project!r})"
        )
    try:
        if not version_text.isascii() or version_text != version_text.strip():
            raise InvalidVersion(version_text)
        version = Version(version_text)
    except InvalidVersion:
        raise InvalidInput(f"the form's version {version_text!r} is not a valid version") from None
    if version != parsed.version:
        raise InvalidInput(
            f"the form's version {version_text!r} does not match the file {form.filename!r} "
            f"(version {parsed.version})"
        )


def check_digests(form: UploadForm) -> None:
    if form.size == 0:
        raise InvalidInput(f"the file {form.filename!r} is empty")
    for key, algorithm in DIGEST_FIELDS.items():
        sent = form.fields.get(key, "").strip().lower()
        if sent and not (sent.isascii() and hmac.compare_digest(sent, form.digests[algorithm])):
            raise InvalidInput(
                f"{key} does not match the uploaded bytes: the file was corrupted in transit "
                "or the digest is wrong; nothing was stored"
            )


def check_archive(form: UploadForm, parsed: ParsedName) -> bytes | None:
    """The file is a valid distribution of its type, for this project and version."""
    assert form.temp_path is not None and form.filename is not None
    try:
        return check_distribution(form.temp_path, form.filename, parsed)
    except MetadataError as exc:
        message = str(exc).replace(form.temp_path.name, form.filename)
        raise InvalidInput(f"not a valid distribution: {message}; nothing was stored") from exc


# ---- placing the file ------------------------------------------------------------------
_place_lock = threading.Lock()


def _same_bytes(path: Path, sha256: str) -> bool:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(CHUNK):
                digest.update(chunk)
    except OSError:
        return False
    return hmac.compare_digest(digest.hexdigest(), sha256)


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


def accept_upload(
    form: UploadForm,
    shelf: Shelf,
    *,
    overwrite: bool,
    authorize: Callable[[NormalizedName], None],
) -> Outcome:
    """Run every check, then put the file in place atomically and index it.

    The project is the file name's, once validated: ``authorize`` is asked about that name,
    and that is the name the file is stored under. The cheap checks come first; a re-upload
    of a stored file is answered from its digest before any archive is opened.
    """
    try:
        parsed = check_filename(form.filename)
        assert form.filename is not None and form.temp_path is not None
        check_form_matches(form, parsed)
        authorize(parsed.project)
        check_digests(form)
        stored = shelf.stored(form.filename, parsed)
        if stored is not None and shelf.unchanged(stored, form.digests["sha256"]):
            return Outcome(stored, created=False)
        metadata = check_archive(form, parsed)
        return shelf.place(form, parsed, metadata, overwrite=overwrite)
    finally:
        form.discard()


def same_file(project: Project | None, filename: str) -> DistFile | None:
    """The indexed file that is the same file as ``filename`` to an installer (same name,
    or a variant spelling of the same project, version and tags), if any."""
    if project is None:
        return None
    key = file_key(filename)
    same = [f for f in project.files if f.filename == filename or file_key(f.filename) == key]
    same.sort(key=lambda f: (f.filename != filename, f.root, f.relpath))
    return same[0] if same else None


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


def _read_umask() -> int:
    """Read once at import, while single-threaded: os.umask can only be read by setting it."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()
