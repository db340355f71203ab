"""The journal: how replicas sharing one bucket learn of each other's changes in order.

Entry ``n`` is the object ``.dynopypi/log/<n>.json``, created with put-if-absent, so two
replicas appending at once get distinct numbers: the loser reads the winner's entry and
tries the next number. Following is one small GET of the next number (a 404 while nothing
happens), a few times a second: every replica sees a change within a second without
listing the bucket. The manifest, rewritten conditionally every ``COMPACT_EVERY`` entries,
lets a starting replica skip the journal's past, and lets the past go: after compacting, a
replica deletes the entries the manifest covers, oldest first, a page at a time, off the
request path (``prune``; which ones in ``prune``).

A replica that was paused or cut off from the store for longer than entries are kept may
find its next entry gone: a missing entry looks like a quiet journal. So every few seconds
a follower checks whether the manifest changed (one HEAD) and, when the manifest is beyond
its position, loads it and tells its index the difference (``catch_up``). An append does
the same check first when the follower has not lately, so a replica never writes an entry
under a number others have passed.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable

from dynopypi.store.base import KeyExists, Storage, VersionChanged
from dynopypi.store.bucket.prune import BATCH as PRUNE_BATCH
from dynopypi.store.bucket.prune import KEEP_ENTRIES, KEEP_SECONDS, entry_seq, plan_pruning
from dynopypi.store.bucket.records import (
    BATCH,
    LOG,
    MANIFEST,
    MANIFEST_LIMIT,
    RECORD_LIMIT,
    Added,
    BadRecord,
    Change,
    State,
    decode_entry,
    decode_manifest,
    difference,
    encode_entry,
    encode_manifest,
    log_key,
)

log = logging.getLogger(__name__)
COMPACT_EVERY = 500
CHECK_EVERY = 5.0  # seconds between checks that the manifest is not beyond the follower
Listener = Callable[[list[Change]], None]


class Journal:
    def __init__(
        self,
        storage: Storage,
        listener: Listener,
        *,
        compact_every: int = COMPACT_EVERY,
        keep_seconds: float = KEEP_SECONDS,
        check_every: float = CHECK_EVERY,
    ) -> None:
        self.storage = storage
        self.listener = listener
        self.compact_every = compact_every
        self.keep_seconds = keep_seconds
        self.check_every = check_every
        self.state = State(0, {}, {})
        self._lock = threading.RLock()  # applying entries, in order, one batch at a time
        self._manifest_seq = 0  # the newest manifest this replica knows of
        self._manifest_version: str | None = None  # its storage version
        self._checked = 0.0  # monotonic time of the last manifest check (catch_up)
        self._pruned_through = 0  # no entry at or below this number is left
        self.prune_wanted = threading.Event()  # set after a compaction: prune soon
        self.last_contact = 0.0  # monotonic time the store last answered a poll

    def load(self) -> State:
        """The manifest, then every entry after it: the bucket's state as of now."""
        found = self.storage.read(MANIFEST, MANIFEST_LIMIT)
        with self._lock:
            if found is not None:
                self._manifest_version = found[1].version
                try:
                    self.state = decode_manifest(found[0])
                except BadRecord as exc:  # rebuilt from the whole journal instead
                    log.error("ignoring the bucket's manifest: %s", exc)
                    self.state = State(0, {}, {})
            self._manifest_seq = self.state.seq
            if self.state.seq == 0:
                self.state.seq = self._first_entry() - 1
            self._checked = time.monotonic()
            self.poll(notify=False)
        return self.state

    def _first_entry(self) -> int:
        """Without a manifest, where the journal starts: 1, unless entries were pruned
        (then the listing adopts their files; appending at a pruned number would hide the
        change from every replica already past it)."""
        if self.storage.stat(log_key(1)) is not None:
            return 1
        for item in itertools.islice(self.storage.list(LOG), 1):
            seq = entry_seq(item.key)
            if seq is not None and seq > 1:
                log.error(
                    "the bucket's journal starts at entry %d and no manifest covers the "
                    "entries before it: files are adopted by listing; yanks before it are lost",
                    seq,
                )
                return seq
        return 1

    def poll(self, *, notify: bool = True) -> int:
        """Apply every entry after the last one applied; how many there were."""
        with self._lock:
            batch: list[Change] = []
            while True:
                seq = self.state.seq + 1
                found = self.storage.read(log_key(seq), RECORD_LIMIT)
                if found is None:
                    break
                try:
                    changes = decode_entry(found[0])
                except BadRecord as exc:
                    log.error("skipping journal entry %d of the bucket: %s", seq, exc)
                    changes = []
                for change in changes:
                    self.state.apply(change)
                batch += changes
                self.state.seq = seq
            self.last_contact = time.monotonic()
            if batch and notify:
                self.listener(batch)
        return len(batch)

    def append(self, change: Change) -> int:
        """Add ``change`` after every entry any replica wrote; its number. The listener
        has seen it (and everything before it) when this returns."""
        return self.append_many([change])

    def append_many(self, changes: list[Change]) -> int:
        """``append`` for many changes, ``BATCH`` to an entry; the last entry's number."""
        self.catch_up(every=2 * self.check_every)  # when the follower has not lately
        seq = self.state.seq
        for start in range(0, len(changes), BATCH):
            chunk = changes[start : start + BATCH]
            data = encode_entry(chunk)
            with self._lock:
                while True:
                    self.poll()
                    seq = self.state.seq + 1
                    try:
                        self.storage.write(log_key(seq), data, expect=None)
                    except KeyExists:
                        continue  # another replica took this number: read it, try the next
                    for change in chunk:
                        self.state.apply(change)
                    self.state.seq = seq
                    self.listener(chunk)
                    break
        if seq - self._manifest_seq >= self.compact_every:
            self.compact()
        return seq

    def catch_up(self, *, every: float | None = None) -> bool:
        """Reload the manifest when it is beyond this replica's position and the next
        entry is gone (pruned while this replica was paused or cut off), and tell the
        listener the difference; whether it did. A manifest unchanged since the last
        check costs one HEAD; a check sooner than ``every`` seconds after the last costs
        nothing."""
        if time.monotonic() - self._checked < (self.check_every if every is None else every):
            return False
        current = self.storage.stat(MANIFEST)
        self._checked = time.monotonic()
        if current is None or current.version == self._manifest_version:
            return False
        found = self.storage.read(MANIFEST, MANIFEST_LIMIT)
        if found is None:
            return False
        self._manifest_version = found[1].version
        try:
            manifest = decode_manifest(found[0])
        except BadRecord as exc:
            log.error("ignoring the bucket's manifest: %s", exc)
            return False
        self._manifest_seq = max(self._manifest_seq, manifest.seq)
        with self._lock:
            self.poll()
            if manifest.seq <= self.state.seq:
                return False  # following normally: the next entry is simply not written yet
            old, behind = self.state, self.state.seq
            self.state = manifest
            self.poll(notify=False)
            changes = difference(old, self.state)
            log.warning(
                "journal entries after %d were pruned before this replica read them (paused "
                "or cut off from the store?): caught up from the manifest at entry %d, now "
                "at entry %d, %d files changed",
                behind,
                manifest.seq,
                self.state.seq,
                len({c.record.key if isinstance(c, Added) else c.key for c in changes}),
            )
            if changes:
                self.listener(changes)
        return True

    def prune(self) -> int:
        """Delete up to a page of the entries the known manifest covers and that are old
        enough (``prune``); how many. Runs off the request path, after a
        compaction and now and then; two replicas pruning at once delete some keys twice,
        which is harmless."""
        manifest_seq = self._manifest_seq
        if manifest_seq - KEEP_ENTRIES <= self._pruned_through:
            return 0
        listed = itertools.islice(self.storage.list(LOG), PRUNE_BATCH + 1)
        plan = plan_pruning(
            listed, manifest_seq=manifest_seq, now_ns=time.time_ns(), keep_seconds=self.keep_seconds
        )
        for key in plan.keys:
            self.storage.delete(key)
        self._pruned_through = max(self._pruned_through, plan.through)
        if plan.keys:
            log.info(
                "pruned %d journal entries of the bucket (the manifest covers entry %d)",
                len(plan.keys),
                manifest_seq,
            )
        return len(plan.keys)

    def compact(self) -> bool:
        """Write the manifest at the current entry, unless a newer one is there."""
        with self._lock:
            data = encode_manifest(self.state)
            seq, files = self.state.seq, len(self.state.records)
        current = self.storage.stat(MANIFEST)
        try:
            if current is not None:
                found = self.storage.read(MANIFEST, MANIFEST_LIMIT)
                if found is not None and _seq_of(found[0]) >= seq:
                    self._manifest_seq = max(self._manifest_seq, seq)
                    return False
                expect = found[1].version if found else None
                written = self.storage.write(MANIFEST, data, expect=expect)
            else:
                written = self.storage.write(MANIFEST, data, expect=None)
        except (KeyExists, VersionChanged):
            return False  # another replica wrote one meanwhile: as good
        self._manifest_seq = seq
        self._manifest_version = written.version  # catch_up need not read it back
        self.prune_wanted.set()
        log.info("bucket manifest written at journal entry %d (%d files)", seq, files)
        return True


def _seq_of(raw: bytes) -> int:
    try:
        return decode_manifest(raw).seq
    except BadRecord:
        return -1
