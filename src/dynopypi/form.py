"""Reading an upload's multipart body as a stream, the file part straight to disk.

The body is never held in memory: form fields are small and capped, and the file part
is written, hashed and fsynced into a hidden temp file in the target directory as it
arrives, so it can later be linked into place without a copy. Any failure removes it.
"""

from __future__ import annotations

import errno
import os
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import multipart

from .errors import InvalidInput, Refused, StorageFull, TooLarge
from .metadata import Hasher
from .staging import open_temp

CHUNK = 256 * 1024
MAX_FIELD_BYTES = 64 * 1024  # one kept field (name, version, digests, yank reason...)
MAX_FORM_BYTES = 8 * 1024 * 1024  # every non-file field together (twine sends the README)
MAX_FIELDS = 500
MAX_URLENCODED = 64 * 1024  # the non-upload actions: a few short fields
DIGEST_FIELDS = {"sha256_digest": "sha256", "md5_digest": "md5", "blake2_256_digest": "blake2b_256"}
# the only fields anything reads; the rest (description, classifiers...) is counted, not kept
KEPT_FIELDS = frozenset(
    {":action", "name", "version", "filename", "reason", "filetype", "pyversion", *DIGEST_FIELDS}
)
_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


@dataclass
class UploadForm:
    fields: dict[str, str] = field(default_factory=dict)
    filename: str | None = None
    temp_path: Path | None = None
    size: int = 0
    digests: dict[str, str] = field(default_factory=dict)
    lock_fd: int | None = None  # held while the temp file lives: see remove_stale_parts
    form_bytes: int = 0

    @property
    def action(self) -> str:
        return self.fields.get(":action", "")

    def discard(self) -> None:
        if self.temp_path is not None:
            self.temp_path.unlink(missing_ok=True)
            self.temp_path = None
        if self.lock_fd is not None:
            os.close(self.lock_fd)
            self.lock_fd = None


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
    reader = _FormReader(target_dir)
    parser = multipart.PushMultipartParser(
        boundary, content_length=length, max_header_size=8192, max_header_count=16, strict=True
    )
    try:
        try:
            for chunk in _chunks(stream, length):
                for event in parser.parse(chunk):
                    reader.feed(event)
            parser.close()
        except multipart.MultipartError as exc:
            raise InvalidInput(f"malformed multipart body: {exc}") from exc
        finally:
            reader.close()
        if not parser.closed:
            raise InvalidInput("malformed multipart body: it ends before its closing boundary")
    except BaseException:
        reader.form.discard()
        raise
    return reader.form


class _FormReader:
    """The parts of one body as they arrive: the file to disk, kept fields to memory
    (small, strict UTF-8), other fields counted and dropped."""

    def __init__(self, target_dir: Path) -> None:
        self.target_dir = target_dir
        self.form = UploadForm()
        self.out: IO[bytes] | None = None
        self.hashing: Hasher | None = None
        self.name = ""
        self.buffer: bytearray | None = None
        self.count = 0

    def feed(self, event: multipart.MultipartSegment | bytes | None) -> None:
        if isinstance(event, multipart.MultipartSegment):
            self._start(event)
        elif event is None:
            self._end()
        elif self.out is not None and self.hashing is not None:
            _write(self.out, event)
            self.hashing.update(event)
            self.form.size += len(event)
        else:
            self.form.form_bytes += len(event)
            if self.form.form_bytes > MAX_FORM_BYTES:
                raise TooLarge(f"the form fields add up to more than {MAX_FORM_BYTES} bytes")
            if self.buffer is not None:
                if len(self.buffer) + len(event) > MAX_FIELD_BYTES:
                    raise TooLarge(
                        f"form field {self.name!r} is larger than {MAX_FIELD_BYTES} bytes"
                    )
                self.buffer += event

    def _start(self, segment: multipart.MultipartSegment) -> None:
        _check_headers(segment)
        self.name, self.buffer = segment.name, None
        if segment.filename is not None and segment.name == "content":
            if self.form.temp_path is not None:
                raise InvalidInput("the upload has more than one 'content' file part")
            self.form.filename = segment.filename
            self.out = self._open()
            self.hashing = Hasher()
            return
        self.count += 1
        if self.count > MAX_FIELDS:
            raise InvalidInput(f"the upload has more than {MAX_FIELDS} form fields")
        if segment.name in KEPT_FIELDS and segment.name not in self.form.fields:
            self.buffer = bytearray()

    def _open(self) -> IO[bytes]:
        try:
            out, self.form.temp_path, self.form.lock_fd = open_temp(self.target_dir)
        except OSError as exc:
            raise storage_error(exc, "create the upload's temporary file") from exc
        return out

    def _end(self) -> None:
        if self.out is not None and self.hashing is not None:
            out, self.out = self.out, None
            _close(out)
            self.form.digests = self.hashing.hexdigests()
        elif self.buffer is not None:
            try:
                self.form.fields[self.name] = self.buffer.decode("utf-8")
            except UnicodeDecodeError:
                raise InvalidInput(f"form field {self.name!r} is not valid UTF-8") from None
        self.name, self.buffer = "", None

    def close(self) -> None:
        if self.out is not None:
            self.out.close()
            self.out = None


def read_urlencoded(stream: IO[bytes], content_length: str | None) -> UploadForm:
    """An ``application/x-www-form-urlencoded`` body (remove, yank): small, UTF-8, parsed
    here with the same rules as multipart fields (bottle's parser answers 500 on bad UTF-8)."""
    length = _content_length(content_length, MAX_URLENCODED)
    body = b"".join(_chunks(stream, length))
    try:
        pairs = urllib.parse.parse_qsl(
            body.decode("utf-8"),
            keep_blank_values=True,
            strict_parsing=False,
            errors="strict",
            max_num_fields=MAX_FIELDS,
        )
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidInput(f"malformed form body ({exc}): send UTF-8 key=value pairs") from None
    form = UploadForm()
    for key, value in pairs:
        if key in KEPT_FIELDS:
            form.fields.setdefault(key, value)
    return form


def _check_headers(segment: multipart.MultipartSegment) -> None:
    for key, value in segment.headerlist:
        if any(ord(c) < 32 and c != "\t" for c in key + value):
            raise InvalidInput(f"multipart part header {key!r} contains control characters")


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
