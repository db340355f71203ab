"""The journal: how replicas sharing one bucket learn of each other's changes in order.

Entry ``n`` is the object ``.dynopypi/log/<n>.json``, created with put-if-absent, so two
replicas appending at once get distinct numbers: the loser reads the winner's entry and
tries the next number. Following is one small GET of the next number (a 404 while nothing
happens), a few times a second: every replica sees a change within a second without
listing the bucket. The manifest, rewritten conditionally every ``COMPACT_EVERY`` entries,
lets a starting replica skip the journal's past.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from .bucket_records import (
    BATCH,
    MANIFEST,
    MANIFEST_LIMIT,
    RECORD_LIMIT,
    BadRecord,
    Change,
    State,
    decode_entry,
    decode_manifest,
    encode_entry,
    encode_manifest,
    log_key,
)
from .storage import KeyExists, Storage, VersionChanged

log = logging.getLogger(__name__)
COMPACT_EVERY = 500
Listener = Callable[[list[Change]], None]


class Journal:
    def __init__(self, storage: Storage, listener: Listener) -> None:
        self.storage = storage
        self.listener = listener
        self.state = State(0, {}, {})
        self._lock = threading.RLock()  # applying entries, in order, one batch at a time
        self._manifest_seq = 0
        self.last_contact = 0.0  # monotonic time the store last answered a poll

    def load(self) -> State:
        """The manifest, then every entry after it: the bucket's state as of now."""
        found = self.storage.read(MANIFEST, MANIFEST_LIMIT)
        with self._lock:
            if found is not None:
                try:
                    self.state = decode_manifest(found[0])
                except BadRecord as exc:  # rebuilt from the whole journal instead
                    log.error("ignoring the bucket's manifest: %s", exc)
                    self.state = State(0, {}, {})
            self._manifest_seq = self.state.seq
            self.poll(notify=False)
        return self.state

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
        if seq - self._manifest_seq >= COMPACT_EVERY:
            self.compact()
        return seq

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
                self.storage.write(MANIFEST, data, expect=found[1].version if found else None)
            else:
                self.storage.write(MANIFEST, data, expect=None)
        except (KeyExists, VersionChanged):
            return False  # another replica wrote one meanwhile: as good
        self._manifest_seq = seq
        log.info("bucket manifest written at journal entry %d (%d files)", seq, files)
        return True


def _seq_of(raw: bytes) -> int:
    try:
        return decode_manifest(raw).seq
    except BadRecord:
        return -1
