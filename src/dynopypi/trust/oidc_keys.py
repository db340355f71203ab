"""An OIDC issuer's signing keys: its discovery document, then its JWKS, fetched within
bounds (``upstream.http``: a per-read timeout, a deadline for the whole exchange, a size
cap) and cached.

Keys are kept for ``TTL`` seconds; a token signed with a key id not in the cache (the
issuer rotated its keys) fetches them again, at most once every ``MIN_REFRESH`` seconds
per issuer, so a stream of tokens with made-up ``kid`` values costs one fetch, not one
per token. The JWKS may only be fetched from the issuer's host or one the discovery names
(never an internal address unless the issuer itself is on one), and it must be https
like the issuer (http on loopback, for tests).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:  # imported where keys are read (see oidc_verify)
    import jwt

from dynopypi.errors import ConfigError
from dynopypi.trust.publishers import check_issuer
from dynopypi.upstream.http import FetchFailed, Missing, NotModified, open_url, read_bounded
from dynopypi.upstream.origin import Origin
from dynopypi.upstream.reach import Reach

log = logging.getLogger(__name__)

TTL = 3600.0
MIN_REFRESH = 30.0
TIMEOUT, DEADLINE = 5.0, 10.0  # seconds: per read, and for a whole exchange
MAX_DISCOVERY = 64 * 1024
MAX_JWKS = 256 * 1024
MAX_KEYS = 64
KEY_TYPES = {"RSA": "RS256", "EC": "ES256"}

Fetch = Callable[[str, Reach, int], bytes]


class KeysUnavailable(Exception):
    """The issuer's keys could not be had (or not the one asked for); ``str`` says why."""


def fetch(url: str, reach: Reach, limit: int) -> bytes:
    """One bounded GET of a JSON document; ``KeysUnavailable`` for any failure."""
    try:
        response = open_url(
            url, Origin(url, None), reach, {"Accept": "application/json"},
            timeout=TIMEOUT, deadline=time.monotonic() + DEADLINE,
        )  # fmt: skip
        return read_bounded(response, limit, url)
    except (FetchFailed, Missing, NotModified) as exc:
        raise KeysUnavailable(f"{url}: {exc or 'not modified'}") from None


class IssuerKeys:
    """Keys by issuer and key id (thread-safe; one fetch at a time)."""

    def __init__(
        self, fetcher: Fetch = fetch, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._fetch = fetcher
        self._clock = clock
        self._lock = threading.Lock()
        self._keys: dict[str, tuple[float, dict[str, jwt.PyJWK]]] = {}
        self._tried: dict[str, float] = {}

    def key(self, issuer: str, kid: str | None) -> jwt.PyJWK:
        with self._lock:
            now = self._clock()
            cached = self._keys.get(issuer)
            fresh = cached is not None and now - cached[0] < TTL
            if cached is not None and fresh and kid in cached[1]:
                return cached[1][kid]
            tried = self._tried.get(issuer)
            if tried is None or now - tried >= (MIN_REFRESH if fresh else 1.0):
                self._tried[issuer] = now  # a failure too: an issuer down is asked again later
                self._keys[issuer] = (now, self._load(issuer))
            elif cached is None:
                raise KeysUnavailable(f"the keys of {issuer} could not be fetched just now")
            keys = self._keys[issuer][1]
        found = keys.get(kid or "")
        if found is None:
            if kid is None and len(keys) == 1:
                return next(iter(keys.values()))
            raise KeysUnavailable(f"the issuer {issuer} has no key {kid!r}")
        return found

    def _load(self, issuer: str) -> dict[str, jwt.PyJWK]:
        base = check_issuer(issuer)
        reach = Reach([base])
        discovery = _json(self._fetch(
            base.rstrip("/") + "/.well-known/openid-configuration", reach, MAX_DISCOVERY
        ))  # fmt: skip
        if discovery.get("issuer") != issuer:
            raise KeysUnavailable(
                f"the discovery document of {issuer} names another issuer "
                f"({str(discovery.get('issuer'))[:200]!r})"
            )
        jwks_uri = discovery.get("jwks_uri")
        if not isinstance(jwks_uri, str):
            raise KeysUnavailable(f"the discovery document of {issuer} has no jwks_uri")
        try:
            check_issuer(jwks_uri)
        except ConfigError as exc:
            raise KeysUnavailable(f"jwks_uri of {issuer}: {exc}") from None
        jwks_host = urlsplit(jwks_uri).netloc
        document = _json(self._fetch(jwks_uri, Reach([base], [jwks_host]), MAX_JWKS))
        keys = _keys(document.get("keys"))
        log.info("fetched %d signing keys of %s", len(keys), issuer)
        return keys


def _json(data: bytes) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except ValueError:
        raise KeysUnavailable("the issuer sent something that is not JSON") from None
    if not isinstance(value, dict):
        raise KeysUnavailable("the issuer sent JSON that is not an object")
    return value


def _keys(entries: object) -> dict[str, jwt.PyJWK]:
    """The usable signing keys of a JWKS by ``kid``: RSA and P-256 keys for signatures;
    anything else (encryption keys, other curves, broken entries) is skipped."""
    import jwt  # here, not at the top: see the import there

    if not isinstance(entries, list):
        raise KeysUnavailable("the JWKS has no list of keys")
    keys: dict[str, jwt.PyJWK] = {}
    for entry in entries[:MAX_KEYS]:
        if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
            continue
        algorithm = KEY_TYPES.get(str(entry.get("kty")))
        if algorithm is None or entry.get("alg", algorithm) != algorithm:
            continue
        if algorithm == "ES256" and entry.get("crv") != "P-256":
            continue
        try:
            keys[str(entry.get("kid", ""))] = jwt.PyJWK(entry, algorithm)
        except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError):
            continue
    return keys
