"""API tokens as values: their text (``dynopypi-<id>-<secret>``), the record kept of each
(``TokenRecord``: digest, owner, scope, expiry), and how a record is spelled in JSON.

The text starts with a fixed prefix so that secret scanners (GitHub's, gitleaks) can
recognize a leaked token; the id after it finds the record without a search; the secret
is 256 random bits. Only ``digest(secret)`` is kept. A slow password hash (bcrypt, argon2)
protects *guessable* secrets against someone holding the digests; a 256-bit random secret
cannot be guessed from its SHA-256 however fast the hash, so the cheap hash costs nothing
in safety and keeps every request with a token as fast as one without. Comparisons are in
constant time all the same (``hmac.compare_digest``).

Pure: where records are kept is ``trust.tokens``'s business.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass, field, replace
from typing import Any

from dynopypi.auth.identity import ACTIONS, Scope
from dynopypi.dists.names import normalize

PREFIX = "dynopypi-"
TOKEN_USER = "__token__"  # the Basic user name that says "the password is a token"
_ID_BYTES, _SECRET_BYTES = 8, 32
_TOKEN = re.compile(rf"{PREFIX}([0-9a-f]{{{2 * _ID_BYTES}}})-([0-9a-f]{{{2 * _SECRET_BYTES}}})")
MAX_RECORD = 64 * 1024  # a record is a few hundred bytes; a bigger one is not ours


def new_token() -> tuple[str, str]:
    """(id, the whole token text): the only time the secret exists in clear."""
    token_id = secrets.token_hex(_ID_BYTES)
    return token_id, f"{PREFIX}{token_id}-{secrets.token_hex(_SECRET_BYTES)}"


def parse_token(text: str) -> tuple[str, str] | None:
    """(id, secret) of a token's text; None when it is not a dynopypi token at all."""
    found = _TOKEN.fullmatch(text.strip())
    return (found.group(1), found.group(2)) if found else None


def digest(secret: str) -> str:
    """What is stored of a secret: its SHA-256 (why not a slow hash: the module docstring)."""
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


def is_token_id(text: str) -> bool:
    return re.fullmatch(rf"[0-9a-f]{{{2 * _ID_BYTES}}}", text) is not None


@dataclass(frozen=True)
class TokenRecord:
    """What is kept of one token; never its secret.

    ``user`` is the account the token acts for (its rights bound the token at every
    use); for a token minted by trusted publishing it is ``publisher:<id>`` and
    ``publisher``/``issuer`` say which publisher. Times are Unix seconds.
    """

    id: str
    user: str
    digest: str
    created: float
    expires: float | None
    projects: tuple[str, ...] = ("*",)
    actions: frozenset[str] = frozenset(ACTIONS)
    description: str = ""
    revoked: float | None = None
    publisher: str | None = None
    issuer: str | None = None
    last_used: float | None = field(default=None, compare=False)

    def matches(self, secret: str) -> bool:
        return hmac.compare_digest(self.digest, digest(secret))

    def expired(self, now: float) -> bool:
        return self.expires is not None and now >= self.expires

    def scope(self) -> Scope:
        return Scope(self.id, self.projects, self.actions, self.publisher, self.issuer)

    def revoke(self, now: float) -> TokenRecord:
        return replace(self, revoked=now)

    def to_json(self) -> bytes:
        return json.dumps(
            {**self.public(), "digest": self.digest}, sort_keys=True, separators=(",", ":")
        ).encode()

    def public(self) -> dict[str, Any]:
        """Every field but the digest (``token list --json``)."""
        return {
            "id": self.id,
            "user": self.user,
            "projects": list(self.projects),
            "actions": sorted(self.actions),
            "description": self.description,
            "created": self.created,
            "expires": self.expires,
            "revoked": self.revoked,
            "last_used": self.last_used,
            "publisher": self.publisher,
            "issuer": self.issuer,
        }


def record_from_json(data: bytes) -> TokenRecord:
    """A stored record; ``ValueError`` when it is not one (a corrupt or foreign object)."""
    try:
        raw = json.loads(data)
        record = TokenRecord(
            id=_text(raw["id"]),
            user=_text(raw["user"]),
            digest=_text(raw["digest"]),
            created=float(raw["created"]),
            expires=None if raw.get("expires") is None else float(raw["expires"]),
            projects=tuple(_text(p) for p in raw["projects"]),
            actions=frozenset(_text(a) for a in raw["actions"]) & frozenset(ACTIONS),
            description=_text(raw.get("description", "")),
            revoked=None if raw.get("revoked") is None else float(raw["revoked"]),
            publisher=None if raw.get("publisher") is None else _text(raw["publisher"]),
            issuer=None if raw.get("issuer") is None else _text(raw["issuer"]),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ValueError(f"not a token record: {exc}") from None
    if not is_token_id(record.id):
        raise ValueError(f"not a token id: {record.id[:40]!r}")
    return record


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {type(value).__name__}")
    return value


def project_globs(projects: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Project globs as the rights file spells them (normalized; glob characters kept)."""
    return tuple(str(normalize(p)) for p in projects) or ("*",)
