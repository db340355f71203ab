"""Tokens and publishers move with the packages: ``dynopypi storage copy`` carries their
records (``store.copy.copier.carry_state``), never over the destination's own."""

from __future__ import annotations

from pathlib import Path

from dynopypi.auth.identity import UPDATE
from dynopypi.store.copy.copier import carry_state
from dynopypi.store.copy.directory import DirectoryStorage
from dynopypi.trust.publishers import PublisherStore
from dynopypi.trust.tokens import TokenStore


def test_records_are_carried_once(tmp_path: Path) -> None:
    src, dst = DirectoryStorage(tmp_path / "a"), DirectoryStorage(tmp_path / "b")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    _text, token = TokenStore(src).create("alice", actions=frozenset({UPDATE}), expires=None)
    publisher = PublisherStore(src).add("foo", "https://issuer.test", [("repository", "a/b")])
    assert carry_state(src, dst) == 2
    assert TokenStore(dst).lookup(token.id) == token
    assert [p.id for p in PublisherStore(dst).records()] == [publisher.id]
    assert carry_state(src, dst) == 0  # a second run changes nothing
