"""Upstream files: fetched once on first request, verified, cached, and read along.

The first request for a file starts its fetch (``download``: a thread writes
it to ``tmp/`` and hashes it, to the end, whoever reads along); that request and any
other asking meanwhile read the growing file (``tail``), never its last chunk
before the sha256 and size match the upstream page. A verified file is renamed into
the cache and served from disk from then on; one that does not verify is cut short for
its readers, never cached, and logged.

Waiting on upstream is bounded: a request waits for the first bytes at most
``--upstream-timeout`` (the one that started the fetch) or ``FOLLOW_WAIT`` (the others),
at most ``slots`` requests wait at once, at most ``MAX_FLIGHTS`` files are fetched at
once; past any of these the answer is 503 with Retry-After, and the fetch goes on.
What the cached files cost, and which go past ``--upstream-cache-max``, is ``held``'s.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace

from dynopypi.dists.metadata import Hasher
from dynopypi.dists.names import DistFile, pack_hashes
from dynopypi.errors import BadGateway, NotFound, StorageFull, UpstreamBusy
from dynopypi.upstream.download import MAX_UNKNOWN_SIZE, Flight, Pump, State, refused
from dynopypi.upstream.held import HeldFiles
from dynopypi.upstream.http import BOUND, SLOT_WAIT, FetchFailed, Missing, open_url, read_bounded
from dynopypi.upstream.origin import Origin
from dynopypi.upstream.reach import Reach
from dynopypi.upstream.store import METADATA, UpstreamStore

log = logging.getLogger(__name__)
MAX_METADATA = 16 * 1024 * 1024
FOLLOW_WAIT = 2.0  # seconds a request waits on a fetch another started (then 503)
MAX_FLIGHTS = 32  # upstream files fetched at once

Stored = Callable[[DistFile], None]


class FileFetcher:
    def __init__(
        self,
        store: UpstreamStore,
        where: Callable[[str], tuple[Origin, str] | None],
        stored: Stored,
        reach: Reach,
        *,
        timeout: float,
        slots: threading.BoundedSemaphore | None = None,
        cache_max: int | None = None,
        hash_algo: str | None = "sha256",
    ) -> None:
        self.store = store
        self.reach = reach
        self.slots = slots or threading.BoundedSemaphore(6)
        self.where = where
        self.stored = stored
        self.timeout = timeout
        self.cache_max = cache_max
        self.hash_algo = hash_algo
        self._flights: dict[str, Flight] = {}
        self._guard = threading.Lock()
        self._digests: queue.SimpleQueue[DistFile] = queue.SimpleQueue()
        self._digester: threading.Thread | None = None
        # the files on disk: what they cost, when they were used, which go first
        self.held = HeldFiles(store, cache_max, self._guard, self._flights)

    # ---- the first download -----------------------------------------------------------
    def follow(self, dist: DistFile) -> Flight | None:
        """The file's flight, ready to be read along (its size known and its first bytes
        in), or None when the file is cached now. Starts the fetch if nobody has.

        The request waits for that in a bounded time: ``--upstream-timeout`` for the one
        that started the fetch, ``FOLLOW_WAIT`` for the others (a stuck fetch costs its
        followers a 503 with Retry-After quickly, not a worker each for minutes), and at
        most ``slots`` requests wait at once. A failed fetch is raised (502/504) and
        forgotten: the next request starts afresh."""
        if self.held.cached(dist):
            return None
        with self._waiting():
            flight, leader = self._flight(dist)
            wait = self.timeout if leader else FOLLOW_WAIT
            if not flight.wait(flight.ready, wait):
                raise self._busy(dist, "is still being fetched from upstream")
            if flight.error is not None:
                raise flight.error
            if flight.state is State.DONE:
                return None
            return flight

    def settle(self, dist: DistFile) -> None:
        """Return once the whole file is cached and verified (a Range request is answered
        from the cache only), within ``FOLLOW_WAIT``; else 503 with Retry-After while the
        fetch goes on."""
        if self.held.cached(dist):
            return
        with self._waiting():
            flight, _leader = self._flight(dist)
            if not flight.wait(lambda: flight.state is not State.RUNNING, FOLLOW_WAIT):
                raise self._busy(dist, "is being fetched from upstream; its ranges follow")
            if flight.error is not None:
                raise flight.error

    def _busy(self, dist: DistFile, what: str) -> UpstreamBusy:
        wait = max(1, math.ceil(min(self.timeout, 10.0)))
        return UpstreamBusy(f"{dist.filename} {what}; try again in {wait} s", retry_after=wait)

    @contextlib.contextmanager
    def _waiting(self) -> Iterator[None]:
        if not self.slots.acquire(timeout=SLOT_WAIT):
            busy = "too many requests are waiting on the upstream; try again"
            raise UpstreamBusy(busy, retry_after=1)
        try:
            yield
        finally:
            self.slots.release()

    def _flight(self, dist: DistFile) -> tuple[Flight, bool]:
        """The running flight for ``dist``, or a new one (True: this request started it)."""
        with self._guard:
            flight = self._flights.get(dist.relpath)
            if flight is not None:
                return flight, False
            if len(self._flights) >= MAX_FLIGHTS:
                busy = f"{MAX_FLIGHTS} upstream files are being fetched already; try again"
                raise UpstreamBusy(busy, retry_after=2)
            source = self.where(dist.relpath)
            if source is None:
                raise NotFound(f"no upstream link for {dist.filename}")
            try:
                fd, tmp = self.store.staging()
            except OSError as exc:
                why = f"the upstream cache cannot stage {dist.filename}: {exc}"
                raise StorageFull(why) from None
            try:
                read_fd = os.open(tmp, os.O_RDONLY)
            except OSError as exc:
                os.close(fd)
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise StorageFull(f"the upstream cache cannot read {tmp}: {exc}") from None
            flight = self._flights[dist.relpath] = Flight(dist, str(tmp), read_fd)
        threading.Thread(
            target=self._fetch, args=(flight, fd, *source), name="upstream-open", daemon=True
        ).start()
        return flight, True

    def _fetch(self, flight: Flight, out: int, origin: Origin, url: str) -> None:
        """The flight's thread: open upstream (bounded), then pump the body."""
        try:
            response = open_url(
                url, origin, self.reach, {}, timeout=self.timeout,
                deadline=time.monotonic() + self.timeout * BOUND,
            )  # fmt: skip
        except Exception as exc:  # whatever it was, the flight must end (its waiters, a slot)
            with contextlib.suppress(OSError):
                os.close(out)
            with contextlib.suppress(OSError):
                os.unlink(flight.tmp)
            if isinstance(exc, (FetchFailed, Missing)):
                refusal = refused(exc, flight.dist.filename)
                if isinstance(exc, FetchFailed):
                    log.warning("upstream file %s: %s", flight.dist.filename, exc)
            else:
                log.exception("opening %s upstream failed", flight.dist.filename)
                refusal = BadGateway(f"cannot fetch {flight.dist.filename} from upstream")
            flight.end(refusal)
            self.land(flight)
            return
        limit = min(MAX_UNKNOWN_SIZE, self.cache_max or MAX_UNKNOWN_SIZE)
        Pump(
            flight, response, out, timeout=self.timeout, limit=limit,
            commit=self.commit, landed=self.land,
        ).run()  # fmt: skip

    def land(self, flight: Flight) -> None:
        with self._guard:
            if self._flights.get(flight.dist.relpath) is flight:
                del self._flights[flight.dist.relpath]

    def commit(self, dist: DistFile, tmp: str, size: int) -> None:
        """Keep a verified file; its other digests (md5, blake2b) follow off the request."""
        final = self.store.file_path(dist.relpath)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, final)
        self.stored(replace(dist, size=size))
        self.held.account(dist.relpath, size=size)
        self._digests.put(replace(dist, size=size))
        with self._guard:
            if self._digester is None:
                self._digester = threading.Thread(
                    target=self._digest_all, name="upstream-digests", daemon=True
                )
                self._digester.start()
        self.held.evict()

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

    # ---- core metadata (PEP 658) --------------------------------------------------------
    def metadata(self, dist: DistFile) -> bytes | None:
        """The file's core metadata, fetched once and verified against the page's hash."""
        expected = dist.metadata_sha256
        if expected is None:
            return None
        path = self.store.file_path(dist.relpath + METADATA)
        with contextlib.suppress(OSError):
            raw = path.read_bytes()
            self.held.touch(dist)
            return raw
        source = self.where(dist.relpath)
        if source is None:
            return None
        origin, url = source
        deadline = time.monotonic() + self.timeout * BOUND
        try:
            with self._waiting():
                where = url + ".metadata"
                response = open_url(
                    where, origin, self.reach, {}, timeout=self.timeout, deadline=deadline
                )
                raw = read_bounded(response, MAX_METADATA, url)
        except (FetchFailed, Missing) as exc:
            if isinstance(exc, FetchFailed):
                log.warning("upstream metadata of %s: %s", dist.filename, exc)
            raise refused(exc, f"the metadata of {dist.filename}") from None
        if hashlib.sha256(raw).hexdigest() != expected:
            log.error("upstream metadata of %s does not match its sha256; refused", dist.filename)
            raise BadGateway(f"upstream sent metadata for {dist.filename} that does not verify")
        fd, tmp = self.store.staging()
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
        path.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, path)
        self.held.account(dist.relpath, meta=len(raw))
        self.held.evict()
        return raw
