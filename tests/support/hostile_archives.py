"""Hostile distributions for the upload tests (unit and security): archive bombs and
archives that lie, built byte by byte in well under a second (a bomb is a few compressed
blocks repeated, never a compression of gigabytes)."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from support.fakedist import core_metadata

BLOCK = 45 * 1024 * 1024  # zeros that one bzip2 block holds (after its run-length stage)
_COMPRESS: dict[str, Callable[[bytes], bytes]] = {
    "bz2": bz2.compress,
    "gz": gzip.compress,
    "xz": lzma.compress,
}


def _tar_header(name: str, size: int) -> bytes:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = size, 315532800, 0o644
    return info.tobuf(format=tarfile.GNU_FORMAT)


def _padded(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 512)


def tar_bomb(name: str, version: str, compression: str, expanded: int) -> bytes:
    """An sdist (``.tar.bz2``/``.tar.gz``/``.tar.xz``) with a real PKG-INFO followed by a
    member of ``expanded`` zero bytes, as concatenated compressed streams (which bzip2, gzip
    and xz readers all accept)."""
    blocks = max(1, expanded // BLOCK)
    stem = f"{name}-{version}"
    pkg_info = core_metadata(name, version).encode()
    head = _tar_header(f"{stem}/PKG-INFO", len(pkg_info)) + _padded(pkg_info)
    head += _tar_header(f"{stem}/zeros.bin", blocks * BLOCK)
    compress = _COMPRESS[compression]
    zeros = compress(b"\0" * BLOCK)
    return compress(head) + zeros * blocks + compress(b"\0" * 1024)


def raw_zip(entries: Iterable[tuple[str, int, int, bytes, int]]) -> bytes:
    """A zip from already compressed members: (name, method, crc32, data, size)."""
    out = io.BytesIO()
    central = io.BytesIO()
    count = 0
    dos_time, dos_date = 0, 1 << 5 | 1  # 1980-01-01 00:00
    for name, method, crc, data, size in entries:
        raw = name.encode()
        offset = out.tell()
        fields = (20, 0, method, dos_time, dos_date, crc, len(data), size, len(raw))
        out.write(struct.pack("<4s5H3L2H", b"PK\x03\x04", *fields, 0) + raw + data)
        central.write(
            struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, *fields, 0, 0, 0, 0, 0o644 << 16, offset)
            + raw
        )
        count += 1
    cd = central.getvalue()
    start = out.tell()
    out.write(cd)
    if count >= 0xFFFF:  # zip64 end records; the classic one then says "see zip64"
        z64 = out.tell()
        out.write(
            struct.pack("<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, count, count, len(cd), start)
        )
        out.write(struct.pack("<4sLQL", b"PK\x06\x07", 0, z64, 1))
        out.write(
            struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, *(2 * [0xFFFFFFFF]), 0)
        )
    else:
        out.write(struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, count, count, len(cd), start, 0))
    return out.getvalue()


def _deflated(data: bytes) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush()


def member(name: str, data: bytes) -> tuple[str, int, int, bytes, int]:
    """A deflated member for ``raw_zip``."""
    return name, zipfile.ZIP_DEFLATED, zlib.crc32(data), _deflated(data), len(data)


def egg_members(name: str, version: str) -> list[tuple[str, int, int, bytes, int]]:
    """What a real egg holds at least: EGG-INFO/PKG-INFO and a module."""
    return [
        member("EGG-INFO/PKG-INFO", core_metadata(name, version).encode()),
        member(f"{name.replace('-', '_')}/__init__.py", b""),
    ]


def zip_bomb(base: Sequence[tuple[str, int, int, bytes, int]], expanded: int) -> bytes:
    """``base`` plus bzip2 members of 45 MiB of zeros each, ``expanded`` bytes in all."""
    zeros = bz2.compress(b"\0" * BLOCK)
    crc = zlib.crc32(b"\0" * BLOCK)
    extra = [
        (f"zeros/{i:05d}.bin", zipfile.ZIP_BZIP2, crc, zeros, BLOCK)
        for i in range(max(1, expanded // BLOCK))
    ]
    return raw_zip([*base, *extra])


def wheel_members(name: str, version: str) -> list[tuple[str, int, int, bytes, int]]:
    """The members of a minimal valid wheel (METADATA, WHEEL, RECORD)."""
    info = f"{name.replace('-', '_')}-{version}.dist-info"
    wheel = b"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n\n"
    return [
        member(f"{info}/METADATA", core_metadata(name, version).encode()),
        member(f"{info}/WHEEL", wheel),
        member(f"{info}/RECORD", b""),
    ]


def many_entries_wheel(name: str, version: str, entries: int) -> bytes:
    """A valid-looking wheel padded with ``entries`` empty stored members."""
    empty = [(f"p/{i:07x}", zipfile.ZIP_STORED, 0, b"", 0) for i in range(entries)]
    return raw_zip([*wheel_members(name, version), *empty])


def write(directory: Path, filename: str, data: bytes) -> Path:
    path = directory / filename
    path.write_bytes(data)
    return path
