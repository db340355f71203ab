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
import tarfile
import threading
import zipfile
from dataclasses import dataclass
from pathlib import Path

from packaging.version import InvalidVersion, Version

from .dists import DistFile, ParsedName, normalize, parse_filename
from .errors import (
    AlreadyExists,
    InvalidFilename,
    InvalidInput,
    MetadataError,
)
from .form import CHUNK, DIGEST_FIELDS, UploadForm, storage_error
from .metadata import ARCHIVE_ERRORS, parse_metadata, read_metadata
from .paths import PathUpdates

log = logging.getLogger(__name__)


# ---- checks (pure, or reading only the temp file) ------------------------------------
def check_filename(filename: str | None) -> ParsedName:
    if not filename:
        raise InvalidInput("the upload has no file: send it as the 'content' part with a filename")
    if "\x00" in filename or "/" in filename or "\\" in filename or filename in (".", ".."):
        raise InvalidInput(f"invalid filename {filename!r}: it must be a plain file name")
    if filename.startswith("."):
        raise InvalidInput(f"invalid filename {filename!r}: it must not start with a dot")
    if len(filename.encode("utf-8", "surrogateescape")) > 255:
        raise InvalidInput(f"invalid filename {filename[:60]!r}...: longer than 255 bytes")
    try:
        return parse_filename(filename)
    except InvalidFilename as exc:
        raise InvalidInput(f"invalid distribution filename: {exc}") from exc


def check_form_matches(form: UploadForm, parsed: ParsedName) -> None:
    name = form.fields.get("name", "").strip()
    version_text = form.fields.get("version", "").strip()
    if not name or not version_text:
        raise InvalidInput("the upload form needs 'name' and 'version' fields")
    if normalize(name) != parsed.project:
        raise InvalidInput(
            f"the form's name {name!r} does not match the file {form.filename!r} "
            f"(project {parsed.project!r})"
        )
    try:
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
        if sent and not hmac.compare_digest(sent, form.digests[algorithm]):
            raise InvalidInput(
                f"{key} does not match the uploaded bytes: the file was corrupted in transit "
                "or the digest is wrong; nothing was stored"
            )


def check_archive(form: UploadForm, parsed: ParsedName) -> bytes | None:
    """Read the core metadata and check it names the same project and version."""
    assert form.temp_path is not None
    if (
        parsed.packagetype in ("bdist_wheel", "sdist")
        and form.filename
        and (form.filename.lower().endswith((".whl", ".tar.gz", ".zip")))
    ):
        try:
            raw = read_metadata(form.temp_path, parsed.packagetype, form.filename)
        except MetadataError as exc:
            message = str(exc).replace(form.temp_path.name, form.filename)
            raise InvalidInput(f"corrupt or incomplete distribution: {message}") from exc
        metadata = parse_metadata(raw)
        meta_name, meta_version = metadata.first("Name"), metadata.first("Version")
        if not meta_name or normalize(meta_name) != parsed.project:
            raise InvalidInput(
                f"the metadata inside {form.filename!r} names project {meta_name!r}, "
                f"not {str(parsed.project)!r}"
            )
        try:
            same = meta_version is not None and Version(meta_version) == parsed.version
        except InvalidVersion:
            same = False
        if not same:
            raise InvalidInput(
                f"the metadata inside {form.filename!r} has version {meta_version!r}, "
                f"not {parsed.version}"
            )
        return raw
    _check_other_archive(form.temp_path, form.filename or "")
    return None


def _check_other_archive(path: Path, filename: str) -> None:
    try:
        if filename.lower().endswith(".egg"):
            with zipfile.ZipFile(path) as zf:
                if zf.testzip() is not None:
                    raise InvalidInput(f"{filename!r} is a corrupt zip archive")
            return
        with tarfile.open(path, "r:*") as tf:
            for count, _member in enumerate(iter(tf.next, None)):
                if count > 10_000:
                    break
    except ARCHIVE_ERRORS as exc:
        if isinstance(exc, InvalidInput):
            raise
        raise InvalidInput(f"{filename!r} is not a readable archive ({exc})") from exc


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


def accept_upload(form: UploadForm, paths: PathUpdates, root: int, *, overwrite: bool) -> Outcome:
    """Run every check, then put the file in place atomically and index it."""
    try:
        parsed = check_filename(form.filename)
        assert form.filename is not None and form.temp_path is not None
        check_form_matches(form, parsed)
        check_digests(form)
        metadata = check_archive(form, parsed)
        return _place(form, parsed, metadata, paths, root, overwrite=overwrite)
    finally:
        form.discard()


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
    project = paths.reconciler.project(parsed.project)
    existing = [f for f in (project.files if project else ()) if f.filename == form.filename]
    target = index.roots[root] / form.filename
    relpath = form.filename
    if existing:
        relpath, root = existing[0].relpath, existing[0].root
        target = index.path_of(existing[0])
    known = (form.digests, metadata)
    with _place_lock:  # one decision at a time; the link below is atomic on its own too
        if target.is_dir() and not target.is_symlink():
            raise AlreadyExists(
                f"File already exists: {form.filename!r} is taken by a directory in the "
                "package directory; nothing was stored"
            )
        if target.is_symlink():
            if not overwrite:
                raise _exists(form.filename)
        elif target.exists():
            if _same_bytes(target, sha256):
                return Outcome(paths.upsert(root, relpath), created=False)
            if not overwrite:
                raise _exists(form.filename)
        os.chmod(form.temp_path, 0o644 & ~_UMASK)
        try:
            if overwrite:
                os.replace(form.temp_path, target)  # replaces a symlink, never writes through
            else:
                os.link(form.temp_path, target)  # fails if anything appeared meanwhile
        except FileExistsError:
            if _same_bytes(target, sha256):
                return Outcome(paths.upsert(root, relpath), created=False)
            raise _exists(form.filename) from None
        except OSError as exc:
            raise storage_error(exc, "move the upload into place") from exc
        _fsync_dir(target.parent)
    dist = paths.upsert(root, relpath, known=known)
    log.info("stored %s (%d bytes)", relpath, form.size)
    return Outcome(dist, created=True)


def _exists(filename: str) -> AlreadyExists:
    return AlreadyExists(
        f"File already exists: {filename!r} is in this index with different content. "
        "Upload a new version instead (or start the server with --overwrite)."
    )


def _read_umask() -> int:
    """Read once at import, while single-threaded: os.umask can only be read by setting it."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
