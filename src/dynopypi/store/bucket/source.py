"""A bucket as the index's source: loaded from the manifest and journal, kept current by
following the journal, checked against a listing now and then.

The journal is how changes made through dynopypi travel (and, every few seconds, a check
that it was not pruned under this replica's feet); the listing (every
``audit_interval`` seconds, in pages, in the background) is the safety net for objects put
in the bucket some other way or left by a replica that died between storing a file and
journaling it: those are adopted (from their facts record, or read once) and journaled, so
every replica learns of them. A third thread prunes the journal after this replica writes
a manifest (and once a minute while pruning is due), so deleting never delays a request
or the following. The store being down stops nothing that memory can answer.
"""

from __future__ import annotations

import logging
import threading
import time

from dynopypi.core.describe import Describer
from dynopypi.core.index import Index
from dynopypi.dists.facts import Found, SizeAndTime, is_ignored_name
from dynopypi.dists.names import DistFile, ParsedName, parse_filename
from dynopypi.errors import InvalidFilename
from dynopypi.store.base import Stat, Storage, StoreUnavailable
from dynopypi.store.bucket.journal import Journal
from dynopypi.store.bucket.prune import KEEP_SECONDS
from dynopypi.store.bucket.records import (
    RECORD_LIMIT,
    Added,
    BadRecord,
    Change,
    Record,
    Removed,
    facts_key,
    is_package_key,
    record_from_json,
)

log = logging.getLogger(__name__)
POLL_INTERVAL = 0.2  # seconds between journal checks: changes show within a second
ADOPT_AFTER_NS = 5 * 1_000_000_000  # a fresh upload may still be on its way to the journal
PRUNE_INTERVAL = 60.0  # seconds between pruning runs besides those after a compaction


class BucketSource:
    def __init__(
        self,
        storage: Storage,
        index: Index,
        describer: Describer,
        *,
        audit_interval: float = 60.0,
        journal_keep: float = KEEP_SECONDS,
    ) -> None:
        self.storage = storage
        self.index = index
        self.describer = describer
        self.audit_interval = audit_interval
        self.journal = Journal(storage, self._changed, keep_seconds=journal_keep)
        describer.yanked = lambda root, relpath: self.journal.state.yanked.get(relpath)
        self.problem: str | None = None  # why the store is not answering, if it is not
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # ---- turning records into served files ----------------------------------------------
    def dist(self, record: Record) -> DistFile | None:
        try:
            parsed = parse_filename(record.key.rsplit("/", 1)[-1])
        except InvalidFilename as exc:
            log.warning("ignoring %s in the bucket: %s", record.key, exc)
            return None
        return self._dist(record, parsed)

    def _dist(self, record: Record, parsed: ParsedName) -> DistFile:
        st = SizeAndTime(record.entry.size, record.entry.mtime_ns)
        found = Found(record.key, st, parsed, record.entry)
        return self.describer.dist(0, found, record.entry)

    def _changed(self, changes: list[Change]) -> None:
        """Journal entries → the index (under its writer lock, one snapshot per batch)."""
        state = self.journal.state
        keys = {c.record.key if isinstance(c, Added) else c.key for c in changes}
        added: list[DistFile] = []
        removed: list[str] = []
        for key in keys:
            record = state.records.get(key)
            dist = self.dist(record) if record is not None else None
            if dist is None:
                removed.append(key)
            else:
                added.append(dist)
        self.index.change(added, removed, source=0)

    # ---- lifecycle ---------------------------------------------------------------------
    def load(self) -> int:
        """Read the manifest and journal and publish them; the number of files."""
        started = time.monotonic()
        state = self.journal.load()
        dists = [d for d in map(self.dist, state.records.values()) if d is not None]
        self.index.change(dists, source=0)
        self.index.loaded = True
        log.info(
            "loaded %d files from %s in %.2f s (journal entry %d)",
            len(dists),
            self.storage.describe(),
            time.monotonic() - started,
            state.seq,
        )
        return len(dists)

    def start(self) -> None:
        loops = ((self._follow, "follow"), (self._audit_loop, "audit"), (self._prune_loop, "prune"))
        for target, name in loops:
            thread = threading.Thread(target=target, name=f"dynopypi-bucket-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        self.journal.prune_wanted.set()  # wakes the pruning thread
        for thread in self._threads:
            thread.join(timeout=5)

    def _follow(self) -> None:
        while not self._stop.is_set():
            try:
                self.journal.poll()
                self.journal.catch_up()
                if self.problem is not None:
                    log.warning("the package store answers again")
                self.problem = None
            except StoreUnavailable as exc:
                if self.problem is None:
                    log.error("%s; serving what is in memory meanwhile", exc.message)
                self.problem = exc.message
                self._stop.wait(1.0)
            except Exception:  # never let the follower die: the replica would go stale
                log.exception("following the bucket's journal failed")
                self._stop.wait(1.0)
            self._stop.wait(POLL_INTERVAL)

    def _audit_loop(self) -> None:
        while not self._stop.is_set():
            try:
                changed = self.audit()
                if changed:
                    log.info("bucket listing: %d changes made outside the journal", changed)
                self.index.verified.set()
            except StoreUnavailable as exc:
                self.problem = exc.message
            except Exception:
                log.exception("checking the bucket failed")
            if self._stop.wait(self.audit_interval or 3600.0):
                return

    def _prune_loop(self) -> None:
        while not self._stop.is_set():
            self.journal.prune_wanted.wait(PRUNE_INTERVAL)
            self.journal.prune_wanted.clear()
            if self._stop.is_set():
                return
            try:
                self.journal.prune()
            except StoreUnavailable:
                pass  # the follower reports it; the next run deletes what this one did not
            except Exception:
                log.exception("pruning the bucket's journal failed")

    # ---- the safety net ----------------------------------------------------------------
    def audit(self) -> int:
        """List the bucket once; adopt objects the journal lacks, forget vanished ones."""
        listed: dict[str, Stat] = {}
        for item in self.storage.list():
            if is_package_key(item.key) and not any(
                is_ignored_name(p) for p in item.key.split("/")
            ):
                listed[item.key] = item
        known = dict(self.journal.state.records)
        changes = 0
        now = time.time_ns()
        for key, item in listed.items():
            if key not in known and now - item.modified_ns > ADOPT_AFTER_NS:
                record = self.adopt(item)
                if record is not None:
                    self.journal.append(Added(record))
                    changes += 1
        for key in known.keys() - listed.keys():
            if self.storage.stat(key) is None:  # not merely uploaded after the listing
                self.journal.append(Removed(key))
                changes += 1
        return changes

    def adopt(self, item: Stat) -> Record | None:
        """The record of an object found by listing: its facts file, or read it once."""
        found = self.storage.read(facts_key(item.key), RECORD_LIMIT)
        if found is not None:
            try:
                record = record_from_json(_json(found[0]))
                if record.key == item.key and record.entry.size == item.size:
                    return record
            except BadRecord as exc:
                log.warning("rebuilding the facts of %s: %s", item.key, exc)
        from dynopypi.store.bucket.facts import describe_object  # reads the archive: the rare path

        return describe_object(self.storage, item, self.describer)


def _json(raw: bytes) -> object:
    import json

    try:
        return json.loads(raw)
    except ValueError as exc:
        raise BadRecord(f"not JSON: {exc}") from None
