"""The bucket's own records and journal, over the directory store (the same contract as
S3's, tested in test_storage_contract): hostile records are refused, racing appends from
two replicas never lose an entry, and a replica starts from the manifest."""

from __future__ import annotations

import gzip
import json
import threading
from pathlib import Path

import pytest

from dynopypi.dists.facts import CacheEntry
from dynopypi.store.bucket.journal import Journal
from dynopypi.store.bucket.records import (
    MANIFEST,
    Added,
    BadRecord,
    Change,
    Record,
    Removed,
    State,
    Yanked,
    decode_change,
    decode_manifest,
    encode_change,
    encode_manifest,
    log_key,
)
from dynopypi.store.copy.directory import DirectoryStorage


def record(key: str, size: int = 10) -> Record:
    entry = CacheEntry(
        size, 1_700_000_000_000_000_000, bytes(32 + 16 + 32), None, ">=3.9", bytes(32),
        "Demo", "demo", "1.0", "bdist_wheel", "py3",
    )  # fmt: skip
    return Record(key, entry, '"etag"')


def test_changes_and_manifests_round_trip() -> None:
    changes: list[Change] = [Added(record("a/demo-1.0-py3-none-any.whl")), Removed("x.tar.gz")]
    changes.append(Yanked("demo-1.0.tar.gz", "broken"))
    for change in changes:
        assert decode_change(encode_change(change)) == change
    state = State(7, {"demo-1.0.tar.gz": record("demo-1.0.tar.gz")}, {"demo-1.0.tar.gz": ""})
    assert decode_manifest(encode_manifest(state)) == state


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b"[]",
        b'{"op": "drop_table"}',
        b'{"op": "remove", "key": "../../etc/passwd"}',
        b'{"op": "remove", "key": "/etc/passwd"}',
        b'{"op": "yank", "key": ".dynopypi/manifest.json.gz", "reason": "x"}',
        b'{"op": "remove", "key": 7}',
        b'{"op": "add", "record": {"key": "a.whl"}}',
        b'{"op": "add", "record": "a.whl"}',
    ],
)
def test_hostile_journal_entries_are_refused(raw: bytes) -> None:
    with pytest.raises(BadRecord):
        decode_change(raw)


def test_a_manifest_that_expands_without_bound_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    bomb = gzip.compress(b"{" + b" " * 5_000_000 + b"}")
    monkeypatch.setattr("dynopypi.store.bucket.records.MANIFEST_LIMIT", 100_000)
    with pytest.raises(BadRecord, match="limit"):
        decode_manifest(bomb)
    with pytest.raises(BadRecord):
        decode_manifest(gzip.compress(json.dumps({"format": 2}).encode()))


def test_two_replicas_appending_at_once_lose_nothing(tmp_path: Path) -> None:
    storage = DirectoryStorage(tmp_path)
    seen: list[list[Change]] = [[], []]
    journals = [Journal(storage, seen[i].extend) for i in range(2)]

    def append_many(i: int) -> None:
        for n in range(40):
            journals[i].append(Added(record(f"r{i}-{n}-1.0.tar.gz")))

    threads = [threading.Thread(target=append_many, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for journal in journals:
        journal.poll()
    assert journals[0].state.seq == journals[1].state.seq == 80
    assert journals[0].state.records == journals[1].state.records
    assert len(journals[0].state.records) == 80
    assert storage.stat(log_key(80)) is not None and storage.stat(log_key(81)) is None


def test_a_replica_starts_from_the_manifest_and_the_entries_after_it(tmp_path: Path) -> None:
    storage = DirectoryStorage(tmp_path)
    writer = Journal(storage, lambda changes: None, compact_every=5)
    for n in range(7):
        writer.append(Added(record(f"m{n}-1.0.tar.gz")))
    writer.append(Yanked("m1-1.0.tar.gz", "bad"))
    writer.append(Removed("m2-1.0.tar.gz"))
    assert storage.stat(MANIFEST) is not None
    assert decode_manifest(storage.read(MANIFEST, 1 << 20)[0]).seq == 5  # type: ignore[index]
    storage.delete(log_key(1))  # the manifest covers it: never read again
    reader = Journal(storage, lambda changes: None)
    state = reader.load()
    assert state.seq == 9
    assert set(state.records) == {f"m{n}-1.0.tar.gz" for n in range(7)} - {"m2-1.0.tar.gz"}
    assert state.yanked == {"m1-1.0.tar.gz": "bad"}


def test_a_corrupt_manifest_or_entry_is_skipped_not_fatal(tmp_path: Path) -> None:
    storage = DirectoryStorage(tmp_path)
    writer = Journal(storage, lambda changes: None)
    writer.append(Added(record("ok-1.0.tar.gz")))
    storage.write(log_key(2), b"garbage", expect=None)
    writer.append(Added(record("later-1.0.tar.gz")))
    storage.write(MANIFEST, b"not gzip", expect=None)
    state = Journal(storage, lambda changes: None).load()
    assert state.seq == 3
    assert set(state.records) == {"ok-1.0.tar.gz", "later-1.0.tar.gz"}


def test_many_changes_travel_in_few_entries(tmp_path: Path) -> None:
    storage = DirectoryStorage(tmp_path)
    seen: list[Change] = []
    writer = Journal(storage, lambda changes: None)
    follower = Journal(storage, seen.extend)
    follower.load()
    last = writer.append_many([Added(record(f"many{n}-1.0.tar.gz")) for n in range(1200)])
    assert last == 3  # 500 + 500 + 200
    assert follower.poll() == 1200 and len(seen) == 1200
    assert len(follower.state.records) == 1200
