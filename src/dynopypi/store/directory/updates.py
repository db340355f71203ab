"""Keeping the sources current one path at a time: watchdog events, uploads, removals.

Each call looks at one file (or one directory, through a scan of just that subtree), so
an event costs a stat and, for a new file, one read; a project still pending from a cold
start is completed first, so it is never published with part of its files.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import stat
from pathlib import Path

from dynopypi.dists.facts import Found, facts_of, is_ignored_name
from dynopypi.dists.names import DIST_SUFFIXES, DistFile
from dynopypi.store.directory.reconcile import Fresh, Reconciler
from dynopypi.store.directory.scan import is_text, within

log = logging.getLogger(__name__)


class PathUpdates:
    def __init__(self, reconciler: Reconciler) -> None:
        self.reconciler = reconciler
        reconciler.recheck = self.refresh

    def refresh(self, root: int, path: Path) -> None:
        """Bring one path up to date after a filesystem event (file or directory)."""
        r = self.reconciler
        relpath = os.path.relpath(path, r.index.roots[root]).replace(os.sep, "/")
        if relpath.startswith("../") or any(is_ignored_name(p) for p in relpath.split("/")):
            return
        if not is_text(relpath):
            r.warn_once(repr(str(path)), "its path is not valid UTF-8")
            return
        log.debug("file event: %s", relpath)
        try:
            st: os.stat_result | None = os.stat(path, follow_symlinks=False)
        except OSError:
            st = None
        if st is not None and stat.S_ISDIR(st.st_mode):
            r.sync(root, path)
            return
        if st is None or (not stat.S_ISREG(st.st_mode) and not stat.S_ISLNK(st.st_mode)):
            self.discard_tree(root, relpath)
            return
        if not path.name.lower().endswith(DIST_SUFFIXES):
            return
        if stat.S_ISLNK(st.st_mode):
            if not within(str(path), r.real[root]):
                r.warn_once(str(path), "symlink points outside the package directory")
                self.discard_tree(root, relpath)
                return
            try:
                st = os.stat(path)
            except OSError:
                return
        self.upsert(root, relpath, st)

    def upsert(
        self,
        root: int,
        relpath: str,
        st: os.stat_result | None = None,
        *,
        known: tuple[dict[str, str], bytes | None] | None = None,
    ) -> DistFile | None:
        """Index one file now; ``known`` (digests, metadata) spares re-reading an upload."""
        r = self.reconciler
        path = r.index.roots[root] / relpath
        if st is None:
            try:
                st = os.stat(path)
            except OSError:
                self.discard_tree(root, relpath)
                return None
        current = r.index.sources[root].by_path.get(relpath)
        if current is not None and (current.size, current.mtime_ns) == (st.st_size, st.st_mtime_ns):
            return current
        parsed = r.parse(relpath)
        if parsed is None:
            return None
        if r.completer.waiting(parsed.project):
            r.completer.complete(parsed.project)  # never publish a pending project in part
        found = Found(relpath, st, parsed, None)
        fresh: Fresh = []
        facts = None
        if known is not None:
            facts = facts_of(known[0], str(path), parsed.packagetype, known[1])
        else:
            cached = r.cache.get(r.keys[root], relpath)
            found = found._replace(entry=cached if r.describer.valid(cached, st) else None)
        entry = found.entry or r.entry(root, found, facts, fresh)
        if entry is None:
            return None
        r.cache.put_many(r.keys[root], fresh)
        with r.index.lock:  # the yank state read and published at once: a yank between
            dist = r.describer.dist(root, found, entry)  # them would be undone (reyank)
            r.index.change([dist])
        return dist

    def discard_tree(self, root: int, relpath: str) -> None:
        r = self.reconciler
        source = r.index.sources[root]
        # the common case is one file, found without a scan
        gone = [relpath] if relpath in source.by_path else source.under(relpath.rstrip("/") + "/")
        if gone:
            r.index.change(removed=gone, source=root)
            r.cache.forget(r.keys[root], gone)

    def reyank(self) -> None:
        """Re-read yank state for every file of the package directories (after a yank file
        changed); the sources past them (the upstream cache) keep upstream's yanks."""
        r = self.reconciler
        lookup = r.describer.yanked
        with r.index.lock:  # no file may change between the comparison and the swap
            changed = [
                dataclasses.replace(d, yanked=lookup(d.root, d.relpath))
                for source in r.index.sources[: len(r.index.roots)]
                for d in source.by_path.values()
                if lookup(d.root, d.relpath) != d.yanked
            ]
            r.index.change(changed)
