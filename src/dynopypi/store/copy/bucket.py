"""The bucket end of ``dynopypi storage copy`` (``s3://BUCKET/PREFIX``).

As a source, a package's expected sha256 comes from the bucket's own records (the journal,
else the facts record beside it, else the ``sha256`` the put carried), so bytes that differ
from what was uploaded are refused. As a destination, each file is put only if absent with
its sha256, then gets its facts record and core metadata, then a journal entry; entries are
written in batches every ``FLUSH_EVERY`` seconds, so replicas following the bucket show the
files within a second and 60,000 files are a few hundred entries, not 60,000. A file put
by a copy that was killed before its entry is completed by the next run.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, BinaryIO

from dynopypi.core.describe import Describer
from dynopypi.dists.facts import Facts, SizeAndTime, is_ignored_name
from dynopypi.dists.names import DIST_SUFFIXES
from dynopypi.store.base import KeyExists, Stat, StoreUnavailable
from dynopypi.store.bucket.facts import store_facts
from dynopypi.store.bucket.journal import Journal
from dynopypi.store.bucket.records import (
    BATCH,
    RECORD_LIMIT,
    Added,
    BadRecord,
    Change,
    Record,
    Yanked,
    facts_key,
    is_package_key,
    record_from_json,
)
from dynopypi.store.bucket.s3 import S3Storage
from dynopypi.store.copy.sides import Conflict, Existing, Item, Placed, item_of, same, sha256_of

FLUSH_EVERY = 0.3  # seconds: a copied file is in the bucket's journal within a second


class BucketSide:
    """A bucket below a prefix (what ``dynopypi run --storage s3://...`` serves)."""

    def __init__(self, storage: S3Storage) -> None:
        self.storage = storage
        self.journal = Journal(storage, lambda changes: None)
        self.describer = Describer(None)
        self._temp: str | None = None
        self._pending: list[Change] = []  # placed, not yet journaled
        self._lock = threading.Lock()
        self._flusher: threading.Thread | None = None
        self._stop = threading.Event()
        self._failure: StoreUnavailable | None = None
        self._listed: dict[str, Stat] | None = None  # the destination's objects at start

    def describe(self) -> str:
        return self.storage.describe()

    def where(self) -> str:
        store = self.storage
        return f"{store.endpoint_url or 'aws'} {store.bucket}/{store.prefix}"

    def prepare(self, role: str) -> None:
        self.storage.check()
        self.journal.load()
        if role == "DST":  # one listing instead of a HEAD per key (most are absent)
            self._listed = {st.key: st for st in self.storage.list() if is_package_key(st.key)}

    def close(self) -> None:
        self._stop.set()
        if self._temp is not None:
            shutil.rmtree(self._temp, ignore_errors=True)

    def _record(self, key: str) -> Record | None:
        """The journal's record of ``key``, else its facts record, if any decodes."""
        record = self.journal.state.records.get(key)
        if record is not None:
            return record
        found = self.storage.read(facts_key(key), RECORD_LIMIT)
        if found is None:
            return None
        try:
            record = record_from_json(json.loads(found[0]))
        except (ValueError, BadRecord):
            return None
        return record if record.key == key else None

    # ---- as the source
    def items(self) -> tuple[list[Item], list[str]]:
        found: list[Item] = []
        ignored: list[str] = []
        for st in self.storage.list():
            key = st.key
            if not is_package_key(key) or any(is_ignored_name(p) for p in key.split("/")):
                continue
            if not key.lower().endswith(DIST_SUFFIXES):
                continue
            record = self._record(key)
            sha = record.entry.hashes[:32].hex() if record is not None else None
            if sha is None:  # no record: what the put said, if it said anything
                head = self.storage.stat(key)
                sha = head.sha256 if head is not None else None
            mtime = record.entry.mtime_ns if record is not None else st.modified_ns
            item = item_of(key, st.size, mtime, sha)
            if isinstance(item, Item):
                found.append(item)
            else:
                ignored.append(f"{key}: {item}")
        return found, ignored

    def open(self, item: Item) -> BinaryIO:
        return self.storage.open(item.key)

    def sha256(self, item: Item) -> str:
        if item.sha256 is not None:
            return item.sha256
        with self.open(item) as stream:
            return sha256_of(stream)

    def upload_time(self, item: Item) -> int:
        return item.mtime_ns

    def yanks(self, items: list[Item]) -> dict[str, str]:
        keys = {i.key for i in items}
        return {k: r for k, r in self.journal.state.yanked.items() if k in keys}

    # ---- as the destination
    def existing(self, key: str) -> Existing | None:
        """What is under ``key``: absent from the listing at start is absent (an object
        put since is found by ``place``, whose put is conditional)."""
        listed = self._listed.get(key) if self._listed is not None else None
        if self._listed is not None and listed is None:
            return None
        record = self.journal.state.records.get(key)
        if listed is not None and record is not None and record.version == listed.version:
            return Existing(record.entry.hashes[:32].hex(), complete=True)
        return self._probe(key)

    def _probe(self, key: str) -> Existing | None:
        """What is under ``key`` now, asking the store."""
        st = self.storage.stat(key)
        if st is None:
            return None
        sha = st.sha256
        record = self._record(key)
        if sha is None and record is not None and record.version == st.version:
            sha = record.entry.hashes[:32].hex()
        if sha is None:  # put there another way, never described: read it
            with self.storage.open(key) as stream:
                sha = sha256_of(stream)
        return Existing(sha, complete=key in self.journal.state.records)

    @contextlib.contextmanager
    def stage(self, item: Item) -> Iterator[tuple[IO[bytes], Path]]:
        if self._temp is None:
            self._temp = tempfile.mkdtemp(prefix="dynopypi-copy-")
        fd, name = tempfile.mkstemp(dir=self._temp, suffix=".part")
        out = os.fdopen(fd, "wb")
        try:
            yield out, Path(name)
        finally:
            out.close()
            Path(name).unlink(missing_ok=True)

    def place(self, item: Item, staged: Path, facts: Facts) -> None:
        assert facts.digests is not None
        sha256 = facts.digests["sha256"]
        try:
            st = self.storage.put_if_absent(item.key, staged, sha256=sha256)
        except KeyExists:
            found = self._probe(item.key)
            if found is None:
                raise StoreUnavailable(f"{item.key} exists and vanished at once") from None
            if not same(found.sha256, sha256):
                raise Conflict(found.sha256) from None
            if found.complete:
                raise Placed from None
            current = self.storage.stat(item.key)  # completing a killed copy's object
            if current is None:
                raise StoreUnavailable(f"{item.key} vanished while being recorded") from None
            st = current
        size = os.stat(staged).st_size
        entry = self.describer.entry(SizeAndTime(size, item.mtime_ns), facts, item.parsed)
        record = Record(item.key, entry, st.version)
        store_facts(self.storage, record, facts.metadata)
        self._journal(Added(record))

    # ---- journaling in batches (``BATCH`` changes to an entry, one entry per tick)
    def _journal(self, change: Change) -> None:
        if self._failure is not None:
            raise self._failure
        with self._lock:
            self._pending.append(change)
            if self._flusher is None:
                self._flusher = threading.Thread(
                    target=self._flush_loop, name="dynopypi-copy-journal", daemon=True
                )
                self._flusher.start()

    def _flush_loop(self) -> None:
        while not self._stop.wait(FLUSH_EVERY):
            try:
                self._flush()
            except StoreUnavailable as exc:
                self._failure = exc
                return

    def _flush(self) -> None:
        with self._lock:
            changes, self._pending = self._pending, []
        for start in range(0, len(changes), BATCH):
            self.journal.append_many(changes[start : start + BATCH])

    def finish(self) -> None:
        """Journal what is placed and not journaled yet (``StoreUnavailable`` if it cannot)."""
        self._stop.set()
        if self._flusher is not None:
            self._flusher.join()
            self._flusher = None
        if self._failure is not None:
            raise self._failure
        self._flush()

    def add_yanks(self, yanks: dict[str, str]) -> int:
        """A journal entry per yank the bucket lacks; how many."""
        state = self.journal.state
        changes: list[Change] = [
            Yanked(key, reason)
            for key, reason in sorted(yanks.items())
            if key in state.records and state.yanked.get(key) != reason
        ]
        if changes:
            self.journal.append_many(changes)
        return len(changes)
