"""Upstream files: fetched on first request, streamed while stored, verified, then cached.

The first request for a file opens the upstream download and streams it to its client
while writing it to ``tmp/`` and hashing it. The last chunk is held back until the
sha256 (and size) match what the upstream page promised: on a mismatch the response is
cut short (the client sees a truncated body, never the whole wrong file), nothing is
cached and the event is logged. A verified file is renamed into the cache and served
from disk from then on.

Concurrent first requests for one file cause one upstream fetch: the first is the
leader, the others wait for it and are served from disk (or lead a retry if it failed).
With ``--upstream-cache-max`` the least recently used files are evicted after each new
file, never one being fetched or used in the last two seconds (an open file is safe
anyway; the window covers nginx opening it after an X-Accel-Redirect).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace

from .dists import DistFile, pack_hashes
from .errors import BadGateway, GatewayTimeout, NotFound
from .metadata import Hasher
from .upstream_download import Body, Download
from .upstream_http import FetchFailed, Missing, Origin, auth_for, open_url, read_bounded
from .upstream_store import METADATA, UpstreamStore

log = logging.getLogger(__name__)
MAX_METADATA = 16 * 1024 * 1024
WAIT_FOR_LEADER = 600.0
RECENT = 2.0  # seconds a used file is safe from eviction (nginx opens it after us)
# seconds a file seen on disk is taken to be there without looking again: one stat per
# download under load cost 15% of cached downloads/s (each syscall hands the GIL around).
# A file purged by another process inside that second is found missing when it is opened
# (or resolved for nginx) and fetched again (web/files.py).
PRESENT_FOR = 1.0

Stored = Callable[[DistFile], None]


@dataclass(slots=True)
class Usage:
    """What one cached upstream file costs on disk, and when it was last used."""

    size: int  # the file (0 while only its core metadata is cached)
    meta: int  # its .metadata
    used: float
    seen: float = -PRESENT_FOR  # monotonic time the file was last seen on disk


@dataclass
class Flight:
    done: threading.Event = field(default_factory=threading.Event)


def _refused(exc: FetchFailed | Missing, what: str) -> Exception:
    if isinstance(exc, Missing):
        return NotFound(f"upstream no longer has {what}")
    kind = GatewayTimeout if exc.timeout else BadGateway
    return kind(f"cannot fetch {what} from upstream: {exc}")


class FileFetcher:
    def __init__(
        self,
        store: UpstreamStore,
        where: Callable[[str], tuple[Origin, str] | None],
        stored: Stored,
        *,
        timeout: float,
        cache_max: int | None = None,
        hash_algo: str | None = "sha256",
    ) -> None:
        self.store = store
        self.where = where
        self.stored = stored
        self.timeout = timeout
        self.cache_max = cache_max
        self.hash_algo = hash_algo
        self._flights: dict[str, Flight] = {}
        self._guard = threading.Lock()
        self.fetches = 0  # upstream file downloads started (tests, /ready)
        self._digests: queue.SimpleQueue[DistFile] = queue.SimpleQueue()
        self._digester: threading.Thread | None = None
        # relpath -> its bytes on disk (the file and its .metadata), last use; LRU first
        self._used: OrderedDict[str, Usage] = OrderedDict()
        self.cache_bytes = 0
        for relpath, size, meta, used in store.cached_files():
            self._used[relpath] = Usage(size, meta, used)
            self.cache_bytes += size + meta

    def cached(self, dist: DistFile) -> bool:
        """Is the file on disk? Looked at once a second at most per file, so a purge by
        another process is noticed within a second (and ``forget`` makes it sooner)."""
        entry = self._used.get(dist.relpath)
        now = time.monotonic()
        if entry is not None and entry.size and now - entry.seen < PRESENT_FOR:
            return True
        present = self.store.file_path(dist.relpath).is_file()
        if entry is not None:
            entry.seen = now if present else -PRESENT_FOR
        return present

    def forget(self, dist: DistFile) -> None:
        """The file was found missing when it was opened: look on disk next time."""
        entry = self._used.get(dist.relpath)
        if entry is not None:
            entry.seen = -PRESENT_FOR

    def touch(self, dist: DistFile) -> None:
        with self._guard:
            entry = self._used.pop(dist.relpath, None)
            if entry is not None:
                entry.used = time.time()
                self._used[dist.relpath] = entry

    def _account(self, relpath: str, *, size: int | None = None, meta: int | None = None) -> None:
        """A file or its .metadata was stored: count it (replacing what was counted for it
        before, e.g. fetched again after a purge) and mark the pair used now."""
        with self._guard:
            entry = self._used.pop(relpath, None) or Usage(0, 0, 0.0)
            before = entry.size + entry.meta
            entry.size = entry.size if size is None else size
            entry.meta = entry.meta if meta is None else meta
            entry.used = time.time()
            self._used[relpath] = entry
            self.cache_bytes += entry.size + entry.meta - before

    # ---- the first download -----------------------------------------------------------
    def download(self, dist: DistFile) -> Iterator[bytes] | None:
        """A stream of the file as it arrives, or None when it is on disk now."""
        for _attempt in range(3):
            if self.cached(dist):
                return None
            with self._guard:
                flight = self._flights.get(dist.relpath)
                leader = flight is None
                if flight is None:
                    flight = self._flights[dist.relpath] = Flight()
            if leader:
                return self._lead(dist, flight)
            if not flight.done.wait(WAIT_FOR_LEADER):
                raise GatewayTimeout(f"{dist.filename} is still being fetched; try again")
        if self.cached(dist):
            return None
        raise BadGateway(f"{dist.filename} could not be fetched from upstream")

    def fetch(self, dist: DistFile) -> None:
        """Fetch, verify and store a file with nobody reading it as it arrives (for a
        Range request, answered from the cache once the whole file is verified)."""
        body = self.download(dist)
        if body is None:
            return
        try:
            for _chunk in body:
                pass
        finally:
            close = getattr(body, "close", None)
            if close is not None:
                close()

    def land(self, dist: DistFile, flight: Flight) -> None:
        with self._guard:
            if self._flights.get(dist.relpath) is flight:
                del self._flights[dist.relpath]
        flight.done.set()

    def _lead(self, dist: DistFile, flight: Flight) -> Iterator[bytes]:
        """Open upstream and read ahead two chunks before any byte is sent, so failures to
        connect (and small files that do not verify) are clean 502/504 answers."""
        try:
            source = self.where(dist.relpath)
            if source is None:
                raise NotFound(f"no upstream link for {dist.filename}")
            origin, url = source
            self.fetches += 1
            try:
                response = open_url(url, auth_for(origin, url), {}, self.timeout)
            except (FetchFailed, Missing) as exc:
                raise _refused(exc, dist.filename) from None
            download = Download(self, dist, flight, response)
            first = download.prime()
        except BaseException:
            self.land(dist, flight)
            raise
        return Body(download.stream(first), download.abandon)

    def commit(self, dist: DistFile, tmp: str, size: int) -> None:
        """Keep a verified file; its other digests (md5, blake2b) follow off the request."""
        final = self.store.file_path(dist.relpath)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, final)
        self.stored(replace(dist, size=size))
        self._account(dist.relpath, size=size)
        self._digests.put(replace(dist, size=size))
        with self._guard:
            if self._digester is None:
                self._digester = threading.Thread(
                    target=self._digest_all, name="upstream-digests", daemon=True
                )
                self._digester.start()
        self._evict()

    def _digest_all(self) -> None:
        """One thread computes the other digests of every fetched file, one file at a
        time: a burst of first downloads costs at most one core here, not a thread each."""
        while True:
            dist = self._digests.get()
            try:
                self._digest(dist)
            except Exception:
                log.exception("digests of the cached upstream file %s failed", dist.relpath)

    def _digest(self, dist: DistFile) -> None:
        hasher = Hasher(self.hash_algo)
        try:
            with open(self.store.file_path(dist.relpath), "rb") as fh:
                while chunk := fh.read(1024 * 1024):
                    hasher.update(chunk)
        except OSError:
            return  # evicted or purged meanwhile
        digests = hasher.hexdigests()
        if digests["sha256"] != dist.sha256:
            return  # replaced on disk by hand: never advertise other digests for it
        hashes, extra = pack_hashes(digests, self.hash_algo)
        self.stored(replace(dist, hashes=hashes, extra_hash=extra))

    def _evict(self) -> None:
        if self.cache_max is None:
            return
        now = time.time()
        with self._guard:
            victims = []
            for relpath, entry in list(self._used.items()):
                if self.cache_bytes <= self.cache_max:
                    break
                if now - entry.used < RECENT or relpath in self._flights:
                    continue
                del self._used[relpath]
                self.cache_bytes -= entry.size + entry.meta
                victims.append(relpath)
        for relpath in victims:
            path = self.store.file_path(relpath)
            for victim in (path, path.with_name(path.name + METADATA)):
                with contextlib.suppress(OSError):
                    victim.unlink()
            log.info("evicted %s from the upstream cache", relpath)

    # ---- core metadata (PEP 658) --------------------------------------------------------
    def metadata(self, dist: DistFile) -> bytes | None:
        """The file's core metadata, fetched once and verified against the page's hash."""
        expected = dist.metadata_sha256
        if expected is None:
            return None
        path = self.store.file_path(dist.relpath + METADATA)
        with contextlib.suppress(OSError):
            raw = path.read_bytes()
            self.touch(dist)
            return raw
        source = self.where(dist.relpath)
        if source is None:
            return None
        origin, url = source
        try:
            response = open_url(url + ".metadata", auth_for(origin, url), {}, self.timeout)
            raw = read_bounded(response, MAX_METADATA, time.monotonic() + self.timeout * 3, url)
        except (FetchFailed, Missing) as exc:
            raise _refused(exc, f"the metadata of {dist.filename}") from None
        if hashlib.sha256(raw).hexdigest() != expected:
            log.error("upstream metadata of %s does not match its sha256; refused", dist.filename)
            raise BadGateway(f"upstream sent metadata for {dist.filename} that does not verify")
        fd, tmp = self.store.staging()
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
        path.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, path)
        self._account(dist.relpath, meta=len(raw))
        self._evict()
        return raw
