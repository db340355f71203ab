"""The trusted publishing exchange in-process (``trust.mint``, ``oidc_verify``,
``oidc_keys``, ``replay``): a good identity token gets a scoped short-lived API token;
the negative matrix of the issue is refused, each with no token minted.

The issuer's documents come from ``support.oidc_issuer`` through the key fetcher, without
a socket (the end-to-end tests use the same issuer over HTTP)."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
import pytest
from support.oidc_issuer import REPOSITORY, Issuer

from dynopypi.auth.identity import UPDATE
from dynopypi.errors import ConfigError
from dynopypi.store.copy.directory import DirectoryStorage
from dynopypi.trust.mint import Minter, MintRefused
from dynopypi.trust.oidc_keys import MIN_REFRESH, IssuerKeys
from dynopypi.trust.publishers import PublisherStore, check_issuer
from dynopypi.trust.replay import Replays
from dynopypi.trust.tokens import TokenStore
from dynopypi.upstream.reach import Reach

AUDIENCE = "dynopypi-test"


@pytest.fixture(scope="module")
def issuer() -> Issuer:
    return Issuer(url="https://issuer.test")


class Fetcher:
    def __init__(self, issuer: Issuer) -> None:
        self.issuer = issuer
        self.urls: list[str] = []

    def __call__(self, url: str, reach: Reach, limit: int) -> bytes:
        self.urls.append(url)
        return self.issuer.documents()[url.removeprefix(self.issuer.url)]


class Parts:
    def __init__(self, root: Path, issuer: Issuer) -> None:
        storage = DirectoryStorage(root)
        self.tokens = TokenStore(storage)
        self.publishers = PublisherStore(storage)
        self.fetcher = Fetcher(issuer)
        self.minter = Minter(
            self.publishers, self.tokens, IssuerKeys(self.fetcher), Replays(storage),
            audience=AUDIENCE, ttl=900,
        )  # fmt: skip
        self.publisher = self.publishers.add(
            "Acme_Tools", issuer.url, [("repository", REPOSITORY), ("environment", "release")]
        )

    def mint(self, token: str) -> dict[str, Any]:
        return self.minter.mint(json.dumps({"token": token}).encode())


@pytest.fixture
def parts(tmp_path: Path, issuer: Issuer) -> Parts:
    return Parts(tmp_path, issuer)


def test_a_good_token_is_exchanged_once(parts: Parts, issuer: Issuer) -> None:
    token = issuer.token(AUDIENCE)
    answer = parts.mint(token)
    assert answer["success"] is True and answer["token"].startswith("dynopypi-")
    (record,) = parts.tokens.records()
    assert record.projects == ("acme-tools",) and record.actions == frozenset({UPDATE})
    assert record.publisher == parts.publisher.id and record.issuer == issuer.url
    assert record.expires == answer["expires"]
    assert 890 <= answer["expires"] - record.created <= 901
    with pytest.raises(MintRefused) as caught:
        parts.mint(token)
    assert caught.value.code == "invalid-reuse-token"
    assert len(parts.tokens.records()) == 1


def test_es256_is_accepted(parts: Parts, issuer: Issuer) -> None:
    assert parts.mint(issuer.sign(issuer.claims(AUDIENCE), alg="ES256"))["success"]


def _none(claims: dict[str, Any]) -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


def _hs256_with_public_key(issuer: Issuer, claims: dict[str, Any]) -> str:
    """The classic confusion: HMAC keyed with the RSA public key, which anyone has."""
    from cryptography.hazmat.primitives import serialization

    pem = issuer.rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = {"alg": "HS256", "kid": "rsa-1", "typ": "JWT"}
    algorithm = jwt.algorithms.HMACAlgorithm(jwt.algorithms.HMACAlgorithm.SHA256)
    encoded = [
        base64.urlsafe_b64encode(json.dumps(header).encode()).rstrip(b"="),
        base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"="),
    ]
    signature = algorithm.sign(b".".join(encoded), pem)
    return b".".join([*encoded, base64.urlsafe_b64encode(signature).rstrip(b"=")]).decode()


NEGATIVE: dict[str, tuple[Callable[[Issuer], str], str]] = {
    "wrong aud": (lambda i: i.token("someone-else"), "another audience"),
    "expired": (lambda i: i.token(AUDIENCE, exp=1_600_000_000, iat=1_599_999_000, nbf=None),
                "expired"),
    "not yet valid": (lambda i: i.token(AUDIENCE, nbf=4_000_000_000), "not valid yet"),
    "wrong iss": (lambda i: i.token(AUDIENCE, iss="https://evil.test"), "no trusted publisher"),
    "alg none": (lambda i: _none(i.claims(AUDIENCE)), "'none'"),
    "HS256 with the public key": (lambda i: _hs256_with_public_key(i, i.claims(AUDIENCE)),
                                  "'HS256'"),
    "unknown kid": (lambda i: i.sign(i.claims(AUDIENCE), kid="rotated-away"), "no key"),
    "a claim differs": (lambda i: i.token(AUDIENCE, repository="acme/evil"), "repository"),
    "a claim missing": (lambda i: i.token(AUDIENCE, environment=None), "environment"),
    "no jti": (lambda i: i.token(AUDIENCE, jti=None), "jti"),
    "signed by another key": (lambda i: Issuer(url=i.url).token(AUDIENCE), "Signature"),
    "not a JWT": (lambda i: "not.a.jwt", "cannot be read"),
}  # fmt: skip


@pytest.mark.parametrize("case", NEGATIVE, ids=list(NEGATIVE))
def test_negative_matrix_mints_nothing(parts: Parts, issuer: Issuer, case: str) -> None:
    make, message = NEGATIVE[case]
    with pytest.raises(MintRefused) as caught:
        parts.mint(make(issuer))
    assert message in caught.value.description, caught.value.description
    assert caught.value.status == 422
    assert parts.tokens.records() == []


@pytest.mark.parametrize(
    "body", [b"", b"[]", b'{"token": 3}', b'{"token": ""}', b"\xff", b'{"jwt": "x"}']
)
def test_bad_payloads(parts: Parts, body: bytes) -> None:
    with pytest.raises(MintRefused) as caught:
        parts.minter.mint(body)
    assert caught.value.code == "invalid-payload"


def test_unknown_kids_refresh_the_keys_at_most_every_min_refresh(
    parts: Parts, issuer: Issuer
) -> None:
    parts.mint(issuer.token(AUDIENCE))
    fetched = len(parts.fetcher.urls)
    for _ in range(5):
        with pytest.raises(MintRefused):
            parts.mint(issuer.sign(issuer.claims(AUDIENCE), kid="made-up"))
    assert len(parts.fetcher.urls) <= fetched + 2  # one refresh: discovery + JWKS
    assert MIN_REFRESH >= 10


def test_another_project_gets_no_token_scope(parts: Parts, issuer: Issuer) -> None:
    """The minted token is for the publisher's project only (the web test shows the 403)."""
    answer = parts.mint(issuer.token(AUDIENCE))
    record = parts.tokens.lookup(answer["token"].split("-")[1])
    assert record is not None and record.scope().projects == ("acme-tools",)


@pytest.mark.parametrize(
    "url",
    ["http://issuer.example", "ftp://x", "https://u:p@issuer.example", "https://i.example/?q"],
)
def test_issuers_must_be_https_except_loopback(url: str) -> None:
    with pytest.raises(ConfigError):
        check_issuer(url)
    assert check_issuer("http://127.0.0.1:8000") == "http://127.0.0.1:8000"
    assert check_issuer("http://localhost:1") == "http://localhost:1"


def test_a_publisher_needs_a_claim(parts: Parts, issuer: Issuer) -> None:
    with pytest.raises(ConfigError, match="at least one --claim"):
        parts.publishers.add("x", issuer.url, [])
