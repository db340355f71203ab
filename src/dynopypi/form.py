"""Reading an upload's multipart body as a stream, the file part straight to disk.

The body is never held in memory: form fields are small and capped, and the file part
is written, hashed and fsynced into a hidden temp file in the target directory as it
arrives, so it can later be linked into place without a copy. Any failure removes it.
"""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import multipart

from .errors import InvalidInput, Refused, StorageFull, TooLarge
from .metadata import Hasher

CHUNK = 256 * 1024
MAX_FIELD_BYTES = 8 * 1024 * 1024  # long READMEs arrive as the 'description' field
MAX_FIELDS = 500
TEMP_PREFIX = ".upload-"
DIGEST_FIELDS = {"sha256_digest": "sha256", "md5_digest": "md5", "blake2_256_digest": "blake2b_256"}
_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


@dataclass
class UploadForm:
    fields: dict[str, str] = field(default_factory=dict)
    filename: str | None = None
    temp_path: Path | None = None
    size: int = 0
    digests: dict[str, str] = field(default_factory=dict)

    @property
    def action(self) -> str:
        return self.fields.get(":action", "")

    def discard(self) -> None:
        if self.temp_path is not None:
            self.temp_path.unlink(missing_ok=True)
            self.temp_path = None


def _content_length(value: str | None, max_size: int) -> int:
    if value is None or value.strip() == "":
        raise InvalidInput("the upload has no Content-Length")
    if not value.strip().isdigit():
        raise InvalidInput(f"Content-Length {value!r} is not a number")
    length = int(value)
    if length > max_size:
        raise TooLarge(f"the upload is {length} bytes; this index accepts at most {max_size} bytes")
    return length


def _boundary(content_type: str | None) -> str:
    mime, options = multipart.parse_options_header(content_type or "")
    if mime.lower() != "multipart/form-data":
        raise InvalidInput(
            f"expected a multipart/form-data upload, got Content-Type {content_type!r}"
        )
    boundary = options.get("boundary")
    if not boundary:
        raise InvalidInput("the multipart Content-Type has no boundary")
    return str(boundary)


def _chunks(stream: IO[bytes], length: int) -> Iterator[bytes]:
    remaining = length
    while remaining > 0:
        try:
            data = stream.read(min(CHUNK, remaining))
        except OSError as exc:
            raise InvalidInput(f"the upload was interrupted ({exc})") from exc
        if not data:
            raise InvalidInput(
                f"the upload was interrupted: {length - remaining} of {length} bytes arrived"
            )
        remaining -= len(data)
        yield data


def read_form(
    stream: IO[bytes],
    content_type: str | None,
    content_length: str | None,
    target_dir: Path,
    *,
    max_size: int,
) -> UploadForm:
    """Stream the body into an ``UploadForm``; the file part goes to a temp file on disk."""
    length = _content_length(content_length, max_size)
    boundary = _boundary(content_type)
    form = UploadForm()
    try:
        _parse(stream, length, boundary, target_dir, form)
    except BaseException:
        form.discard()
        raise
    return form


def _parse(
    stream: IO[bytes], length: int, boundary: str, target_dir: Path, form: UploadForm
) -> None:
    parser = multipart.PushMultipartParser(
        boundary, content_length=length, max_header_size=8192, max_header_count=16, strict=True
    )
    out: IO[bytes] | None = None
    hashing: Hasher | None = None
    name = ""
    buffer = bytearray()
    try:
        for chunk in _chunks(stream, length):
            for event in parser.parse(chunk):
                if isinstance(event, multipart.MultipartSegment):
                    name, buffer = event.name, bytearray()
                    _check_headers(event)
                    if event.filename is not None and name == "content":
                        if form.temp_path is not None:
                            raise InvalidInput("the upload has more than one 'content' file part")
                        form.filename = event.filename
                        out, form.temp_path = _open_temp(target_dir)
                        hashing = Hasher()
                    elif len(form.fields) >= MAX_FIELDS:
                        raise InvalidInput(f"the upload has more than {MAX_FIELDS} form fields")
                elif event is None:  # end of a segment
                    if out is not None and hashing is not None:
                        _close(out)
                        out = None
                        form.digests = hashing.hexdigests()
                    elif name:
                        value = buffer.decode("utf-8", errors="replace")
                        form.fields.setdefault(name, value)
                    name = ""
                elif out is not None and hashing is not None:
                    _write(out, event)
                    hashing.update(event)
                    form.size += len(event)
                else:
                    if len(buffer) + len(event) > MAX_FIELD_BYTES:
                        raise TooLarge(
                            f"form field {name!r} is larger than {MAX_FIELD_BYTES} bytes"
                        )
                    buffer += event
        parser.close()
    except multipart.MultipartError as exc:
        raise InvalidInput(f"malformed multipart body: {exc}") from exc
    finally:
        if out is not None:
            out.close()
    if not parser.closed:
        raise InvalidInput("malformed multipart body: it ends before its closing boundary")


def _check_headers(segment: multipart.MultipartSegment) -> None:
    for key, value in segment.headerlist:
        if any(ord(c) < 32 and c != "\t" for c in key + value):
            raise InvalidInput(f"multipart part header {key!r} contains control characters")


def _open_temp(target_dir: Path) -> tuple[IO[bytes], Path]:
    try:
        target_dir.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=target_dir, prefix=TEMP_PREFIX, suffix=".part")
    except OSError as exc:
        raise storage_error(exc, "create the upload's temporary file") from exc
    return os.fdopen(fd, "wb"), Path(name)


def _write(out: IO[bytes], data: bytes) -> None:
    try:
        out.write(data)
    except OSError as exc:
        raise storage_error(exc, "store the upload") from exc


def _close(out: IO[bytes]) -> None:
    try:
        out.flush()
        os.fsync(out.fileno())
        out.close()
    except OSError as exc:
        raise storage_error(exc, "store the upload") from exc


def storage_error(exc: OSError, what: str) -> Refused:
    if exc.errno in _DISK_FULL:
        return StorageFull(
            f"the index's disk is full: could not {what}; nothing was stored, retry later"
        )
    raise exc
