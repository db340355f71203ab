"""API tokens: their text and record (``auth.tokens``), proving an identity from them
(``auth.bearer``: Bearer, Basic ``__token__``, the throttle) and the policy's intersection
of a token's scope with its account's rights."""

from __future__ import annotations

import base64
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from support.accounts import write_fast_accounts

from dynopypi.auth.bearer import NOT_VALID, TokenCheck
from dynopypi.auth.identity import DOWNLOAD, LIST, UPDATE, Identity, Scope
from dynopypi.auth.policy import Policy, build_gate, refusal
from dynopypi.auth.rights import parse_rights
from dynopypi.auth.throttle import Throttle
from dynopypi.auth.tokens import (
    PREFIX,
    TokenRecord,
    digest,
    new_token,
    parse_token,
    project_globs,
    record_from_json,
)
from dynopypi.errors import Denied, NeedsAccount, Throttled

NOW = 1_800_000_000.0


class Book:
    """An in-memory ``TokenBook``."""

    def __init__(self) -> None:
        self.records: dict[str, TokenRecord] = {}
        self.uses: list[str] = []

    def add(self, user: str = "alice", **fields: Any) -> str:
        token_id, text = new_token()
        record = TokenRecord(token_id, user, digest(text.rsplit("-", 1)[1]), NOW, None)
        self.records[token_id] = replace(record, **fields)
        return text

    def lookup(self, token_id: str) -> TokenRecord | None:
        return self.records.get(token_id)

    def used(self, record: TokenRecord) -> None:
        self.uses.append(record.id)


def test_token_text_has_the_prefix_an_id_and_256_bits() -> None:
    token_id, text = new_token()
    assert text.startswith(PREFIX + token_id + "-")
    parsed = parse_token(text)
    assert parsed is not None and parsed[0] == token_id and len(parsed[1]) == 64
    assert new_token()[1] != text


@pytest.mark.parametrize(
    "text",
    ["", "dynopypi-", "pypi-AgEI", "dynopypi-zz-00", "dynopypi-" + "a" * 16 + "-" + "b" * 63],
)
def test_what_is_not_a_token(text: str) -> None:
    assert parse_token(text) is None


def test_record_round_trip_keeps_no_secret() -> None:
    token_id, text = new_token()
    secret = text.rsplit("-", 1)[1]
    record = TokenRecord(
        token_id, "alice", digest(secret), NOW, NOW + 60, ("acme-*",), frozenset({UPDATE}), "ci"
    )
    data = record.to_json()
    assert secret.encode() not in data and text.encode() not in data
    assert record_from_json(data) == record
    assert record_from_json(data).matches(secret)
    assert not record_from_json(data).matches("0" * 64)


@pytest.mark.parametrize("data", [b"", b"[]", b'{"id": "x"}', b'{"id": 1, "user": "a"}', b"\xff"])
def test_broken_records_are_refused(data: bytes) -> None:
    with pytest.raises(ValueError):
        record_from_json(data)


def test_project_globs_are_normalized() -> None:
    assert project_globs(["Acme_*", "Tools"]) == ("acme-*", "tools")
    assert project_globs([]) == ("*",)


# --------------------------------------------------------------------------- proving


def check(book: Book, throttle: Throttle | None = None, **kw: object) -> TokenCheck:
    return TokenCheck(book, throttle or Throttle(), clock=lambda: NOW, **kw)  # type: ignore[arg-type]


def test_a_good_token_proves_its_user_with_its_scope() -> None:
    book = Book()
    text = book.add(projects=("acme-*",), actions=frozenset({UPDATE}))
    identity = check(book).prove(text, "10.0.0.1", "bearer")
    assert identity.user == "alice" and identity.scheme == "bearer"
    assert identity.scope is not None and identity.scope.projects == ("acme-*",)
    assert book.uses == [identity.scope.token_id]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"revoked": NOW - 1}, "was revoked"),
        ({"expires": NOW - 1}, "has expired"),
    ],
)
def test_revoked_and_expired_say_so_to_the_holder(fields: dict[str, Any], message: str) -> None:
    book = Book()
    text = book.add(**fields)
    with pytest.raises(NeedsAccount, match=message):
        check(book).prove(text, "10.0.0.1", "bearer")


def test_a_wrong_secret_tells_nothing() -> None:
    book = Book()
    text = book.add(revoked=NOW - 1)
    wrong = text[:-4] + "0000" if not text.endswith("0000") else text[:-4] + "1111"
    with pytest.raises(NeedsAccount) as caught:
        check(book).prove(wrong, "10.0.0.1", "bearer")
    assert caught.value.message == NOT_VALID  # not "revoked": the caller lacks the secret
    with pytest.raises(NeedsAccount, match="not valid"):
        check(book).prove(new_token()[1], "10.0.0.1", "bearer")


def test_a_token_dies_with_its_account() -> None:
    book = Book()
    text = book.add(user="gone")
    with pytest.raises(NeedsAccount, match="no longer exists"):
        check(book, accounts=lambda user: user != "gone").prove(text, "10.0.0.1", "bearer")


def test_bad_tokens_count_toward_the_login_throttle() -> None:
    book = Book()
    throttle = Throttle(slow_after=100, block_after=3)
    expired = book.add(expires=NOW - 1)
    for text in (new_token()[1], expired, "garbage"):
        with pytest.raises(NeedsAccount):
            check(book, throttle).prove(text, "10.0.0.9", "bearer")
    with pytest.raises(Throttled):
        check(book, throttle).prove(book.add(), "10.0.0.9", "bearer")
    assert throttle.failures("10.0.0.9") == 3


# --------------------------------------------------------------------------- the gate


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_the_gate_takes_bearer_and_basic_token_and_still_passwords(tmp_path: Path) -> None:
    htpasswd = write_fast_accounts(tmp_path / "htpasswd", {"alice": "secret"})
    book = Book()
    text = book.add()
    gate = build_gate(htpasswd, frozenset({UPDATE}), tokens=book)
    for header in (f"Bearer {text}", basic("__token__", text)):
        identity = gate.authorize(UPDATE, "anything", header, "10.0.0.2")
        assert identity.user == "alice" and identity.scope is not None
    assert gate.authorize(UPDATE, "x", basic("alice", "secret"), "10.0.0.2").scope is None
    with pytest.raises(NeedsAccount):
        gate.authorize(UPDATE, "x", "Bearer nope", "10.0.0.2")


# --------------------------------------------------------------------------- the policy

RULES = parse_rights("alice list,download,update acme-*\nbob list,download\n")
POLICY = Policy(frozenset({LIST, DOWNLOAD, UPDATE}), rights=RULES)


def token_of(user: str, projects: tuple[str, ...], actions: set[str], **kw: str) -> Identity:
    return Identity(user, "bearer", Scope("t1", projects, frozenset(actions), **kw))


@pytest.mark.parametrize(
    ("identity", "action", "project", "allowed"),
    [
        (token_of("alice", ("*",), {UPDATE}), UPDATE, "acme-x", True),
        (token_of("alice", ("*",), {UPDATE}), UPDATE, "other", False),  # the user's rights
        (token_of("alice", ("acme-x",), {UPDATE}), UPDATE, "acme-y", False),  # the scope
        (token_of("alice", ("*",), {UPDATE}), LIST, None, False),  # action not in scope
        (token_of("bob", ("*",), {UPDATE, LIST}), UPDATE, "acme-x", False),  # bob cannot
        (token_of("bob", ("*",), {UPDATE, LIST}), LIST, None, True),
        (token_of("publisher:p1", ("tools",), {UPDATE}, publisher="p1"), UPDATE, "tools", True),
        (token_of("publisher:p1", ("tools",), {UPDATE}, publisher="p1"), UPDATE, "acme-x", False),
    ],
)
def test_scope_intersects_the_users_rights(
    identity: Identity, action: str, project: str | None, allowed: bool
) -> None:
    assert POLICY.allows(identity, action, project) is allowed


def test_out_of_scope_says_which_token_and_what_it_may() -> None:
    identity = token_of("alice", ("acme-x",), {UPDATE})
    error = refusal(POLICY, identity, UPDATE, "acme-y")
    assert isinstance(error, Denied)
    assert "token t1 may not update project 'acme-y': out of its scope" in error.message
