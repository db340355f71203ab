"""Keeping the published trees equal to the snapshot.

Called by the index after every change, under its writers' lock, before the change's
writer returns. What a change removes is removed then, whatever its size: a file the index
drops (removed, replaced, found hidden) is unlinked in the same moment, and a project that
lost files loses its pages until they are written again. What a small change adds (an
upload, a dropped file: a few projects) is written then too, so an upload's pages and file
are on disk for nginx before its response is sent. A big change's additions (a start from
the cache, a batch of a cold start) are written behind by one thread, from the snapshot
current when each project's turn comes: nginx asks the app for them meanwhile.

Only what nginx can send exactly as the app would is published:

- pages when they depend on the snapshot alone (no upstream, whose pages are fetched on
  demand; no cooldown, whose pages change with the clock);
- package files when they are in a package directory (not a bucket, not the upstream
  cache) and no cooldown holds some back; a link out of the package directory is not
  published (the app refuses it too).

Each goes to the ``open`` tree when anyone may ``list`` (pages) or ``download`` (files),
else to ``closed``, which nginx sends only after the app's (cached) check of the account.
A project still being read on a cold start is not in the snapshot's projects, so it has no
page here (nginx asks the app, which reads it first): a page here is a whole project's.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from dynopypi.auth.identity import DOWNLOAD, LIST
from dynopypi.core.index import Index
from dynopypi.core.snapshot import Snapshot
from dynopypi.dists.names import NormalizedName
from dynopypi.ops.memory import hand_back
from dynopypi.render.renderer import Renderer
from dynopypi.site.entries import Entries
from dynopypi.site.tree import SiteTree, tree_for
from dynopypi.store.base import Reader

log = logging.getLogger(__name__)

AT_ONCE = 16  # projects a change may add in its writer's thread (an upload adds one)
BATCH = 16  # projects written behind per turn of the lock (what a writer may wait for)


class Publisher:
    def __init__(self, entries: Entries) -> None:
        self.entries = entries
        self.index: Index | None = None
        self._lock = threading.Lock()  # one writer of the trees at a time
        self._behind: set[NormalizedName] = set()
        self._wake = threading.Condition(threading.Lock())
        self._stopping = False
        self._broken = False
        self._thread: threading.Thread | None = None

    def attach(self, index: Index) -> None:
        """Start from empty trees, then publish what ``index`` serves and every change."""
        with index.lock:
            self.index = index
            with self._lock:
                self.entries.reset()
            index.observers.append(self.changed)
            self.changed(Snapshot(), index.snapshot, set(index.snapshot.projects))
        self._thread = threading.Thread(target=self._run, name="dynopypi-pages", daemon=True)
        self._thread.start()
        where = self.entries
        log.info("pages: publishing in %s (pages: %s, files: %s)", where.tree.root,
                 where.pages or "none", where.files or "none")  # fmt: skip

    def behind(self) -> int:
        """Projects whose pages and links are still to be written (nginx asks the app)."""
        with self._wake:
            return len(self._behind)

    @property
    def broken(self) -> bool:
        """Publishing stopped after a failure: nginx asks the app for everything."""
        return self._broken

    def stop(self) -> None:
        with self._wake:
            self._stopping = True
            self._wake.notify()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def changed(self, before: Snapshot, after: Snapshot, touched: set[NormalizedName]) -> None:
        """Publish a change (see the module docstring)."""
        at_once = len(touched) <= AT_ONCE
        later: set[NormalizedName] = set()

        def work() -> None:
            for name in touched:
                project = after.projects.get(name)
                self.entries.withdraw(name, project)
                if at_once:
                    self.entries.publish(name, project)
                elif project is not None:
                    later.add(name)
            if at_once or not later:
                self.entries.index_pages(after)
            else:  # until written behind: the app's (never a list older than the pages)
                self.entries.withdraw_index(after)

        self._locked(work)
        if later:
            with self._wake:
                self._behind |= later
                self._wake.notify()

    def _run(self) -> None:
        """Write what big changes added, a few projects per turn of the lock."""
        started, done = 0.0, 0
        while True:
            with self._wake:
                while not self._behind and not self._stopping:
                    self._wake.wait()
                if self._stopping:
                    return
                started = started or time.monotonic()
            written: list[int] = []
            self._locked(functools.partial(self._publish_behind, BATCH, written))
            done += sum(written)
            with self._wake:
                drained = not self._behind and done
            if drained:  # the backlog is written: say how long it took, free its garbage
                took = time.monotonic() - started
                log.info("pages: %d projects published behind in %.1fs", done, took)
                started, done = 0.0, 0
                hand_back()

    def flush(self) -> None:
        """Write what is behind now, in the caller's thread (tests)."""
        self._locked(functools.partial(self._publish_behind, None, []))

    def _publish_behind(self, limit: int | None, written: list[int]) -> None:
        """Under the trees' lock: take up to ``limit`` projects from behind (so a batch
        taken is always written before anyone else takes the lock) and write them."""
        with self._wake:
            count = len(self._behind) if limit is None else min(limit, len(self._behind))
            names = [self._behind.pop() for _ in range(count)]
        assert self.index is not None
        snapshot = self.index.snapshot  # the newest: a later change is never undone
        for name in names:
            self.entries.publish(name, snapshot.projects.get(name))
        self.entries.index_pages(snapshot)
        written.append(len(names))

    def _locked(self, work: Callable[[], None]) -> None:
        """``work`` under the trees' lock. A failure (a full disk) empties the trees,
        because stale trees are worse than slow ones, and publishing stops: the app
        answers everything from then on."""
        with self._lock:
            if self._broken:
                return
            try:
                work()
            except (OSError, ValueError) as exc:
                self._broken = True
                log.error("pages: cannot publish (%s); nginx now asks the app for all", exc)
            except Exception:  # a bug here must not fail the change (an upload) itself
                self._broken = True
                log.exception("pages: publishing failed; nginx now asks the app for all")
            if self._broken:
                try:
                    self.entries.reset()
                except OSError:
                    log.exception("pages: cannot empty %s", self.entries.tree.root)


def publisher_for(
    root: Path, index: Index, renderer: Renderer, reader: Reader,
    needs_account: Callable[[str], bool], *, pages: bool, files: bool,
) -> Publisher:  # fmt: skip
    """A publisher into ``root`` of ``index``'s pages (if ``pages``) and package files (if
    ``files``), each in the tree for anyone or for accounts by what a client without
    credentials may do (``needs_account``); core metadata read by ``reader``."""
    trees = (
        tree_for(needs_account(LIST)) if pages else None,
        tree_for(needs_account(DOWNLOAD)) if files else None,
        len(index.roots),
    )
    entries = Entries(SiteTree(root), renderer, trees, index.path_of, index.roots, reader.metadata)
    return Publisher(entries)
