"""API token records in the package storage, shared by every replica and every backup.

Each token is one small object, ``.dynopypi/tokens/<id>.json`` (``auth.tokens``'s record:
a digest, never the secret), created with put-if-absent and revoked by a conditional
write, in the directory or the bucket alike (``store.base.Storage``). When it was last
used is a separate object (``<id>.used``), written at most once a minute per replica, so a
busy CI never turns reads into writes and never races a revocation.

A replica keeps what it read for ``FRESH`` seconds: a token used by every request of a
pip install costs one store read per half second, and a revocation made anywhere is
refused everywhere within a second. Unknown ids are remembered as briefly, and every
lookup is behind the login throttle, so random ids cannot turn into a flood of reads.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace

from dynopypi.auth.tokens import (
    MAX_RECORD,
    TokenRecord,
    digest,
    is_token_id,
    new_token,
    record_from_json,
)
from dynopypi.store.base import TOKENS_PREFIX, KeyExists, Storage, VersionChanged

log = logging.getLogger(__name__)

TOKENS = TOKENS_PREFIX
FRESH = 0.5  # seconds a replica trusts what it read of a token
USED_EVERY = 60.0  # seconds between two writes of one token's last use, per replica
MAX_CACHED = 10_000


def record_key(token_id: str) -> str:
    return f"{TOKENS}{token_id}.json"


def used_key(token_id: str) -> str:
    return f"{TOKENS}{token_id}.used"


class TokenStore:
    """Create, list, revoke and look up tokens in ``storage`` (thread-safe)."""

    def __init__(
        self,
        storage: Storage,
        *,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._storage = storage
        self._clock = clock
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, TokenRecord | None]] = {}
        self._used: dict[str, float] = {}

    def create(
        self,
        user: str,
        *,
        projects: tuple[str, ...] = ("*",),
        actions: frozenset[str],
        expires: float | None,
        description: str = "",
        publisher: str | None = None,
        issuer: str | None = None,
    ) -> tuple[str, TokenRecord]:
        """(the token's text, its record): the text is shown once and never kept."""
        while True:
            token_id, text = new_token()
            secret = text.rsplit("-", 1)[1]
            record = TokenRecord(
                token_id, user, digest(secret), self._clock(), expires, projects, actions,
                description, publisher=publisher, issuer=issuer,
            )  # fmt: skip
            try:
                self._storage.write(record_key(token_id), record.to_json(), expect=None)
            except KeyExists:  # 64 random bits collided: draw again
                continue
            return text, record

    def records(self) -> list[TokenRecord]:
        """Every token, oldest first, with its last use when one was noted."""
        found: list[TokenRecord] = []
        for stat in self._storage.list(TOKENS):
            if stat.key.endswith(".json"):
                record = self._read(stat.key[len(TOKENS) : -len(".json")])
                if record is not None:
                    found.append(replace(record, last_used=self._last_used(record.id)))
        return sorted(found, key=lambda r: (r.created, r.id))

    def revoke(self, token_id: str) -> TokenRecord | None:
        """The revoked record (already revoked: as it was); None when there is no such token."""
        while True:
            got = (
                self._storage.read(record_key(token_id), MAX_RECORD)
                if is_token_id(token_id)
                else None
            )
            if got is None:
                return None
            record = _parse(got[0], token_id)
            if record is None or record.revoked is not None:
                return record
            revoked = record.revoke(self._clock())
            try:
                self._storage.write(record_key(token_id), revoked.to_json(), expect=got[1].version)
            except (VersionChanged, KeyExists):
                continue  # changed meanwhile (another revoke): read it again
            with self._lock:
                self._cache.pop(token_id, None)
            return revoked

    def lookup(self, token_id: str) -> TokenRecord | None:
        now = self._monotonic()
        with self._lock:
            cached = self._cache.get(token_id)
        if cached is not None and now - cached[0] < FRESH:
            return cached[1]
        record = self._read(token_id)
        with self._lock:
            if len(self._cache) >= MAX_CACHED:
                self._forget(now)
            self._cache[token_id] = (now, record)
        return record

    def used(self, record: TokenRecord) -> None:
        now = self._monotonic()
        with self._lock:
            if now - self._used.get(record.id, -USED_EVERY) < USED_EVERY:
                return
            self._used[record.id] = now
            if len(self._used) > MAX_CACHED:
                self._used.clear()
        key = used_key(record.id)
        data = repr(self._clock()).encode()
        try:
            current = self._storage.stat(key)
            self._storage.write(key, data, expect=None if current is None else current.version)
        except Exception as exc:  # a note for 'token list' must never fail a request
            log.debug("could not note the use of token %s: %s", record.id, exc)

    def prune(self, older_than: float, *, minted_only: bool = True) -> int:
        """Delete tokens that expired before ``older_than`` (by default only minted ones:
        an operator's expired token stays listed until revoked); how many went."""
        gone = 0
        for record in self.records():
            if minted_only and record.publisher is None:
                continue
            if record.expires is not None and record.expires < older_than:
                self._storage.delete(record_key(record.id))
                self._storage.delete(used_key(record.id))
                gone += 1
        return gone

    def _read(self, token_id: str) -> TokenRecord | None:
        if not is_token_id(token_id):
            return None
        got = self._storage.read(record_key(token_id), MAX_RECORD)
        return None if got is None else _parse(got[0], token_id)

    def _last_used(self, token_id: str) -> float | None:
        try:
            got = self._storage.read(used_key(token_id), 64)
            return None if got is None else float(got[0])
        except ValueError:
            return None

    def _forget(self, now: float) -> None:
        """Drop stale entries (all of them if none is stale): bounded memory."""
        stale = [k for k, (at, _r) in self._cache.items() if now - at >= FRESH]
        for key in stale or list(self._cache):
            del self._cache[key]


def _parse(data: bytes, token_id: str) -> TokenRecord | None:
    try:
        record = record_from_json(data)
    except ValueError as exc:
        log.error("ignoring the token record %s: %s", record_key(token_id), exc)
        return None
    return record if record.id == token_id else None
