"""From what is known about a file (stat, parsed name, facts read or cached) to the
``DistFile`` that is served.

Tens of thousands of DistFiles live in memory, so repeated strings (display names,
Requires-Python, tags) are shared through one intern table, and digests stay packed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from dynopypi.dists.facts import CacheEntry, Facts, Found, StatLike
from dynopypi.dists.names import (
    PACKED,
    DistFile,
    NormalizedName,
    ParsedName,
    display_name_of,
    normalize,
    pack_hashes,
    parse_version,
)

YankLookup = Callable[[int, str], "str | None"]
_PACKED_NAMES = tuple(name for name, _size in PACKED)


def _display_name(metadata_name: str | None, parsed: ParsedName, filename: str) -> str:
    """The name as the project spells it (metadata), if it agrees with the file name."""
    if metadata_name and normalize(metadata_name) == parsed.project:
        return metadata_name.strip()
    return display_name_of(filename)


class Describer:
    def __init__(self, hash_algo: str | None, yanked: YankLookup | None = None) -> None:
        self.hash_algo = hash_algo
        self.extra_algo = hash_algo if hash_algo not in (None, *_PACKED_NAMES) else None
        self.yanked: YankLookup = yanked or (lambda root, relpath: None)
        self._strings: dict[str, str] = {}

    def _intern(self, text: str) -> str:
        return self._strings.setdefault(text, text)

    def valid(self, entry: CacheEntry | None, st: StatLike) -> bool:
        """A cache entry still describes the file (same size and mtime, every hash there)."""
        return (
            entry is not None
            and entry.size == st.st_size
            and entry.mtime_ns == st.st_mtime_ns
            and (self.extra_algo is None or entry.extra_hash is not None)
        )

    def parsed_from(self, entry: CacheEntry) -> ParsedName:
        """The parsed file name as cached: a warm start does not parse 60,000 names again."""
        return ParsedName(
            NormalizedName(self._intern(entry.project)),
            parse_version(entry.version),
            self._intern(entry.packagetype),
            self._intern(entry.python_tag),
        )

    def entry(self, st: StatLike, facts: Facts, parsed: ParsedName) -> CacheEntry:
        assert facts.digests is not None
        metadata_digest = (
            hashlib.sha256(facts.metadata).digest()
            if facts.metadata is not None and parsed.packagetype == "bdist_wheel"
            else None
        )
        hashes, extra = pack_hashes(facts.digests, self.hash_algo)
        return CacheEntry(
            st.st_size,
            st.st_mtime_ns,
            hashes,
            extra,
            facts.requires_python,
            metadata_digest,
            facts.name,
            parsed.project,
            str(parsed.version),
            parsed.packagetype,
            parsed.python_tag,
        )

    def dist(self, root: int, found: Found, entry: CacheEntry) -> DistFile:
        relpath, st, parsed = found.relpath, found.st, found.parsed
        slash = relpath.rfind("/")
        filename = relpath if slash < 0 else relpath[slash + 1 :]  # shared when flat
        requires_python = entry.requires_python
        return DistFile(
            relpath=relpath,
            root=root,
            filename=filename,
            project=parsed.project,
            display_name=self._intern(_display_name(entry.name, parsed, filename)),
            version=parsed.version,
            packagetype=parsed.packagetype,
            python_tag=parsed.python_tag,
            size=st.st_size,
            mtime_ns=st.st_mtime_ns,
            hashes=entry.hashes,
            extra_hash=entry.extra_hash,
            requires_python=self._intern(requires_python) if requires_python else None,
            metadata_digest=entry.metadata_digest,
            yanked=self.yanked(root, relpath),
        )
