"""Opening archives that strangers made, within a budget of bytes, entries and CPU time.

Uploads and files dropped into a package directory are zips (wheels, eggs, zip sdists) and
tars (plain, gzip, bzip2, xz). Read naively, a few kilobytes can expand to gigabytes (a
5 KB ``.tar.bz2`` took 11 s) and a zip's central directory can hold a million entries
(593 MiB of ``ZipInfo`` objects). So every read here is charged to a ``Budget``:

- expanded bytes: at most ``ratio`` times the archive's own size (never less than
  ``floor_bytes``, never more than ``max_bytes``): real distributions compress 2-10x,
  bombs 1000x, and an uploader pays for what the check costs in bytes sent;
- entries: counted from the raw central directory *before* ``zipfile`` parses it, and as
  tar headers arrive;
- CPU time of the reading thread (``time.thread_time``, so a busy machine does not refuse
  honest uploads), as a backstop for whatever the byte count misses;
- single reads: a tar header (pax, GNU long name) is read into memory whole, so its size
  is capped on its own.

Errors are ``MetadataError`` with a message for the person who sent the file.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import struct
import tarfile
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

from dynopypi.errors import MetadataError

CHUNK = 256 * 1024
MiB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Limits:
    floor_bytes: int = 64 * MiB
    ratio: int = 32
    max_bytes: int = 4096 * MiB
    max_entries: int = 50_000
    max_directory_bytes: int = 16 * MiB  # a zip's central directory, read whole by zipfile
    max_header_bytes: int = 1 * MiB  # one tar header block (pax records, long names)
    cpu_seconds: float = 30.0


LIMITS = Limits()


class Budget:
    """What one archive may still cost; every read is charged before it happens."""

    def __init__(self, archive_size: int, what: str, limits: Limits | None = None) -> None:
        self.limits = limits = limits or LIMITS
        self.what = what
        self.allowed = min(limits.max_bytes, max(limits.floor_bytes, limits.ratio * archive_size))
        self.left = self.allowed
        self.entries = 0
        self._deadline = time.thread_time() + limits.cpu_seconds

    def charge(self, size: int) -> None:
        self.left -= size
        if self.left < 0:
            raise MetadataError(
                f"{self.what} expands to more than {self.allowed} bytes "
                f"({self.limits.ratio}x its size): refused as an archive bomb"
            )
        if time.thread_time() > self._deadline:
            raise MetadataError(
                f"{self.what} took more than {self.limits.cpu_seconds:.0f} s of CPU to read: "
                "refused"
            )

    def entry(self) -> None:
        self.entries += 1
        if self.entries > self.limits.max_entries:
            raise MetadataError(
                f"{self.what} has more than {self.limits.max_entries} entries: refused"
            )


# ---- zip ---------------------------------------------------------------------------------
_EOCD = struct.Struct("<4s4H2LH")
_EOCD64 = struct.Struct("<4sQ2H2L4Q")
_LOCATOR = struct.Struct("<4sLQL")


def _directory_span(fh: IO[bytes], size: int, what: str) -> tuple[int, int, int]:
    """(start, length, declared entries) of the central directory, found as ``zipfile``
    finds it (end record at the very end, else the last one in the final 64 KiB)."""
    records = _LOCATOR.size + _EOCD64.size
    tail_len = min(size, _EOCD.size + records)  # the common case: no archive comment
    fh.seek(size - tail_len)
    tail = fh.read(tail_len)
    pos = len(tail) - _EOCD.size
    if pos < 0 or tail[pos : pos + 4] != b"PK\x05\x06" or tail[-2:] != b"\0\0":
        tail_len = min(size, _EOCD.size + 65535 + records)
        fh.seek(size - tail_len)
        tail = fh.read(tail_len)
        pos = tail.rfind(b"PK\x05\x06")
    if pos < 0 or len(tail) - pos < _EOCD.size:
        raise MetadataError(f"{what} is not a readable zip archive (no end of central directory)")
    fields = _EOCD.unpack_from(tail, pos)
    count, length, end = fields[4], fields[5], size - tail_len + pos
    loc = pos - _LOCATOR.size
    if loc >= _EOCD64.size and tail[loc : loc + 4] == b"PK\x06\x07":
        record = _EOCD64.unpack_from(tail, loc - _EOCD64.size)
        if record[0] != b"PK\x06\x06":
            raise MetadataError(f"{what}: corrupt zip64 end of central directory")
        count, length = record[7], record[8]
        end = size - tail_len + loc - _EOCD64.size
    return end - length, length, count


def check_zip_directory(fh: IO[bytes], size: int, budget: Budget) -> None:
    """Refuse a central directory too big or with too many entries, before ``zipfile``
    turns each entry into an object."""
    start, length, declared = _directory_span(fh, size, budget.what)
    limits = budget.limits
    if declared > limits.max_entries or length > limits.max_directory_bytes:
        raise MetadataError(
            f"{budget.what} has {declared} entries in a {length}-byte directory; at most "
            f"{limits.max_entries} entries and {limits.max_directory_bytes} bytes: refused"
        )
    if start < 0:
        raise MetadataError(f"{budget.what}: the zip central directory lies outside the file")
    fh.seek(start)
    # every record starts with this signature: an upper bound of what zipfile will parse
    if fh.read(length).count(b"PK\x01\x02") > limits.max_entries:
        raise MetadataError(f"{budget.what} has more than {limits.max_entries} entries: refused")


def open_zip(fh: IO[bytes], size: int, budget: Budget) -> zipfile.ZipFile:
    check_zip_directory(fh, size, budget)
    zf = zipfile.ZipFile(fh)
    for _info in zf.infolist():
        budget.entry()
    return zf


def read_zip_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, budget: Budget, cap: int) -> bytes:
    """One member, whole, if it is at most ``cap`` bytes (its CRC checked by zipfile)."""
    if info.file_size > cap:
        raise MetadataError(f"{budget.what}: {info.filename} is {info.file_size} bytes, too large")
    budget.charge(info.file_size)  # zipfile never yields more than the declared size
    with zf.open(info) as member:
        data = member.read(cap + 1)
    if len(data) > cap:
        raise MetadataError(f"{budget.what}: {info.filename} is larger than {cap} bytes")
    return data


def verify_zip(zf: zipfile.ZipFile, budget: Budget) -> None:
    """Expand every member once (zipfile checks each CRC), within the budget."""
    declared = sum(info.file_size for info in zf.infolist())
    if declared > budget.left:
        budget.charge(declared)  # refuses at once, without expanding anything
    for info in zf.infolist():
        with zf.open(info) as member:
            while data := member.read(CHUNK):
                budget.charge(len(data))


# ---- tar ---------------------------------------------------------------------------------
_MAGIC = ((b"\x1f\x8b", "gz"), (b"BZh", "bz2"), (b"\xfd7zXZ\x00", "xz"))
TAR_SUFFIXES = {".tar.gz": "gz", ".tgz": "gz", ".tar.bz2": "bz2", ".tar.xz": "xz", ".tar": ""}


def compression_of(fh: IO[bytes]) -> str:
    """The compression the first bytes announce: "gz", "bz2", "xz" or "" (none)."""
    fh.seek(0)
    head = fh.read(6)
    fh.seek(0)
    return next((kind for magic, kind in _MAGIC if head.startswith(magic)), "")


def _decompressed(fh: IO[bytes], compression: str) -> IO[bytes]:
    if compression == "gz":
        return gzip.GzipFile(fileobj=fh, mode="rb")  # type: ignore[return-value]
    if compression == "bz2":
        return bz2.BZ2File(fh, mode="rb")
    if compression == "xz":
        return lzma.LZMAFile(fh, mode="rb")
    return fh


class Metered:
    """A forward-only view of a decompressed stream that charges every byte to a budget.

    ``tarfile`` skips a member's data by seeking; on a compressed stream that seek
    decompresses everything in between, so here it is a charged read. A single read larger
    than a header may need is refused before any memory is spent on it.
    """

    def __init__(self, inner: IO[bytes], budget: Budget) -> None:
        self.inner = inner
        self.budget = budget
        self.pos = 0

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0 or size > max(self.budget.limits.max_header_bytes, CHUNK):
            raise MetadataError(f"{self.budget.what}: a tar header or read of {size} bytes")
        self.budget.charge(size)
        data = self.inner.read(size)
        self.pos += len(data)
        return data

    def seek(self, offset: int, whence: int = 0) -> int:
        target = offset if whence == 0 else self.pos + offset if whence == 1 else -1
        if target < self.pos:
            raise MetadataError(f"{self.budget.what}: the tar archive seeks backwards")
        while self.pos < target:
            if not self.read(min(CHUNK, target - self.pos)):
                raise MetadataError(f"{self.budget.what}: the tar archive is truncated")
        return self.pos

    def tell(self) -> int:
        return self.pos

    def drain(self) -> None:
        """Read to the end, so a truncated or corrupt compressed tail is noticed."""
        while self.read(CHUNK):
            pass


def tar_entries(
    fh: IO[bytes], compression: str, budget: Budget, *, drain: bool = True
) -> Iterator[tuple[tarfile.TarInfo, tarfile.TarFile]]:
    """Each member header in order (with the open TarFile, to read a member right away);
    with ``drain`` the stream is then read to its end (charged), so a corrupt tail counts."""
    stream = Metered(_decompressed(fh, compression), budget)
    with tarfile.open(fileobj=stream, mode="r:") as tf:  # type: ignore[call-overload]
        tf.members = []  # tarfile keeps every header it read; we look at each once
        while (info := tf.next()) is not None:
            budget.entry()
            yield info, tf
            tf.members.clear()
        if drain:
            stream.drain()


def read_tar_member(tf: tarfile.TarFile, info: tarfile.TarInfo, budget: Budget, cap: int) -> bytes:
    if not info.isfile() or info.size > cap:
        raise MetadataError(f"{budget.what}: {info.name} is not a file of at most {cap} bytes")
    member = tf.extractfile(info)
    if member is None:
        raise MetadataError(f"{budget.what}: {info.name} cannot be read")
    chunks = []
    while data := member.read(min(CHUNK, cap)):
        chunks.append(data)
    return b"".join(chunks)
