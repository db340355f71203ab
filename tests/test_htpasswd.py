from __future__ import annotations

import threading
from pathlib import Path

import pytest
from support.accounts import write_fast_accounts

from dynopypi.htpasswd import PasswordBook, check_hash


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


def test_a_missing_file_has_no_accounts(tmp_path: Path) -> None:
    book = PasswordBook(tmp_path / "nothing-here")
    assert not book.verify("alice", "secret")
    write_fast_accounts(tmp_path / "nothing-here", {"alice": "secret"})
    assert book.reload(force=True)
    assert book.verify("alice", "secret")


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
