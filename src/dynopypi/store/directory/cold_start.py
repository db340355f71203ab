"""Cold start without waiting: list every project at once, read their files behind.

With an empty digest cache, reading 60,000 archives (hashes, core metadata) takes about
ten seconds on two cores. Nothing half-read may be served (a page with some versions
missing would make pip pick an older release), so the files found on disk are grouped by
project and a project is published only once all its files are read. Until then it is
*pending*: listed in /simple/, and completed on demand, in the request that asks for it
(a few files: milliseconds). A background pass reads the rest on every core, project by
project, publishing a batch of finished projects every few hundred milliseconds.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator

from dynopypi.dists.facts import CacheEntry, Facts, Found
from dynopypi.dists.names import DistFile, NormalizedName, display_name_of
from dynopypi.ops.memory import hand_back
from dynopypi.store.directory.scan import read_many

log = logging.getLogger(__name__)
Group = list[tuple[int, Found]]  # one project's files: (root, found) in every source
Rows = list[tuple[str, CacheEntry, "bytes | None"]]  # digest-cache rows of one root
# (root, found, facts read or None, rows to add to) -> the cache entry, None if unreadable
EntryMaker = Callable[[int, Found, "Facts | None", Rows], "CacheEntry | None"]
# files, projects now complete, new cache rows by root
Publish = Callable[[list[DistFile], set[NormalizedName], dict[int, Rows]], None]
BATCH_SECONDS = 0.3

Describe = Callable[[int, Found, CacheEntry], DistFile]


def group(
    found: list[tuple[int, Found]],
) -> tuple[list[tuple[int, Found]], dict[NormalizedName, Group]]:
    """Split what a walk found into files ready to serve (every file of their project is
    cached) and projects to read (any file of theirs missing from the cache)."""
    groups: dict[NormalizedName, Group] = {}
    for item in found:
        groups.setdefault(item[1].parsed.project, []).append(item)
    ready: list[tuple[int, Found]] = []
    waiting: dict[NormalizedName, Group] = {}
    for name, items in groups.items():
        if all(f.entry is not None for _r, f in items):
            ready.extend(items)
        else:
            waiting[name] = items
    return ready, waiting


class Completer:
    def __init__(self, publish: Publish, make: EntryMaker, describe: Describe) -> None:
        self._publish = publish
        self._make = make
        self._describe = describe
        self._waiting: dict[NormalizedName, Group] = {}
        # taken from _waiting, being read or published: set once published. Per project,
        # so a request that completes one project never waits on another's (nor on a
        # background batch): 32 clients asking for unread projects took 0.05x the steady
        # rate when one lock serialized every completion (60,000 files).
        self._taken: dict[NormalizedName, threading.Event] = {}
        self._lock = threading.Lock()
        self.done = threading.Event()
        self.done.set()

    @staticmethod
    def pending_names(groups: dict[NormalizedName, Group]) -> dict[NormalizedName, str]:
        """What /simple/ shows for each pending project until it is read."""
        return {
            name: display_name_of(group[-1][1].relpath.rsplit("/", 1)[-1])
            for name, group in groups.items()
        }

    def finish_now(self, groups: dict[NormalizedName, Group]) -> None:
        """Read and publish ``groups`` in the caller's thread (too few for a pool)."""
        self._finish(groups, {})

    def start(
        self,
        groups: dict[NormalizedName, Group],
        roots: tuple[str, ...],
        algo: str | None,
        on_done: Callable[[], None],
    ) -> None:
        """Read ``groups`` in a background thread; ``done`` is set when all are published."""
        with self._lock:
            self._waiting.update(groups)
            self.done.clear()
        threading.Thread(
            target=self._run,
            args=(list(groups), roots, algo, on_done),
            name="dynopypi-complete",
            daemon=True,
        ).start()

    def waiting(self, name: NormalizedName) -> bool:
        return name in self._waiting

    def complete(self, name: NormalizedName) -> None:
        """Read one pending project now, in the caller's thread (a request for it).

        If another thread took it first, this waits until that thread has published it,
        so the caller always finds the project complete when this returns.
        """
        if self._take_and_finish([name], {}):
            return
        with self._lock:
            taken = self._taken.get(name)
        if taken is not None:
            taken.wait()

    def _take(self, names: list[NormalizedName]) -> dict[NormalizedName, Group]:
        with self._lock:
            groups = {n: g for n in names if (g := self._waiting.pop(n, None)) is not None}
            for name in groups:
                self._taken[name] = threading.Event()
            return groups

    def _wait_taken(self) -> None:
        """Until every project taken by any thread is published."""
        while True:
            with self._lock:
                taken = next(iter(self._taken.values()), None)
            if taken is None:
                return
            taken.wait()

    def _run(
        self,
        names: list[NormalizedName],
        roots: tuple[str, ...],
        algo: str | None,
        on_done: Callable[[], None],
    ) -> None:
        started = time.monotonic()
        try:
            misses = [
                (name, root, found)
                for name in names
                for root, found in self._waiting.get(name, ())
                if found.entry is None
            ]
            results = read_many(
                [roots[r] + os.sep + f.relpath for _n, r, f in misses],
                [f.parsed.packagetype for _n, _r, f in misses],
                algo,
            )
            self._consume(names, misses, results)
        except Exception:
            log.exception("reading the package directories failed")
        finally:
            self._take_and_finish(list(self._waiting), {})  # what the pool did not deliver
            self._wait_taken()  # projects requests are still reading: complete means all
            log.info("read every new file in %.2fs", time.monotonic() - started)
            try:
                on_done()  # verified before done: a waiter on done finds it so (no re-check)
            finally:
                self.done.set()
            hand_back()  # the reading's peak: not kept for the server's life

    def _consume(
        self,
        names: list[NormalizedName],
        misses: list[tuple[NormalizedName, int, Found]],
        results: Iterator[Facts],
    ) -> None:
        """Publish projects as their last file's facts arrive, in batches."""
        last_of = {name: i for i, (name, _r, _f) in enumerate(misses)}
        facts: dict[tuple[int, str], Facts] = {}
        ready: list[NormalizedName] = []
        flushed = time.monotonic()
        for i, result in enumerate(results):
            name, root, found = misses[i]
            facts[(root, found.relpath)] = result
            if last_of[name] != i:
                continue
            ready.append(name)
            if time.monotonic() - flushed >= BATCH_SECONDS:
                self._take_and_finish(ready, facts)
                ready, flushed = [], time.monotonic()
        self._take_and_finish(ready, facts)

    def _take_and_finish(
        self, names: list[NormalizedName], facts: dict[tuple[int, str], Facts]
    ) -> bool:
        """Publish those of ``names`` still waiting; False when none was (taken before)."""
        groups = self._take(names)
        if groups:
            self._finish(groups, facts)
        return bool(groups)

    def _finish(
        self, groups: dict[NormalizedName, Group], facts: dict[tuple[int, str], Facts]
    ) -> None:
        try:
            files: list[DistFile] = []
            rows: dict[int, Rows] = {}
            for group in groups.values():
                for root, found in group:
                    fact = facts.pop((root, found.relpath), None)
                    entry = found.entry or self._make(root, found, fact, rows.setdefault(root, []))
                    if entry is not None:
                        files.append(self._describe(root, found, entry))
            if groups:
                self._publish(files, set(groups), rows)
        finally:
            with self._lock:
                for name in groups:
                    taken = self._taken.pop(name, None)
                    if taken is not None:
                        taken.set()
