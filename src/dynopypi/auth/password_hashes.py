"""One htpasswd hash: its kind (scheme and cost), a dummy of that kind, and checking a
password against it the way Apache does.

Timing must not tell an attacker which user names exist. Files written by Apache's
``htpasswd`` mix kinds whose checks cost very different times (apr1: under a millisecond;
bcrypt cost 5: 2 ms; cost 12: 200 ms), so no single dummy hash can cost what "a real
user" costs. Instead every check costs the same work, whoever the user: one check per
*kind* present in the file, against the user's own hash for its kind and against a dummy
for every other kind (``PasswordBook.verify``). Known, unknown, cheap or dear: the same
hashes are computed, so they take the same time under any load (a padding sleep would
not slow down under load the way a real hash check does). Costs grow by powers of two
with bcrypt's cost, so the sum is dominated by the dearest kind.

Apache's bcrypt (crypt_blowfish) uses only the first 72 bytes of a password; bcrypt 5
refuses longer ones. A 100-byte password that Apache's ``htpasswd`` accepted (and
truncated) must still open the account here, so bcrypt gets the first 72 bytes, as in
Apache. Passwords longer than ``MAX_PASSWORD_BYTES`` (or with a NUL) are refused before any
hashing: nobody types them, and some schemes (sha-crypt) cost time in proportion to the
length.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from passlib.apache import htpasswd_context

BCRYPT_MAX_BYTES = 72  # what crypt_blowfish (Apache, bcrypt 4) reads of a password
MAX_PASSWORD_BYTES = 1024  # Apache's htpasswd reads at most 255; anything longer is not typed


@dataclass(frozen=True, order=True, slots=True)
class Kind:
    """What a check of this hash costs: the scheme and its cost parameter (if any)."""

    scheme: str
    rounds: int = 0

    def __str__(self) -> str:
        return f"{self.scheme} (rounds {self.rounds})" if self.rounds else self.scheme


def kind_of(stored: str) -> Kind:
    """The kind of an htpasswd hash; ValueError (saying why) when it is malformed."""
    scheme = htpasswd_context.identify(stored)  # plaintext is the catch-all, as in passlib
    handler = htpasswd_context.handler(scheme)
    parse = getattr(handler, "from_string", None)
    if parse is None:  # plaintext: nothing to parse
        return Kind(scheme)
    return Kind(scheme, int(getattr(parse(stored), "rounds", 0) or 0))


def dummy_of(kind: Kind) -> str:
    """A hash of a random secret, of the given kind: checking it costs what a real
    account of that kind costs."""
    handler = htpasswd_context.handler(kind.scheme)
    if kind.rounds:
        handler = handler.using(rounds=kind.rounds, relaxed=True)
    return str(handler.hash(secrets.token_hex(16)))


def checkable(password: str) -> bool:
    """Whether a password can be checked at all: no NUL (the crypt schemes refuse it) and
    at most ``MAX_PASSWORD_BYTES``. Others fail as wrong, before any lookup or hashing,
    so they cost the same for every user name."""
    return "\0" not in password and len(password.encode("utf-8")) <= MAX_PASSWORD_BYTES


def secret_for(password: str, scheme: str) -> bytes:
    """The bytes a scheme sees of ``password``: bcrypt reads only 72, as in Apache."""
    data = password.encode("utf-8")
    return data[:BCRYPT_MAX_BYTES] if scheme == "bcrypt" else data


def check_hash(password: str, stored: str) -> bool:
    """Whether ``password`` matches ``stored`` (slow by design); ValueError if the stored
    hash is malformed or the password is longer than any scheme accepts."""
    if len(password.encode("utf-8")) > MAX_PASSWORD_BYTES:
        raise ValueError(f"password longer than {MAX_PASSWORD_BYTES} bytes")
    scheme = htpasswd_context.identify(stored)
    handler = htpasswd_context.handler(scheme)
    return bool(handler.verify(secret_for(password, scheme), stored))
