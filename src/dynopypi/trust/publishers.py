"""Trusted publishers: which CI identity may publish which project, kept in the storage.

A publisher is one object, ``.dynopypi/publishers/<id>.json``: a project, an OIDC issuer
(its URL exactly as the ``iss`` claim spells it) and the claims an identity token must
carry, each compared exactly (``repository=acme/tools``, ``workflow_ref=...``,
``project_path=group/tools``). Any issuer the operator names is accepted, so long as it
is https (or on loopback, for tests): its keys are fetched from that URL. At least one
claim is required: an issuer alone (github.com's) would let every workflow in the world
publish.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from dynopypi.dists.names import is_valid_project_name, normalize
from dynopypi.errors import ConfigError
from dynopypi.store.base import PUBLISHERS_PREFIX, KeyExists, Storage

log = logging.getLogger(__name__)

PUBLISHERS = PUBLISHERS_PREFIX
MAX_RECORD = 64 * 1024
FRESH = 1.0  # seconds a replica trusts its listing of publishers
MAX_CLAIMS = 32


@dataclass(frozen=True)
class Publisher:
    id: str
    project: str
    issuer: str
    claims: tuple[tuple[str, str], ...]
    created: float

    def differences(self, claims: Mapping[str, Any]) -> list[str]:
        """The configured claims this token does not carry exactly (empty: it matches)."""
        return [key for key, value in self.claims if claims.get(key) != value]

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "project": self.project,
            "issuer": self.issuer,
            "claims": dict(self.claims),
            "created": self.created,
        }

    def to_json(self) -> bytes:
        return json.dumps(self.public(), sort_keys=True).encode()


def publisher_from_json(data: bytes) -> Publisher:
    try:
        raw = json.loads(data)
        claims = raw["claims"]
        if not isinstance(claims, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in claims.items()
        ):
            raise ValueError("claims must map strings to strings")
        return Publisher(
            str(raw["id"]), str(raw["project"]), check_issuer(str(raw["issuer"])),
            tuple(sorted(claims.items())), float(raw["created"]),
        )  # fmt: skip
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ValueError(f"not a publisher record: {exc}") from None


def check_issuer(url: str) -> str:
    """The issuer URL when keys may be fetched from it: https, or http on loopback."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ConfigError(f"issuer {url!r}: expected an https:// URL")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ConfigError(f"issuer {url!r}: no query, fragment or credentials in an issuer")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ConfigError(f"issuer {url!r}: must be https (plain http only on loopback, for tests)")
    return url


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_claim(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip() or not value:
        raise ConfigError(f"claim {text!r}: expected KEY=VALUE (e.g. repository=acme/tools)")
    return key.strip(), value


class PublisherStore:
    """Add, list and remove publishers; ``for_issuer`` is what the exchange asks."""

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
        self._cached: tuple[float, list[Publisher]] | None = None

    def add(self, project: str, issuer: str, claims: list[tuple[str, str]]) -> Publisher:
        if not is_valid_project_name(project):
            raise ConfigError(f"project {project!r} is not a valid project name")
        if not claims:
            raise ConfigError(
                "give at least one --claim KEY=VALUE: without one, every identity the "
                "issuer signs (every repository on it) could publish"
            )
        if len(claims) > MAX_CLAIMS:
            raise ConfigError(f"at most {MAX_CLAIMS} claims per publisher")
        while True:
            record = Publisher(
                secrets.token_hex(6), str(normalize(project)), check_issuer(issuer),
                tuple(sorted(dict(claims).items())), self._clock(),
            )  # fmt: skip
            try:
                self._storage.write(key(record.id), record.to_json(), expect=None)
            except KeyExists:
                continue
            with self._lock:
                self._cached = None
            return record

    def records(self) -> list[Publisher]:
        found = []
        for stat in self._storage.list(PUBLISHERS):
            if not stat.key.endswith(".json"):
                continue
            got = self._storage.read(stat.key, MAX_RECORD)
            if got is None:
                continue
            try:
                found.append(publisher_from_json(got[0]))
            except (ValueError, ConfigError) as exc:
                log.error("ignoring the publisher record %s: %s", stat.key, exc)
        return sorted(found, key=lambda p: (p.created, p.id))

    def remove(self, publisher_id: str) -> Publisher | None:
        for record in self.records():
            if record.id == publisher_id:
                self._storage.delete(key(publisher_id))
                with self._lock:
                    self._cached = None
                return record
        return None

    def current(self) -> list[Publisher]:
        """Every publisher, read again at most every ``FRESH`` seconds."""
        now = self._monotonic()
        with self._lock:
            cached = self._cached
        if cached is not None and now - cached[0] < FRESH:
            return cached[1]
        records = self.records()
        with self._lock:
            self._cached = (now, records)
        return records


def key(publisher_id: str) -> str:
    return f"{PUBLISHERS}{publisher_id}.json"
