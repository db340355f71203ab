"""What the upstream cache holds, and its bounds: the project pages kept in memory with
the files they put in the index, and the fetched files kept on disk.

A page fetched (or loaded from disk at start) is installed: its files become records of
the index's last source (each with where it comes from and when it was published), the
files the merge rule hides under a private or ``--merge`` name go to the evidence log, and
the page is saved to disk. At most ``MAX_HELD_FILES`` upstream files are held in memory:
past that, the pages fetched longest ago are dropped (from memory and disk) and fetched
again when asked for. When to ask upstream, and asking, is ``source``'s job.

A file on disk is counted with its ``.metadata`` (bytes, last use). With
``--upstream-cache-max`` the least recently used files are evicted after each new file,
never one being fetched or used in the last two seconds (an open file is safe anyway; the
window covers nginx opening it after an X-Accel-Redirect). Fetching them is ``files``'s.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Container, Sequence
from dataclasses import dataclass, replace

from dynopypi.core.index import Index
from dynopypi.core.snapshot import hidden
from dynopypi.core.visibility import UpstreamTimes
from dynopypi.dists.names import DistFile, NormalizedName
from dynopypi.errors import InvalidFilename
from dynopypi.upstream.names import shadow_entry, shadow_rule, upstream_dist, upstream_times
from dynopypi.upstream.origin import Origin
from dynopypi.upstream.store import (
    METADATA,
    CachedPage,
    UpstreamStore,
    not_before,
    now_ns,
    relpath_of,
)

log = logging.getLogger(__name__)
MAX_HELD_FILES = 500_000  # upstream files kept in memory (~2 KB each, measured)
RECENT = 2.0  # seconds a used file is safe from eviction (nginx opens it after us)
# seconds a file seen on disk is taken to be there without looking again: one stat per
# download under load cost 15% of cached downloads/s (each syscall hands the GIL around).
# A file purged by another process inside that second is found missing when it is opened
# (or resolved for nginx) and fetched again (``Catalog.serve``).
PRESENT_FOR = 1.0


class HeldPages:
    """The upstream pages in memory (``pages``), and the index records, links (``urls``)
    and publication times (``times``) of their files."""

    def __init__(
        self,
        index: Index,
        store: UpstreamStore,
        origins: Sequence[Origin],
        source: int,
        is_private: Callable[[NormalizedName], bool],
        may_merge: Callable[[NormalizedName], bool],
    ) -> None:
        self.index = index
        self.store = store
        self.origins = origins
        self.source = source  # the index's source number for upstream files
        self.is_private = is_private  # the merge rule's questions (why a file is hidden)
        self.may_merge = may_merge
        self.pages: dict[NormalizedName, CachedPage] = {}
        self.urls: dict[str, tuple[Origin, str]] = {}  # relpath -> where it comes from
        self.times: dict[str, UpstreamTimes] = {}
        self._shadowed: set[tuple[str, str]] = set()
        self.held = 0  # upstream files in memory (bounded by MAX_HELD_FILES)
        self._held_lock = threading.RLock()

    def load(self) -> int:
        """Serve what was cached before the last stop (upstream may be down now)."""
        self.store.create()
        for entry in self.store.shadowed():
            self._shadowed.add((str(entry.get("name")), str(entry.get("filename"))))
        added: list[DistFile] = []
        pages = sorted(self.store.load_pages(), key=lambda p: p.fetched, reverse=True)
        for page in pages:  # the most recently fetched first, while they fit
            if self.held + len(page.files) > MAX_HELD_FILES:
                self.store.drop_page(page.name)
                continue
            self.pages[page.name] = page
            self.held += len(page.files)
            added += self._remember(page)
        self.index.change(added)
        log.info(
            "upstream %s: %d cached projects; cached files in %s",
            ", ".join(o.url for o in self.origins), len(self.pages), self.store.files,
        )  # fmt: skip
        return len(self.pages)

    def install(self, page: CachedPage) -> None:
        seen = now_ns()
        for item in page.files:
            page.first_seen.setdefault(item.filename, seen)
        old = self.pages.get(page.name)
        page.not_before = not_before(old, page.files)  # new files: no older than `old`
        added = self._remember(page)
        keep = {d.relpath for d in added}
        removed = [relpath_of(page.name, f.filename) for f in (old.files if old else [])]
        self.pages[page.name] = page
        self.index.change(added, [r for r in removed if r not in keep], source=self.source)
        self.store.save_page(page)
        self._note_shadowed(page.name)
        self._make_room(page, len(page.files) - len(old.files if old else ()))

    def _make_room(self, page: CachedPage, grown: int) -> None:
        """Keep at most ``MAX_HELD_FILES`` upstream files in memory: a hostile upstream
        that lists 100,000 files under every name it is asked for would otherwise grow
        the process by ~200 MB a name. The pages fetched longest ago go first (from
        memory and disk: the next request for them fetches them again)."""
        with self._held_lock:
            self.held += grown
            while self.held > MAX_HELD_FILES and len(self.pages) > 1:
                oldest = min(
                    (p for p in list(self.pages.values()) if p is not page),
                    key=lambda p: p.fetched,
                )
                log.warning(
                    "upstream cache over %d files in memory: dropping %s (fetched again "
                    "when asked for)", MAX_HELD_FILES, oldest.name,
                )  # fmt: skip
                self.uninstall(oldest)

    def uninstall(self, page: CachedPage) -> None:
        with self._held_lock:
            if self.pages.pop(page.name, None) is not None:
                self.held -= len(page.files)
        removed = [relpath_of(page.name, f.filename) for f in page.files]
        self.index.change((), removed, source=self.source)
        self.store.drop_page(page.name)

    def _remember(self, page: CachedPage) -> list[DistFile]:
        origin = next((o for o in self.origins if o.url == page.origin), None)
        out = []
        for item in page.files:
            try:
                dist = upstream_dist(page, item, self.source)
            except (InvalidFilename, ValueError) as exc:  # a cache file edited by hand
                log.warning("ignoring cached upstream file %r: %s", item.filename, exc)
                continue
            known = self.index.sources[self.source].by_path.get(dist.relpath)
            if known is not None and known.sha256 == dist.sha256:  # keep what a fetch learnt
                dist = replace(
                    dist, size=known.size, hashes=known.hashes, extra_hash=known.extra_hash
                )
            else:
                path = self.store.file_path(dist.relpath)
                if path.is_file():  # fetched before: its real size
                    dist = replace(dist, size=path.stat().st_size)
            if origin is not None:
                self.urls[dist.relpath] = (origin, item.url)
            self.times[dist.relpath] = upstream_times(page, item)
            out.append(dist)
        return out

    def _note_shadowed(self, name: NormalizedName) -> None:
        """Keep every upstream file the private-first rule hides (under a private name,
        or, with ``--merge``, of the same release as a local fork), and log them once: one
        line per name, however many files upstream lists (a public wheel copied into
        the package directory hides hundreds)."""
        project = self.index.snapshot.project(name)
        found = hidden(self.index.layers(name), project.files if project else (), self.source)
        fresh = [d for d in found if (str(name), d.filename) not in self._shadowed]
        if not fresh:
            return
        rule = shadow_rule(self.is_private(name), self.may_merge(name))
        entries = [shadow_entry(d, self.urls, self.times, rule) for d in fresh]
        for entry in entries:
            self._shadowed.add((entry["name"], entry["filename"]))
        newest = max(d.version for d in fresh)
        hint = "" if rule != "private-first" else f"; --merge {name} serves its other versions"
        log.warning(
            "upstream publishes %d file%s of %s (newest %s), hidden here (%s): not served; "
            "'dynopypi upstream shadowed' lists them%s",
            len(fresh), "" if len(fresh) == 1 else "s", name, newest, rule, hint,
        )  # fmt: skip
        self.store.record_shadowed(entries)

    def stored(self, fetched: DistFile) -> None:
        """A file was fetched: its real size and digests go into the record as it is now
        (the page may have been refreshed meanwhile: its yank state stays)."""
        with self.index.lock:
            current = self.index.sources[self.source].by_path.get(fetched.relpath)
            if current is None or current.sha256 != fetched.sha256:
                return
            update = replace(
                current, size=fetched.size, hashes=fetched.hashes, extra_hash=fetched.extra_hash
            )
            self.index.change([update])

    def times_of(self, dist: DistFile) -> UpstreamTimes | None:
        return self.times.get(dist.relpath) if dist.root == self.source else None


@dataclass(slots=True)
class Usage:
    """What one cached upstream file costs on disk, and when it was last used."""

    size: int  # the file (0 while only its core metadata is cached)
    meta: int  # its .metadata
    used: float
    seen: float = -PRESENT_FOR  # monotonic time the file was last seen on disk


class HeldFiles:
    """The fetched files on disk: what each costs (the file and its ``.metadata``) and
    when it was last used; past ``cache_max`` bytes, the least recently used are evicted."""

    def __init__(
        self,
        store: UpstreamStore,
        cache_max: int | None,
        guard: threading.Lock,
        fetching: Container[str],
    ) -> None:
        self.store = store
        self.cache_max = cache_max
        # the fetcher's lock, which guards ``fetching`` too: a file being fetched stays
        self._guard = guard
        self._fetching = fetching
        # relpath -> its bytes on disk (the file and its .metadata), last use; LRU first
        self._used: OrderedDict[str, Usage] = OrderedDict()
        self.cache_bytes = 0
        for relpath, size, meta, used in store.cached_files():
            self._used[relpath] = Usage(size, meta, used)
            self.cache_bytes += size + meta

    def cached(self, dist: DistFile) -> bool:
        """Is the file on disk? Looked at once a second at most per file, so a purge by
        another process is noticed within a second (and ``forget`` makes it sooner)."""
        entry = self._used.get(dist.relpath)
        now = time.monotonic()
        if entry is not None and entry.size and now - entry.seen < PRESENT_FOR:
            return True
        present = self.store.file_path(dist.relpath).is_file()
        if entry is not None:
            entry.seen = now if present else -PRESENT_FOR
        return present

    def forget(self, dist: DistFile) -> None:
        """The file was found missing when it was opened: look on disk next time."""
        entry = self._used.get(dist.relpath)
        if entry is not None:
            entry.seen = -PRESENT_FOR

    def touch(self, dist: DistFile) -> None:
        with self._guard:
            entry = self._used.pop(dist.relpath, None)
            if entry is not None:
                entry.used = time.time()
                self._used[dist.relpath] = entry

    def account(self, relpath: str, *, size: int | None = None, meta: int | None = None) -> None:
        """A file or its .metadata was stored: count it (replacing what was counted for it
        before, e.g. fetched again after a purge) and mark the pair used now."""
        with self._guard:
            entry = self._used.pop(relpath, None) or Usage(0, 0, 0.0)
            before = entry.size + entry.meta
            entry.size = entry.size if size is None else size
            entry.meta = entry.meta if meta is None else meta
            entry.used = time.time()
            self._used[relpath] = entry
            self.cache_bytes += entry.size + entry.meta - before

    def evict(self) -> None:
        if self.cache_max is None:
            return
        now = time.time()
        with self._guard:
            victims = []
            for relpath, entry in list(self._used.items()):
                if self.cache_bytes <= self.cache_max:
                    break
                if now - entry.used < RECENT or relpath in self._fetching:
                    continue
                del self._used[relpath]
                self.cache_bytes -= entry.size + entry.meta
                victims.append(relpath)
        for relpath in victims:
            path = self.store.file_path(relpath)
            for victim in (path, path.with_name(path.name + METADATA)):
                with contextlib.suppress(OSError):
                    victim.unlink()
            log.info("evicted %s from the upstream cache", relpath)
