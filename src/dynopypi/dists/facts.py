"""What reading one distribution file yields (``Facts``), what is known of a file found in a
store (``Found``: its place, size and time, parsed name, cached entry) and the cache row
that spares reading it again (``CacheEntry``).

Shared by both stores and by the index's describer, so it sits with the distributions, below
them all. A store hands over any object with a size and a time (``StatLike``): a directory
the size and time of its ``os.stat_result``, a bucket its object's size and upload time
(both as ``SizeAndTime``).
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple, Protocol

from dynopypi.dists.metadata import file_digests, header_fields, read_metadata
from dynopypi.dists.names import ParsedName
from dynopypi.errors import MetadataError


class StatLike(Protocol):
    """The two fields of a stat a DistFile is built from: size and modification time."""

    @property
    def st_size(self) -> int: ...

    @property
    def st_mtime_ns(self) -> int: ...


def is_ignored_name(name: str) -> bool:
    """Dotfiles and dot-directories hold our own state and in-flight uploads."""
    return name.startswith(".") or name.endswith((".part", ".tmp", "~"))


class Facts(NamedTuple):
    """What reading one file yields; computed in worker processes on a cold start."""

    digests: dict[str, str] | None  # None: the file could not be read
    metadata: bytes | None
    requires_python: str | None
    name: str | None
    problem: str | None


class Found(NamedTuple):
    """A file seen on disk: where, its stat, its parsed name, and a valid cache entry if any."""

    relpath: str
    st: StatLike
    parsed: ParsedName
    entry: CacheEntry | None


def read_facts(path: str, packagetype: str, hash_algo: str | None) -> Facts:
    try:
        with open(path, "rb") as fh:
            digests = file_digests(fh, hash_algo)
    except OSError as exc:
        return Facts(None, None, None, None, str(exc))
    return facts_of(digests, path, packagetype)


def facts_of(
    digests: dict[str, str], path: str, packagetype: str, metadata: bytes | None = None
) -> Facts:
    problem = None
    if metadata is None and packagetype in ("bdist_wheel", "sdist"):
        try:
            metadata = read_metadata(Path(path), packagetype)
        except MetadataError as exc:
            problem = str(exc)
    fields = header_fields(metadata, ("name", "requires-python")) if metadata else {}
    return Facts(digests, metadata, fields.get("requires-python"), fields.get("name"), problem)


class CacheEntry(NamedTuple):
    """What a file costs to compute; valid while size and mtime_ns match."""

    size: int
    mtime_ns: int
    hashes: bytes  # raw sha256 + md5 + blake2b_256 (see dists.pack_hashes)
    extra_hash: str | None  # "algo:hex" for a --hash-algo outside those three
    requires_python: str | None
    metadata_digest: bytes | None  # sha256 of the PEP 658 file (wheels only)
    name: str | None  # the project name as its metadata spells it
    # the parsed file name, so a warm start does not parse 60,000 names again
    project: str
    version: str
    packagetype: str
    python_tag: str


class SizeAndTime(NamedTuple):
    """A ``StatLike`` of the two fields a file is described by: a bucket's object has no
    other stat, and a walk keeps no more of a file's ``os.stat_result`` (~650 bytes with
    its numbers, against ~70): a cold start holds one per file found until every file is
    read, and what is freed after that stays with the process (docs/nginx-speed.md,
    "Memory after a cold start": 174 -> 146 MB at 60,000 files)."""

    st_size: int
    st_mtime_ns: int
