"""What one project publishes in the trees: its pages, a link per file and each wheel's
core metadata (PEP 658 ``<file>.metadata``, which pip fetches before the wheel), kept as
the project is now; and ``/simple/`` itself.

``published`` remembers, per project, the files last linked (the project's own tuple, no
copy), so a later change removes exactly the links of files the index no longer serves,
whichever snapshot the change is published from. Not thread-safe: the ``Publisher``
serializes every call.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path

from dynopypi.core.model import Project, Rendered
from dynopypi.core.snapshot import Snapshot
from dynopypi.dists.names import DistFile, NormalizedName
from dynopypi.render.negotiate import JSON_V1, TEXT_HTML
from dynopypi.render.renderer import Renderer
from dynopypi.site.tree import SiteTree

# the published page per format: nginx's Accept map picks the file name
FORMATS = ((TEXT_HTML, "index.html"), (JSON_V1, "index.json"))


class Entries:
    def __init__(
        self,
        tree: SiteTree,
        renderer: Renderer,
        where: tuple[str | None, str | None, int],
        path_of: Callable[[DistFile], Path],
        roots: Iterable[Path],
        metadata: Callable[[DistFile], bytes | None] = lambda dist: None,
    ) -> None:
        """``where``: the tree of pages and of files (None: not published) and how many
        sources are package directories (files of the others are never linked);
        ``metadata``: a file's core metadata as the app serves it (None: the app's)."""
        self.tree = tree
        self.renderer = renderer
        self.pages, self.files, self.local_sources = where
        self.path_of = path_of
        self.metadata = metadata
        self._real_roots = tuple(os.path.realpath(r) for r in roots)
        self.published: dict[NormalizedName, tuple[DistFile, ...]] = {}
        self.listing = -1

    def reset(self) -> None:
        self.tree.reset()
        self.published.clear()
        self.listing = -1

    def publish(self, name: NormalizedName, project: Project | None) -> None:
        """The project's pages and links as ``project`` is (None: gone)."""
        self.withdraw(name, project)
        if project is None:
            return
        if self.files:
            before = {id(d) for d in self.published.get(name, ())}
            for dist in project.files:
                if id(dist) not in before:
                    self._link(dist)
        if self.pages:
            for content_type, filename in FORMATS:
                page = self.renderer.project_page(project, content_type)
                self._write(f"{self.pages}/simple/{name}/{filename}", page)
        self.published[name] = project.files

    def withdraw(self, name: NormalizedName, project: Project | None) -> bool:
        """Remove at once what ``project`` (None: gone) no longer serves as published: the
        links of files it dropped or changed and, if there are any, its pages, until
        ``publish`` writes them again (nginx asks the app meanwhile, which answers from
        the snapshot). True if anything was published for it."""
        old = self.published.get(name)
        if old is None:
            return False
        kept = {id(d) for d in project.files} if project is not None else set()
        dropped = [d for d in old if id(d) not in kept]
        for dist in dropped if self.files else ():
            self.tree.remove(f"{self.files}/packages/{dist.relpath}.metadata")
            self.tree.remove(f"{self.files}/packages/{dist.relpath}")
        if dropped and self.pages:
            for _content_type, filename in FORMATS:
                self.tree.remove(f"{self.pages}/simple/{name}/{filename}.gz")
                self.tree.remove(f"{self.pages}/simple/{name}/{filename}")
            self.tree.prune(f"{self.pages}/simple/{name}")
        if project is None:
            del self.published[name]
        elif dropped:
            self.published[name] = tuple(d for d in old if id(d) in kept)
        return True

    def index_pages(self, snapshot: Snapshot) -> None:
        """``/simple/`` in every format, when the set of projects changed."""
        if self.pages and snapshot.listing != self.listing:
            for content_type, filename in FORMATS:
                page = self.renderer.index_page(snapshot, content_type)
                self._write(f"{self.pages}/simple/{filename}", page)
            self.listing = snapshot.listing

    def withdraw_index(self, snapshot: Snapshot) -> None:
        """No ``/simple/`` in the trees while it is older than ``snapshot``'s."""
        if self.pages and snapshot.listing != self.listing:
            for _content_type, filename in FORMATS:
                self.tree.remove(f"{self.pages}/simple/{filename}.gz")
                self.tree.remove(f"{self.pages}/simple/{filename}")

    def _write(self, relpath: str, page: Rendered) -> None:
        """The gzip copy first, then the plain page: a client that takes gzip never gets
        an older page than one that does not; a page too small for a gzip copy loses it."""
        if page.gzipped is not None:
            self.tree.write(relpath + ".gz", page.gzipped)
        else:
            self.tree.remove(relpath + ".gz")
        self.tree.write(relpath, page.body)

    def _link(self, dist: DistFile) -> None:
        relpath = f"{self.files}/packages/{dist.relpath}"
        real = self._real(dist)
        if real is None:
            self.tree.remove(relpath)
            return
        if dist.metadata_sha256 and (raw := self.metadata(dist)) is not None:
            self.tree.write(f"{relpath}.metadata", raw)
        self.tree.link(relpath, real)

    def _real(self, dist: DistFile) -> Path | None:
        """The file with every link resolved, if it is a regular file inside its package
        directory (as the app's reader decides); None otherwise."""
        if dist.root >= self.local_sources:
            return None
        root = self._real_roots[dist.root]
        real = os.path.realpath(self.path_of(dist))
        if not real.startswith(root + os.sep) or not os.path.isfile(real):
            return None
        return Path(real)
