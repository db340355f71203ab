"""The audit trail over a real package directory: one chain, bounded refusals, and
``verify`` finding an edited, a removed and a reordered record (and a cut-off end)."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from dynopypi.audit.records import MAX_TEXT, REFUSED, Event, Head, actor_of, decode, digest
from dynopypi.audit.trail import AuditTrail, record_key
from dynopypi.auth.identity import Identity
from dynopypi.store.copy.directory import DirectoryStorage

ALICE = actor_of(Identity("alice", "basic"))


def event(n: int, outcome: str = "ok") -> Event:
    return Event(
        "upload",
        ALICE,
        "127.0.0.1",
        "acme",
        f"1.{n}",
        ((f"acme-1.{n}.tar.gz", "ab" * 32),),
        outcome,
    )


def filled(tmp_path: Path, count: int) -> tuple[AuditTrail, Path]:
    trail = AuditTrail(DirectoryStorage(tmp_path))
    for n in range(count):
        trail.append(event(n))
    return trail, tmp_path / ".dynopypi" / "audit"


def problems(trail: AuditTrail) -> list[str]:
    return [p.what for p in trail.verify()[1]]


def test_records_chain_and_verify_clean(tmp_path: Path) -> None:
    trail, folder = filled(tmp_path, 4)
    assert trail.verify() == (4, [])
    first = decode((folder / "000000000001.json").read_bytes())
    assert first is not None
    assert first["actor"] == {"user": "alice", "scheme": "basic"}
    assert first["files"] == [{"name": "acme-1.0.tar.gz", "sha256": "ab" * 32}]
    assert trail.head() == Head(4, digest((folder / "000000000004.json").read_bytes()))


def test_a_second_writer_continues_the_same_chain(tmp_path: Path) -> None:
    """A server and the CLI (or two replicas) each with their own idea of the tail."""
    a, _ = filled(tmp_path, 2)
    b = AuditTrail(DirectoryStorage(tmp_path))
    b.append(event(10))
    a.append(event(11))  # ``a`` still thinks record 2 is the last: it links after b's
    threads = [
        threading.Thread(target=t.append, args=(event(20 + i),)) for i, t in enumerate((a, b) * 4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert a.verify() == (12, [])


def test_verify_finds_an_edited_record(tmp_path: Path) -> None:
    trail, folder = filled(tmp_path, 5)
    path = folder / "000000000003.json"
    path.write_bytes(path.read_bytes().replace(b'"alice"', b'"mallory"'))
    assert problems(trail) == [
        "record 4 does not follow record 3: one of them was edited, or they were reordered"
    ]


def test_verify_finds_an_edited_last_record_against_the_head(tmp_path: Path) -> None:
    trail, folder = filled(tmp_path, 3)
    path = folder / "000000000003.json"
    path.write_bytes(path.read_bytes().replace(b'"ok"', b'"refused"'))
    assert problems(trail) == ["record 3 is not the one anchored as the chain's head: edited"]


def test_verify_finds_a_removed_record_and_a_cut_end(tmp_path: Path) -> None:
    trail, folder = filled(tmp_path, 6)
    (folder / "000000000002.json").unlink()
    (folder / "000000000006.json").unlink()
    assert problems(trail) == [
        "record 2 missing (removed)",
        "the chain ends at record 5 but its anchored head is record 6: records after 5 "
        "were removed",
    ]


def test_verify_finds_reordered_records(tmp_path: Path) -> None:
    trail, folder = filled(tmp_path, 4)
    two, three = folder / "000000000002.json", folder / "000000000003.json"
    data2, data3 = two.read_bytes(), three.read_bytes()
    two.write_bytes(data3)
    three.write_bytes(data2)
    found = problems(trail)
    assert "record 2 says it is record 3: moved" in found
    assert "record 3 says it is record 2: moved" in found


def test_verify_against_a_head_kept_elsewhere(tmp_path: Path) -> None:
    """Whoever can write the store can rewrite head.json too: a head from the server's
    log still catches a rewritten history."""
    trail, folder = filled(tmp_path, 3)
    kept = trail.head()
    assert kept is not None
    for n in (3, 2):
        (folder / f"00000000000{n}.json").unlink()
    (folder / "head.json").write_text(json.dumps({"seq": 1, "hash": "0" * 64}))
    assert any("record 3" in p.what for p in trail.verify(kept)[1])


def test_refusals_are_bounded_and_counted(tmp_path: Path) -> None:
    trail = AuditTrail(DirectoryStorage(tmp_path), refusals_per_minute=0.0)
    written = [trail.append(event(n, REFUSED)) for n in range(40)]
    assert sum(h is not None for h in written) == 30  # the burst, then nothing
    trail.budget.tokens = 1.0
    head = trail.append(event(99, REFUSED))
    assert head is not None
    found = trail.storage.read(record_key(head.seq), 65536)
    assert found is not None
    assert json.loads(found[0])["refusals_not_recorded"] == 10
    trail.append(event(100))  # a write that succeeded is always recorded
    assert trail.verify()[0] == 32


@pytest.mark.parametrize("field", ["project", "version", "reason", "address"])
def test_client_text_is_bounded(tmp_path: Path, field: str) -> None:
    trail = AuditTrail(DirectoryStorage(tmp_path))
    fields = {"action": "upload", "actor": {}, field: "x" * 100_000}
    head = trail.append(Event(**fields))  # type: ignore[arg-type]
    assert head is not None
    found = trail.storage.read(record_key(head.seq), 65536)
    assert found is not None and len(found[0]) < 2 * MAX_TEXT + 400


def test_the_writer_thread_writes_every_record_in_order_before_it_stops(tmp_path: Path) -> None:
    trail = AuditTrail(DirectoryStorage(tmp_path))
    trail.start()
    try:
        threads = [
            threading.Thread(
                target=lambda n=n: [trail.record(event(10 * n + i)) for i in range(10)]
            )
            for n in range(4)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        trail.stop()
    count, found = trail.verify()
    assert (count, found) == (40, [])
    times = [decode(raw)["time"] for _seq, raw in trail.stored()]  # type: ignore[index]
    assert times == sorted(times)  # stamped when recorded, written in that order
