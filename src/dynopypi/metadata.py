"""Reading core metadata (METADATA / PKG-INFO) out of distributions, safely.

Everything here is bounded: archives come from users, so a zip or gzip bomb, a huge member
or a tar with millions of entries is refused with ``MetadataError`` instead of expanded.
"""

from __future__ import annotations

import email.parser
import hashlib
import lzma
import tarfile
import zipfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from .errors import MetadataError

MAX_METADATA_BYTES = 4 * 1024 * 1024  # larger METADATA files are not plausible
MAX_TAR_MEMBERS = 10_000  # how far into an sdist we look for PKG-INFO
MAX_TAR_SCAN_BYTES = 512 * 1024 * 1024  # decompressed bytes we are willing to skip over
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


def _read_bounded(stream: IO[bytes], what: str) -> bytes:
    data = stream.read(MAX_METADATA_BYTES + 1)
    if len(data) > MAX_METADATA_BYTES:
        raise MetadataError(f"{what} is larger than {MAX_METADATA_BYTES} bytes")
    return data


def wheel_metadata(path: Path) -> bytes:
    """The bytes of the wheel's ``*.dist-info/METADATA`` (the PEP 658 file)."""
    try:
        with zipfile.ZipFile(path) as zf:
            candidates = [
                info
                for info in zf.infolist()
                if info.filename.count("/") == 1 and info.filename.endswith(".dist-info/METADATA")
            ]
            if len(candidates) != 1:
                raise MetadataError(
                    f"{path.name}: expected exactly one top-level .dist-info/METADATA, "
                    f"found {len(candidates)}"
                )
            info = candidates[0]
            if info.file_size > MAX_METADATA_BYTES:
                raise MetadataError(f"{path.name}: METADATA is {info.file_size} bytes, too large")
            with zf.open(info) as member:
                return _read_bounded(member, f"{path.name}: METADATA")
    except ARCHIVE_ERRORS as exc:
        if isinstance(exc, MetadataError):
            raise
        raise MetadataError(f"{path.name}: not a readable zip archive ({exc})") from exc


def _is_pkg_info(name: str) -> bool:
    parts = name.strip("/").split("/")
    return len(parts) == 2 and parts[1] == "PKG-INFO"


def sdist_metadata(path: Path, filename: str | None = None) -> bytes:
    """The bytes of an sdist's top-level ``PKG-INFO``; ``filename`` names the format when
    ``path`` is a temporary file."""
    name = (filename or path.name).lower()
    try:
        if name.endswith(".zip"):
            with zipfile.ZipFile(path) as zf:
                for info in zf.infolist():
                    if _is_pkg_info(info.filename):
                        if info.file_size > MAX_METADATA_BYTES:
                            raise MetadataError(f"{path.name}: PKG-INFO too large")
                        with zf.open(info) as member:
                            return _read_bounded(member, f"{path.name}: PKG-INFO")
            raise MetadataError(f"{path.name}: no top-level PKG-INFO")
        with tarfile.open(path, mode="r:*") as tf:
            for count, tinfo in enumerate(_members(tf)):
                if count >= MAX_TAR_MEMBERS or tf.offset > MAX_TAR_SCAN_BYTES:
                    break
                if tinfo.isfile() and _is_pkg_info(tinfo.name):
                    if tinfo.size > MAX_METADATA_BYTES:
                        raise MetadataError(f"{path.name}: PKG-INFO too large")
                    stream = tf.extractfile(tinfo)
                    if stream is None:
                        break
                    return _read_bounded(stream, f"{path.name}: PKG-INFO")
        raise MetadataError(f"{path.name}: no top-level PKG-INFO")
    except ARCHIVE_ERRORS as exc:
        if isinstance(exc, MetadataError):
            raise
        raise MetadataError(f"{path.name}: not a readable archive ({exc})") from exc


def _members(tf: tarfile.TarFile) -> Iterable[tarfile.TarInfo]:
    while True:
        member = tf.next()
        if member is None:
            return
        yield member


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
