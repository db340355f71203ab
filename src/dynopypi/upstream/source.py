"""The upstream source: public projects fetched on demand, cached, and merged safely.

An upstream project page is fetched the first time a client asks for a name that is not
private, kept for ``--upstream-ttl`` seconds, then revalidated with its ETag /
Last-Modified. Its files become the last source of the index (``Index`` source number
``len(roots)``) and go through the same merge as local files; the merge rule
(``core.snapshot.private_first``) decides what is served, so a private name can never be
answered from upstream, whatever this module fetched. This module decides when to ask
upstream and asks; the pages it gets are held, and put in the index, by ``held``.

When upstream is down or slow, a cached page is served stale (the route says so in a
header) and an uncached name gets 502/504 after at most the timeouts; a local name never
waits for upstream. Private names (``--private``, or with local files) are never looked
up by default: the lookup itself would tell the public index an internal name.
``--private-check`` trades that away for evidence: they are then checked upstream in the
background, never on a request's path, to learn that someone published them publicly.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from dynopypi.core.index import Index
from dynopypi.core.model import Held, Project
from dynopypi.dists.names import NormalizedName
from dynopypi.errors import BadGateway, GatewayTimeout, UpstreamBusy
from dynopypi.upstream.held import HeldPages
from dynopypi.upstream.http import BOUND, SLOT_WAIT, FetchFailed, Missing, NotModified, PageMemory
from dynopypi.upstream.names import glob_matcher, remember
from dynopypi.upstream.origin import origin_of
from dynopypi.upstream.page import ACCEPT, BadPage, fetch_page, parse_page
from dynopypi.upstream.reach import Reach
from dynopypi.upstream.store import CachedPage, UpstreamStore

log = logging.getLogger(__name__)
RETRY_AFTER_FAILURE = 30.0  # seconds a failed upstream is not asked again for one name
LOCK_STRIPES = 256


class Counts:
    """What the upstream did, for ``/metrics``: pages answered from the cache (hits),
    fetched or revalidated (misses), fetches that failed, and the seconds spent fetching."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.hits = self.misses = self.errors = 0
        self.fetch_seconds = 0.0

    def hit(self) -> None:
        with self._lock:
            self.hits += 1

    def fetched(self, seconds: float, *, failed: bool) -> None:
        with self._lock:
            self.misses += 1
            self.errors += failed
            self.fetch_seconds += seconds


@dataclass(frozen=True)
class Lookup:
    project: Project | None
    stale: bool = False  # upstream could not be asked: a cached page served as it was
    held: tuple[Held, ...] = ()  # files the cooldown holds back (``catalog.Catalog.page``)


class Upstream:
    def __init__(
        self,
        index: Index,
        store: UpstreamStore,
        urls: Sequence[str],
        *,
        ttl: float,
        timeout: float,
        private: Sequence[str] = (),
        merge: Sequence[str] = (),
        private_check: bool = False,
        files_hosts: Sequence[str] = (),
        slots: int = 6,
    ) -> None:
        self.index = index
        self.store = store
        self.origins = [origin_of(u) for u in urls]
        self.reach = Reach([o.url for o in self.origins], files_hosts)
        self.ttl = ttl
        self.timeout = timeout
        self.page_bound = timeout * BOUND  # the longest one name's fetch (all upstreams) may take
        self.slots = threading.BoundedSemaphore(max(1, slots))
        self.source = len(index.roots)
        self._private = glob_matcher(private)
        self._private_check = private_check  # private names: evidence only, if asked
        self._merge = glob_matcher(merge)
        # the pages fetched, and what they put in the index
        self.held = HeldPages(
            index, store, self.origins, self.source, self.is_private, self.may_merge
        )
        self._missing: dict[NormalizedName, float] = {}  # upstream said 404, until
        self._failed: dict[NormalizedName, float] = {}  # upstream failed, retry after
        # one fetch per name at a time; striped so that strangers' names cost no memory
        self._locks = tuple(threading.Lock() for _ in range(LOCK_STRIPES))
        self._background = threading.BoundedSemaphore(2)
        self.reachable: bool | None = None  # last answer from upstream, None: not asked
        self.counts = Counts()

    # ---- the merge rule's questions -------------------------------------------------
    def is_private(self, name: NormalizedName) -> bool:
        return bool(self._private and self._private.match(name))

    def may_merge(self, name: NormalizedName) -> bool:
        return bool(self._merge and self._merge.match(name))

    def has_local(self, name: NormalizedName) -> bool:
        return any(source.layer(name) for source in self.index.sources[: self.source])

    # ---- lookups --------------------------------------------------------------------
    def lookup(self, name: NormalizedName, local: Project | None) -> Lookup:
        """The project as served, asking upstream first when its page is absent or old."""
        if self.is_private(name):
            if self._private_check:
                self._check_later(name)
            return Lookup(local)
        if local is not None and self.has_local(name) and not self.may_merge(name):
            if self._private_check:
                self._check_later(name)
            return Lookup(local)
        page = self.held.pages.get(name)
        if page is not None and time.time() - page.fetched < self.ttl:
            self.counts.hit()
            return Lookup(self.index.snapshot.project(name))
        if page is None and self._missing.get(name, 0) > time.monotonic():
            return Lookup(local)
        if self._failed.get(name, 0) > time.monotonic():
            return self._stale(name, local, None)
        return self._ask(name, local)

    def _ask(self, name: NormalizedName, local: Project | None) -> Lookup:
        """Ask upstream, in bounded time: at most ``slots`` requests wait on upstream at
        once (the other workers stay free for local pages and /health), a request waits
        for another's fetch of the same name no longer than that fetch may take, and
        the fetch itself ends by its deadline, whatever upstream sends."""
        if not self.slots.acquire(timeout=SLOT_WAIT):
            return self._busy(name, local, "too many requests are waiting on the upstream")
        try:
            deadline = time.monotonic() + self.page_bound
            lock = self._lock(name)
            if not lock.acquire(timeout=self.page_bound):
                return self._busy(name, local, f"{name!r} is still being fetched upstream")
            started = time.monotonic()
            try:
                if self._failed.get(name, 0) > time.monotonic():  # it failed while we waited
                    return self._stale(name, local, None)
                self.refresh(name, deadline)
                self.counts.fetched(time.monotonic() - started, failed=False)
            except FetchFailed as exc:
                self.counts.fetched(time.monotonic() - started, failed=True)
                remember(self._failed, name, min(self.ttl, RETRY_AFTER_FAILURE))
                return self._stale(name, local, exc)
            finally:
                lock.release()
        finally:
            self.slots.release()
        return Lookup(self.index.snapshot.project(name))

    def _stale(
        self, name: NormalizedName, local: Project | None, exc: FetchFailed | None
    ) -> Lookup:
        """Upstream failed for ``name``: the cached page as it was, or a 502/504."""
        if self.held.pages.get(name) is None and local is None:
            if exc is None:
                raise BadGateway(f"upstream failed for {name!r} moments ago; try again soon")
            log.warning("upstream failed for %s: %s", name, exc)
            kind = GatewayTimeout if exc.timeout else BadGateway
            raise kind(
                f"{name!r} is not cached here and the upstream index could not be asked "
                f"({exc.public}); try again later"
            ) from None
        if exc is not None:
            log.warning("upstream failed, serving %s as cached: %s", name, exc)
        return Lookup(self.index.snapshot.project(name), stale=True)

    def _busy(self, name: NormalizedName, local: Project | None, why: str) -> Lookup:
        """No answer from upstream in time for this request: the cached page (stale), or
        503 with Retry-After (the fetch goes on; the retry finds it done)."""
        if self.held.pages.get(name) is not None or local is not None:
            return Lookup(self.index.snapshot.project(name), stale=True)
        wait = max(1, math.ceil(self.timeout))
        raise UpstreamBusy(f"{why}; try again in {wait} s", retry_after=wait)

    def _lock(self, name: NormalizedName) -> threading.Lock:
        return self._locks[hash(name) % LOCK_STRIPES]

    def _check_later(self, name: NormalizedName) -> None:
        """A private name: look upstream in the background for evidence of squatting."""
        page = self.held.pages.get(name)
        if page is not None and time.time() - page.fetched < self.ttl:
            return
        if self._failed.get(name, 0) > time.monotonic() or self._missing.get(name, 0) > (
            time.monotonic()
        ):
            return
        if not self._background.acquire(blocking=False):
            return  # busy: the next request for it will try

        def run() -> None:
            lock = self._lock(name)
            if not lock.acquire(timeout=self.page_bound):
                self._background.release()
                return
            try:
                self.refresh(name, time.monotonic() + self.page_bound)
            except FetchFailed as exc:
                remember(self._failed, name, min(self.ttl, RETRY_AFTER_FAILURE))
                log.info("upstream check of local name %s failed: %s", name, exc)
            except Exception:
                log.exception("upstream check of local name %s failed", name)
            finally:
                lock.release()
                self._background.release()

        threading.Thread(target=run, name=f"upstream-check-{name}", daemon=True).start()

    # ---- fetching pages -------------------------------------------------------------
    def refresh(self, name: NormalizedName, deadline: float) -> None:
        """Fetch or revalidate ``name``'s page from the first upstream that has it, all
        of them by ``deadline``."""
        page = self.held.pages.get(name)
        if page is not None and time.time() - page.fetched < self.ttl:
            return  # another thread did it while we waited
        failure: FetchFailed | None = None
        for origin in self.origins:
            mine = page is not None and page.origin == origin.url
            try:
                with PageMemory(deadline) as memory:
                    fetched = fetch_page(
                        origin, self.reach, f"{origin.url}{name}/", ACCEPT,
                        etag=page.etag if mine and page else None,
                        last_modified=page.last_modified if mine and page else None,
                        timeout=self.timeout, deadline=deadline, memory=memory,
                    )  # fmt: skip
                    parsed = parse_page(fetched.body, fetched.content_type, fetched.url, name)
            except BadPage as exc:
                failure = failure or FetchFailed(f"{origin.url}{name}/: {exc}")
                log.warning("upstream page of %s refused: %s", name, exc)
                continue
            except NotModified:
                if page is None or not mine:  # 304 to an unconditional request: broken
                    failure = failure or FetchFailed(f"{origin.url}: 304 without validators")
                    continue
                page.fetched = time.time()
                self.store.save_page(page)
                self.reachable = True
                return
            except Missing:
                self.reachable = True
                continue
            except FetchFailed as exc:
                self.reachable = False
                failure = failure or exc
                continue
            self.reachable = True
            files, skipped = parsed
            for reason in skipped[:20]:
                log.warning("upstream page %s: skipping a file: %s", fetched.url, reason)
            seen = dict(page.first_seen) if page else {}
            args = (fetched.url, fetched.etag, fetched.last_modified, time.time(), files, seen)
            self.held.install(CachedPage(name, origin.url, *args))
            return
        if failure is not None:
            raise failure
        remember(self._missing, name, self.ttl)
        if page is not None:  # gone upstream: so is our copy
            self.held.uninstall(page)
