"""The storage seam: where package files and the state beside them are kept, and how a
served file is read (``Reader``, ``FileRange``), whatever the store.

Two real implementations share this contract and one test suite
(``tests/unit/store/test_base.py``, run again on S3 by ``tests/e2e/test_storage_s3.py``): a
package directory (``store.copy.directory``) and an S3-compatible bucket
(``store.bucket.s3``). Keys are relative posix paths
(``sub/foo-1.0.tar.gz``, ``.dynopypi/log/000000000001.json``); a key that could leave the
storage (``..``, absolute, backslashes, NUL) is refused before any I/O.

Writes are conditional, so several processes (replicas) can share one store without a lock
service: ``put_if_absent`` and ``write(expect=None)`` succeed for exactly one writer of a
key; ``write(expect=version)`` only replaces the version the writer read. Every failure to
reach the store is ``StoreUnavailable`` (the HTTP edge answers 503 with ``Retry-After``),
never a library's exception.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from dynopypi.dists.names import DistFile
from dynopypi.errors import Refused

STATE_PREFIX = ".dynopypi/"  # dynopypi's own objects; never served as packages
TOKENS_PREFIX = STATE_PREFIX + "tokens/"  # API token records (``trust.tokens``)
PUBLISHERS_PREFIX = STATE_PREFIX + "publishers/"  # trusted publishers (``trust.publishers``)
CARRIED_STATE = (TOKENS_PREFIX, PUBLISHERS_PREFIX)  # what ``storage copy`` takes along


class StoreUnavailable(Refused):
    """The store cannot be reached or failed; try again later (HTTP 503)."""

    def __init__(self, message: str, *, retry_after: int = 5) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class KeyExists(Exception):
    """``put_if_absent`` / ``write(expect=None)`` lost: the key is taken (``current``)."""

    def __init__(self, key: str, current: Stat | None) -> None:
        super().__init__(f"{key} exists")
        self.key = key
        self.current = current


class VersionChanged(Exception):
    """``write(expect=v)`` lost: the object is no longer at version ``v`` (or is gone)."""


class Missing(Exception):
    """No object at this key (``open`` only; ``stat`` and ``read`` answer None)."""


class BadKey(ValueError):
    """A key that is not a plain relative path inside the storage."""


@dataclass(frozen=True)
class Stat:
    key: str
    size: int
    version: str  # opaque: changes whenever the content does (S3 ETag; inode+size+mtime)
    modified_ns: int  # last write (S3: whole seconds)
    sha256: str | None = None  # when the store kept it at put time (S3 user metadata)


class Storage(Protocol):
    """What the index needs from a store of package files."""

    def describe(self) -> str:
        """Where this is, for logs and errors (never credentials)."""
        ...

    def check(self) -> None:
        """Raise ``StoreUnavailable`` unless the store answers now (for ``/ready``)."""
        ...

    def list(self, prefix: str = "") -> Iterator[Stat]:
        """Every object whose key starts with ``prefix``, at any depth, in pages."""
        ...

    def stat(self, key: str) -> Stat | None: ...

    def open(self, key: str, start: int = 0, length: int | None = None) -> BinaryIO:
        """A stream of the object's bytes from ``start`` (``length`` of them, or to the
        end); ``Missing`` when there is no such object."""
        ...

    def read(self, key: str, limit: int) -> tuple[bytes, Stat] | None:
        """A small object whole (state records), None when absent; more than ``limit``
        bytes is ``StoreUnavailable`` (a corrupt or hostile store, never a huge read)."""
        ...

    def put_if_absent(self, key: str, staged: Path, *, sha256: str) -> Stat:
        """Store the staged file under ``key`` unless the key exists (``KeyExists``):
        the object appears whole or not at all."""
        ...

    def write(self, key: str, data: bytes, *, expect: str | None) -> Stat:
        """Write a small object: only if absent (``expect=None``, else ``KeyExists``) or
        only over version ``expect`` (else ``VersionChanged``)."""
        ...

    def delete(self, key: str) -> None:
        """Remove the object; no error when it is already gone."""
        ...

    def local_path(self, key: str) -> Path | None:
        """The file's path when the bytes are on this machine (nginx may send them)."""
        ...

    def presigned_url(self, key: str, *, expires: int) -> str | None:
        """A URL a client may GET the object from directly, when the store has one."""
        ...


def check_key(key: str) -> str:
    """``key`` when it is a plain relative path below the storage root, else ``BadKey``."""
    if (
        not key
        or key.startswith("/")
        or "\\" in key
        or "\x00" in key
        or any(part in ("", ".", "..") for part in key.split("/"))
    ):
        raise BadKey(f"not a storage key: {key[:200]!r}")
    return key


def is_key(key: str) -> bool:
    """Whether ``check_key`` accepts ``key``: ``list`` yields only keys the other methods
    take (not an S3 console's ``folder/`` marker, nor a file named ``a\\b``)."""
    try:
        check_key(key)
    except BadKey:
        return False
    return True


class FileRange:
    """The bytes ``[start, start + length)`` of an open file, as a file of their own.

    Handed to the WSGI server as a file (waitress's ``wsgi.file_wrapper`` sends it from
    its event loop, seeking and reading in place), so a range is sent like a whole file:
    a client that never reads holds no worker thread. It can never read past its end,
    whatever the server does with Content-Length.
    """

    def __init__(self, stream: BinaryIO, start: int, length: int) -> None:
        self._stream = stream
        self._start = start
        self._end = start + length
        stream.seek(start)

    def read(self, size: int = -1) -> bytes:
        left = self._end - self._stream.tell()
        if left <= 0:
            return b""
        return self._stream.read(left if size < 0 else min(size, left))

    def seek(self, offset: int, whence: int = 0) -> int:
        base = (self._start, self._stream.tell(), self._end)[whence]
        target = min(max(base + offset, self._start), self._end)
        self._stream.seek(target)
        return target - self._start

    def tell(self) -> int:
        return self._stream.tell() - self._start

    def close(self) -> None:
        self._stream.close()

    def __enter__(self) -> FileRange:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


SMALL_FILE = 256 * 1024  # files up to this size may be served from memory


class Reader(Protocol):
    """How routes read a served file, whatever the store (directory or bucket)."""

    local: bool  # the bytes are on this machine, so nginx may send them

    def open(self, dist: DistFile) -> BinaryIO | None: ...

    def open_range(self, dist: DistFile, start: int, length: int | None) -> BinaryIO | None: ...

    def real_relpath(self, dist: DistFile) -> str | None: ...

    def small_file(self, dist: DistFile) -> bytes | None: ...

    def metadata(self, dist: DistFile) -> bytes | None: ...
