"""Who is asking: an ``Identity`` proven from the Authorization header by an extractor.

Each Authorization scheme has its own ``Extractor`` (Basic with htpasswd today; a Bearer
token type tomorrow). An extractor only proves *who* the client is; what that identity
may do is the policy's business (``policy.Policy``), so adding a credential type is one
new extractor and never an edit of the rules.

Basic credentials that cannot even be read (bad base64, not UTF-8, no colon, too long)
are a failed login like a wrong password: the client gets the "this needs an account"
challenge, with a message saying what was wrong, and the try counts toward the throttle
(otherwise garbage would be free to send forever). An unknown scheme is no attempt at
our credentials and is simply anonymous.

The action names live here, at the bottom of the import graph, so that rights, policy
and the web layer share one definition without import cycles.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Protocol, runtime_checkable

from dynopypi.auth.password_hashes import MAX_PASSWORD_BYTES, checkable
from dynopypi.auth.throttle import Throttle
from dynopypi.errors import NeedsAccount

log = logging.getLogger(__name__)

LIST, DOWNLOAD, UPDATE = "list", "download", "update"
ACTIONS = (LIST, DOWNLOAD, UPDATE)  # in the order messages name them

# Real credentials are a few hundred bytes; anything this long is an attack or a bug,
# and decoding it would only cost memory. Treated as unreadable credentials.
MAX_AUTHORIZATION = 8 * 1024
NO_GROUPS: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Scope:
    """What an API token may do, whoever its user is: the policy intersects it with the
    user's rights at the time of use (a token never widens an account).

    ``publisher`` and ``issuer`` are set on a token minted by trusted publishing: that
    token's rights come from the publisher the operator configured, not from an account,
    and the audit log names the publisher rather than a person.
    """

    token_id: str
    projects: tuple[str, ...] = ("*",)  # normalized globs
    actions: frozenset[str] = frozenset()
    publisher: str | None = None
    issuer: str | None = None


@dataclass(frozen=True, slots=True)
class Identity:
    """A proven user (and the scheme that proved it), or nobody (``ANONYMOUS``).

    ``scope`` is None for a password (the account's full rights) and the token's scope
    when an API token proved the identity.
    ``groups``: the directory groups the user is in (LDAP), whose lines in the rights file
    (``@group``) add to the user's own; none for htpasswd accounts.
    """

    user: str | None = None
    scheme: str | None = None
    scope: Scope | None = None
    groups: frozenset[str] = frozenset()

    @property
    def anonymous(self) -> bool:
        return self.user is None


ANONYMOUS = Identity()


class Extractor(Protocol):
    """Proves an identity from one Authorization scheme's credentials.

    ``credentials`` is the header after the scheme name; ``address`` the client's, for
    throttling. Returns ANONYMOUS for unreadable credentials; raises NeedsAccount for
    wrong ones and Throttled when the address failed too often.
    """

    def extract(self, credentials: str, address: str) -> Identity: ...


class PasswordChecker(Protocol):
    """Anything that can tell whether a password is a user's (``htpasswd.PasswordBook``)."""

    def verify(self, user: str, password: str) -> bool: ...


@runtime_checkable
class AccountChecker(Protocol):
    """A password checker that also knows the account's groups (``directory.Accounts``):
    (the account's name as its source spells it, its groups) when the password is the
    user's, else None."""

    def check(self, user: str, password: str) -> tuple[str, frozenset[str]] | None: ...


def split_authorization(header: str | None) -> tuple[str, str] | None:
    """(scheme in lower case, credentials) of an Authorization header.

    None when there is no header. Scheme names are case-insensitive (RFC 9110),
    credentials are not; their length is the extractor's business (an overlong Basic
    header is a failed login, not anonymous).
    """
    if not header:
        return None
    scheme, _, credentials = header.strip().partition(" ")
    if not scheme:
        return None
    return scheme.lower(), credentials.strip()


def decode_basic(credentials: str) -> tuple[str, str] | None:
    """(user, password) from Basic credentials, or None if they cannot be read.

    UTF-8 only, as announced with ``charset="UTF-8"`` in our challenge (RFC 7617): a
    client sending Latin-1 must fail visibly rather than match some other account.
    """
    if not credentials or len(credentials) > MAX_AUTHORIZATION:
        return None
    try:
        decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
    except ValueError:  # bad base64, non-ASCII characters, or bytes that are not UTF-8
        return None
    user, sep, password = decoded.partition(":")
    if not sep or not user:
        return None
    return user, password


def parse_basic(header: str | None) -> tuple[str, str] | None:
    """(user, password) from a whole Authorization header, if it is readable Basic."""
    parts = split_authorization(header)
    if parts is None or parts[0] != "basic":
        return None
    return decode_basic(parts[1])


class BasicExtractor:
    """HTTP Basic against a password book, each check guarded by the login throttle."""

    scheme = "basic"

    def __init__(self, passwords: PasswordChecker | AccountChecker, throttle: Throttle) -> None:
        self._throttle = throttle
        # decided once: a runtime protocol check costs microseconds on every login
        self._accounts: AccountChecker | None = None
        self._passwords: PasswordChecker | None = None
        if isinstance(passwords, AccountChecker):
            self._accounts = passwords
        else:
            self._passwords = passwords

    def extract(self, credentials: str, address: str) -> Identity:
        parsed = decode_basic(credentials)
        if parsed is None:
            self._throttle.guard(address, _refuse)  # counts; Throttled once over the cap
            log.warning("unreadable Basic credentials from %s", address)
            raise NeedsAccount(
                "the Basic credentials could not be read: send base64 of 'user:password' in UTF-8"
            )
        user, password = parsed
        if not checkable(password):  # too long or with a NUL: no scheme can check it
            self._throttle.guard(address, _refuse, user)
            log.warning("failed login for %r from %s: password not checkable", user[:64], address)
            raise NeedsAccount(
                f"wrong user name or password (passwords have at most {MAX_PASSWORD_BYTES} "
                "bytes and no NUL)"
            )
        found = (user, NO_GROUPS)
        accounts = self._accounts
        verify: Callable[[], bool]
        if accounts is None:  # htpasswd alone: its own name, no groups
            assert self._passwords is not None
            verify = partial(self._passwords.verify, user, password)
        else:

            def verify() -> bool:  # raising (the directory down) is no failed login
                nonlocal found
                login = accounts.check(user, password)
                found = login or found
                return login is not None

        if not self._throttle.guard(address, verify, user):
            log.warning("failed login for %r from %s", user[:64], address)
            raise NeedsAccount("wrong user name or password")
        return Identity(found[0], self.scheme, groups=found[1])


def _refuse() -> bool:
    """The check of credentials that fail before any hashing."""
    return False
