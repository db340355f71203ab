from __future__ import annotations

import base64

import pytest

from dynopypi.auth.identity import (
    ANONYMOUS,
    MAX_AUTHORIZATION,
    BasicExtractor,
    Identity,
    decode_basic,
    parse_basic,
    split_authorization,
)
from dynopypi.auth.throttle import Throttle
from dynopypi.errors import NeedsAccount, Throttled


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Basic " + b64(b"alice:secret"), ("alice", "secret")),
        ("basic " + b64(b"alice:secret"), ("alice", "secret")),
        ("BASIC   " + b64(b"alice:secret") + "  ", ("alice", "secret")),
        ("Basic " + b64(b"alice:"), ("alice", "")),
        ("Basic " + b64(b"alice:pa:ss"), ("alice", "pa:ss")),
        ("Basic " + b64("jürgen:pässwörd-\u2603".encode()), ("jürgen", "pässwörd-\u2603")),
        (None, None),
        ("", None),
        ("Basic", None),
        ("Basic ", None),
        ("Bearer " + b64(b"alice:secret"), None),
        ("alice:secret", None),
        ("Basic !!!not-base64!!!", None),
        ("Basic " + b64(b"alice:secret")[:-1], None),
        ("Basic YWxp\u00e9Y2U6c2VjcmV0", None),
        ("Basic " + b64(b"\xff\xfe:binary"), None),
        ("Basic " + b64(b"no-colon"), None),
        ("Basic " + b64(b":empty-user"), None),
        ("Basic " + b64(b"alice:" + b"x" * MAX_AUTHORIZATION), None),
        ("Basic " + "A" * (1024 * 1024), None),
    ],
    ids=[
        "good",
        "lower-case-scheme",
        "extra-spaces",
        "empty-password",
        "colon-in-password",
        "utf8",
        "missing",
        "empty",
        "scheme-only",
        "scheme-and-space",
        "other-scheme",
        "no-scheme",
        "bad-base64",
        "truncated-base64",
        "non-ascii-base64",
        "not-utf8",
        "no-colon",
        "empty-user",
        "over-8k",
        "one-megabyte",
    ],
)
def test_parse_basic(header: str | None, expected: tuple[str, str] | None) -> None:
    assert parse_basic(header) == expected


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Bearer abc.DEF", ("bearer", "abc.DEF")),
        ("  Basic   xyz  ", ("basic", "xyz")),
        ("Negotiate", ("negotiate", "")),
        ("", None),
        (None, None),
        ("   ", None),
        ("Bearer " + "x" * MAX_AUTHORIZATION, ("bearer", "x" * MAX_AUTHORIZATION)),
    ],
)
def test_split_authorization(header: str | None, expected: tuple[str, str] | None) -> None:
    assert split_authorization(header) == expected


def test_decode_basic_rejects_oversized_credentials_without_decoding() -> None:
    good = b64(b"alice:secret")
    assert decode_basic(good) == ("alice", "secret")
    assert decode_basic(good + " " * MAX_AUTHORIZATION) is None


def test_anonymous_is_nobody() -> None:
    assert ANONYMOUS.anonymous and ANONYMOUS.user is None and ANONYMOUS.scheme is None
    assert not Identity("alice", "basic").anonymous
    assert Identity("alice", "basic") == Identity("alice", "basic")
    assert Identity("alice", "basic") != Identity("alice", "bearer")


class FakeBook:
    """Knows one password per user and records what it was asked."""

    def __init__(self, accounts: dict[str, str]) -> None:
        self.accounts = accounts
        self.asked: list[tuple[str, str]] = []

    def verify(self, user: str, password: str) -> bool:
        self.asked.append((user, password))
        return self.accounts.get(user) == password


def quick_throttle(block_after: int = 10) -> Throttle:
    return Throttle(block_after=block_after, step=0.0)


def test_basic_extractor_proves_the_user() -> None:
    book = FakeBook({"alice": "secret"})
    extractor = BasicExtractor(book, quick_throttle())
    assert extractor.extract(b64(b"alice:secret"), "1.2.3.4") == Identity("alice", "basic")
    assert book.asked == [("alice", "secret")]


@pytest.mark.parametrize("raw", [b"alice:wrong", b"mallory:secret"])
def test_basic_extractor_refuses_wrong_credentials_and_counts_them(raw: bytes) -> None:
    throttle = quick_throttle()
    extractor = BasicExtractor(FakeBook({"alice": "secret"}), throttle)
    with pytest.raises(NeedsAccount, match="wrong user name or password"):
        extractor.extract(b64(raw), "1.2.3.4")
    assert throttle.failures("1.2.3.4") == 1
    assert throttle.failures("5.6.7.8") == 0


@pytest.mark.parametrize(
    "credentials",
    ["", "!!!", "\u00e9", b64(b"no-colon"), b64(b":x"), b64(b"\xff:x"), "A" * 65536],
    ids=["empty", "bad-base64", "latin-1", "no-colon", "no-user", "not-utf8", "64k"],
)
def test_unreadable_credentials_are_a_failed_login(credentials: str) -> None:
    """Refused with a challenge that says what was wrong, and counted: garbage is not
    free to send forever."""
    book = FakeBook({"alice": "secret"})
    throttle = quick_throttle(block_after=2)
    extractor = BasicExtractor(book, throttle)
    for _ in range(2):
        with pytest.raises(NeedsAccount, match="could not be read"):
            extractor.extract(credentials, "1.2.3.4")
    assert book.asked == []  # no password check
    assert throttle.failures("1.2.3.4") == 2
    with pytest.raises(Throttled):
        extractor.extract(credentials, "1.2.3.4")


@pytest.mark.parametrize("password", ["x" * 2000, "a\0b"], ids=["2000 bytes", "NUL"])
def test_uncheckable_passwords_fail_before_any_hashing_and_count(password: str) -> None:
    book = FakeBook({"alice": password})
    throttle = quick_throttle()
    extractor = BasicExtractor(book, throttle)
    with pytest.raises(NeedsAccount, match="wrong user name or password"):
        extractor.extract(b64(b"alice:" + password.encode()), "1.2.3.4")
    assert book.asked == []
    assert (throttle.failures("1.2.3.4"), throttle.account_failures("alice")) == (1, 1)


def test_wrong_passwords_count_for_the_account_too() -> None:
    throttle = quick_throttle()
    extractor = BasicExtractor(FakeBook({"alice": "secret"}), throttle)
    for address in ("10.0.0.1", "10.0.0.2"):
        with pytest.raises(NeedsAccount):
            extractor.extract(b64(b"alice:guess"), address)
    assert throttle.account_failures("alice") == 2


def test_basic_extractor_refuses_a_throttled_address_without_checking() -> None:
    book = FakeBook({"alice": "secret"})
    extractor = BasicExtractor(book, quick_throttle(block_after=2))
    for _ in range(2):
        with pytest.raises(NeedsAccount):
            extractor.extract(b64(b"alice:guess"), "6.6.6.6")
    with pytest.raises(Throttled):
        extractor.extract(b64(b"alice:secret"), "6.6.6.6")
    assert book.asked == [("alice", "guess")] * 2
    assert extractor.extract(b64(b"alice:secret"), "7.7.7.7").user == "alice"
