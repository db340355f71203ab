"""What pages are made of: a project (its files) and a rendered page (bytes + ETag).

Both are immutable once shared with readers, except a project's render cache, which
readers fill (two threads may render the same page; either result is correct).
"""

from __future__ import annotations

import gzip
import hashlib
import zlib
from dataclasses import dataclass, field

from packaging.version import Version

from dynopypi.dists.names import DistFile, NormalizedName

GZIP_MIN = 1024  # smaller pages gain too little from compression
KEEP_PLAIN = 64 * 1024  # pages this big also keep a plain copy: inflating costs too much


@dataclass(frozen=True, slots=True)
class Rendered:
    """A page as sent: a strong ETag and the bytes, plain and/or gzipped.

    A page served many times is gzipped once. Mid-size pages (most project pages) then
    keep only the gzip copy, sent as is to clients that accept gzip (pip, uv) and
    inflated for the others: 10,000 project pages cost 40% of the memory. Big pages
    keep both, so neither the app nor nginx compresses /simple/ per request.
    """

    raw: bytes | None
    etag: str
    content_type: str
    gzipped: bytes | None = None

    @property
    def body(self) -> bytes:
        if self.raw is not None:
            return self.raw
        assert self.gzipped is not None
        return zlib.decompress(self.gzipped, wbits=31)

    @classmethod
    def of(cls, body: bytes, content_type: str, *, cached: bool = True) -> Rendered:
        """``cached``: the page will be served many times, so a gzip copy pays off."""
        etag = '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'
        if not cached or len(body) < GZIP_MIN:
            return cls(body, etag, content_type)
        gzipped = gzip.compress(body, compresslevel=6, mtime=0)
        return cls(body if len(body) >= KEEP_PLAIN else None, etag, content_type, gzipped)


@dataclass(frozen=True, slots=True)
class Held:
    """An upstream file a page holds back (the cooldown), and from when it is served
    (``until_ns`` None: not while upstream gives no upload time)."""

    filename: str
    version: Version
    until_ns: int | None


@dataclass(eq=False)
class Project:
    name: NormalizedName
    display_name: str
    files: tuple[DistFile, ...]
    held: tuple[Held, ...] = ()  # what the cooldown hides of this project's files, if any
    renders: dict[str, Rendered] = field(default_factory=dict)

    @property
    def versions(self) -> list[str]:
        seen = sorted({f.version for f in self.files})
        return [str(v) for v in seen]
