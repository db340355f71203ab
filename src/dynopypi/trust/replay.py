"""Each identity token used once, across every replica: its ``jti`` is recorded in the
storage with put-if-absent (``.dynopypi/oidc/jti/<sha256 of issuer and jti>``), so of
two replicas shown the same token at once exactly one mints.

A per-process replay cache would let a stolen token be replayed on another replica; the
storage is the one thing every replica shares. The record holds the token's expiry, so
old records can be swept (``prune``) once no token could be replayed anyway.
"""

from __future__ import annotations

import hashlib
import json
import logging

from dynopypi.store.base import STATE_PREFIX, KeyExists, Storage

log = logging.getLogger(__name__)

JTI = STATE_PREFIX + "oidc/jti/"


def jti_key(issuer: str, jti: str) -> str:
    return JTI + hashlib.sha256(f"{issuer}\0{jti}".encode()).hexdigest() + ".json"


class Replays:
    def __init__(self, storage: Storage) -> None:
        self._storage = storage

    def first_use(self, issuer: str, jti: str, expires: float) -> bool:
        """True for the first use of this token anywhere; False for a replay."""
        record = json.dumps({"exp": expires}).encode()
        try:
            self._storage.write(jti_key(issuer, jti), record, expect=None)
        except KeyExists:
            return False
        return True

    def prune(self, now: float) -> int:
        """Delete the records of tokens expired before ``now``; how many went."""
        gone = 0
        for stat in self._storage.list(JTI):
            got = self._storage.read(stat.key, 1024)
            try:
                expires = float(json.loads(got[0])["exp"]) if got else 0.0
            except (ValueError, KeyError, TypeError):
                expires = 0.0
            if expires < now:
                self._storage.delete(stat.key)
                gone += 1
        return gone
