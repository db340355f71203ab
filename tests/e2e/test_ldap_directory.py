"""``auth.directory.Directory`` against a real OpenLDAP slapd (``support.slapd``), without an
HTTP server: both ways to find a person (bind, search), both ways to find groups
(``memberOf``, a group search for ``groupOfNames`` and ``posixGroup``), plain LDAP,
StartTLS and LDAPS with a test CA, fail-over across URLs, and hostile names.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.net import free_port
from support.slapd import GROUPS, PEOPLE, SUFFIX, Slapd, password_of, user_dn

from dynopypi.auth.directory import Directory, DirectoryConfig
from dynopypi.auth.ldap_client import MAX_IDLE, Endpoint, Pool, Unreachable
from dynopypi.errors import DirectoryUnavailable

BIND = f"uid={{user}},{PEOPLE}"
MEMBERS = frozenset({"py-publishers", "readers"})


def directory(urls: tuple[str, ...], **options: object) -> Iterator[Directory]:
    tls = {k: options.pop(k) for k in ("start_tls", "ca_file") if k in options}
    endpoint = Endpoint(urls, timeout=2, **tls)  # type: ignore[arg-type]
    made = Directory(DirectoryConfig(endpoint, **options))  # type: ignore[arg-type]
    yield made
    made.close()


@pytest.fixture
def bind(slapd: Slapd) -> Iterator[Directory]:
    yield from directory((slapd.url,), user_dn=BIND)


@pytest.fixture
def search(slapd: Slapd) -> Iterator[Directory]:
    yield from directory(
        (slapd.url,), bind_dn=user_dn("svc-search"), bind_password=password_of("svc-search"),
        search_base=PEOPLE, search_filter="(&(objectClass=inetOrgPerson)(uid={user}))",
    )  # fmt: skip


def test_bind_mode_with_member_of(bind: Directory) -> None:
    assert bind.authenticate("alice", password_of("alice")) == ("alice", MEMBERS)
    assert bind.authenticate("carol", password_of("carol")) == ("carol", frozenset())
    assert bind.authenticate("alice", "wrong") is None
    assert bind.authenticate("nobody", "whatever") is None


def test_search_mode_with_member_of(search: Directory) -> None:
    assert search.authenticate("alice", password_of("alice")) == ("alice", MEMBERS)
    assert search.authenticate("bob", password_of("bob")) == ("bob", frozenset({"readers"}))
    assert search.authenticate("bob", "wrong") is None
    assert search.authenticate("nobody", "whatever") is None


@pytest.mark.parametrize(
    ("flt", "expected"),
    [("(&(objectClass=groupOfNames)(member={dn}))", MEMBERS),
     ("(&(objectClass=posixGroup)(memberUid={user}))", frozenset({"posix-publishers"}))],
)  # fmt: skip
def test_group_search(slapd: Slapd, flt: str, expected: frozenset[str]) -> None:
    for made in directory((slapd.url,), user_dn=BIND, group_base=GROUPS, group_filter=flt):
        assert made.authenticate("alice", password_of("alice")) == ("alice", expected)
        assert made.authenticate("carol", password_of("carol")) == ("carol", frozenset())


@pytest.mark.parametrize(
    "name",
    ["*", "alice)(uid=*", "*)(|(uid=*", "alice)(|(objectClass=*", "alice\x00", "al*", "a*e",
     "alice,ou=people", f"alice,{PEOPLE}", "uid=alice", "alice+cn=alice", "alice\\", "alïce",
     "\\2a", "alice\\00", "x" * 300, "cn=admin", f"admin,{SUFFIX}"],
)  # fmt: skip
def test_injection_names_never_sign_in(bind: Directory, search: Directory, name: str) -> None:
    for made in (bind, search):
        for password in (password_of("alice"), "*", "root-secret"):
            assert made.authenticate(name, password) is None, (name, password)
        assert made.problem is None


def test_an_empty_password_is_never_an_anonymous_bind(bind: Directory, search: Directory) -> None:
    assert bind.authenticate("alice", "") is None
    assert search.authenticate("alice", "") is None


def test_start_tls_and_ldaps_with_the_test_ca(slapd: Slapd) -> None:
    for made in directory((slapd.url,), user_dn=BIND, start_tls=True, ca_file=slapd.ca):
        assert made.authenticate("alice", password_of("alice")) == ("alice", MEMBERS)
    for made in directory((slapd.ldaps_url,), user_dn=BIND, ca_file=slapd.ca):
        assert made.authenticate("alice", password_of("alice")) == ("alice", MEMBERS)


def test_an_unverified_certificate_is_an_outage_never_plain_text(
    slapd: Slapd, tmp_path: Path
) -> None:
    """Without the test CA the certificate fails: 503, never a fall back to no TLS."""
    empty_ca = Path(slapd.ca).with_name("cert.pem")  # a server certificate is no CA
    for url, start_tls in ((slapd.ldaps_url, False), (slapd.url, True)):
        for made in directory((url,), user_dn=BIND, start_tls=start_tls, ca_file=empty_ca):
            with pytest.raises(DirectoryUnavailable):
                made.authenticate("alice", password_of("alice"))
            assert made.problem is not None


def test_fail_over_to_the_next_url(slapd: Slapd) -> None:
    dead = f"ldap://127.0.0.1:{free_port()}"
    for made in directory((dead, slapd.url), user_dn=BIND):
        assert made.authenticate("alice", password_of("alice")) == ("alice", MEMBERS)


def test_a_wrong_service_password_is_an_outage_with_a_reason(slapd: Slapd) -> None:
    for made in directory(
        (slapd.url,), bind_dn=user_dn("svc-search"), bind_password="wrong", search_base=PEOPLE
    ):
        with pytest.raises(DirectoryUnavailable) as refused:
            made.authenticate("alice", password_of("alice"))
        assert refused.value.retry_after == 2
        assert made.problem is not None and "service account" in made.problem
        assert "wrong" not in made.problem  # the password is never in a message


def test_lookup_finds_name_and_groups_without_a_password(search: Directory) -> None:
    assert search.lookup("ALICE") == ("alice", MEMBERS)
    assert search.lookup("nobody") is None
    assert search.lookup("*") is None


def test_a_group_base_alone_keeps_only_member_of_groups_below_it(slapd: Slapd) -> None:
    for made in directory((slapd.url,), user_dn=BIND, group_base=GROUPS):
        assert made.authenticate("alice", password_of("alice")) == ("alice", MEMBERS)
    for made in directory((slapd.url,), user_dn=BIND, group_base=f"ou=elsewhere,{SUFFIX}"):
        assert made.authenticate("alice", password_of("alice")) == ("alice", frozenset())


def test_connections_are_bounded_and_reused(slapd: Slapd) -> None:
    pool = Pool(Endpoint((slapd.url,), timeout=1, max_connections=2))
    try:
        with pool.connection() as first, pool.connection() as second:
            assert first.bind(user_dn("alice"), password_of("alice"))
            assert second.bind(user_dn("bob"), password_of("bob"))
            started = time.monotonic()
            with pytest.raises(Unreachable, match="busy"), pool.connection():
                pass  # a third must wait, and gives up after the timeout
            assert 0.9 < time.monotonic() - started < 3
        with pool.connection() as again:  # an idle connection, bound again as someone else
            assert again.bind(user_dn("carol"), password_of("carol"))
            assert not again.bind(user_dn("carol"), "wrong")
        assert len(pool._idle) == 2
    finally:
        pool.close()


def test_a_directory_that_hangs_is_an_outage_within_the_timeout(slapd: Slapd) -> None:
    for made in directory((slapd.url,), user_dn=BIND):
        slapd.pause()
        try:
            started = time.monotonic()
            with pytest.raises(DirectoryUnavailable):
                made.authenticate("alice", password_of("alice"))
            assert time.monotonic() - started < 4
            started = time.monotonic()
            with pytest.raises(DirectoryUnavailable):  # at once while Retry-After runs
                made.authenticate("bob", password_of("bob"))
            assert time.monotonic() - started < 0.5
        finally:
            slapd.resume()
        time.sleep(2.1)
        assert made.authenticate("alice", password_of("alice")) == ("alice", MEMBERS)


def test_a_connection_idle_too_long_is_not_reused(slapd: Slapd) -> None:
    """A firewall may drop an idle connection without a word: binding on it would hang."""
    pool = Pool(Endpoint((slapd.url,), timeout=1, max_connections=2))
    try:
        with pool.connection() as session:
            assert session.bind(user_dn("alice"), password_of("alice"))
        old, _since = pool._idle[0]
        pool._idle[0] = (old, time.monotonic() - MAX_IDLE - 1)
        assert pool.take_idle() is None and old.closed
    finally:
        pool.close()
