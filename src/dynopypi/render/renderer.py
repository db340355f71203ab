"""Every page, rendered once per change of what it shows and then served as bytes.

A project page is cached on its ``Project`` object, which a change replaces, so a stale
page cannot outlive its data. Pages over the whole index are keyed by a stamp of the
snapshot they were made from: ``/simple/`` by ``Snapshot.listing`` (it changes only when a
project comes, goes or is renamed), ``/packages/`` by ``Snapshot.generation`` (any file).

The web UI's pages (``ui``) are kept in ``UiPages``, a byte-bounded LRU keyed by what the
page shows and the index URL its install commands name, each entry valid while its stamp
(the project object, or the snapshot generation) is the current one. The search index is
built once per snapshot.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable

from dynopypi.core.model import Project, Rendered
from dynopypi.core.snapshot import Snapshot
from dynopypi.render.human import render_listing
from dynopypi.render.negotiate import JSON_V1, TEXT_HTML
from dynopypi.render.search import SearchIndex, SummaryCache
from dynopypi.render.simple import render_index, render_project

log = logging.getLogger(__name__)
HTML = "text/html; charset=utf-8"
SEARCH_REBUILD = 1.0  # seconds: the search index is built at most once per second
UI_BUDGET = 64 * 1024 * 1024  # bytes of web UI pages kept (gzipped mostly: ~5,000 pages)


def _cost(page: Rendered) -> int:
    return len(page.raw or b"") + len(page.gzipped or b"") + 200


class UiPages:
    """Rendered web UI pages, at most ``budget`` bytes, least recently used dropped first.

    A page is rendered once per change of its stamp (one render at a time: a burst of
    requests for a page whose description is slow to render waits for one render)."""

    def __init__(self, budget: int = UI_BUDGET) -> None:
        self.budget = budget
        self._pages: OrderedDict[Hashable, tuple[object, Rendered]] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()
        self._render_lock = threading.Lock()

    def get(
        self, key: Hashable, stamp: object, render: Callable[[], bytes | None]
    ) -> Rendered | None:
        page = self._cached(key, stamp)
        if page is not None:
            return page
        with self._render_lock:
            page = self._cached(key, stamp)
            if page is not None:
                return page
            body = render()
            if body is None:
                return None
            page = Rendered.of(body, HTML)
            if page.raw is None:  # keep both copies: inflating per request costs 30%
                page = Rendered(body, page.etag, page.content_type, page.gzipped)
            self._keep(key, stamp, page)
            return page

    def _cached(self, key: Hashable, stamp: object) -> Rendered | None:
        with self._lock:
            entry = self._pages.get(key)
            if entry is None or entry[0] != stamp:
                return None
            self._pages.move_to_end(key)
            return entry[1]

    def _keep(self, key: Hashable, stamp: object, page: Rendered) -> None:
        cost = _cost(page)
        if cost > self.budget // 8:
            return
        with self._lock:
            old = self._pages.pop(key, None)
            if old is not None:
                self._size -= _cost(old[1])
            self._pages[key] = (stamp, page)
            self._size += cost
            while self._size > self.budget:
                _key, (_stamp, evicted) = self._pages.popitem(last=False)
                self._size -= _cost(evicted)

    @property
    def size(self) -> int:
        return self._size


class Renderer:
    def __init__(self, hash_algo: str | None, ui_budget: int = UI_BUDGET) -> None:
        self.hash_algo = hash_algo
        self._pages: dict[str, tuple[int, Rendered]] = {}
        self._lock = threading.Lock()  # one render of a big page at a time
        self.ui = UiPages(ui_budget)
        self._search: tuple[int, SearchIndex, float] | None = None  # generation, index, built
        self._search_lock = threading.Lock()
        self._summaries: SummaryCache | None = None

    def project_page(self, project: Project, content_type: str) -> Rendered:
        return render_project(project, content_type, self.hash_algo)

    def index_page(self, snapshot: Snapshot, content_type: str) -> Rendered:
        return self._whole(
            content_type,
            snapshot.listing,
            lambda: render_index(snapshot.listed(), content_type),
        )

    def listing_page(self, snapshot: Snapshot) -> Rendered:
        return self._whole(
            "packages", snapshot.generation, lambda: render_listing(snapshot.sorted_projects())
        )

    def search_index(self, snapshot: Snapshot, summary_of: Callable[[Project], str]) -> SearchIndex:
        """The search index, built again after a change of the snapshot, at most once per
        ``SEARCH_REBUILD`` seconds and by one thread while the others use the previous one
        (a cold start or a burst of uploads changes the snapshot many times a second). A
        slightly old index is safe: the route shows each hit as the current snapshot has it
        (a project gone since is left out), and finds a new project a moment later."""
        cached = self._search
        if cached is not None and (
            cached[0] == snapshot.generation or time.monotonic() - cached[2] < SEARCH_REBUILD
        ):
            return cached[1]
        if not self._search_lock.acquire(blocking=cached is None):
            assert cached is not None
            return cached[1]  # being rebuilt: the previous one meanwhile
        try:
            cached = self._search
            if cached is not None and cached[0] == snapshot.generation:
                return cached[1]
            if self._summaries is None:
                self._summaries = SummaryCache(summary_of)
            index = SearchIndex(self._summaries.summaries(snapshot.projects.values()))
            self._search = (snapshot.generation, index, time.monotonic())
            return index
        finally:
            self._search_lock.release()

    def _whole(self, key: str, stamp: int, render: Callable[[], Rendered]) -> Rendered:
        cached = self._pages.get(key)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        with self._lock:
            cached = self._pages.get(key)
            if cached is not None and cached[0] == stamp:
                return cached[1]
            rendered = render()
            if cached is None or cached[0] < stamp:  # never replace a newer page
                self._pages[key] = (stamp, rendered)
            return rendered

    def warm(self, snapshot: Snapshot) -> None:
        """Render every project page ahead of the first request (HTML for browsers and old
        clients, PEP 691 JSON for pip and uv), so no client pays for a first render."""
        started = time.monotonic()
        for project in list(snapshot.projects.values()):
            for content_type in (TEXT_HTML, JSON_V1):
                self.project_page(project, content_type)
        log.info(
            "rendered %d project pages in %.2fs",
            len(snapshot.projects),
            time.monotonic() - started,
        )
