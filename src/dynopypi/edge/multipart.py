"""Reading an upload's multipart body as a stream, the file part straight to disk.

The body is never held in memory: form fields are small and capped, and the file part
is written and hashed into a hidden temp file in the target directory as it arrives
(fsynced once complete), so it can later be linked into place without a copy. Any
failure removes it. Behind waitress the body is pushed into ``FormParser`` straight
from the socket (``guard``), so it is written once; ``read_form`` reads it from a
stream for the other paths (in-process tests, a body the server spooled).
"""

from __future__ import annotations

import threading
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import multipart

from dynopypi.edge.parts import MAX_FIELDS, PartReader
from dynopypi.errors import InvalidInput, TooLarge
from dynopypi.publish.form import CHUNK, KEPT_FIELDS, UploadForm

COALESCE = 64 * 1024  # socket reads (8 KiB) are parsed in pieces of at least this size
MAX_URLENCODED = 64 * 1024  # the non-upload actions: a few short fields


def declared_length(value: str | None, max_size: int) -> int:
    """A Content-Length header's value, checked (present, a number, within ``max_size``)."""
    if value is None or value.strip() == "":
        raise InvalidInput("the upload has no Content-Length")
    if not value.strip().isdigit():
        raise InvalidInput(f"Content-Length {value!r} is not a number")
    length = int(value)
    if length > max_size:
        raise TooLarge(_too_large(length, max_size))
    return length


def _too_large(length: int, max_size: int) -> str:
    return f"the upload is {length} bytes; this index accepts at most {max_size} bytes"


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


class FormParser:
    """One multipart body, parsed as it is pushed in: ``feed`` each piece as it arrives
    (from the socket, in the server's event loop, or read from ``wsgi.input``), then
    ``finish`` for the form. So the file part is written once, straight into its staged
    file, however the body reaches us.

    The constructor refuses what the head already tells (not multipart, no boundary, a
    Content-Length over ``max_size``: refused before any body byte is read). ``feed``
    never raises: the first error is kept, the file removed at once, the rest of the body
    dropped, and ``finish`` raises it. ``length`` is ``declared_length``'s, or -1 when the
    size is unknown (chunked): then the bytes are counted against ``max_size`` as they
    come. ``abort`` (a dropped connection) removes everything unless ``finish`` has
    already handed the form over; the two may race from different threads, hence the lock.
    """

    def __init__(
        self, content_type: str | None, length: int, target_dir: Path, *, max_size: int
    ) -> None:
        if length > max_size:
            raise TooLarge(_too_large(length, max_size))
        self.expected = length
        self._parser = multipart.PushMultipartParser(
            _boundary(content_type),
            content_length=self.expected,
            max_header_size=8192,
            max_header_count=16,
            strict=True,
        )
        self._reader: PartReader | None = PartReader(target_dir)
        self._max_size = max_size
        self._pending = bytearray()  # small socket reads, up to COALESCE bytes
        self._lock = threading.Lock()
        self.received = 0
        self.error: BaseException | None = None

    def feed(self, data: bytes) -> None:
        with self._lock:
            self.received += len(data)
            if self.error is not None or self._reader is None:
                return
            if self.expected < 0 and self.received > self._max_size:
                self._fail(TooLarge(_too_large(self.received, self._max_size)))
                return
            if not self._pending and len(data) >= COALESCE:
                self._parse(data)
                return
            self._pending += data
            if len(self._pending) >= COALESCE:
                self._flush()

    def _flush(self) -> None:
        if self._pending:
            data, self._pending = bytes(self._pending), bytearray()
            self._parse(data)

    def _parse(self, data: bytes) -> None:
        assert self._reader is not None
        try:
            try:
                for event in self._parser.parse(data):
                    self._reader.feed(event)
            except multipart.MultipartError as exc:
                raise InvalidInput(f"malformed multipart body: {exc}") from exc
        except Exception as exc:  # kept for ``finish``: the event loop must not see it
            self._fail(exc)

    def _close_parser(self) -> None:
        try:
            self._parser.close()  # raises if the closing boundary never came
        except multipart.MultipartError as exc:
            self._fail(InvalidInput(f"malformed multipart body: {exc}"))

    def _fail(self, exc: BaseException) -> None:
        self.error = exc
        self._pending = bytearray()
        if self._reader is not None:
            self._reader.close()
            self._reader.form.discard()

    def finish(self) -> UploadForm:
        """The whole body has been fed: the form, its file synced to disk (done here, in
        the caller's thread, not while the bytes arrived). Raises what went wrong."""
        with self._lock:
            if self.error is None and self._reader is None:
                self.error = InvalidInput("the upload was interrupted: the connection closed")
            if self.error is None:
                self._flush()
            if self.error is None:
                self._close_parser()
            if self.error is not None:
                raise self.error
            assert self._reader is not None
            reader, self._reader = self._reader, None
        try:
            reader.sync()
        except BaseException:
            reader.close()
            reader.form.discard()
            raise
        return reader.form

    def abort(self) -> None:
        """Remove whatever this body left on disk, unless ``finish`` handed it over."""
        with self._lock:
            if self._reader is not None:
                self._reader.close()
                self._reader.form.discard()
                self._reader = None


def read_form(
    stream: IO[bytes],
    content_type: str | None,
    content_length: str | None,
    target_dir: Path,
    *,
    max_size: int,
) -> UploadForm:
    """Read the body from ``stream`` into an ``UploadForm`` (the pull-style path, for a
    body the server did not already push into a ``FormParser``)."""
    length = declared_length(content_length, max_size)
    parser = FormParser(content_type, length, target_dir, max_size=max_size)
    try:
        for chunk in _chunks(stream, length):
            parser.feed(chunk)
            if parser.error is not None:
                break
    except BaseException:
        parser.abort()
        raise
    return parser.finish()


def read_urlencoded(stream: IO[bytes], content_length: str | None) -> UploadForm:
    """An ``application/x-www-form-urlencoded`` body (remove, yank): small, UTF-8, parsed
    here with the same rules as multipart fields (bottle's parser answers 500 on bad UTF-8)."""
    length = declared_length(content_length, MAX_URLENCODED)
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
