"""What the routes ask for: a project page, a file, core metadata, as served now or as of
an instant. One place that combines the local index, the upstream source (when
``--upstream`` is given) and the cooldown / "as of" views, so every route (simple API,
downloads, PyPI JSON) answers from the same data with the same filters.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from dynopypi.core.index import ProjectLookup
from dynopypi.core.model import Held, Project
from dynopypi.core.snapshot import Snapshot
from dynopypi.core.visibility import AsOf, Cooldown, UpstreamTimes, split, visible
from dynopypi.dists.names import DistFile, NormalizedName, is_valid_project_name, normalize
from dynopypi.errors import NotFound, Refused
from dynopypi.store.base import Reader
from dynopypi.upstream.download import Flight
from dynopypi.upstream.files import FileFetcher
from dynopypi.upstream.source import Lookup, Upstream
from dynopypi.upstream.store import PREFIX

R = TypeVar("R")
_VIEWS = 4096  # filtered projects kept (their pages are rendered once per change)


@dataclass(frozen=True)
class Delivery:
    """What a download sends: ``dist`` read by ``reader`` (``accel_dir``: the directory
    part of an X-Accel-Redirect target: a package directory's number, or the upstream
    cache's directory name, which one nginx location aliases for any key); or, for an
    upstream file not cached yet, the ``flight`` fetching it (``fd``: the reader's own
    descriptor of its temp file), or nothing yet (``uncached``: a HEAD)."""

    dist: DistFile
    reader: Reader
    accel_dir: str
    flight: Flight | None = None
    fd: int = -1
    uncached: bool = False


@dataclass
class UpstreamParts:
    source: Upstream
    files: FileFetcher
    reader: Reader  # cached files are on local disk, whatever stores the private packages


def _same(a: tuple[DistFile, ...], b: tuple[DistFile, ...]) -> bool:
    return len(a) == len(b) and all(x is y for x, y in zip(a, b, strict=True))


class Catalog:
    def __init__(
        self,
        lookup: ProjectLookup,
        reader: Reader,
        upstream: UpstreamParts | None = None,
        cooldown: Cooldown | None = None,
    ) -> None:
        self.lookup = lookup
        self.reader = reader
        self.upstream = upstream
        self.cooldown = cooldown or Cooldown()
        self._views: OrderedDict[NormalizedName, tuple[Project, Project]] = OrderedDict()
        self._lock = threading.Lock()

    def load_upstream(self) -> None:
        if self.upstream is not None:
            self.upstream.source.held.load()

    # ---- pages ------------------------------------------------------------------------
    def page(self, name: NormalizedName, as_of: AsOf | None = None) -> Lookup:
        """The project as a page shows it (None: not here), and whether it is stale."""
        local = self.lookup.project(name)
        found = self.upstream.source.lookup(name, local) if self.upstream else Lookup(local)
        shown = self.view(found.project, as_of)
        held = shown.held if shown is not None else ()
        return Lookup(shown if shown is None or shown.files else None, found.stale, held)

    def held(self, name: NormalizedName) -> tuple[tuple[str, int | None], ...]:
        """The versions of ``name`` whose files the cooldown holds back now (for the web
        UI's note: versions and when they are released, None when upstream gave no upload
        time; never the files), newest first: the page's own ``held``, by version."""
        if self.upstream is None or not self.cooldown.active:
            return ()
        versions: dict[str, int | None] = {}
        for held in sorted(self.page(name).held, key=lambda h: h.version, reverse=True):
            versions.setdefault(str(held.version), held.until_ns)
        return tuple(versions.items())

    def times_of(self, dist: DistFile) -> UpstreamTimes | None:
        return self.upstream.source.held.times_of(dist) if self.upstream else None

    def view(self, project: Project | None, as_of: AsOf | None) -> Project | None:
        if project is None or (as_of is None and not self.cooldown.active):
            return project
        files, held = split(project.files, self.times_of, self.cooldown, as_of)
        if len(files) == len(project.files):
            return project
        if not files and not held:
            return None  # (all held back: a page without files, for what it says of them)
        if as_of is not None:  # a moment's view: rendered for this request only
            return Project(project.name, project.display_name, files, held)
        with self._lock:  # the cooldown view: kept while it is the same
            cached = self._views.get(project.name)
            if cached is not None and cached[0] is project and _same(cached[1].files, files):
                self._views.move_to_end(project.name)
                return cached[1]
            derived = Project(project.name, project.display_name, files, held)
            self._views[project.name] = (project, derived)
            while len(self._views) > _VIEWS:
                self._views.popitem(last=False)
            return derived

    def listed(self, snapshot: Snapshot, as_of: AsOf) -> list[Project]:
        """/as-of/<instant>/simple/: the projects that had a file then."""
        return [
            p
            for p in snapshot.sorted_projects()
            if visible(p.files, self.times_of, self.cooldown, as_of)
        ]

    def listing(self, snapshot: Snapshot) -> list[Project] | None:
        """/packages/: the projects with the files served now, the cooldown applied (the
        listing must not hand out what the pages hold back). None when that is every file
        of ``snapshot``: its page is rendered once per snapshot, while what the cooldown
        hides changes with the clock, so a page that hides files is rendered per request."""
        if not self.cooldown.active:
            return None
        out, hidden = [], False
        for project in snapshot.sorted_projects():
            files = visible(project.files, self.times_of, self.cooldown)
            hidden |= len(files) < len(project.files)
            if files:
                out.append(Project(project.name, project.display_name, files))
        return out if hidden else None

    # ---- files ------------------------------------------------------------------------
    def file_at(self, path: str, as_of: AsOf | None = None) -> DistFile | None:
        dist = self.lookup.file_at(path)
        may_ask = self.upstream is not None and not path.endswith(".metadata")
        if dist is None and may_ask and path.startswith(PREFIX):
            name = path[len(PREFIX) :].split("/", 1)[0]
            if is_valid_project_name(name) and normalize(name) == name:
                self.page(normalize(name))  # e.g. the page expired from this process
                dist = self.lookup.file_at(path)
        if dist is None or (as_of is None and not self.cooldown.active):
            return dist
        return dist if visible((dist,), self.times_of, self.cooldown, as_of) else None

    def held_file(self, path: str) -> Held | None:
        """The upstream file at ``path`` if the cooldown holds it back now (for a 404 that
        says so, and until when)."""
        dist = self.lookup.file_at(path)
        times = self.times_of(dist) if dist is not None else None
        if dist is None or times is None or self.cooldown.allows(dist, times, time.time_ns()):
            return None
        return Held(dist.filename, dist.version, self.cooldown.until_ns(times))

    def is_upstream(self, dist: DistFile) -> bool:
        return self.upstream is not None and dist.root == self.upstream.source.source

    def serve(
        self,
        path: str,
        as_of: AsOf | None,
        send: Callable[[Delivery], R],
        *,
        head: bool = False,
        ranged: bool = False,
    ) -> R | None:
        """A download (None: no such file here): what to send, handed to ``send``.

        A local file goes straight to ``send``. An upstream file not cached yet is fetched
        and read along (``Delivery.flight``); a HEAD does not fetch it, and a Range request
        waits for the whole verified file (or 503): a range of bytes never verified is
        never sent. A cached upstream file that ``send`` finds gone from disk (purged by
        another process since) is fetched again, once.
        """
        for attempt in (1, 2):
            dist = self.file_at(path, as_of)
            if dist is None:
                return None
            if self.upstream is None or not self.is_upstream(dist):
                return send(Delivery(dist, self.reader, str(dist.root)))
            files = self.upstream.files
            if not files.held.cached(dist):
                if head:
                    return send(Delivery(dist, self.upstream.reader, "", uncached=True))
                fetching = self._fetching(dist, ranged)
                if fetching is not None:
                    return send(fetching)
                dist = self.file_at(path, as_of) or dist  # as stored: real size, digests
            files.held.touch(dist)
            try:
                return send(Delivery(dist, self.upstream.reader, files.store.base.name))
            except NotFound:  # seen on disk less than a second ago, gone now
                if attempt == 2:
                    raise NotFound(
                        f"file {path!r} keeps disappearing from the upstream cache"
                    ) from None
                files.held.forget(dist)
        raise AssertionError("unreachable")

    def _fetching(self, dist: DistFile, ranged: bool) -> Delivery | None:
        """An upstream file being fetched, to read along (None: it is cached now). Raises
        502/504 for a failed fetch, 503 while it is slow to start (or, for a Range
        request, until the whole file is in and verified)."""
        assert self.upstream is not None
        files = self.upstream.files
        if ranged:
            files.settle(dist)
            return None
        flight = files.follow(dist)
        fd = flight.dup() if flight is not None else None
        if flight is None or fd is None or flight.size is None:
            return None  # cached meanwhile
        return Delivery(dist, self.upstream.reader, "", flight=flight, fd=fd)

    def metadata(self, dist: DistFile) -> bytes | None:
        if self.is_upstream(dist):
            assert self.upstream is not None
            return self.upstream.files.metadata(dist)
        return self.reader.metadata(dist)

    def quiet_metadata(self, dist: DistFile) -> bytes | None:
        """For documents that can do without it (PyPI JSON): upstream failures are None."""
        try:
            return self.metadata(dist)
        except Refused:
            return None

    # ---- operators --------------------------------------------------------------------
    def state(self) -> dict[str, Any] | None:
        """What /ready reports about upstream (never a reason to be not ready)."""
        if self.upstream is None:
            return None
        source, files = self.upstream.source, self.upstream.files
        return {
            "urls": [o.url for o in source.origins],
            "reachable": source.reachable,
            "cached_projects": len(source.held.pages),
            "cache_bytes": files.held.cache_bytes,
            "cache_max": files.cache_max,
        }
