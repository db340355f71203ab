"""The parts of one multipart upload body as they arrive: where each one goes.

The file part (``content``) is written and hashed into a staged temp file in the target
directory (``publish.staging``), so it can be linked into place without a copy; the fields
the rules read are kept in memory, small and strict UTF-8, in a ``publish.form.UploadForm``;
every other field is counted against a total and dropped. ``multipart.FormParser`` drives
this from the bytes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO

import multipart

from dynopypi.dists.metadata import Hasher
from dynopypi.errors import InvalidInput, TooLarge
from dynopypi.publish.form import KEPT_FIELDS, UploadForm, storage_error
from dynopypi.publish.staging import open_temp

MAX_FIELD_BYTES = 64 * 1024  # one kept field (name, version, digests, yank reason...)
MAX_FORM_BYTES = 8 * 1024 * 1024  # every non-file field together (twine sends the README)
MAX_FIELDS = 500


class PartReader:
    """The parts of one body as they arrive: the file to disk, kept fields to memory
    (small, strict UTF-8), other fields counted and dropped."""

    def __init__(self, target_dir: Path) -> None:
        self.target_dir = target_dir
        self.form = UploadForm()
        self.out: IO[bytes] | None = None
        self.hashing: Hasher | None = None
        self.done: IO[bytes] | None = None  # the file part, complete but not yet synced
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
            self.done, self.out = self.out, None
            _flush(self.done)
            self.form.digests = self.hashing.hexdigests()
        elif self.buffer is not None:
            try:
                self.form.fields[self.name] = self.buffer.decode("utf-8")
            except UnicodeDecodeError:
                raise InvalidInput(f"form field {self.name!r} is not valid UTF-8") from None
        self.name, self.buffer = "", None

    def sync(self) -> None:
        """fsync the complete file part: slow for a large file, so not in ``feed``."""
        if self.done is not None:
            done, self.done = self.done, None
            _close(done)

    def close(self) -> None:
        for out in (self.out, self.done):
            if out is not None:
                out.close()
        self.out = self.done = None


def _check_headers(segment: multipart.MultipartSegment) -> None:
    for key, value in segment.headerlist:
        if any(ord(c) < 32 and c != "\t" for c in key + value):
            raise InvalidInput(f"multipart part header {key!r} contains control characters")


def _write(out: IO[bytes], data: bytes) -> None:
    try:
        out.write(data)
    except OSError as exc:
        raise storage_error(exc, "store the upload") from exc


def _flush(out: IO[bytes]) -> None:
    try:
        out.flush()
    except OSError as exc:
        raise storage_error(exc, "store the upload") from exc


def _close(out: IO[bytes]) -> None:
    try:
        out.flush()
        os.fsync(out.fileno())
        out.close()
    except OSError as exc:
        raise storage_error(exc, "store the upload") from exc
