"""An issuer's keys fetched over HTTP (``trust.oidc_keys``) from the test issuer on
loopback, in this process: what a good issuer gives, and the bounds that hold against a
hostile or broken one (too big, too slow, lying about who it is, sending us elsewhere)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from support.oidc_issuer import IssuerServer

from dynopypi.trust import oidc_keys
from dynopypi.trust.oidc_keys import MAX_JWKS, IssuerKeys, KeysUnavailable


@pytest.fixture
def issuer() -> Iterator[IssuerServer]:
    server = IssuerServer()
    yield server
    server.stop()


def test_keys_come_from_the_discovery_document(issuer: IssuerServer) -> None:
    keys = IssuerKeys()
    url = issuer.issuer.url
    assert keys.key(url, "rsa-1").algorithm_name == "RS256"
    assert keys.key(url, "ec-1").algorithm_name == "ES256"  # cached: no second fetch
    assert issuer.requests == ["/.well-known/openid-configuration", "/jwks"]


def test_a_jwks_over_the_bound_is_refused(issuer: IssuerServer) -> None:
    issuer.issuer.overrides["/jwks"] = b'{"keys": [' + b" " * MAX_JWKS + b"]}"
    with pytest.raises(KeysUnavailable, match="over"):
        IssuerKeys().key(issuer.issuer.url, "rsa-1")


def test_a_slow_issuer_costs_a_bounded_time(
    issuer: IssuerServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(oidc_keys, "TIMEOUT", 0.3)
    monkeypatch.setattr(oidc_keys, "DEADLINE", 1.0)
    issuer.issuer.delay = 3.0
    started = time.monotonic()
    with pytest.raises(KeysUnavailable, match="too slow"):
        IssuerKeys().key(issuer.issuer.url, "rsa-1")
    assert time.monotonic() - started < 2.0


@pytest.mark.parametrize(
    ("discovery", "message"),
    [
        ({"issuer": "https://someone-else.test", "jwks_uri": "x"}, "names another issuer"),
        ({"issuer": "SELF"}, "no jwks_uri"),
        ({"issuer": "SELF", "jwks_uri": "http://example.com/jwks"}, "must be https"),
    ],
)
def test_a_discovery_document_that_lies_is_refused(
    issuer: IssuerServer, discovery: dict[str, str], message: str
) -> None:
    url = issuer.issuer.url
    text = json.dumps(discovery).replace("SELF", url)
    issuer.issuer.overrides["/.well-known/openid-configuration"] = text.encode()
    with pytest.raises(KeysUnavailable, match=message):
        IssuerKeys().key(url, "rsa-1")


def test_not_json_and_unusable_keys(issuer: IssuerServer) -> None:
    issuer.issuer.overrides["/jwks"] = b"<html>"
    with pytest.raises(KeysUnavailable, match="not JSON"):
        IssuerKeys().key(issuer.issuer.url, "rsa-1")
    weird = [{"kty": "oct", "k": "c2VjcmV0", "kid": "rsa-1"}, {"kty": "EC", "crv": "P-521"}]
    issuer.issuer.overrides["/jwks"] = json.dumps({"keys": weird}).encode()
    with pytest.raises(KeysUnavailable, match="no key"):
        IssuerKeys().key(issuer.issuer.url, "rsa-1")  # a symmetric key is never taken
