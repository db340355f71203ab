"""Token records in a package directory's ``.dynopypi/tokens/`` (``trust.tokens``): what
is written (digests only), how a revocation reaches a replica that cached the token, and
the last-use notes."""

from __future__ import annotations

from pathlib import Path

from dynopypi.auth.identity import UPDATE
from dynopypi.store.copy.directory import DirectoryStorage
from dynopypi.trust.tokens import FRESH, USED_EVERY, TokenStore


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def stores(root: Path) -> tuple[TokenStore, TokenStore, Clock]:
    """Two stores over one directory (a CLI and a server, or two replicas)."""
    clock = Clock()
    one = TokenStore(DirectoryStorage(root), monotonic=clock)
    two = TokenStore(DirectoryStorage(root), monotonic=clock)
    return one, two, clock


def test_create_keeps_a_digest_and_never_the_secret(tmp_path: Path) -> None:
    one, _two, _clock = stores(tmp_path)
    text, record = one.create("alice", actions=frozenset({UPDATE}), expires=None)
    files = list((tmp_path / ".dynopypi" / "tokens").iterdir())
    assert [f.name for f in files] == [f"{record.id}.json"]
    secret = text.rsplit("-", 1)[1]
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes()
    assert one.lookup(record.id) == record
    assert [r.id for r in one.records()] == [record.id]


def test_a_revocation_elsewhere_shows_after_fresh_seconds(tmp_path: Path) -> None:
    one, two, clock = stores(tmp_path)
    _text, record = one.create("alice", actions=frozenset({UPDATE}), expires=None)
    assert two.lookup(record.id) is not None  # the replica caches it
    revoked = one.revoke(record.id)
    assert revoked is not None and revoked.revoked is not None
    cached = two.lookup(record.id)
    assert cached is not None and cached.revoked is None  # within FRESH: the old answer
    clock.now += FRESH
    seen = two.lookup(record.id)
    assert seen is not None and seen.revoked is not None
    assert one.revoke(record.id) == seen  # twice: as it was
    assert one.revoke("0" * 16) is None and one.revoke("../../etc") is None


def test_unknown_and_malformed_ids(tmp_path: Path) -> None:
    one, _two, _clock = stores(tmp_path)
    assert one.lookup("0123456789abcdef") is None
    assert one.lookup("../x") is None
    (tmp_path / ".dynopypi" / "tokens").mkdir(parents=True)
    (tmp_path / ".dynopypi" / "tokens" / "0123456789abcdef.json").write_text("{broken")
    clock_moved = one.lookup("0123456789abcdef")
    assert clock_moved is None  # cached as absent; broken records are logged, not served
    assert one.records() == []


def test_last_use_is_noted_at_most_once_a_minute(tmp_path: Path) -> None:
    one, _two, clock = stores(tmp_path)
    _text, record = one.create("alice", actions=frozenset({UPDATE}), expires=None)
    one.used(record)
    used = tmp_path / ".dynopypi" / "tokens" / f"{record.id}.used"
    first = used.stat().st_mtime_ns
    one.used(record)
    assert used.stat().st_mtime_ns == first
    clock.now += USED_EVERY
    one.used(record)
    listed = one.records()
    assert listed[0].last_used is not None


def test_prune_drops_expired_minted_tokens_only(tmp_path: Path) -> None:
    one, _two, _clock = stores(tmp_path)
    _t, mine = one.create("alice", actions=frozenset({UPDATE}), expires=10.0)
    _t, minted = one.create(
        "publisher:p", actions=frozenset({UPDATE}), expires=10.0, publisher="p", issuer="i"
    )
    assert one.prune(older_than=20.0) == 1
    assert [r.id for r in one.records()] == [mine.id]
    assert minted.id not in {r.id for r in one.records()}
