"""Which journal entries may be deleted (pure): the bucket would otherwise grow by one
object per change forever, and every audit listing would list them all.

An entry may go once the manifest covers it, with two margins, so that a replica that is
merely behind still reads entries rather than reloading the manifest:

- a count: the last ``KEEP_ENTRIES`` entries the manifest covers stay (a replica that
  read the previous manifest, or is a few hundred changes behind, still follows on);
- an age: an entry stays until it is ``keep_seconds`` old by the store's ``LastModified``
  (entries carry no time of their own; the store's clock is the one all replicas share).
  A follower reads every entry within a second, so only a replica that has not reached
  the store for that long can miss one, and it catches up from the manifest instead
  (``Journal.catch_up``).

Deletion takes the oldest first and stops at the first entry that must stay, so what is
gone is always a run of the journal's oldest numbers. Only keys spelled exactly as
``log_key`` spells them are ever chosen: never the manifest, facts, metadata or packages.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from dynopypi.store.base import Stat
from dynopypi.store.bucket.records import LOG, log_key

KEEP_ENTRIES = 100  # covered entries kept beyond the manifest's own number
KEEP_SECONDS = 600.0  # default age before a covered entry may go (--s3-journal-keep)
BATCH = 999  # deletions per run: they and the entry after them are one page of a listing
# (1,000 keys; S3 lists keys in order, so the first page holds the oldest entries)


@dataclass(frozen=True)
class Pruning:
    keys: list[str]  # delete these, oldest first
    through: int  # afterwards no entry numbered at or below this is left (as listed)


def entry_seq(key: str) -> int | None:
    """The number of the journal entry at ``key``; None for anything else."""
    stem = key.removeprefix(LOG).removesuffix(".json")
    if not stem.isdigit() or not stem.isascii() or log_key(int(stem)) != key:
        return None
    return int(stem)


def plan_pruning(
    listed: Iterable[Stat],
    *,
    manifest_seq: int,
    now_ns: int,
    keep_seconds: float,
    keep_entries: int = KEEP_ENTRIES,
    limit: int = BATCH,
) -> Pruning:
    """The entries among ``listed`` to delete now: numbered at most ``manifest_seq -
    keep_entries``, at least ``keep_seconds`` old, at most ``limit`` of them."""
    covered = manifest_seq - keep_entries
    entries = sorted(
        ((seq, item) for item in listed if (seq := entry_seq(item.key)) is not None),
        key=lambda pair: pair[0],
    )
    keys: list[str] = []
    for seq, item in entries:
        if seq > covered:
            break
        if len(keys) >= limit or now_ns - item.modified_ns < keep_seconds * 1e9:
            return Pruning(keys, seq - 1)  # the rest on a later run
        keys.append(item.key)
    return Pruning(keys, max(covered, 0))
