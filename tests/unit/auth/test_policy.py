from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest
from support.accounts import write_fast_accounts

from dynopypi.auth.identity import ANONYMOUS, DOWNLOAD, LIST, UPDATE, Identity
from dynopypi.auth.policy import Gate, Policy, build_gate, refusal
from dynopypi.auth.rights import ALL_RIGHTS, READ_ONLY, Rights, parse_rights, rights_of
from dynopypi.auth.throttle import Throttle
from dynopypi.errors import ConfigError, Denied, NeedsAccount, Refused, Throttled

EVERYTHING = frozenset({LIST, DOWNLOAD, UPDATE})
RULES = parse_rights(
    "alice  list,download,update  *\n"
    "ci     update                Acme_* tools\n"
    "reader list,download\n"
)
STAR_RULES = parse_rights("ci update acme-*\n*  list\n")

ALICE = Identity("alice", "basic")
CI = Identity("ci", "basic")
READER = Identity("reader", "basic")
DAVE = Identity("dave", "basic")  # not named in any rights file

OPEN = Policy(frozenset())
DEFAULT = Policy(frozenset({UPDATE}))
PRIVATE = Policy(EVERYTHING, rights=RULES)
STARRED = Policy(EVERYTHING, rights=STAR_RULES)
NO_ACCOUNTS = Policy(frozenset({UPDATE}), accounts_configured=False)


# --------------------------------------------------------------------------- the decision


@pytest.mark.parametrize(
    ("policy", "identity", "action", "project", "allowed"),
    [
        (OPEN, ANONYMOUS, UPDATE, "anything", True),
        (DEFAULT, ANONYMOUS, LIST, None, True),
        (DEFAULT, ANONYMOUS, DOWNLOAD, None, True),
        (DEFAULT, ANONYMOUS, UPDATE, None, False),
        (DEFAULT, DAVE, UPDATE, "anything", True),  # no rights file: every right
        (NO_ACCOUNTS, ANONYMOUS, LIST, None, True),
        (NO_ACCOUNTS, ALICE, UPDATE, "x", False),  # nobody can be proven
        (PRIVATE, ANONYMOUS, LIST, None, False),
        (PRIVATE, ALICE, UPDATE, "anything", True),
        (PRIVATE, CI, UPDATE, "acme-tools", True),
        (PRIVATE, CI, UPDATE, "ACME.Tools", True),  # globs match normalized names
        (PRIVATE, CI, UPDATE, "tools", True),
        (PRIVATE, CI, UPDATE, "toolsmith", False),
        (PRIVATE, CI, UPDATE, None, True),  # before the project is known
        (PRIVATE, CI, LIST, None, False),
        (PRIVATE, READER, DOWNLOAD, None, True),
        (PRIVATE, READER, UPDATE, "anything", False),
        (PRIVATE, DAVE, DOWNLOAD, None, True),  # unnamed: read-only
        (PRIVATE, DAVE, UPDATE, "anything", False),
        (STARRED, DAVE, LIST, None, True),  # the '*' line instead of read-only
        (STARRED, DAVE, DOWNLOAD, None, False),
        (STARRED, CI, LIST, None, False),  # named accounts keep their own line
        (STARRED, CI, UPDATE, "acme-x", True),
    ],
)
def test_allows(
    policy: Policy, identity: Identity, action: str, project: str | None, allowed: bool
) -> None:
    assert policy.allows(identity, action, project) is allowed


@pytest.mark.parametrize(
    ("policy", "identity", "action", "project", "kind", "message"),
    [
        (NO_ACCOUNTS, ANONYMOUS, UPDATE, "x", Denied,
         "uploads are disabled on this index: the server was started without accounts "
         "(-P/--passwords)"),
        (NO_ACCOUNTS, ANONYMOUS, LIST, None, Denied,
         "list needs an account, but this index has no accounts"),
        (PRIVATE, ANONYMOUS, DOWNLOAD, None, NeedsAccount,
         "download on this index needs an account: send a user name and password"),
        (PRIVATE, CI, UPDATE, "Other_Thing", Denied,
         "account 'ci' may not update project 'other-thing' on this index"),
        (PRIVATE, READER, UPDATE, None, Denied, "account 'reader' may not update on this index"),
        (PRIVATE, CI, LIST, "ignored", Denied, "account 'ci' may not list on this index"),
    ],
)  # fmt: skip
def test_refusal(
    policy: Policy,
    identity: Identity,
    action: str,
    project: str | None,
    kind: type[Refused],
    message: str,
) -> None:
    error = refusal(policy, identity, action, project)
    assert type(error) is kind
    assert error.message == message


# --------------------------------------------------------------------------- rights


def test_parse_rights() -> None:
    rules = parse_rights("# comment\nalice list,download,update *\nreader LIST,Download # x\n")
    assert rules == {
        "alice": Rights(EVERYTHING, ("*",)),
        "reader": Rights(frozenset({LIST, DOWNLOAD}), ("*",)),
    }
    assert RULES["ci"] == Rights(frozenset({UPDATE}), ("acme-*", "tools"))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("alice\n", "rights file:1: 'alice' has no actions"),
        ("# ok\nalice upload,list\n", "rights file:2: unknown action(s) upload; use list"),
    ],
)
def test_parse_rights_errors(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        parse_rights(text)


@pytest.mark.parametrize(
    ("rules", "user", "rights"),
    [(None, "anyone", ALL_RIGHTS), (RULES, "dave", READ_ONLY), (RULES, "ci", RULES["ci"]),
     (STAR_RULES, "dave", STAR_RULES["*"])],
)  # fmt: skip
def test_rights_of(rules: dict[str, Rights] | None, user: str, rights: Rights) -> None:
    assert rights_of(rules, user) == rights


# --------------------------------------------------------------------------- the gate


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.fixture
def htpasswd(tmp_path: Path) -> Path:
    return write_fast_accounts(tmp_path / "htpasswd", {"alice": "secret", "bob": "hunter2"})


class TokenExtractor:
    """A Bearer scheme in six lines: what adding a credential type takes."""

    def __init__(self, tokens: dict[str, str]) -> None:
        self.tokens = tokens

    def extract(self, credentials: str, address: str) -> Identity:
        if credentials not in self.tokens:
            raise NeedsAccount("unknown token")
        return Identity(self.tokens[credentials], "bearer")


class Untouchable:
    def extract(self, credentials: str, address: str) -> Identity:
        raise AssertionError("credentials looked at although no account is needed")


def test_a_new_scheme_is_one_more_extractor() -> None:
    gate = Gate(PRIVATE, {"bearer": TokenExtractor({"t0k3n": "ci"})})
    assert gate.authorize(UPDATE, "acme-x", "Bearer t0k3n", "a") == Identity("ci", "bearer")
    with pytest.raises(Denied, match="may not update project 'other'"):
        gate.authorize(UPDATE, "other", "Bearer t0k3n", "a")
    with pytest.raises(NeedsAccount, match="unknown token"):
        gate.authorize(UPDATE, "acme-x", "Bearer nope", "a")
    with pytest.raises(NeedsAccount, match="update on this index needs an account"):
        gate.authorize(UPDATE, "acme-x", basic("ci", "x"), "a")  # no Basic extractor here


def test_no_account_needed_means_anonymous_without_reading_credentials() -> None:
    gate = Gate(DEFAULT, {"basic": Untouchable()})
    assert gate.authorize(LIST, None, basic("alice", "secret"), "a") is ANONYMOUS
    assert not gate.needs_account(DOWNLOAD)
    assert gate.needs_account(UPDATE)


def test_without_accounts_updates_are_denied_before_credentials() -> None:
    gate = build_gate(None, frozenset({UPDATE}), None)
    for header in (None, basic("alice", "secret")):
        with pytest.raises(Denied, match=r"^uploads are disabled on this index"):
            gate.authorize(UPDATE, "foo", header, "a")
    assert build_gate(None, frozenset(), None).authorize(UPDATE, "foo", None, "a") is ANONYMOUS


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (None, "update on this index needs an account: send a user name and password"),
        (
            "Basic !!!",
            "the Basic credentials could not be read: send base64 of 'user:password' in UTF-8",
        ),
        ("Bearer x", "update on this index needs an account: send a user name and password"),
        (basic("alice", "wrong"), "wrong user name or password"),
        (basic("mallory", "secret"), "wrong user name or password"),
    ],
)
def test_basic_over_htpasswd_challenges(htpasswd: Path, header: str | None, message: str) -> None:
    gate = build_gate(htpasswd, frozenset({UPDATE}), None)
    with pytest.raises(NeedsAccount) as refused:
        gate.authorize(UPDATE, "foo", header, "a")
    assert refused.value.message == message
    assert gate.authorize(UPDATE, "foo", basic("alice", "secret"), "a") == ALICE


def test_throttled_addresses_are_refused(htpasswd: Path) -> None:
    throttle = Throttle(block_after=2, step=0.0)
    gate = build_gate(htpasswd, frozenset({UPDATE}), None, throttle=throttle)
    for _ in range(2):
        with pytest.raises(NeedsAccount):
            gate.authorize(UPDATE, None, basic("alice", "guess"), "6.6.6.6")
    with pytest.raises(Throttled) as blocked:
        gate.authorize(UPDATE, None, basic("alice", "secret"), "6.6.6.6")
    assert 1 <= blocked.value.retry_after <= 61
    assert gate.authorize(UPDATE, None, basic("alice", "secret"), "7.7.7.7") == ALICE


def test_rights_file_applies_and_reloads(htpasswd: Path) -> None:
    rights = htpasswd.with_name("htpasswd.rights")
    rights.write_text("alice list,download,update acme-*\n")
    gate = build_gate(htpasswd, EVERYTHING, None)
    assert gate.authorize(UPDATE, "acme-x", basic("alice", "secret"), "a") == ALICE
    with pytest.raises(Denied, match=r"^account 'alice' may not update project 'other'"):
        gate.authorize(UPDATE, "other", basic("alice", "secret"), "a")
    assert gate.authorize(LIST, None, basic("bob", "hunter2"), "a").user == "bob"  # read-only
    with pytest.raises(Denied):
        gate.authorize(UPDATE, "acme-x", basic("bob", "hunter2"), "a")
    rights.unlink()
    gate.reload(force=True)
    assert gate.policy.rights is not None  # a vanished file keeps the rules: fail closed
    with pytest.raises(Denied):
        gate.authorize(UPDATE, "acme-x", basic("bob", "hunter2"), "a")
    assert gate.problems() == [f"rights file: {rights} does not exist; keeping the previous rights"]
    rights.write_text("bob update other\n")
    gate.reload(force=True)
    assert gate.authorize(UPDATE, "other", basic("bob", "hunter2"), "a").user == "bob"
    assert gate.problems() == []


def test_without_a_rights_file_every_account_has_every_right(htpasswd: Path) -> None:
    gate = build_gate(htpasswd, EVERYTHING, None)
    assert gate.policy.rights is None
    gate.reload(force=True)
    assert gate.policy.rights is None and gate.problems() == []
    assert gate.authorize(UPDATE, "other", basic("bob", "hunter2"), "a").user == "bob"


def test_a_broken_rights_file_keeps_the_previous_rules(htpasswd: Path, tmp_path: Path) -> None:
    rights = tmp_path / "custom.rights"
    rights.write_text("bob list\n")
    gate = build_gate(htpasswd, EVERYTHING, rights)
    before = gate.policy.rights
    assert before == {"bob": Rights(frozenset({LIST}))}
    for broken in (b"bob fly\n", b"bob \xff\xfe\n"):
        rights.write_bytes(broken)
        gate.reload(force=True)
        assert gate.policy.rights == before


def test_account_changes_are_picked_up(htpasswd: Path) -> None:
    gate = build_gate(htpasswd, frozenset({UPDATE}), None)
    assert gate.authorize(UPDATE, None, basic("alice", "secret"), "a") == ALICE
    write_fast_accounts(htpasswd, {"carol": "pw"})
    gate.reload(force=True)
    assert gate.authorize(UPDATE, None, basic("carol", "pw"), "a").user == "carol"
    with pytest.raises(NeedsAccount, match="wrong user name or password"):
        gate.authorize(UPDATE, None, basic("alice", "secret"), "a")  # the cache was dropped
