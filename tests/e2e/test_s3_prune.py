"""The bucket's journal is pruned, on a real SeaweedFS with real replicas.

Every change is one journal object; after ``COMPACT_EVERY`` (500) entries a replica
writes the manifest and then deletes what it covers, keeping the last 100 entries it
covers and entries younger than ``--s3-journal-keep`` (0 here, so that a test need not wait
ten minutes). The changes are yanks through the HTTP API (4 ms each): a real replica's
requests, no lowered threshold. A replica that slept through the pruning (SIGSTOP) must
notice and catch up from the manifest, not wait forever on an entry that is gone.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest
from support.bucket_server import BucketServer, BucketServerFactory
from support.clients import files_of
from support.fakedist import make_wheel
from support.helpers import poll_until
from support.seaweed import S3Place, SeaweedFS
from support.uploads import upload

from dynopypi.store.bucket.journal import COMPACT_EVERY
from dynopypi.store.bucket.prune import KEEP_ENTRIES, entry_seq
from dynopypi.store.bucket.records import MANIFEST, decode_manifest, facts_key, meta_key

OPEN = ("-P", ".", "-a", ".")
PRUNING = ("--s3-journal-keep", "0")  # entries may go as soon as the manifest covers them
CHURN = COMPACT_EVERY + 100  # yanks: entries beyond a manifest, so some are pruned
JSON_V1 = "application/vnd.pypi.simple.v1+json"


def action(server: BucketServer, what: str, name: str, reason: str = "") -> None:
    fields = {":action": what, "name": name, "version": "1.0", "reason": reason}
    answer = server.request("POST", "/", data=fields)
    assert answer.status_code == 200, answer.text


def churn(server: BucketServer, count: int) -> None:
    """``count`` journal entries: the yank reason of ``filler`` 1.0, changed each time."""
    for n in range(count):
        action(server, "yank", "filler", f"churn {n}")


def journal(place: S3Place) -> list[int]:
    """The numbers of the journal entries in the bucket."""
    found = (entry_seq(key.removeprefix(place.prefix)) for key in place.keys())  # noqa: SIM118
    return sorted(n for n in found if n is not None)


def manifest_seq(place: S3Place) -> int:
    raw = place.client().get_object(Bucket=place.bucket, Key=place.prefix + MANIFEST)
    return decode_manifest(raw["Body"].read()).seq


def setup(seaweed: SeaweedFS) -> tuple[str, S3Place]:
    bucket = seaweed.new_bucket("prune")
    return f"s3://{bucket}/pkgs", S3Place(seaweed, bucket, "pkgs/")


def test_old_entries_go_and_a_new_replica_starts_from_what_is_left(
    replicas: BucketServerFactory, seaweed: SeaweedFS, tmp_path: Path
) -> None:
    url, place = setup(seaweed)
    a = replicas.replica(url, *OPEN, *PRUNING)
    wheels = [make_wheel(tmp_path, name, "1.0") for name in ("filler", "one", "two", "three")]
    for wheel in wheels:
        uploaded = upload(a, wheel)
        assert uploaded.status_code == 200, uploaded.text
    action(a, "yank", "two", "broken")
    packages = {place.prefix + w.name for w in wheels}
    state = {place.prefix + k(w.name) for w in wheels for k in (facts_key, meta_key)}
    churn(a, CHURN)
    written = len(wheels) + 1 + CHURN
    covered = manifest_seq(place)
    assert covered == COMPACT_EVERY

    def pruned() -> list[int]:
        left = journal(place)
        return left if left and left[0] == covered - KEEP_ENTRIES + 1 else []

    left = poll_until(pruned, timeout=30.0, message=lambda: f"not pruned: {journal(place)[:3]}")
    assert left == list(range(covered - KEEP_ENTRIES + 1, written + 1))
    keys = set(place.keys())
    assert packages <= keys and state <= keys and place.prefix + MANIFEST in keys
    print(
        f"\n{written} journal entries written, {len(left)} left; objects in the bucket: "
        f"{len(keys) + written - len(left)} unpruned, {len(keys)} pruned"
    )
    assert "pruned 400 journal entries" in a.logs(limit=1 << 20)
    c = replicas.replica(url, *OPEN)  # starts from the manifest and the entries after it
    for wheel in wheels:
        assert wheel.name in files_of(c, wheel.name.split("-")[0])
    assert files_of(c, "two")[wheels[2].name]["yanked"] == "broken"
    assert files_of(c, "filler")[wheels[0].name]["yanked"] == f"churn {CHURN - 1}"


@pytest.mark.slow
def test_a_replica_paused_while_its_next_entries_were_pruned_catches_up(
    replicas: BucketServerFactory, seaweed: SeaweedFS, tmp_path: Path
) -> None:
    url, place = setup(seaweed)
    a = replicas.replica(url, *OPEN, *PRUNING)
    b = replicas.replica(url, *OPEN)
    early, doomed, filler = (make_wheel(tmp_path, n, "1.0") for n in ("early", "doomed", "filler"))
    for wheel in (early, doomed, filler):
        uploaded = upload(a, wheel)
        assert uploaded.status_code == 200, uploaded.text
    poll_until(lambda: files_of(b, "filler"), message="B never followed A")
    assert b.proc is not None
    b.proc.send_signal(signal.SIGSTOP)
    try:
        position = journal(place)[-1]  # where B stopped: its next entry is the one after
        fresh = make_wheel(tmp_path, "fresh", "1.0")
        uploaded = upload(a, fresh)  # all three in entries that will be pruned
        assert uploaded.status_code == 200, uploaded.text
        action(a, "remove_pkg", "doomed")
        action(a, "yank", "early", "broken")
        churn(a, CHURN)
        last = make_wheel(tmp_path, "last", "1.0")
        uploaded = upload(a, last)  # after the manifest
        assert uploaded.status_code == 200, uploaded.text
        poll_until(
            lambda: journal(place)[0] > position + 1,
            timeout=30.0,
            message="A never pruned the entries B needs",
        )
    finally:
        b.proc.send_signal(signal.SIGCONT)
    resumed = time.monotonic()

    def caught_up() -> bool:
        return bool(files_of(b, "fresh")) and bool(files_of(b, "last"))

    poll_until(caught_up, timeout=15.0, message=lambda: "B did not catch up\n" + b.logs())
    took = time.monotonic() - resumed
    print(f"\nthe paused replica caught up {took:.2f}s after SIGCONT")
    assert not files_of(b, "doomed")
    assert files_of(b, "early")[early.name]["yanked"] == "broken"
    assert files_of(b, "filler")[filler.name]["yanked"] == f"churn {CHURN - 1}"
    assert b.logs(limit=100_000).count("were pruned before this replica read them") == 1
    assert took < 10.0
    # and B's own changes reach A: it appends after the entries it missed, not into the gap
    again = make_wheel(tmp_path, "again", "1.0")
    uploaded = upload(b, again)
    assert uploaded.status_code == 200, uploaded.text
    poll_until(lambda: files_of(a, "again"), timeout=5.0, message="A never saw B's upload")
