"""Escaping user names for LDAP DNs (RFC 4514) and filters (RFC 4515), and the rest of
``auth.ldap_escape``: pure functions, checked against the RFCs' examples and hostile names
(the same names are tried against a real slapd in tests/e2e/test_ldap_directory.py)."""

from __future__ import annotations

import re

import pytest

from dynopypi.auth.ldap_escape import (
    acceptable_name,
    escape_dn_value,
    escape_filter_value,
    fill,
    first_value,
    is_under,
    naming_attribute,
)


@pytest.mark.parametrize(
    ("value", "escaped"),
    [("alice", "alice"), ("*", "\\2a"), ("alice)(uid=*", "alice\\29\\28uid=\\2a"),
     ("a\\b", "a\\5cb"), ("nul\x00", "nul\\00"), ("Lučić", "Lu\\c4\\8di\\c4\\87"),
     ("a b", "a\\20b"), ("a,b=c", "a,b=c")],
)  # fmt: skip
def test_filter_values(value: str, escaped: str) -> None:
    assert escape_filter_value(value) == escaped


@pytest.mark.parametrize(
    ("value", "escaped"),
    [("alice", "alice"), ("a,ou=x", "a\\2cou\\3dx"), ("a+cn=b", "a\\2bcn\\3db"),
     ("#a", "\\23a"), (" a ", "\\20a\\20"), ('"q"', "\\22q\\22"), ("<>;", "\\3c\\3e\\3b"),
     ("nul\x00", "nul\\00"), ("é", "\\c3\\a9"), ("a\\", "a\\5c")],
)  # fmt: skip
def test_dn_values(value: str, escaped: str) -> None:
    assert escape_dn_value(value) == escaped


def test_every_escaped_value_is_printable_ascii_without_specials() -> None:
    hostile = "".join(chr(c) for c in range(0, 0x300))
    for escaped, specials in (
        (escape_filter_value(hostile), "*()"),
        (escape_dn_value(hostile), ',+="<>;# '),
    ):
        assert escaped.isascii() and escaped.isprintable()
        assert not set(escaped) & set(specials)
        assert re.fullmatch(r"([^\\]|\\[0-9a-f]{2})*", escaped)  # every \ starts a hex pair


def test_fill_replaces_placeholders_once() -> None:
    assert fill("(member={dn})", dn="uid=a\\2a,o=x") == "(member=uid=a\\2a,o=x)"
    assert fill("(uid={user})", user="{dn}", dn="X") == "(uid={dn})"  # a value stays a value
    assert fill("{other}(uid={user}){", user="a") == "{other}(uid=a){"


def test_first_value_of_a_dn() -> None:
    assert first_value("cn=py-publishers,ou=groups,dc=example,dc=org") == "py-publishers"
    assert first_value("CN=Domain Users,CN=Users,DC=corp,DC=example") == "Domain Users"
    assert first_value("cn=a\\2cb,ou=g") == "a,b"
    assert first_value("cn=a\\,b,ou=g") == "a,b"
    assert first_value("not a dn") == ""
    assert first_value("") == ""


def test_naming_attribute() -> None:
    assert naming_attribute("uid={user},ou=people,dc=example,dc=org") == "uid"
    assert naming_attribute("(&(objectClass=user)(sAMAccountName={user}))") == "sAMAccountName"
    assert naming_attribute("(userPrincipalName={user})") == "userPrincipalName"


@pytest.mark.parametrize(
    ("name", "ok"),
    [("alice", True), ("a" * 256, True), ("a" * 257, False), ("", False), ("a\x00", False),
     ("a\nb", False), ("a\x7f", False), ("alïce", True), ("a b", True)],
)  # fmt: skip
def test_acceptable_names(name: str, ok: bool) -> None:
    assert acceptable_name(name) is ok


def test_is_under() -> None:
    base = "ou=groups,dc=example,dc=org"
    assert is_under("cn=py-publishers,ou=groups,dc=example,dc=org", base)
    assert is_under("CN=py-publishers, OU=Groups,DC=Example,DC=org", base)
    assert is_under(base, base)
    assert not is_under("cn=py-publishers,ou=self-made,dc=example,dc=org", base)
    assert not is_under("cn=x,ou=groups,dc=example,dc=org,dc=evil", base)
    assert not is_under("cn=ou\\3dgroups\\2cdc\\3dexample\\2cdc\\3dorg", base)
    assert not is_under("garbage", base) and not is_under("", base)
