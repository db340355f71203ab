"""API tokens as credentials: ``Authorization: Bearer TOKEN``, or HTTP Basic with the user
name ``__token__`` and the token as the password (what twine, ``uv publish --token``,
poetry and pip's ``https://__token__:TOKEN@host/simple/`` send).

A token proves an ``Identity`` whose ``scope`` is the token's; what the identity may then
do is the policy's business, as for a password. Every refusal counts toward the login
throttle like a wrong password. The refusal says *why* (expired, revoked) only to a caller
who holds the token's secret: to anyone else every bad token reads "not valid", so a
stranger learns nothing about which tokens exist.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Protocol

from dynopypi.auth.identity import Extractor, Identity, decode_basic
from dynopypi.auth.throttle import Throttle
from dynopypi.auth.tokens import TOKEN_USER, TokenRecord, parse_token
from dynopypi.errors import NeedsAccount

log = logging.getLogger(__name__)

NOT_VALID = (
    "the API token is not valid on this index (mistyped, or deleted); "
    "ask an administrator for a new one ('dynopypi token create')"
)


class TokenBook(Protocol):
    """Where token records are found (``trust.tokens.TokenStore``)."""

    def lookup(self, token_id: str) -> TokenRecord | None:
        """The record as it is now (revocation shows within a second), None if none."""
        ...

    def used(self, record: TokenRecord) -> None:
        """Note a successful use (for ``token list``); cheap, never raises."""
        ...


class TokenCheck:
    """Proves identities from token texts, each try guarded by the login throttle."""

    def __init__(
        self,
        book: TokenBook,
        throttle: Throttle,
        *,
        accounts: Callable[[str], bool] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._book = book
        self._throttle = throttle
        self._accounts = accounts  # whether an account still exists
        self._clock = clock

    def prove(self, text: str, address: str, scheme: str) -> Identity:
        parsed = parse_token(text)
        found: list[TokenRecord] = []
        why: list[str] = []

        def verify() -> bool:
            if parsed is None:
                why.append(
                    "the credentials are not a dynopypi API token (they start with 'dynopypi-')"
                )
                return False
            token_id, secret = parsed
            record = self._book.lookup(token_id)
            if record is None or not record.matches(secret):
                why.append(NOT_VALID)
                return False
            if record.revoked is not None:
                why.append(f"the API token {token_id} was revoked; use another one")
                return False
            if record.expired(self._clock()):
                why.append(f"the API token {token_id} has expired; create a new one")
                return False
            if record.publisher is None and self._accounts and not self._accounts(record.user):
                why.append(f"the account of API token {token_id} no longer exists")
                return False
            found.append(record)
            return True

        if not self._throttle.guard(address, verify):
            log.warning("refused API token from %s: %s", address, why[0] if why else "")
            raise NeedsAccount(why[0] if why else NOT_VALID)
        record = found[0]
        self._book.used(record)
        return Identity(record.user, scheme, record.scope())


class BearerExtractor:
    """``Authorization: Bearer TOKEN``."""

    scheme = "bearer"

    def __init__(self, check: TokenCheck) -> None:
        self._check = check

    def extract(self, credentials: str, address: str) -> Identity:
        return self._check.prove(credentials, address, self.scheme)


class TokenOrPassword:
    """HTTP Basic: the user ``__token__`` means the password is an API token; any other
    user is the password extractor's (``identity.BasicExtractor``), or, without one (an
    index with tokens but no password file), a failed login."""

    scheme = "basic"

    def __init__(self, check: TokenCheck, passwords: Extractor | None) -> None:
        self._check = check
        self._passwords = passwords

    def extract(self, credentials: str, address: str) -> Identity:
        parsed = decode_basic(credentials)
        if parsed is not None and parsed[0] == TOKEN_USER:
            return self._check.prove(parsed[1], address, self.scheme)
        if self._passwords is None:
            return self._check.prove("", address, self.scheme)
        return self._passwords.extract(credentials, address)
