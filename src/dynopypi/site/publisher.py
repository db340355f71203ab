"""Keeping the published trees equal to the snapshot.

Called by the index after every change, under its writers' lock and before the change's
writer returns: an upload's pages and file are on disk for nginx before its response is
sent, and a file the index drops (removed, replaced, found hidden) is unlinked from the
tree in the same moment. Only what nginx can send exactly as the app would is published:

- pages when they depend on the snapshot alone (no upstream, whose pages are fetched on
  demand; no cooldown, whose pages change with the clock);
- package files when they are in a package directory (not a bucket, not the upstream
  cache) and no cooldown holds some back; a link out of the package directory is not
  published (the app refuses it too).

Each goes to the ``open`` tree when anyone may ``list`` (pages) or ``download`` (files),
else to ``closed``, which nginx sends only after the app's (cached) check of the account.

A project still being read on a cold start has no page here (nginx asks the app, which
reads it first), so a page in the tree is always a complete project's.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from dynopypi.core.index import Index
from dynopypi.core.model import Project, Rendered
from dynopypi.core.snapshot import Snapshot
from dynopypi.dists.names import DistFile, NormalizedName
from dynopypi.render.negotiate import JSON_V1, TEXT_HTML
from dynopypi.render.renderer import Renderer
from dynopypi.site.tree import SiteTree

log = logging.getLogger(__name__)

# the published page per format: nginx's Accept map picks the file name
FORMATS = ((TEXT_HTML, "index.html"), (JSON_V1, "index.json"))


@dataclass(frozen=True)
class Scope:
    """Where pages and files are published (``tree.OPEN``, ``tree.CLOSED``; None: not at
    all), see the module docstring."""

    pages: str | None
    files: str | None
    local_sources: int  # files of sources numbered below this are package directories


class Publisher:
    def __init__(
        self,
        tree: SiteTree,
        renderer: Renderer,
        scope: Scope,
        path_of: Callable[[DistFile], Path],
        roots: Iterable[Path],
    ) -> None:
        self.tree = tree
        self.renderer = renderer
        self.scope = scope
        self.path_of = path_of
        self._real_roots = tuple(os.path.realpath(r) for r in roots)
        self._listing = -1
        self._broken = False

    def attach(self, index: Index) -> None:
        """Start from an empty tree, publish what ``index`` serves now, then every change."""
        with index.lock:
            self.tree.reset()
            self._listing = -1
            index.observers.append(self.changed)
            self.changed(Snapshot(), index.snapshot, set(index.snapshot.projects))

    def changed(self, before: Snapshot, after: Snapshot, touched: set[NormalizedName]) -> None:
        """Publish a change. If that fails (a full disk), the tree could go stale, which is
        worse than slow: it is emptied and left alone, and the app answers everything."""
        if self._broken:
            return
        try:
            self._publish(before, after, touched)
        except (OSError, ValueError) as exc:
            self._broken = True
            log.error("pages: cannot publish (%s); nginx now asks the app for everything", exc)
            try:
                self.tree.reset()
            except OSError:
                log.exception("pages: cannot empty %s: remove it by hand", self.tree.root)

    def _publish(self, before: Snapshot, after: Snapshot, touched: set[NormalizedName]) -> None:
        started = time.monotonic()
        for name in touched:
            old, new = before.projects.get(name), after.projects.get(name)
            if self.scope.files:
                self._files(old, new)
            if self.scope.pages:
                self._pages(name, new)
        if self.scope.pages and after.listing != self._listing:
            for content_type, filename in FORMATS:
                page = self.renderer.index_page(after, content_type)
                self._write(f"{self.scope.pages}/simple/{filename}", page)
            self._listing = after.listing
        took = time.monotonic() - started
        if took > 2:
            log.info("pages: published %d projects in %.1fs", len(touched), took)

    # ---- pages -----------------------------------------------------------------------
    def _pages(self, name: NormalizedName, project: Project | None) -> None:
        for content_type, filename in FORMATS:
            relpath = f"{self.scope.pages}/simple/{name}/{filename}"
            if project is None:
                self.tree.remove(relpath + ".gz")
                self.tree.remove(relpath)
            else:
                self._write(relpath, self.renderer.project_page(project, content_type))
        if project is None:
            self.tree.prune(f"{self.scope.pages}/simple/{name}")

    def _write(self, relpath: str, page: Rendered) -> None:
        """The gzip copy first, then the plain page: a client that takes gzip never gets
        an older page than one that does not; a page too small for a gzip copy loses it."""
        if page.gzipped is not None:
            self.tree.write(relpath + ".gz", page.gzipped)
        else:
            self.tree.remove(relpath + ".gz")
        self.tree.write(relpath, page.body)

    # ---- files -----------------------------------------------------------------------
    def _files(self, old: Project | None, new: Project | None) -> None:
        kept = {id(d) for d in new.files} if new is not None else set()
        wanted = {d.relpath for d in new.files} if new is not None else set()
        for dist in old.files if old is not None else ():
            if id(dist) not in kept and dist.relpath not in wanted:
                self.tree.remove(f"{self.scope.files}/packages/{dist.relpath}")
                self.tree.prune(f"{self.scope.files}/packages/{dist.relpath}".rpartition("/")[0])
        before = {id(d) for d in old.files} if old is not None else set()
        for dist in new.files if new is not None else ():
            if id(dist) not in before:
                self._link(dist)

    def _link(self, dist: DistFile) -> None:
        relpath = f"{self.scope.files}/packages/{dist.relpath}"
        real = self._real(dist)
        if real is None:
            self.tree.remove(relpath)
        else:
            self.tree.link(relpath, real)

    def _real(self, dist: DistFile) -> Path | None:
        """The file with every link resolved, if it is a regular file inside its package
        directory (as the app's reader decides); None otherwise."""
        if dist.root >= self.scope.local_sources:
            return None
        root = self._real_roots[dist.root]
        real = os.path.realpath(self.path_of(dist))
        if not real.startswith(root + os.sep) or not os.path.isfile(real):
            return None
        return Path(real)
