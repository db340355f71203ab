"""Reading served files from a bucket: streams with ranges, small files and core metadata
kept hot in bounded LRUs (a bucket read costs a round trip; memory costs nothing).

The store being down is ``StoreUnavailable`` (503 with Retry-After at the edge); a file
that vanished is None, as the directory reader says it.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from typing import BinaryIO

from dynopypi.core.memo import ByteLRU
from dynopypi.dists.names import DistFile
from dynopypi.errors import BadGateway
from dynopypi.store.base import SMALL_FILE, Missing, Storage
from dynopypi.store.bucket.cache import BlobCache
from dynopypi.store.bucket.records import METADATA_LIMIT, meta_key

log = logging.getLogger(__name__)


class BucketReader:
    local = False  # nothing for nginx to send: the app streams (or redirects)

    def __init__(self, storage: Storage, cache: BlobCache | None = None) -> None:
        self.storage = storage
        self.cache = cache
        self._small = ByteLRU(16 * 1024 * 1024)
        self._hot_metadata = ByteLRU(4 * 1024 * 1024)

    def open(self, dist: DistFile) -> BinaryIO | None:
        return self.open_range(dist, 0, None)

    def open_range(self, dist: DistFile, start: int, length: int | None) -> BinaryIO | None:
        """The local copy (fetched and checked first when the cache takes the file), else
        the store's own stream."""
        cache = self.cache
        if cache is not None and cache.fits(dist):
            local = cache.open(dist, start, length)
            if local is not None:
                return local
            try:
                cache.fetch(dist, self.storage.open(dist.relpath))
            except Missing:
                return None
            local = cache.open(dist, start, length)
            if local is not None:  # else evicted at once by others: stream it this time
                return local
        try:
            return self.storage.open(dist.relpath, start, length)
        except Missing:
            return None

    def real_relpath(self, dist: DistFile) -> str | None:
        return None

    def small_file(self, dist: DistFile) -> bytes | None:
        def load() -> bytes | None:
            found = self.storage.read(dist.relpath, SMALL_FILE)
            if found is None:
                return None
            if not hmac.compare_digest(hashlib.sha256(found[0]).hexdigest(), dist.sha256):
                log.error("%s in the store does not match the index: not served", dist.filename)
                raise BadGateway(
                    f"the store's copy of {dist.filename} does not match its recorded "
                    "sha256; it is not served (an operator should restore or remove it)"
                )
            return found[0]

        return self._small.get((dist.relpath, dist.size, dist.mtime_ns), load)

    def metadata(self, dist: DistFile) -> bytes | None:
        def load() -> bytes | None:
            found = self.storage.read(meta_key(dist.relpath), METADATA_LIMIT)
            if found is None:
                return None
            wanted = dist.metadata_sha256
            if wanted and hashlib.sha256(found[0]).hexdigest() != wanted:
                log.error("the core metadata of %s in the store does not match", dist.filename)
                return None  # pip would refuse it: answered as absent (404)
            return found[0]

        return self._hot_metadata.get((dist.relpath, dist.size, dist.mtime_ns), load)
