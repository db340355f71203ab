from __future__ import annotations

import threading
from pathlib import Path

import pytest
from passlib.hash import apr_md5_crypt, bcrypt
from support.accounts import write_fast_accounts

from dynopypi.auth.htpasswd import PasswordBook
from dynopypi.auth.password_hashes import MAX_PASSWORD_BYTES, Kind, check_hash, kind_of
from dynopypi.errors import ConfigError


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class CountingCheck:
    """The real hash check, counting calls and the hashes it was given."""

    def __init__(self) -> None:
        self.stored: list[str] = []

    def __call__(self, password: str, stored: str) -> bool:
        self.stored.append(stored)
        return check_hash(password, stored)


@pytest.fixture
def htpasswd(tmp_path: Path) -> Path:
    return write_fast_accounts(tmp_path / "htpasswd", {"alice": "secret", "bob": "hunter2"})


@pytest.mark.parametrize(
    ("user", "password", "expected"),
    [
        ("alice", "secret", True),
        ("bob", "hunter2", True),
        ("alice", "hunter2", False),
        ("alice", "", False),
        ("Alice", "secret", False),
        ("mallory", "secret", False),
    ],
)
def test_verify(htpasswd: Path, user: str, password: str, expected: bool) -> None:
    assert PasswordBook(htpasswd).verify(user, password) is expected


def test_unknown_users_cost_one_check_against_a_dummy_of_the_same_scheme(htpasswd: Path) -> None:
    check = CountingCheck()
    book = PasswordBook(htpasswd, check=check)
    assert not book.verify("mallory", "x")
    assert len(check.stored) == 1
    dummy = check.stored[0]
    assert dummy.startswith("$apr1$")  # as slow to check as the real accounts
    assert dummy not in htpasswd.read_text()


def test_successful_logins_are_remembered_for_five_minutes(htpasswd: Path) -> None:
    clock, check = Clock(), CountingCheck()
    book = PasswordBook(htpasswd, check=check, clock=clock)
    assert book.verify("alice", "secret")
    assert book.verify("alice", "secret")
    assert len(check.stored) == 1
    assert not book.verify("alice", "wrong")  # failures are never remembered
    assert not book.verify("alice", "wrong")
    assert len(check.stored) == 3
    clock.now += 301
    assert book.verify("alice", "secret")
    assert len(check.stored) == 4


def test_remembered_logins_are_bounded(htpasswd: Path) -> None:
    clock, check = Clock(), CountingCheck()
    book = PasswordBook(htpasswd, check=check, clock=clock, max_remembered=1)
    assert book.verify("alice", "secret")
    assert book.verify("bob", "hunter2")  # alice is forgotten to make room
    assert book.verify("alice", "secret")
    assert len(check.stored) == 3


def test_a_changed_file_replaces_accounts_and_forgets_logins(htpasswd: Path) -> None:
    clock = Clock()
    book = PasswordBook(htpasswd, clock=clock)
    assert book.verify("alice", "secret")
    write_fast_accounts(htpasswd, {"carol": "pw", "bob": "hunter2"})
    assert not book.reload()  # checked at most once a second
    assert book.verify("alice", "secret")
    clock.now += 1.5
    assert book.reload()
    assert not book.reload(force=False)  # unchanged since
    assert book.verify("carol", "pw")
    assert not book.verify("alice", "secret")  # the remembered login went with the file


def test_forced_reload_rereads_an_unchanged_file(htpasswd: Path) -> None:
    book = PasswordBook(htpasswd)
    before = book.generation
    assert book.reload(force=True)
    assert book.generation == before + 1


@pytest.mark.parametrize("damage", ["garbage-without-colon\n", None], ids=["malformed", "gone"])
def test_a_broken_file_keeps_the_previous_accounts(htpasswd: Path, damage: str | None) -> None:
    book = PasswordBook(htpasswd)
    if damage is None:
        htpasswd.unlink()
    else:
        htpasswd.write_text(damage)
    assert not book.reload(force=True)
    assert book.verify("alice", "secret")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "does not exist"),
        (b"garbage-without-colon\n", r"htpasswd:1: not an htpasswd file \(expected 'user:hash'\)"),
        (b"# ok\nalice:$2y$05$short\n", r"htpasswd:2: the hash of 'alice' is malformed"),
        (b"alice:$apr1$abc$def\n\xff:x\n", r"htpasswd:2: not UTF-8 text"),
        ("directory", "is a directory, not an htpasswd file"),
    ],
    ids=["missing", "no-colon", "bad-bcrypt", "not-utf8", "directory"],
)
def test_a_file_that_cannot_be_used_at_start_is_a_config_error(
    tmp_path: Path, content: bytes | str | None, message: str
) -> None:
    path = tmp_path / "htpasswd"
    if content == "directory":
        path.mkdir()
    elif isinstance(content, bytes):
        path.write_bytes(content)
    with pytest.raises(ConfigError, match=message):
        PasswordBook(path)


def test_a_failed_reload_is_reported_until_a_good_file_comes(htpasswd: Path) -> None:
    book = PasswordBook(htpasswd)
    assert book.problem is None
    htpasswd.write_text("alice:$2y$05$short\n")
    assert not book.reload(force=True)
    assert book.problem is not None and "serving the previous 2 accounts" in book.problem
    assert book.verify("alice", "secret")
    write_fast_accounts(htpasswd, {"alice": "new"})
    assert book.reload(force=True)
    assert book.problem is None


# --------------------------------------------------------------------------- timing


def apache_file(path: Path) -> Path:
    """What Apache's htpasswd writes: bcrypt ($2y$) at the cost it was asked for (5 by
    default), and apr1 (its default without -B); one account at a dearer cost."""
    lines = [
        "dear:" + bcrypt.using(rounds=7, ident="2y").hash("dear-pw"),
        "cheap:" + bcrypt.using(rounds=5, ident="2y").hash("y" * 72),
        "old:" + apr_md5_crypt.hash("old-pw"),
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize(
    ("user", "password", "expected"),
    [
        ("dear", "dear-pw", True),
        ("old", "old-pw", True),
        ("cheap", "y" * 72, True),
        ("cheap", "y" * 72 + "z" * 28, True),  # Apache's bcrypt reads 72 bytes, so do we
        ("cheap", "y" * 71, False),
        ("old", "wrong", False),
        ("nobody", "y" * 72, False),
        ("nobody", "x" * 5000, False),
    ],
)
def test_every_login_checks_one_hash_of_each_kind(
    tmp_path: Path, user: str, password: str, expected: bool
) -> None:
    """Known or unknown, cheap or dear: the same kinds of hash are checked, so timing
    tells neither whether the account exists nor what kind of hash it has."""
    check = CountingCheck()
    book = PasswordBook(apache_file(tmp_path / "htpasswd"), check=check)
    assert book.verify(user, password) is expected
    if len(password) > MAX_PASSWORD_BYTES:
        assert check.stored == []  # refused before any lookup or hashing
        return
    kinds = sorted(kind_of(h) for h in check.stored)
    assert kinds == [Kind("apr_md5_crypt"), Kind("bcrypt", 5), Kind("bcrypt", 7)]
    real = set(apache_file(tmp_path / "again").read_text().split())  # other salts
    assert not real & set(check.stored)


def test_dummies_are_made_once_per_kind(tmp_path: Path) -> None:
    check = CountingCheck()
    path = apache_file(tmp_path / "htpasswd")
    book = PasswordBook(path, check=check)
    for user in ("nobody", "nobody-else", "nobody"):
        book.verify(user, "guess")
    assert len(check.stored) == 9
    assert len(set(check.stored)) == 3  # the same three dummies every time
    assert not set(check.stored) & set(path.read_text().replace(":", "\n").split())


class GatedCheck:
    """The real check, but the first call waits until the test lets it finish."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.proceed = threading.Event()
        self.gated = True

    def __call__(self, password: str, stored: str) -> bool:
        if self.gated:
            self.gated = False
            self.entered.set()
            assert self.proceed.wait(timeout=30)
        return check_hash(password, stored)


def test_a_check_started_before_a_reload_is_not_remembered_after_it(htpasswd: Path) -> None:
    check = GatedCheck()
    book = PasswordBook(htpasswd, check=check)
    results: list[bool] = []
    worker = threading.Thread(target=lambda: results.append(book.verify("alice", "secret")))
    worker.start()
    assert check.entered.wait(timeout=30)  # checking against the old file now
    write_fast_accounts(htpasswd, {"alice": "changed", "bob": "hunter2"})
    assert book.reload(force=True)
    check.proceed.set()
    worker.join(timeout=30)
    assert results == [True]  # it was right when it started
    assert not book.verify("alice", "secret")  # but must not outlive the old file
    assert book.verify("alice", "changed")
