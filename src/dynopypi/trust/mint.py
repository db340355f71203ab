"""The trusted publishing exchange (``POST /_/oidc/mint-token``, what ``uv publish
--trusted-publishing`` calls): a CI identity token in, a short-lived API token out.

The identity token is verified (``oidc_verify``), matched against the publishers whose
issuer signed it (every configured claim equal), used once (``replay``), and exchanged
for an API token scoped to the publishers' projects, ``update`` only, for ``ttl``
seconds. Each refusal is a ``MintRefused`` with a code and a description, which the web
layer answers in PyPI's error shape, and no token is minted.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dynopypi.auth.identity import UPDATE
from dynopypi.trust.oidc_verify import InvalidIdentity, KeySource, verify
from dynopypi.trust.publishers import PublisherStore
from dynopypi.trust.replay import Replays
from dynopypi.trust.tokens import TokenStore

log = logging.getLogger(__name__)

SWEEP_EVERY = 3600.0  # seconds between sweeps of expired minted tokens and jti records
KEEP_EXPIRED = 86400.0  # an expired minted token stays listed for a day


class MintRefused(Exception):
    """No token: ``code`` (machine-readable), ``description`` (for the CI log)."""

    def __init__(self, code: str, description: str, status: int = 422) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.status = status


@dataclass(frozen=True)
class Trust:
    """What the routes and the gate use of this package."""

    tokens: TokenStore
    publishers: PublisherStore
    minter: Minter


class Minter:
    def __init__(
        self,
        publishers: PublisherStore,
        tokens: TokenStore,
        keys: KeySource,
        replays: Replays,
        *,
        audience: str,
        ttl: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._publishers = publishers
        self._tokens = tokens
        self._keys = keys
        self._replays = replays
        self.audience = audience
        self._ttl = ttl
        self._clock = clock
        self._swept = clock()
        # told of each token minted (the audit trail): id, projects, publishers, issuer, subject
        self.on_mint: Callable[[str, tuple[str, ...], str, str, str], None] | None = None

    def mint(self, body: bytes) -> dict[str, Any]:
        """``{"success": true, "token": ..., "expires": ...}`` or ``MintRefused``."""
        token = _identity_token(body)
        publishers = self._publishers.current()
        try:
            claims = verify(token, self.audience, {p.issuer for p in publishers}, self._keys)
        except InvalidIdentity as exc:
            raise MintRefused("invalid-token", str(exc)) from None
        issuer = claims["iss"]
        candidates = [p for p in publishers if p.issuer == issuer]
        matching = [p for p in candidates if not p.differences(claims)]
        if not matching:
            differ = sorted({k for p in candidates for k in p.differences(claims)})
            raise MintRefused(
                "invalid-publisher",
                f"valid token, but no trusted publisher of this index matches it (claims "
                f"that differ: {', '.join(differ)}); check 'dynopypi publisher list'",
            )
        jti = claims["jti"]
        if not isinstance(jti, str) or not self._replays.first_use(issuer, jti, claims["exp"]):
            raise MintRefused(
                "invalid-reuse-token", "this identity token was already used; ask for a new one"
            )
        now = self._clock()
        expires = int(now + self._ttl)
        ids = ",".join(p.id for p in matching)
        text, record = self._tokens.create(
            f"publisher:{ids}",
            projects=tuple(sorted({p.project for p in matching})),
            actions=frozenset({UPDATE}),
            expires=expires,
            description=f"trusted publishing: {_subject(claims)}",
            publisher=ids,
            issuer=issuer,
        )
        log.info(
            "minted token %s for %s (publisher %s, %s)",
            record.id, ", ".join(record.projects), ids, _subject(claims),
        )  # fmt: skip
        if self.on_mint is not None:
            self.on_mint(record.id, record.projects, ids, issuer, _subject(claims))
        self._sweep(now)
        return {"success": True, "token": text, "expires": expires}

    def _sweep(self, now: float) -> None:
        if now - self._swept < SWEEP_EVERY:
            return
        self._swept = now
        try:
            self._tokens.prune(now - KEEP_EXPIRED)
            self._replays.prune(now - KEEP_EXPIRED)
        except Exception as exc:  # housekeeping must never fail a mint
            log.warning("could not sweep expired minted tokens: %s", exc)


def _identity_token(body: bytes) -> str:
    try:
        payload = json.loads(body)
    except ValueError:
        payload = None
    token = payload.get("token") if isinstance(payload, dict) else None
    if not isinstance(token, str) or not token:
        raise MintRefused(
            "invalid-payload", 'the body must be a JSON object {"token": "<OIDC identity token>"}'
        )
    return token


def _subject(claims: dict[str, Any]) -> str:
    return str(claims.get("sub", "?"))[:200]
