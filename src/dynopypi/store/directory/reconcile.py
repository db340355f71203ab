"""Keeping the package-directory sources equal to the disk.

The reconciler is the only code that reads the package directories to decide what is
served: the warm start from the digest cache, the full scan (at start, periodically, and
when a directory appears), single-path refreshes from watchdog events, and uploads that
have just been linked into place. It does the slow part (stat, hashing, metadata) outside
the index lock and hands finished ``DistFile`` batches to ``Index.change``.
"""

from __future__ import annotations

import logging
import os
import stat
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from dynopypi.core.describe import Describer
from dynopypi.core.index import Index
from dynopypi.core.model import Project
from dynopypi.dists.facts import CacheEntry, Facts, Found, SizeAndTime, read_facts
from dynopypi.dists.names import DistFile, NormalizedName, ParsedName, parse_filename
from dynopypi.errors import InvalidFilename
from dynopypi.store.directory.cold_start import Completer, group
from dynopypi.store.directory.digest_cache import DigestCache
from dynopypi.store.directory.scan import PARALLEL_THRESHOLD, read_misses, walk

log = logging.getLogger(__name__)
Fresh = list[tuple[str, CacheEntry, "bytes | None"]]  # rows for the digest cache


class Reconciler:
    def __init__(self, index: Index, cache: DigestCache, describer: Describer) -> None:
        self.index = index
        self.cache = cache
        self.describer = describer
        self.keys = tuple(str(r) for r in index.roots)
        self.real = tuple(os.path.realpath(r) for r in index.roots)
        self._warned: set[str] = set()
        # set by PathUpdates: a file a scan did not see but that exists is looked at alone
        self.recheck: Callable[[int, Path], None] = lambda root, path: None
        self.completer = Completer(self._publish, self.entry, describer.dist)

    # ---- readers that complete a pending project on demand ----------------------------
    def project(self, name: NormalizedName) -> Project | None:
        """The project as served; one still being read (cold start) is read now."""
        snapshot = self.index.snapshot
        found = snapshot.project(name)
        if found is None and name in snapshot.pending:
            self.completer.complete(name)
            found = self.index.snapshot.project(name)
        return found

    def file_at(self, url_path: str) -> DistFile | None:
        snapshot = self.index.snapshot
        found = snapshot.file_at(url_path)
        if found is None and snapshot.pending:
            try:  # a stranger's URL, not a file on disk: nothing to warn about or log
                parsed = parse_filename(url_path.rsplit("/", 1)[-1])
            except InvalidFilename:
                return None
            if self.project(parsed.project) is not None:
                found = self.index.snapshot.file_at(url_path)
        return found

    def warn_once(self, what: str, why: str) -> None:
        if what not in self._warned and len(self._warned) < 100_000:
            self._warned.add(what)
            log.warning("ignoring %s: %s", what, why)

    def _walk(self, root: int, top: Path) -> Iterator[tuple[str, SizeAndTime]]:
        return walk(self.index.roots[root], top, self.real[root], self.warn_once)

    def relpaths(self, root: int) -> list[str]:
        """Every candidate file below a root, read from disk (for the CLI; no hashing)."""
        return [relpath for relpath, _st in self._walk(root, self.index.roots[root])]

    def parse(self, relpath: str) -> ParsedName | None:
        try:
            return parse_filename(relpath.rsplit("/", 1)[-1])
        except InvalidFilename as exc:
            self.warn_once(relpath, str(exc))
            return None

    # ---- warm start ------------------------------------------------------------------
    def load_cached(self) -> int:
        """Fill the index from the cache, keeping only files still on disk unchanged.

        One stat per file (0.1 s for 60,000) instead of a full scan, so a warm start
        answers within a second whatever the corpus size, and never lists a file that was
        removed or rewritten while the server was down. ``sync`` runs next (in the
        background) and adds what appeared meanwhile, as it would a dropped file.
        Returns how many files were loaded (0 with a cold cache: then sync first; also 0
        when a reading was interrupted, as by a restart during a cold start: the cache may
        hold a project in part, and the cold start's path publishes only whole ones).
        """
        if not self.cache.complete():
            return 0
        total = 0
        describer = self.describer
        for root, key in enumerate(self.keys):
            base = key + os.sep  # plain strings: Path joins cost 5 us each
            added: list[DistFile] = []
            for relpath, entry in self.cache.entries(key):
                try:
                    st = os.lstat(base + relpath)
                except OSError:
                    continue  # removed while we were down
                if not stat.S_ISREG(st.st_mode) or not describer.valid(entry, st):
                    continue  # changed, or a link: sync will look at it properly
                found = Found(relpath, st, describer.parsed_from(entry), entry)
                added.append(describer.dist(root, found, entry))
            self.index.change(added)
            total += len(added)
        if total:
            self.index.loaded = True
            log.info("serving %d cached files while checking the directories", total)
        return total

    # ---- cold start --------------------------------------------------------------------
    def start_cold(self) -> bool:
        """First scan with nothing indexed: serve what the cache has, list the rest as
        pending and read it behind (see ``cold_start``). False when a plain ``sync`` is
        the better choice (something is indexed already)."""
        if any(source.by_path for source in self.index.sources) or not self.completer.done.is_set():
            return False
        found = [
            (root, item)
            for root in range(len(self.keys))
            for item in self._changed_files(root, self.index.roots[root], "")[1]
        ]
        ready, waiting = group(found)
        self.index.change([self.describer.dist(r, f, f.entry) for r, f in ready if f.entry])
        misses = sum(1 for items in waiting.values() for _r, f in items if f.entry is None)
        if misses < PARALLEL_THRESHOLD:
            self.completer.finish_now(waiting)
            self._verified()
            return True
        self.cache.set_complete(False)  # until every file is read (_verified)
        self.index.hold(Completer.pending_names(waiting))
        self.index.loaded = True
        log.info("listing %d projects; reading %d new files behind", len(waiting), misses)
        self.completer.start(waiting, self.keys, self.describer.hash_algo, self._verified)
        return True

    def _publish(
        self, files: list[DistFile], settled: set[NormalizedName], rows: dict[int, Fresh]
    ) -> None:
        for root, fresh in rows.items():
            self.cache.put_many(self.keys[root], fresh)
        bases = [key + os.sep for key in self.keys]
        files = [d for d in files if os.path.lexists(bases[d.root] + d.relpath)]
        self.index.change(files, settled=settled)

    def _verified(self, started: float | None = None, changed: int | None = None) -> None:
        """Every file on disk has been looked at: ready (``/ready``, systemd's READY=1).
        ``changed``: how many files the check found new, changed or gone; after a warm
        start the others were loaded from the cache, and the line says so (30,000 files
        "indexed in 0.00s" looked like a lie)."""
        snapshot = self.index.snapshot
        self.cache.set_complete(True)
        self.index.loaded = True
        self.index.verified.set()
        count, projects = snapshot.file_count, len(snapshot.projects)
        took = f" in {time.monotonic() - started:.2f}s" if started is not None else ""
        if changed is None or changed >= count:
            log.info("indexed %d files of %d projects%s", count, projects, took)
        elif changed == 0:
            log.info(
                "indexed %d files of %d projects: loaded from the cache, none changed on "
                "disk (checked%s)", count, projects, took,
            )  # fmt: skip
        else:
            log.info(
                "indexed %d files of %d projects: loaded from the cache, %d new, changed or "
                "removed on disk since (checked%s)", count, projects, changed, took,
            )  # fmt: skip

    # ---- full scans ------------------------------------------------------------------
    def sync(self, root: int | None = None, top: Path | None = None) -> int:
        """Make the sources match the disk under ``top`` (default: every root); returns
        how many files changed. Used at start-up, by the periodic re-check and when a
        directory appears or moves."""
        self.completer.done.wait()  # never scan while a cold start is still reading
        started = time.monotonic()
        roots = range(len(self.keys)) if root is None else (root,)
        full = root is None and top is None
        changed = sum(
            self._sync_tree(r, self.index.roots[r] if top is None else top) for r in roots
        )
        if full and not self.index.verified.is_set():
            self._verified(started, changed)
        elif full:
            self.cache.set_complete(True)
        return changed

    def _sync_tree(self, root: int, top: Path) -> int:
        base = self.index.roots[root]
        prefix = os.path.relpath(top, base).replace(os.sep, "/")
        prefix = "" if prefix == "." else prefix + "/"
        seen, pending = self._changed_files(root, top, prefix)
        if any(f.entry is None for f in pending):
            # a kill while these are read leaves a part (a full sync marks it whole again).
            # Only then: a stop during the periodic re-check that found nothing new (every
            # minute) must not make the next start read everything again.
            self.cache.set_complete(False)
        found = self._describe_all(root, pending)
        unseen = [rel for rel in self.index.sources[root].under(prefix) if rel not in seen]
        # a file uploaded while the walk ran was indexed meanwhile but not seen: only
        # what is really gone from disk is dropped; the rest is looked at again
        gone = [rel for rel in unseen if not os.path.lexists(base / rel)]
        # ... and a file deleted since the walk saw it is not brought back
        found = [d for d in found if os.path.lexists(base / d.relpath)]
        self.index.change(found, gone, source=root)
        self.cache.forget(self.keys[root], gone)
        for rel in set(unseen) - set(gone):
            self.recheck(root, base / rel)  # e.g. now a link out of the root
        return len(found) + len(gone)

    def _changed_files(self, root: int, top: Path, prefix: str) -> tuple[set[str], list[Found]]:
        """What the walk finds that the source does not already hold unchanged."""
        current = self.index.sources[root].by_path
        key = self.keys[root]
        # a first scan reads the whole cache at once; later ones only what changed
        cached = self.cache.load(key, prefix) if not current else None
        seen: set[str] = set()
        pending: list[Found] = []
        for relpath, st in self._walk(root, top):
            known = current.get(relpath)
            # the indexed path, not the walk's copy: each copy then lives only for its step,
            # not 60,000 of them (~5 MB) to the end of every re-check
            seen.add(known.relpath if known is not None else relpath)
            if known is not None and (known.size, known.mtime_ns) == (st.st_size, st.st_mtime_ns):
                continue
            entry = cached.get(relpath) if cached is not None else self.cache.get(key, relpath)
            if not self.describer.valid(entry, st):
                entry = None  # a miss: the file is read later
            parsed = self.parse(relpath) if entry is None else self.describer.parsed_from(entry)
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
                entry = self.entry(root, found, next(computed) if computed else None, fresh)
                if entry is None:
                    continue
            out.append(self.describer.dist(root, found, entry))
            if len(fresh) >= 1000:  # write as we go: metadata bytes need not pile up
                self.cache.put_many(self.keys[root], fresh)
                fresh.clear()
        self.cache.put_many(self.keys[root], fresh)
        return out

    def entry(
        self, root: int, found: Found, facts: Facts | None, fresh: Fresh
    ) -> CacheEntry | None:
        """The cache entry for a miss, from ``facts`` (read here when not given)."""
        path = self.keys[root] + os.sep + found.relpath  # a str: Path joins cost 5 us each
        if facts is None:
            facts = read_facts(path, found.parsed.packagetype, self.describer.hash_algo)
        if facts.digests is None:
            log.warning("cannot read %s: %s", path, facts.problem)
            return None
        if facts.problem and found.parsed.packagetype == "bdist_wheel":
            self.warn_once(found.relpath, f"{facts.problem} (served without metadata)")
        entry = self.describer.entry(found.st, facts, found.parsed)
        fresh.append((found.relpath, entry, facts.metadata))
        return entry
