"""Reading core metadata (METADATA / PKG-INFO) out of distributions, safely.

Everything here is bounded: archives come from users, so a zip or gzip bomb, a huge member
or a tar with millions of entries is refused with ``MetadataError`` instead of expanded
(``archives.Budget``: the same bounds for files dropped into a package directory as for
uploads).
"""

from __future__ import annotations

import email.parser
import hashlib
import lzma
import os
import tarfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from dynopypi.dists.archives import (
    Budget,
    compression_of,
    open_zip,
    read_tar_member,
    read_zip_member,
    tar_entries,
)
from dynopypi.errors import MetadataError

MAX_METADATA_BYTES = 4 * 1024 * 1024  # larger METADATA files are not plausible
# what reading a damaged or hostile archive can raise, besides our own MetadataError
ARCHIVE_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    tarfile.TarError,
    zlib.error,
    lzma.LZMAError,
    OSError,  # includes gzip.BadGzipFile
    EOFError,
    ValueError,
    NotImplementedError,  # zip compression methods the stdlib lacks
    RuntimeError,  # encrypted zip members
)


@dataclass(frozen=True, slots=True)
class CoreMetadata:
    raw: bytes
    fields: dict[str, list[str]]

    def first(self, key: str) -> str | None:
        values = self.fields.get(key.lower())
        return values[0] if values else None

    def all(self, key: str) -> list[str]:
        return list(self.fields.get(key.lower(), ()))

    @property
    def requires_python(self) -> str | None:
        value = self.first("Requires-Python")
        return value.strip() if value else None


def parse_metadata(raw: bytes) -> CoreMetadata:
    text = raw.decode("utf-8", errors="replace")
    message = email.parser.Parser().parsestr(text, headersonly=False)
    fields: dict[str, list[str]] = {}
    for key, value in message.items():
        fields.setdefault(key.lower(), []).append(str(value))
    body = message.get_payload()
    if isinstance(body, str) and body.strip() and "description" not in fields:
        fields["description"] = [body]
    return CoreMetadata(raw=raw, fields=fields)


def header_fields(raw: bytes, keys: tuple[str, ...]) -> dict[str, str]:
    """The first value of each wanted header (lower-case keys), scanning only the header
    block: the index needs two fields of every file, and a full parse costs 20x more."""
    wanted = set(keys)
    found: dict[str, str] = {}
    for line in raw.decode("utf-8", errors="replace").splitlines():
        if not line.strip():
            break  # end of headers
        key, sep, value = line.partition(":")
        key = key.strip().lower()
        if sep and key in wanted and key not in found and not line[0].isspace():
            found[key] = value.strip()
            if len(found) == len(wanted):
                break
    return found


def _budget(path: Path, fh: IO[bytes], budget: Budget | None) -> Budget:
    if budget is not None:
        return budget
    return Budget(os.fstat(fh.fileno()).st_size, path.name)


def wheel_metadata(path: Path, budget: Budget | None = None) -> bytes:
    """The bytes of the wheel's ``*.dist-info/METADATA`` (the PEP 658 file)."""
    try:
        with open(path, "rb") as fh:
            spent = _budget(path, fh, budget)
            with open_zip(fh, os.fstat(fh.fileno()).st_size, spent) as zf:
                candidates = [
                    info
                    for info in zf.infolist()
                    if info.filename.count("/") == 1
                    and info.filename.endswith(".dist-info/METADATA")
                ]
                if len(candidates) != 1:
                    raise MetadataError(
                        f"{path.name}: expected exactly one top-level .dist-info/METADATA, "
                        f"found {len(candidates)}"
                    )
                return read_zip_member(zf, candidates[0], spent, MAX_METADATA_BYTES)
    except ARCHIVE_ERRORS as exc:
        if isinstance(exc, MetadataError):
            raise
        raise MetadataError(f"{path.name}: not a readable zip archive ({exc})") from exc


def is_pkg_info(name: str) -> bool:
    parts = name.strip("/").split("/")
    return len(parts) == 2 and parts[1] == "PKG-INFO"


def sdist_metadata(path: Path, filename: str | None = None) -> bytes:
    """The bytes of an sdist's top-level ``PKG-INFO``; ``filename`` names the format when
    ``path`` is a temporary file. Reading stops at PKG-INFO, within a ``Budget``."""
    name = (filename or path.name).lower()
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            budget = Budget(size, path.name)
            if name.endswith(".zip"):
                with open_zip(fh, size, budget) as zf:
                    for info in zf.infolist():
                        if is_pkg_info(info.filename):
                            return read_zip_member(zf, info, budget, MAX_METADATA_BYTES)
                raise MetadataError(f"{path.name}: no top-level PKG-INFO")
            for tinfo, tf in tar_entries(fh, compression_of(fh), budget, drain=False):
                if tinfo.isfile() and is_pkg_info(tinfo.name):
                    if tinfo.size > MAX_METADATA_BYTES:
                        raise MetadataError(f"{path.name}: PKG-INFO too large")
                    return read_tar_member(tf, tinfo, budget, MAX_METADATA_BYTES)
        raise MetadataError(f"{path.name}: no top-level PKG-INFO")
    except ARCHIVE_ERRORS as exc:
        if isinstance(exc, MetadataError):
            raise
        raise MetadataError(f"{path.name}: not a readable archive ({exc})") from exc


def read_metadata(path: Path, packagetype: str, filename: str | None = None) -> bytes:
    if packagetype == "bdist_wheel":
        return wheel_metadata(path)
    if packagetype == "sdist":
        return sdist_metadata(path, filename)
    raise MetadataError(f"{path.name}: no core metadata is read from {packagetype} files")


class Hasher:
    """Feeds bytes to every digest we publish at once: sha256, md5, blake2b_256 (+ extra)."""

    def __init__(self, extra: str | None = None) -> None:
        self._hashers: dict[str, Any] = {
            "sha256": hashlib.sha256(),
            "md5": hashlib.md5(usedforsecurity=False),
            "blake2b_256": hashlib.blake2b(digest_size=32),
        }
        if extra and extra not in self._hashers:
            self._hashers[extra] = hashlib.new(extra)

    def update(self, data: bytes) -> None:
        for hasher in self._hashers.values():
            hasher.update(data)

    def hexdigests(self) -> dict[str, str]:
        return {name: hasher.hexdigest() for name, hasher in self._hashers.items()}


def file_digests(stream: IO[bytes], extra: str | None = None) -> dict[str, str]:
    """Hex digests of a stream in one pass."""
    hasher = Hasher(extra)
    while chunk := stream.read(1024 * 1024):
        hasher.update(chunk)
    return hasher.hexdigests()
