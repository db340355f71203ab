"""The in-memory index: normalized project name -> files, kept current by writers.

Readers never lock and never touch the disk: they read ``Project`` objects, which are
replaced (never mutated, except for their render cache) whenever a file comes or goes.
Writers (start-up sync, watcher, uploads, periodic re-check) serialize on one lock and do
the slow part, hashing and reading metadata, before taking it.
"""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import logging
import os
import stat
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from .cache import CacheEntry, DigestCache
from .dists import (
    DIST_SUFFIXES,
    PACKED,
    DistFile,
    NormalizedName,
    ParsedName,
    display_name_of,
    normalize,
    pack_hashes,
    parse_filename,
    parse_version,
)
from .errors import InvalidFilename, MetadataError
from .memo import ByteLRU
from .metadata import read_metadata
from .model import Project, Rendered
from .scan import (
    PARALLEL_THRESHOLD,
    Facts,
    facts_of,
    is_ignored_name,
    is_text,
    read_facts,
    read_many,
    walk,
    within,
)

log = logging.getLogger(__name__)
SMALL_FILE = 256 * 1024  # files up to this size may be served from memory
_PACKED_NAMES = tuple(name for name, _size in PACKED)


def _display_name(metadata_name: str | None, parsed: ParsedName, filename: str) -> str:
    """The name as the project spells it (metadata), if it agrees with the file name."""
    if metadata_name and normalize(metadata_name) == parsed.project:
        return metadata_name.strip()
    return display_name_of(filename)


YankLookup = Callable[[int, str], "str | None"]


class Index:
    def __init__(
        self,
        roots: tuple[Path, ...],
        cache: DigestCache,
        *,
        hash_algo: str | None = "sha256",
        yanked: YankLookup | None = None,
    ) -> None:
        self.roots = tuple(Path(os.path.abspath(r)) for r in roots)
        self._root_keys = tuple(str(r) for r in self.roots)
        self._root_real = tuple(os.path.realpath(r) for r in self.roots)
        self.cache = cache
        self.hash_algo = hash_algo
        self._extra_algo = hash_algo if hash_algo not in (None, *_PACKED_NAMES) else None
        self._strings: dict[str, str] = {}  # display names and Requires-Python, shared
        self._small = ByteLRU(8 * 1024 * 1024)  # bounded: RSS stays well under 150 MB
        self._hot_metadata = ByteLRU(2 * 1024 * 1024)
        self._yanked = yanked or (lambda root, relpath: None)
        self._lock = threading.RLock()
        self._files: list[dict[str, DistFile]] = [{} for _ in self.roots]  # per root
        self._by_url: dict[str, DistFile] = {}  # what /packages/<relpath> serves
        self._members: dict[NormalizedName, dict[str, DistFile]] = {}
        self.projects: dict[NormalizedName, Project] = {}
        self._root_renders: dict[str, Rendered] = {}
        self._file_renders: dict[str, Rendered] = {}
        self._warned: set[str] = set()
        self.loaded = False  # serving (possibly from the cache snapshot)
        self.verified = threading.Event()  # a full scan of the disk has completed

    # ---- readers -------------------------------------------------------------------
    def project(self, name: NormalizedName) -> Project | None:
        return self.projects.get(name)

    def file_at(self, url_path: str) -> DistFile | None:
        return self._by_url.get(url_path)

    def copies(self, relpath: str) -> list[DistFile]:
        """The file at ``relpath`` in every package directory (the first one is served)."""
        return [files[relpath] for files in self._files if relpath in files]

    def root_render(
        self,
        key: str,
        render: Callable[[list[Project]], Rendered],
        *,
        every_change: bool = False,
    ) -> Rendered:
        """A page over all projects, rendered once and kept until the project set changes
        (or, with ``every_change``, until any file changes)."""
        renders = self._file_renders if every_change else self._root_renders
        cached = renders.get(key)
        if cached is not None:
            return cached
        with self._lock:
            renders = self._file_renders if every_change else self._root_renders
            cached = renders.get(key)
            if cached is None:
                projects = sorted(self.projects.values(), key=lambda p: p.name)
                cached = renders[key] = render(projects)
            return cached

    def path_of(self, dist: DistFile) -> Path:
        return self.roots[dist.root] / dist.relpath

    def open(self, dist: DistFile) -> BinaryIO | None:
        """Open a served file, refusing one that was swapped for a link out of its root.

        The common case (a regular file) costs one open with O_NOFOLLOW; only a symlink
        pays for resolving its target.
        """
        path = self.path_of(dist)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
        except OSError as exc:
            if exc.errno != errno.ELOOP:
                return None
            if not within(str(path), self._root_real[dist.root]):
                self._warn_once(str(path), "symlink points outside the package directory")
                return None
            try:
                fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
            except OSError:
                return None
        return os.fdopen(fd, "rb")

    def small_file(self, dist: DistFile) -> bytes | None:
        """The bytes of a file of at most SMALL_FILE bytes, from memory when hot."""

        def load() -> bytes | None:
            stream = self.open(dist)
            if stream is None:
                return None
            with stream:
                data = stream.read(SMALL_FILE + 1)
            return data if len(data) == dist.size else None  # changed under us: don't keep

        return self._small.get((dist.root, dist.relpath, dist.size, dist.mtime_ns), load)

    def metadata(self, dist: DistFile) -> bytes | None:
        """Core metadata bytes (METADATA or PKG-INFO), from memory, the cache or the archive."""

        def load() -> bytes | None:
            key = self._root_keys[dist.root]
            raw = self.cache.metadata(key, dist.relpath, dist.size, dist.mtime_ns)
            if raw is None:
                try:
                    raw = read_metadata(self.path_of(dist), dist.packagetype)
                except MetadataError:
                    return None
            return raw

        return self._hot_metadata.get((dist.root, dist.relpath, dist.size, dist.mtime_ns), load)

    @property
    def file_count(self) -> int:
        return len(self._by_url)

    # ---- scanning --------------------------------------------------------------------
    def _walk(self, root: int, top: Path) -> Iterator[tuple[str, os.stat_result]]:
        return walk(self.roots[root], top, self._root_real[root], self._warn_once)

    def _read_many(self, root: int, items: list[tuple[str, ParsedName]]) -> Iterator[Facts] | None:
        """Worker processes for a big batch of new files; None when not worth it."""
        if len(items) < PARALLEL_THRESHOLD or (os.cpu_count() or 1) < 2:
            return None
        log.info("reading %d new files in worker processes", len(items))
        base = self.roots[root]
        paths = [str(base / relpath) for relpath, _p in items]
        return read_many(paths, [parsed.packagetype for _r, parsed in items], self.hash_algo)

    def relpaths(self, root: int) -> list[str]:
        """Every candidate file below a root, read from disk (for the CLI; no hashing)."""
        return [relpath for relpath, _st in self._walk(root, self.roots[root])]

    def _warn_once(self, what: str, why: str) -> None:
        if what not in self._warned:
            self._warned.add(what)
            log.warning("ignoring %s: %s", what, why)

    def _valid(self, entry: CacheEntry | None, st: os.stat_result) -> bool:
        return (
            entry is not None
            and entry.size == st.st_size
            and entry.mtime_ns == st.st_mtime_ns
            and (self._extra_algo is None or entry.extra_hash is not None)
        )

    def _parsed_from(self, entry: CacheEntry) -> ParsedName:
        intern = self._strings.setdefault
        return ParsedName(
            NormalizedName(intern(entry.project, entry.project)),
            parse_version(entry.version),
            intern(entry.packagetype, entry.packagetype),
            intern(entry.python_tag, entry.python_tag),
        )

    def load_snapshot(self) -> int:
        """Fill the index from the cache, keeping only files still on disk unchanged.

        One stat per file (0.1 s for 60,000) instead of a full scan, so a warm start
        answers within a second whatever the corpus size, and never lists a file that was
        removed or rewritten while the server was down. ``sync`` runs next (in the
        background) and adds what appeared meanwhile, as it would a dropped file.
        Returns how many files were loaded (0 with a cold cache: then sync first).
        """
        added: list[DistFile] = []
        for r in range(len(self.roots)):
            base = self._root_keys[r] + os.sep  # plain strings: Path joins cost 5 us each
            for relpath, entry in self.cache.load(self._root_keys[r]).items():
                if self._extra_algo is not None and entry.extra_hash is None:
                    continue  # needs hashing: sync will do it
                try:
                    st = os.lstat(base + relpath)
                except OSError:
                    continue  # removed while we were down
                if not stat.S_ISREG(st.st_mode) or not self._valid(entry, st):
                    continue  # changed, or a link: sync will look at it properly
                dist = self._describe(r, relpath, st, self._parsed_from(entry), entry, [])
                if dist is not None:
                    added.append(dist)
        with self._lock:
            self._apply(added, [])
        if added:
            self.loaded = True
            log.info("serving %d cached files while checking the directories", len(added))
        return len(added)

    def _parse(self, relpath: str) -> ParsedName | None:
        filename = relpath.rsplit("/", 1)[-1]
        try:
            return parse_filename(filename)
        except InvalidFilename as exc:
            self._warn_once(relpath, str(exc))
            return None

    def _describe(
        self,
        root: int,
        relpath: str,
        st: os.stat_result,
        parsed: ParsedName,
        cached: CacheEntry | None,
        fresh: list[tuple[str, CacheEntry, bytes | None]],
        facts: Facts | None = None,
    ) -> DistFile | None:
        """Build the DistFile, hashing and reading metadata only on a cache miss
        (``facts``: that work, already done by a worker process)."""
        entry = cached
        if not self._valid(entry, st):
            path = self.roots[root] / relpath
            if facts is None:
                facts = read_facts(str(path), parsed.packagetype, self.hash_algo)
            if facts.digests is None:
                log.warning("cannot read %s: %s", path, facts.problem)
                return None
            if facts.problem and parsed.packagetype == "bdist_wheel":
                self._warn_once(relpath, f"{facts.problem} (served without metadata)")
            entry = self._entry(st, facts, parsed)
            fresh.append((relpath, entry, facts.metadata))
        assert entry is not None
        slash = relpath.rfind("/")
        filename = relpath if slash < 0 else relpath[slash + 1 :]  # shared when flat
        intern = self._strings.setdefault
        display = _display_name(entry.name, parsed, filename)
        return DistFile(
            relpath=relpath,
            root=root,
            filename=filename,
            project=parsed.project,
            display_name=intern(display, display),
            version=parsed.version,
            packagetype=parsed.packagetype,
            python_tag=parsed.python_tag,
            size=st.st_size,
            mtime_ns=st.st_mtime_ns,
            hashes=entry.hashes,
            extra_hash=entry.extra_hash,
            requires_python=(
                intern(entry.requires_python, entry.requires_python)
                if entry.requires_python
                else None
            ),
            metadata_digest=entry.metadata_digest,
            yanked=self._yanked(root, relpath),
        )

    def _entry(self, st: os.stat_result, facts: Facts, dist: ParsedName) -> CacheEntry:
        assert facts.digests is not None
        metadata_digest = (
            hashlib.sha256(facts.metadata).digest()
            if facts.metadata is not None and dist.packagetype == "bdist_wheel"
            else None
        )
        hashes, extra = pack_hashes(facts.digests, self.hash_algo)
        return CacheEntry(
            st.st_size,
            st.st_mtime_ns,
            hashes,
            extra,
            facts.requires_python,
            metadata_digest,
            facts.name,
            dist.project,
            str(dist.version),
            dist.packagetype,
            dist.python_tag,
        )

    # ---- writers ---------------------------------------------------------------------
    def sync(self, root: int | None = None, top: Path | None = None) -> int:
        """Make the index match the disk under ``top`` (default: every root); returns changes.

        Used at start-up, by the periodic re-check and when a directory appears or moves.
        """
        started = time.monotonic()
        changed = 0
        roots = range(len(self.roots)) if root is None else (root,)
        for r in roots:
            base = self.roots[r] if top is None else top
            prefix = os.path.relpath(base, self.roots[r]).replace(os.sep, "/")
            prefix = "" if prefix == "." else prefix + "/"
            # a first scan reads the whole cache at once; later ones only what changed
            bulk = not self._files[r]
            cached = self.cache.load(self._root_keys[r], prefix) if bulk else {}
            seen: set[str] = set()
            fresh: list[tuple[str, CacheEntry, bytes | None]] = []
            new_files: list[DistFile] = []
            pending: list[tuple[str, os.stat_result, ParsedName, CacheEntry | None]] = []
            for relpath, st in self._walk(r, base):
                seen.add(relpath)
                current = self._files[r].get(relpath)
                if (
                    current is not None
                    and current.size == st.st_size
                    and current.mtime_ns == st.st_mtime_ns
                ):
                    continue
                entry = cached.get(relpath) if bulk else self.cache.get(self._root_keys[r], relpath)
                if not self._valid(entry, st):
                    entry = None  # a miss: the file is read below
                parsed = self._parse(relpath) if entry is None else self._parsed_from(entry)
                if parsed is None:
                    continue
                pending.append((relpath, st, parsed, entry))
            misses = [(rel, parsed) for rel, _st, parsed, entry in pending if entry is None]
            computed = self._read_many(r, misses)
            for relpath, st, parsed, entry in pending:
                facts = None
                if computed is not None and entry is None:
                    facts = next(computed)  # in the order of misses
                dist = self._describe(r, relpath, st, parsed, entry, fresh, facts)
                if dist is not None:
                    new_files.append(dist)
                if len(fresh) >= 1000:  # write as we go: metadata bytes need not pile up
                    self.cache.put_many(self._root_keys[r], fresh)
                    fresh.clear()
            self.cache.put_many(self._root_keys[r], fresh)
            unseen = [
                rel for rel in list(self._files[r]) if rel.startswith(prefix) and rel not in seen
            ]
            # a file uploaded while the walk ran was indexed meanwhile but not seen: only
            # what is really gone from disk is dropped; the rest is looked at again
            gone = [rel for rel in unseen if not os.path.lexists(self.roots[r] / rel)]
            # ... and a file deleted since the walk saw it is not brought back
            new_files = [d for d in new_files if os.path.lexists(self.roots[r] / d.relpath)]
            with self._lock:
                self._apply(new_files, [(r, rel) for rel in gone])
            self.cache.forget(self._root_keys[r], gone)
            for rel in set(unseen) - set(gone):
                self.refresh(r, self.roots[r] / rel)  # e.g. now a link out of the root
            changed += len(new_files) + len(gone)
        if root is None and top is None and not self.verified.is_set():
            self.loaded = True
            self.verified.set()
            log.info(
                "indexed %d files of %d projects in %.2fs",
                self.file_count,
                len(self.projects),
                time.monotonic() - started,
            )
        return changed

    def refresh(self, root: int, path: Path) -> None:
        """Bring one path up to date after a filesystem event (file or directory)."""
        relpath = os.path.relpath(path, self.roots[root]).replace(os.sep, "/")
        if relpath.startswith("../") or any(is_ignored_name(p) for p in relpath.split("/")):
            return
        if not is_text(relpath):
            self._warn_once(repr(str(path)), "its path is not valid UTF-8")
            return
        try:
            st = os.stat(path, follow_symlinks=False)
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
            if not within(str(path), self._root_real[root]):
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
        path = self.roots[root] / relpath
        if st is None:
            try:
                st = os.stat(path)
            except OSError:
                self.discard_tree(root, relpath)
                return None
        current = self._files[root].get(relpath)
        if current is not None and (current.size, current.mtime_ns) == (st.st_size, st.st_mtime_ns):
            return current
        parsed = self._parse(relpath)
        if parsed is None:
            return None
        fresh: list[tuple[str, CacheEntry, bytes | None]] = []
        cached = None
        if known is not None:
            digests, raw = known
            facts = facts_of(digests, str(path), parsed.packagetype, raw)
            cached = self._entry(st, facts, parsed)
            fresh.append((relpath, cached, raw))
        else:
            cached = self.cache.get(self._root_keys[root], relpath)
        dist = self._describe(root, relpath, st, parsed, cached, fresh)
        self.cache.put_many(self._root_keys[root], fresh)
        if dist is not None:
            with self._lock:
                self._apply([dist], [])
        return dist

    def discard_tree(self, root: int, relpath: str) -> None:
        files = self._files[root]
        if relpath in files:  # the common case: one file, no scan
            gone = [(root, relpath)]
        else:
            prefix = relpath.rstrip("/") + "/"
            gone = [(root, rel) for rel in list(files) if rel.startswith(prefix)]
        if gone:
            with self._lock:
                self._apply([], gone)
            self.cache.forget(self._root_keys[root], [rel for _r, rel in gone])

    def reyank(self) -> None:
        """Re-read yank state for every file (after the yank file changed)."""
        with self._lock:
            changed = [
                d
                for files in self._files
                for d in files.values()
                if self._yanked(d.root, d.relpath) != d.yanked
            ]
            updated = [
                dataclasses.replace(d, yanked=self._yanked(d.root, d.relpath)) for d in changed
            ]
            self._apply(updated, [])

    def _apply(self, added: list[DistFile], removed: list[tuple[int, str]]) -> None:
        """Swap in new Project objects for every project touched. Caller holds the lock."""
        touched: set[NormalizedName] = set()
        for key in removed:
            old = self._files[key[0]].pop(key[1], None)
            if old is None:
                continue
            if self._by_url.get(old.relpath) is old:
                self._unpublish(old, touched)
                # another package directory may hold a file at the same path
                for r in range(len(self.roots)):
                    other = self._files[r].get(old.relpath)
                    if other is not None:
                        self._publish(other, touched)
                        break
        for dist in added:
            self._files[dist.root][dist.relpath] = dist
            winner = self._by_url.get(dist.relpath)
            if winner is None or winner.root >= dist.root:
                if winner is not None:
                    self._unpublish(winner, touched)
                self._publish(dist, touched)
        structural = False
        for name in touched:
            members = self._members.get(name)
            if not members:
                self._members.pop(name, None)
                structural |= self.projects.pop(name, None) is not None
                continue
            files = sorted(members.values(), key=lambda f: (f.version, f.filename))
            structural |= name not in self.projects
            self.projects[name] = Project(name, files[-1].display_name, tuple(files))
        if structural:
            self._root_renders = {}
        if touched:
            self._file_renders = {}

    def _publish(self, dist: DistFile, touched: set[NormalizedName]) -> None:
        self._by_url[dist.relpath] = dist
        self._members.setdefault(dist.project, {})[dist.relpath] = dist
        touched.add(dist.project)

    def _unpublish(self, dist: DistFile, touched: set[NormalizedName]) -> None:
        del self._by_url[dist.relpath]
        self._members.get(dist.project, {}).pop(dist.relpath, None)
        touched.add(dist.project)
