"""May this identity do this? ``Policy`` decides; ``Gate`` is what the HTTP layer asks.

The decision is a pure function of plain values (identity, action, project, the rights
table), so every rule can be tested in a table without files or a server. ``Gate`` adds
what a decision needs at request time: re-reading changed files, picking the extractor
for the Authorization scheme, and turning a "no" into the right domain error (no
credentials: ``NeedsAccount``; the wrong account: ``Denied``). Headers such as
WWW-Authenticate and Retry-After belong to the HTTP edge, not here.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

from dynopypi.auth.bearer import BearerExtractor, TokenBook, TokenCheck, TokenOrPassword
from dynopypi.auth.htpasswd import PasswordBook, read_htpasswd
from dynopypi.auth.identity import (
    ANONYMOUS,
    UPDATE,
    BasicExtractor,
    Extractor,
    Identity,
    split_authorization,
)
from dynopypi.auth.rights import (
    Rights,
    RightsFile,
    RightsTable,
    default_rights_path,
    read_rights,
    rights_of,
)
from dynopypi.auth.throttle import Throttle
from dynopypi.dists.names import normalize
from dynopypi.errors import ConfigError, Denied, NeedsAccount, Refused


@dataclass(frozen=True)
class Policy:
    """The rules at one moment: which actions need an account, and each account's rights.

    ``rights`` is None without a rights file (every account may do everything).
    ``accounts_configured`` is False when the server runs without a password file: then
    nobody can prove an identity, and actions that need one are refused outright.
    """

    required_actions: frozenset[str]
    rights: RightsTable | None = None
    accounts_configured: bool = True

    def needs_account(self, action: str) -> bool:
        return action in self.required_actions

    def allows(self, identity: Identity, action: str, project: str | None) -> bool:
        """The decision: ``project`` is the one an update touches (None: no project yet)."""
        if not self.needs_account(action):
            return True
        if not self.accounts_configured or identity.user is None:
            return False
        scope = identity.scope
        if scope is not None:
            if not Rights(scope.actions, scope.projects).allows(action, project):
                return False
            if scope.publisher is not None:  # the operator's publisher entry is the grant
                return True
        return rights_of(self.rights, identity.user).allows(action, project)


def refusal(policy: Policy, identity: Identity, action: str, project: str | None) -> Refused:
    """Why ``policy`` said no, as the error the person behind the request should see."""
    if not policy.accounts_configured:
        return Denied(
            "uploads are disabled on this index: the server was started without "
            "accounts (-P/--passwords)"
            if action == UPDATE
            else f"{action} needs an account, but this index has no accounts"
        )
    if identity.user is None:
        return NeedsAccount(
            f"{action} on this index needs an account: send a user name and password"
        )
    target = f" project {normalize(project)!r}" if project and action == UPDATE else ""
    scope = identity.scope
    if scope is not None and not Rights(scope.actions, scope.projects).allows(action, project):
        return Denied(
            f"token {scope.token_id} may not {action}{target}: out of its scope (actions "
            f"{','.join(sorted(scope.actions))}; projects {' '.join(scope.projects)}); "
            "create a token with the rights this needs"
        )
    return Denied(
        f"account {identity.user!r} may not {action}{target} on this index", identity.user
    )


class Reloadable(Protocol):
    """A file-backed source of accounts that notices when its file changes; ``problem``
    says why its last reload failed (the previous accounts are still in use)."""

    problem: str | None

    def reload(self, *, force: bool = False) -> bool: ...


class Gate:
    """Authorizes requests: the policy, the extractors by scheme, and their files.

    A new credential type is one more entry in ``extractors`` (keyed by the lower-case
    scheme name, e.g. ``"bearer"``); nothing else changes.
    """

    def __init__(
        self,
        policy: Policy,
        extractors: Mapping[str, Extractor],
        *,
        rights: RightsFile | None = None,
        sources: Sequence[Reloadable] = (),
    ) -> None:
        self._policy = policy if rights is None else replace(policy, rights=rights.rules)
        self._extractors = dict(extractors)
        self._rights = rights
        self._sources = tuple(sources)
        self._lock = threading.Lock()
        # told "accounts" or "rights" when a changed file is picked up (the audit trail)
        self.on_change: Callable[[str], None] | None = None

    @property
    def policy(self) -> Policy:
        return self._policy

    def needs_account(self, action: str) -> bool:
        return self._policy.needs_account(action)

    def reload(self, *, force: bool = False) -> None:
        """Re-read the password and rights files if they changed (or always, if forced)."""
        changed = [source.reload(force=force) for source in self._sources]
        if any(changed) and self.on_change is not None:
            self.on_change("accounts")
        if self._rights is not None and self._rights.reload(force=force):
            with self._lock:
                self._policy = replace(self._policy, rights=self._rights.rules)
            if self.on_change is not None:
                self.on_change("rights")

    def problems(self) -> list[str]:
        """Why the password or rights file in use is not the one on disk (for /ready)."""
        sources: list[Reloadable] = [*self._sources]
        if self._rights is not None:
            sources.append(self._rights)
        return [source.problem for source in sources if source.problem]

    def authorize(
        self, action: str, project: str | None, authorization: str | None, address: str
    ) -> Identity:
        """The identity allowed to do ``action``; ANONYMOUS when no account is needed.

        Raises NeedsAccount (no or wrong credentials), Denied (lacks the right, or the
        index has no accounts) or Throttled (this address failed too often).
        """
        policy = self._policy
        if not policy.needs_account(action):
            return ANONYMOUS
        if not policy.accounts_configured:  # refuse before looking at any credentials
            raise refusal(policy, ANONYMOUS, action, project)
        self.reload()
        identity = self.identify(authorization, address)
        policy = self._policy  # the reload may have brought new rights
        if policy.allows(identity, action, project):
            return identity
        raise refusal(policy, identity, action, project)

    def identify(self, authorization: str | None, address: str) -> Identity:
        """Who the header proves; ANONYMOUS for none, an unknown scheme or unreadable ones."""
        parts = split_authorization(authorization)
        if parts is None:
            return ANONYMOUS
        scheme, credentials = parts
        extractor = self._extractors.get(scheme)
        if extractor is None:
            return ANONYMOUS
        return extractor.extract(credentials, address)


def build_gate(
    passwords: Path | None,
    required: frozenset[str],
    rights_file: Path | None = None,
    *,
    throttle: Throttle | None = None,
    tokens: TokenBook | None = None,
) -> Gate:
    """The gate for a server's settings: Basic over htpasswd when there is a password file,
    and API tokens (Bearer, or Basic as ``__token__``) when there is a ``tokens`` book.

    Without a password file (``-P .``) there are no extractors and no rights; the policy
    alone says what happens to actions that need an account (tokens act for accounts, so
    they need the accounts too).
    """
    if passwords is None:
        return Gate(Policy(required, accounts_configured=False), {})
    book = PasswordBook(passwords)
    rights = RightsFile(rights_file or default_rights_path(passwords), required=bool(rights_file))
    throttle = throttle or Throttle()
    basic: Extractor = BasicExtractor(book, throttle)
    extractors: dict[str, Extractor] = {"basic": basic}
    if tokens is not None:
        check = TokenCheck(tokens, throttle, accounts=book.has)
        extractors = {"basic": TokenOrPassword(check, basic), "bearer": BearerExtractor(check)}
    return Gate(Policy(required), extractors, rights=rights, sources=(book,))


def check_account_files(passwords: Path, rights: Path | None) -> None:
    """ConfigError (one line) unless the password file, and the rights file if there is
    one, can be used: a server serving zero accounts, or every right, because of a typo
    is worse than one that does not start (``check-config`` uses this too)."""
    if not passwords.exists() and not passwords.is_symlink():
        raise ConfigError(
            f"passwords: {passwords} does not exist; create it with "
            f"'dynopypi passwd {passwords} USER' or pass '-P .' for no accounts"
        )
    try:
        read_htpasswd(passwords)
    except ConfigError as exc:
        raise ConfigError(f"passwords: {exc}") from None
    path = rights or default_rights_path(passwords)
    if rights is not None or path.exists() or path.is_symlink():
        try:
            read_rights(path)
        except ConfigError as exc:
            raise ConfigError(f"rights: {exc}") from None
