"""Every page, rendered once per change of what it shows and then served as bytes.

A project page is cached on its ``Project`` object, which a change replaces, so a stale
page cannot outlive its data. Pages over the whole index are keyed by a stamp of the
snapshot they were made from: ``/simple/`` by ``Snapshot.listing`` (it changes only when a
project comes, goes or is renamed), ``/packages/`` by ``Snapshot.generation`` (any file).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from dynopypi.core.model import Project, Rendered
from dynopypi.core.snapshot import Snapshot
from dynopypi.render.human import render_listing
from dynopypi.render.negotiate import JSON_V1, TEXT_HTML
from dynopypi.render.simple import render_index, render_project

log = logging.getLogger(__name__)


class Renderer:
    def __init__(self, hash_algo: str | None) -> None:
        self.hash_algo = hash_algo
        self._pages: dict[str, tuple[int, Rendered]] = {}
        self._lock = threading.Lock()  # one render of a big page at a time

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
