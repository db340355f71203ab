"""What a distribution file is, and how its file name maps to a project and a version.

Parsing is pure: it never touches the file. Wheels and ``.tar.gz``/``.zip`` sdists go
through ``packaging.utils``; other archive suffixes pip still understands, and eggs, are
split the same way with the version validated by ``packaging``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple, NewType

from packaging.utils import canonicalize_version
from packaging.version import InvalidVersion, Version

from dynopypi.errors import InvalidFilename

NormalizedName = NewType("NormalizedName", str)

_NORMALIZE_RE = re.compile(r"[-_.]+")
_VALID_NAME_RE = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$", re.IGNORECASE)
_WHEEL_NAME_RE = re.compile(r"^[\w\d._]+$", re.UNICODE)  # what packaging accepts
_BUILD_RE = re.compile(r"^\d[^-]*$")

SDIST_SUFFIXES = (".tar.gz", ".zip", ".tar.bz2", ".tgz", ".tar.xz", ".tar")
DIST_SUFFIXES = (".whl", ".egg", *SDIST_SUFFIXES)


@lru_cache(maxsize=16384)
def normalize(name: str) -> NormalizedName:
    """PEP 503 normalization; the only place a ``NormalizedName`` is made."""
    return NormalizedName(_NORMALIZE_RE.sub("-", name).lower())


def is_valid_project_name(name: str) -> bool:
    """PEP 508's rule (fullmatch: ``$`` alone would accept "acme\\n"). Files already in a
    package directory are served under it as packaging reads them; uploads and form names
    must also be ASCII (``publish.upload.canonical_project``)."""
    return bool(_VALID_NAME_RE.fullmatch(name))


class ParsedName(NamedTuple):
    project: NormalizedName
    version: Version
    packagetype: str  # "bdist_wheel", "sdist" or "bdist_egg", as the PyPI JSON API names it
    python_tag: str  # "py3", "cp311.cp312", "source"


def _sdist_stem(filename: str) -> str | None:
    lower = filename.lower()
    for suffix in SDIST_SUFFIXES:
        if lower.endswith(suffix):
            return filename[: -len(suffix)]
    return None


@lru_cache(maxsize=65536)
def parse_version(text: str) -> Version:
    """Memoized: a corpus repeats the same few versions, and each Version is ~0.5 KB."""
    return Version(text)


_interned: dict[str, str] = {}


def _intern(text: str) -> str:
    return _interned.setdefault(text, text)


def _parsed(name: str, version: str, packagetype: str, python_tag: str) -> ParsedName:
    return ParsedName(normalize(name), parse_version(version), packagetype, _intern(python_tag))


def parse_filename(filename: str) -> ParsedName:
    """Map a distribution file name to (project, version, type); raise ``InvalidFilename``.

    Follows ``packaging.utils.parse_wheel_filename``/``parse_sdist_filename`` (names,
    versions, build tags), extended to every archive suffix pip accepts, and is cached:
    at start-up it runs once per file of the corpus.
    """
    if "/" in filename or "\\" in filename or not filename.isprintable() or " " in filename:
        raise InvalidFilename(
            f"{filename!r} is not a plain file name (no separators, spaces or control characters)"
        )
    lower = filename.lower()
    try:
        if lower.endswith(".whl"):
            return _parse_wheel(filename)
        stem = _sdist_stem(filename)
        packagetype, python_tag = "sdist", "source"
        if stem is None and lower.endswith(".egg"):
            # name-version[-pyX.Y[-platform]].egg
            parts = filename[:-4].split("-")
            if len(parts) < 2:
                raise InvalidFilename(f"{filename!r} is not a valid egg file name")
            stem = f"{parts[0]}-{parts[1]}"
            packagetype = "bdist_egg"
            python_tag = parts[2] if len(parts) > 2 else ""
        if stem is None:
            raise InvalidFilename(f"{filename!r} does not end in a distribution suffix")
        name, sep, version_text = stem.rpartition("-")
        if not sep or not is_valid_project_name(name):
            raise InvalidFilename(
                f"{filename!r} does not look like NAME-VERSION{filename[len(stem) :]}"
            )
        return _parsed(name, version_text, packagetype, python_tag)
    except InvalidVersion as exc:
        raise InvalidFilename(f"{filename!r} has an invalid version: {exc}") from exc


FileKey = tuple[str, ...]


@lru_cache(maxsize=65536)
def file_key(filename: str) -> FileKey:
    """What makes two file names the same file to an installer: the normalized project and
    version, then the wheel's build tag and expanded tags, the egg's tags, or the sdist's
    format, all case-folded (``Acme_Bar-1.0-py3-none-any.whl`` is ``acme.bar-1.0.0-PY3-…``).

    Release immutability compares these keys, never the raw names.
    """
    parsed = parse_filename(filename)
    head = (str(parsed.project), canonicalize_version(parsed.version), parsed.packagetype)
    lower = filename.lower()
    if parsed.packagetype == "bdist_wheel":
        parts = lower[:-4].split("-")
        build = parts[2] if len(parts) == 6 else ""
        pythons, abis, platforms = (set(p.split(".")) for p in parts[-3:])
        tags = sorted(f"{p}-{a}-{x}" for p in pythons for a in abis for x in platforms)
        return (*head, build, *tags)
    if parsed.packagetype == "bdist_egg":
        return (*head, *lower[:-4].split("-")[2:])
    suffix = next(s for s in SDIST_SUFFIXES if lower.endswith(s))
    return (*head, ".tar.gz" if suffix == ".tgz" else suffix)


def _parse_wheel(filename: str) -> ParsedName:
    parts = filename[:-4].split("-")
    if len(parts) not in (5, 6):
        raise InvalidFilename(
            f"{filename!r} is not a valid wheel file name: expected "
            "NAME-VERSION(-BUILD)-PYTHON-ABI-PLATFORM.whl"
        )
    name = parts[0]
    if not _WHEEL_NAME_RE.match(name) or not is_valid_project_name(name):
        raise InvalidFilename(f"{filename!r} has an invalid project name {name!r}")
    if len(parts) == 6 and not _BUILD_RE.match(parts[2]):
        raise InvalidFilename(f"{filename!r} has an invalid build tag {parts[2]!r}")
    if not all(parts[-3:]):
        raise InvalidFilename(f"{filename!r} has an empty compatibility tag")
    pythons = ".".join(sorted(set(parts[-3].split("."))))
    return _parsed(name, parts[1], "bdist_wheel", pythons)


PACKED = (("sha256", 32), ("md5", 16), ("blake2b_256", 32))


def pack_hashes(digests: dict[str, str], extra_algo: str | None) -> tuple[bytes, str | None]:
    """Hex digests -> (80 raw bytes, "algo:hex" or None): a third of the memory of a dict."""
    raw = b"".join(bytes.fromhex(digests[name]) for name, _size in PACKED)
    extra = None
    if extra_algo and extra_algo not in dict(PACKED) and extra_algo in digests:
        extra = f"{extra_algo}:{digests[extra_algo]}"
    return raw, extra


@dataclass(slots=True)
class DistFile:
    """One served file. Never mutated (the index replaces it); not frozen only because
    frozen dataclasses are three times slower to build, and start-up builds 60,000.

    Kept small (tens of thousands live in memory): digests as raw bytes, strings shared.
    """

    relpath: str  # posix path below its root, e.g. "sub/foo-1.0.tar.gz"
    root: int  # which package directory (index into Settings.roots)
    filename: str
    project: NormalizedName
    display_name: str  # the project name as its metadata (or file name) spells it
    version: Version
    packagetype: str
    python_tag: str
    size: int
    mtime_ns: int  # also the upload time: uploads are written when they arrive
    hashes: bytes  # see pack_hashes
    extra_hash: str | None = None
    requires_python: str | None = None
    metadata_digest: bytes | None = None  # sha256 of the PEP 658 file, wheels only
    yanked: str | None = None  # None: not yanked; "" yanked without a reason

    @property
    def is_yanked(self) -> bool:
        return self.yanked is not None

    @property
    def sha256(self) -> str:
        return self.hashes[:32].hex()

    @property
    def digests(self) -> dict[str, str]:
        out: dict[str, str] = {}
        offset = 0
        for name, size in PACKED:
            out[name] = self.hashes[offset : offset + size].hex()
            offset += size
        if self.extra_hash:
            algo, _, value = self.extra_hash.partition(":")
            out[algo] = value
        return out

    @property
    def metadata_sha256(self) -> str | None:
        return self.metadata_digest.hex() if self.metadata_digest is not None else None

    @property
    def upload_time_ns(self) -> int:
        return self.mtime_ns


def display_name_of(filename: str) -> str:
    """The project name as the file name spells it (wheel/sdist names are escaped with _)."""
    stem = _sdist_stem(filename)
    if filename.lower().endswith((".whl", ".egg")):
        return filename.split("-", 1)[0]
    if stem is not None:
        return stem.rpartition("-")[0]
    return filename
