"""Pruning the bucket's journal: which keys go (a pure choice), and a replica that missed
pruned entries catching up from the manifest (over the directory store, which keeps the
same contract as S3's; tests/e2e/test_s3.py does it on a real SeaweedFS)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dynopypi.dists.facts import CacheEntry
from dynopypi.store.base import Stat
from dynopypi.store.bucket.journal import Journal
from dynopypi.store.bucket.prune import entry_seq, plan_pruning
from dynopypi.store.bucket.records import (
    MANIFEST,
    Added,
    Change,
    Record,
    Removed,
    State,
    Yanked,
    difference,
    facts_key,
    log_key,
    meta_key,
)
from dynopypi.store.copy.directory import DirectoryStorage

NOW = 2_000_000_000 * 10**9
MINUTE = 60 * 10**9


def record(key: str) -> Record:
    entry = CacheEntry(
        10, 1_700_000_000_000_000_000, bytes(80), None, None, None, None, "demo", "1.0",
        "sdist", "source",
    )  # fmt: skip
    return Record(key, entry, '"etag"')


def stat(key: str, age_ns: int = 3600 * 10**9) -> Stat:
    return Stat(key, 10, '"v"', NOW - age_ns)


@pytest.mark.parametrize(
    ("key", "seq"),
    [
        (log_key(1), 1),
        (log_key(123456), 123456),
        (log_key(10**13), 10**13),  # beyond the padding, still spelled by log_key
        (".dynopypi/log/1.json", None),  # not log_key's spelling: not ours to delete
        (".dynopypi/log/000000000001.json.tmp", None),
        (".dynopypi/log/-00000000001.json", None),
        (".dynopypi/log/00000000000٣.json", None),  # a non-ASCII digit
        (MANIFEST, None),
        (facts_key("demo-1.0.tar.gz"), None),
        ("demo-1.0.tar.gz", None),
    ],
)
def test_only_journal_entries_have_a_number(key: str, seq: int | None) -> None:
    assert entry_seq(key) == seq


def test_covered_and_old_entries_go_oldest_first_and_nothing_else() -> None:
    others = [stat(MANIFEST), stat(facts_key("a-1.0.tar.gz")), stat(meta_key("a-1.0.tar.gz")),
              stat("a-1.0.tar.gz"), stat(".dynopypi/log/5.json")]  # fmt: skip
    entries = [stat(log_key(n)) for n in range(300, 0, -1)]  # any order in
    plan = plan_pruning(
        others + entries, manifest_seq=250, now_ns=NOW, keep_seconds=600, keep_entries=100
    )
    assert plan.keys == [log_key(n) for n in range(1, 151)]
    assert plan.through == 150


@pytest.mark.parametrize(
    ("ages_minutes", "limit", "keys", "through"),
    [
        ([60, 60, 5, 60], 10, 2, 2),  # a young entry stops the run: what is gone stays a run
        ([5, 60, 60, 60], 10, 0, 0),
        ([60, 60, 60, 60], 3, 3, 3),  # the rest on the next run
        ([60, 60, 60, 60], 10, 4, 6),  # 5 and 6 were pruned already (not listed)
    ],
)
def test_young_entries_and_the_batch_limit_stop_a_run(
    ages_minutes: list[int], limit: int, keys: int, through: int
) -> None:
    listed = [stat(log_key(n + 1), age * MINUTE) for n, age in enumerate(ages_minutes)]
    listed.append(stat(log_key(9), 60 * MINUTE))  # beyond what the manifest covers, less kept
    plan = plan_pruning(
        listed, manifest_seq=8, now_ns=NOW, keep_seconds=600, keep_entries=2, limit=limit
    )
    assert plan.keys == [log_key(n) for n in range(1, keys + 1)]
    assert plan.through == through


def test_a_manifest_below_the_kept_count_prunes_nothing() -> None:
    plan = plan_pruning([stat(log_key(1))], manifest_seq=50, now_ns=NOW, keep_seconds=0)
    assert plan.keys == [] and plan.through == 0


def test_the_difference_of_two_states_is_one_change_per_changed_file() -> None:
    kept, gone, new, flip = (record(f"{n}-1.0.tar.gz") for n in ("kept", "gone", "new", "flip"))
    old = State(3, {r.key: r for r in (kept, gone, flip)}, {flip.key: "bad", gone.key: "x"})
    now = State(9, {r.key: r for r in (kept, new, flip)}, {kept.key: "broken"})
    changes = difference(old, now)
    assert sorted(changes, key=repr) == sorted(
        [Added(new), Removed(gone.key), Yanked(kept.key, "broken"), Yanked(flip.key, None)],
        key=repr,
    )
    replayed = State(3, dict(old.records), dict(old.yanked))
    for change in changes:
        replayed.apply(change)
    assert (replayed.records, replayed.yanked) == (now.records, now.yanked)
    assert difference(now, now) == []


def entries(storage: DirectoryStorage) -> list[int]:
    return sorted(n for s in storage.list(".dynopypi/log/") if (n := entry_seq(s.key)))


def test_a_follower_whose_next_entry_was_pruned_catches_up_from_the_manifest(
    tmp_path: Path,
) -> None:
    storage = DirectoryStorage(tmp_path)
    seen: list[Change] = []
    writer = Journal(storage, lambda changes: None, compact_every=50, keep_seconds=0)
    follower = Journal(storage, seen.extend, check_every=0)
    for name in ("stays", "goes", "yanked"):
        writer.append(Added(record(f"{name}-1.0.tar.gz")))
    follower.load()
    assert follower.state.seq == 3
    # while the follower is away: one file removed, one yanked, one added, then enough
    # changes for the manifest to cover the entries after 100 more
    writer.append(Removed("goes-1.0.tar.gz"))
    writer.append(Yanked("yanked-1.0.tar.gz", "broken"))
    writer.append(Added(record("new-1.0.tar.gz")))
    for n in range(150):
        writer.append(Yanked("stays-1.0.tar.gz", None if n % 2 else "flip"))
    assert writer.state.seq == 156 and storage.stat(MANIFEST) is not None
    assert writer.prune() == 50  # the manifest covers 150: entries 1..50 go
    assert entries(storage) == list(range(51, 157))
    assert writer.prune() == 0  # nothing more is due: no listing either
    assert follower.poll() == 0  # entry 4 is gone: to a poll, a quiet journal
    assert follower.catch_up()
    assert follower.state.seq == 156
    assert follower.state.records == writer.state.records
    assert follower.state.yanked == writer.state.yanked == {"yanked-1.0.tar.gz": "broken"}
    keys = {c.record.key if isinstance(c, Added) else c.key for c in seen}
    assert keys == {"goes-1.0.tar.gz", "yanked-1.0.tar.gz", "new-1.0.tar.gz"}
    assert not follower.catch_up()  # the manifest has not changed since: one HEAD


def test_a_replica_behind_a_pruned_entry_appends_after_the_others_not_into_the_gap(
    tmp_path: Path,
) -> None:
    storage = DirectoryStorage(tmp_path)
    writer = Journal(storage, lambda changes: None, compact_every=50, keep_seconds=0)
    late = Journal(storage, lambda changes: None, check_every=0)
    late.load()
    for n in range(160):
        writer.append(Added(record(f"w{n}-1.0.tar.gz")))
    assert writer.prune() > 0 and storage.stat(log_key(1)) is None
    seq = late.append(Added(record("late-1.0.tar.gz")))
    assert seq == 161
    writer.poll()
    assert "late-1.0.tar.gz" in writer.state.records


def test_without_a_manifest_a_pruned_journal_is_followed_from_its_oldest_entry(
    tmp_path: Path,
) -> None:
    storage = DirectoryStorage(tmp_path)
    writer = Journal(storage, lambda changes: None, compact_every=50, keep_seconds=0)
    for n in range(160):
        writer.append(Added(record(f"w{n}-1.0.tar.gz")))
    writer.prune()
    storage.delete(MANIFEST)
    fresh = Journal(storage, lambda changes: None)
    assert fresh.load().seq == 160
    assert fresh.append(Added(record("fresh-1.0.tar.gz"))) == 161  # not entry 1 again
