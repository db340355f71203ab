"""Keeping the package-directory sources equal to the disk.

The reconciler is the only code that reads the package directories to decide what is
served: the warm start from the digest cache, the full scan (at start, periodically, and
when a directory appears), single-path refreshes from watchdog events, and uploads that
have just been linked into place. It does the slow part (stat, hashing, metadata) outside
the index lock and hands finished ``DistFile`` batches to ``Index.change``.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path

from .cache import CacheEntry, DigestCache
from .describe import Describer
from .dists import DIST_SUFFIXES, DistFile, ParsedName, parse_filename
from .errors import InvalidFilename
from .index import Index
from .scan import (
    Facts,
    Found,
    facts_of,
    is_ignored_name,
    is_text,
    read_facts,
    read_misses,
    walk,
    within,
)

log = logging.getLogger(__name__)
Fresh = list[tuple[str, CacheEntry, "bytes | None"]]  # rows for the digest cache


class Reconciler:
    def __init__(self, index: Index, cache: DigestCache, describer: Describer) -> None:
        self.index = index
        self.cache = cache
        self.describer = describer
        self._keys = tuple(str(r) for r in index.roots)
        self._real = tuple(os.path.realpath(r) for r in index.roots)
        self._warned: set[str] = set()

    def _warn_once(self, what: str, why: str) -> None:
        if what not in self._warned and len(self._warned) < 100_000:
            self._warned.add(what)
            log.warning("ignoring %s: %s", what, why)

    def _walk(self, root: int, top: Path) -> Iterator[tuple[str, os.stat_result]]:
        return walk(self.index.roots[root], top, self._real[root], self._warn_once)

    def relpaths(self, root: int) -> list[str]:
        """Every candidate file below a root, read from disk (for the CLI; no hashing)."""
        return [relpath for relpath, _st in self._walk(root, self.index.roots[root])]

    def _parse(self, relpath: str) -> ParsedName | None:
        try:
            return parse_filename(relpath.rsplit("/", 1)[-1])
        except InvalidFilename as exc:
            self._warn_once(relpath, str(exc))
            return None

    # ---- warm start ------------------------------------------------------------------
    def load_cached(self) -> int:
        """Fill the index from the cache, keeping only files still on disk unchanged.

        One stat per file (0.1 s for 60,000) instead of a full scan, so a warm start
        answers within a second whatever the corpus size, and never lists a file that was
        removed or rewritten while the server was down. ``sync`` runs next (in the
        background) and adds what appeared meanwhile, as it would a dropped file.
        Returns how many files were loaded (0 with a cold cache: then sync first).
        """
        total = 0
        describer = self.describer
        for root, key in enumerate(self._keys):
            base = key + os.sep  # plain strings: Path joins cost 5 us each
            added: list[DistFile] = []
            for relpath, entry in self.cache.load(key).items():
                try:
                    st = os.lstat(base + relpath)
                except OSError:
                    continue  # removed while we were down
                if not stat.S_ISREG(st.st_mode) or not describer.valid(entry, st):
                    continue  # changed, or a link: sync will look at it properly
                found = Found(relpath, st, describer.parsed_from(entry), entry)
                added.append(describer.dist(root, found, entry))
            self.index.change(root, added)
            total += len(added)
        if total:
            self.index.loaded = True
            log.info("serving %d cached files while checking the directories", total)
        return total

    # ---- full scans ------------------------------------------------------------------
    def sync(self, root: int | None = None, top: Path | None = None) -> int:
        """Make the sources match the disk under ``top`` (default: every root); returns
        how many files changed. Used at start-up, by the periodic re-check and when a
        directory appears or moves."""
        started = time.monotonic()
        roots = range(len(self._keys)) if root is None else (root,)
        changed = sum(
            self._sync_tree(r, self.index.roots[r] if top is None else top) for r in roots
        )
        if root is None and top is None and not self.index.verified.is_set():
            self.index.loaded = True
            self.index.verified.set()
            snapshot = self.index.snapshot
            log.info(
                "indexed %d files of %d projects in %.2fs",
                snapshot.file_count,
                len(snapshot.projects),
                time.monotonic() - started,
            )
        return changed

    def _sync_tree(self, root: int, top: Path) -> int:
        base = self.index.roots[root]
        prefix = os.path.relpath(top, base).replace(os.sep, "/")
        prefix = "" if prefix == "." else prefix + "/"
        seen, pending = self._changed_files(root, top, prefix)
        found = self._describe_all(root, pending)
        unseen = [rel for rel in self.index.sources[root].under(prefix) if rel not in seen]
        # a file uploaded while the walk ran was indexed meanwhile but not seen: only
        # what is really gone from disk is dropped; the rest is looked at again
        gone = [rel for rel in unseen if not os.path.lexists(base / rel)]
        # ... and a file deleted since the walk saw it is not brought back
        found = [d for d in found if os.path.lexists(base / d.relpath)]
        self.index.change(root, found, gone)
        self.cache.forget(self._keys[root], gone)
        for rel in set(unseen) - set(gone):
            self.refresh(root, base / rel)  # e.g. now a link out of the root
        return len(found) + len(gone)

    def _changed_files(self, root: int, top: Path, prefix: str) -> tuple[set[str], list[Found]]:
        """What the walk finds that the source does not already hold unchanged."""
        current = self.index.sources[root].by_path
        key = self._keys[root]
        # a first scan reads the whole cache at once; later ones only what changed
        cached = self.cache.load(key, prefix) if not current else None
        seen: set[str] = set()
        pending: list[Found] = []
        for relpath, st in self._walk(root, top):
            seen.add(relpath)
            known = current.get(relpath)
            if known is not None and (known.size, known.mtime_ns) == (st.st_size, st.st_mtime_ns):
                continue
            entry = cached.get(relpath) if cached is not None else self.cache.get(key, relpath)
            if not self.describer.valid(entry, st):
                entry = None  # a miss: the file is read later
            parsed = self._parse(relpath) if entry is None else self.describer.parsed_from(entry)
            if parsed is not None:
                pending.append(Found(relpath, st, parsed, entry))
        return seen, pending

    def _describe_all(self, root: int, pending: list[Found]) -> list[DistFile]:
        """DistFiles for the found files, reading the misses (on every core when many)."""
        misses = [f for f in pending if f.entry is None]
        computed = read_misses(self.index.roots[root], misses, self.describer.hash_algo)
        fresh: Fresh = []
        out: list[DistFile] = []
        for found in pending:
            entry = found.entry
            if entry is None:
                entry = self._entry(root, found, next(computed) if computed else None, fresh)
                if entry is None:
                    continue
            out.append(self.describer.dist(root, found, entry))
            if len(fresh) >= 1000:  # write as we go: metadata bytes need not pile up
                self.cache.put_many(self._keys[root], fresh)
                fresh.clear()
        self.cache.put_many(self._keys[root], fresh)
        return out

    def _entry(
        self, root: int, found: Found, facts: Facts | None, fresh: Fresh
    ) -> CacheEntry | None:
        """The cache entry for a miss, from ``facts`` (read here when not given)."""
        path = self.index.roots[root] / found.relpath
        if facts is None:
            facts = read_facts(str(path), found.parsed.packagetype, self.describer.hash_algo)
        if facts.digests is None:
            log.warning("cannot read %s: %s", path, facts.problem)
            return None
        if facts.problem and found.parsed.packagetype == "bdist_wheel":
            self._warn_once(found.relpath, f"{facts.problem} (served without metadata)")
        entry = self.describer.entry(found.st, facts, found.parsed)
        fresh.append((found.relpath, entry, facts.metadata))
        return entry

    # ---- single paths ----------------------------------------------------------------
    def refresh(self, root: int, path: Path) -> None:
        """Bring one path up to date after a filesystem event (file or directory)."""
        relpath = os.path.relpath(path, self.index.roots[root]).replace(os.sep, "/")
        if relpath.startswith("../") or any(is_ignored_name(p) for p in relpath.split("/")):
            return
        if not is_text(relpath):
            self._warn_once(repr(str(path)), "its path is not valid UTF-8")
            return
        try:
            st: os.stat_result | None = os.stat(path, follow_symlinks=False)
        except OSError:
            st = None
        if st is not None and stat.S_ISDIR(st.st_mode):
            self.sync(root, path)
            return
        if st is None or (not stat.S_ISREG(st.st_mode) and not stat.S_ISLNK(st.st_mode)):
            self.discard_tree(root, relpath)
            return
        if not path.name.lower().endswith(DIST_SUFFIXES):
            return
        if stat.S_ISLNK(st.st_mode):
            if not within(str(path), self._real[root]):
                self._warn_once(str(path), "symlink points outside the package directory")
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
        path = self.index.roots[root] / relpath
        if st is None:
            try:
                st = os.stat(path)
            except OSError:
                self.discard_tree(root, relpath)
                return None
        current = self.index.sources[root].by_path.get(relpath)
        if current is not None and (current.size, current.mtime_ns) == (st.st_size, st.st_mtime_ns):
            return current
        parsed = self._parse(relpath)
        if parsed is None:
            return None
        found = Found(relpath, st, parsed, None)
        fresh: Fresh = []
        facts = None
        if known is not None:
            facts = facts_of(known[0], str(path), parsed.packagetype, known[1])
        else:
            cached = self.cache.get(self._keys[root], relpath)
            found = found._replace(entry=cached if self.describer.valid(cached, st) else None)
        entry = found.entry or self._entry(root, found, facts, fresh)
        if entry is None:
            return None
        self.cache.put_many(self._keys[root], fresh)
        dist = self.describer.dist(root, found, entry)
        self.index.change(root, [dist])
        return dist

    def discard_tree(self, root: int, relpath: str) -> None:
        source = self.index.sources[root]
        # the common case is one file, found without a scan
        gone = [relpath] if relpath in source.by_path else source.under(relpath.rstrip("/") + "/")
        if gone:
            self.index.change(root, removed=gone)
            self.cache.forget(self._keys[root], gone)

    def reyank(self) -> None:
        """Re-read yank state for every file (after a yank file changed)."""
        lookup = self.describer.yanked
        with self.index.lock:
            for root, source in enumerate(self.index.sources):
                changed = [
                    dataclasses.replace(d, yanked=lookup(root, d.relpath))
                    for d in source.by_path.values()
                    if lookup(root, d.relpath) != d.yanked
                ]
                if changed:
                    self.index.change(root, changed)
