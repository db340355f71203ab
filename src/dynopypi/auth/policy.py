"""May this identity do this? ``Policy`` decides; ``Gate`` is what the HTTP layer asks.

The decision is a pure function of plain values (identity, action, project, the rights
table), so every rule can be tested in a table without files or a server. ``Gate`` adds
what a decision needs at request time: re-reading changed files, picking the extractor
for the Authorization scheme, and turning a "no" into the right domain error (no
credentials: ``NeedsAccount``; the wrong account: ``Denied``). Headers such as
WWW-Authenticate and Retry-After belong to the HTTP edge, not here. ``build_gate`` puts
the parts together, with ``Accounts`` when an LDAP directory backs the htpasswd file.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

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

if TYPE_CHECKING:  # ldap3 is imported only when a directory is configured
    from dynopypi.auth.directory import Directory, DirectoryConfig


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
        return rights_of(self.rights, identity.user, identity.groups).allows(action, project)


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
        """Why the password or rights file in use is not the one on disk, or the directory
        does not answer (for /ready)."""
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


class Accounts:
    """The accounts a Basic login is checked against, in order: the htpasswd file first
    (service accounts), then the directory for names the file does not have.

    A name in the htpasswd file is the file's alone: a wrong password there is a failed
    login, and the directory is not asked, so a directory account of the same name can
    never sign in as a local service account, unless ``shadow_local`` (the operator's
    ``--ldap-shadow-local``) lets the directory try too. Local accounts have no groups.
    """

    def __init__(
        self, book: PasswordBook | None, directory: Directory, *, shadow_local: bool = False
    ) -> None:
        self._book = book
        self._directory = directory
        self._shadow_local = shadow_local

    def check(self, user: str, password: str) -> tuple[str, frozenset[str]] | None:
        book = self._book
        directory_may = book is None or self._shadow_local or not book.has(user)
        if directory_may:  # pip sends the login with every request: spare it a bcrypt hash
            login = self._directory.remembered(user, password)
            if login is not None:
                return login
        if book is not None:
            if book.verify(user, password):  # the same work whoever the user
                return user, frozenset()
            if book.has(user) and not self._shadow_local:
                return None
        return self._directory.authenticate(user, password)

    def verify(self, user: str, password: str) -> bool:
        return self.check(user, password) is not None


def build_gate(
    passwords: Path | None,
    required: frozenset[str],
    rights_file: Path | None = None,
    *,
    throttle: Throttle | None = None,
    tokens: TokenBook | None = None,
    directory: DirectoryConfig | None = None,
    shadow_local: bool = False,
) -> Gate:
    """The gate for a server's settings: Basic over htpasswd when there is a password file,
    then over the LDAP directory when one is configured (``Accounts``); and API tokens
    (Bearer, or Basic as ``__token__``) when there is a ``tokens`` book.

    Without a password file or a directory (``-P .``) there are no extractors and no
    rights; the policy alone says what happens to actions that need an account. Tokens act
    for htpasswd accounts (a token of a directory account could outlive its account: the
    directory cannot be asked whether it still exists without a password). With a
    directory the rights file must exist (settings check it): thousands of directory
    accounts with every right would be no default.
    """
    if passwords is None and directory is None:
        return Gate(Policy(required, accounts_configured=False), {})
    book = PasswordBook(passwords) if passwords is not None else None
    rights_path = (rights_file or default_rights_path(passwords)) if passwords else rights_file
    assert rights_path is not None  # settings refuse a directory without a rights file
    rights = RightsFile(rights_path, required=bool(rights_file) or directory is not None)
    sources: list[Reloadable] = [book] if book is not None else []
    checker: PasswordBook | Accounts | None = book
    if directory is not None:
        from dynopypi.auth.directory import Directory

        ldap = Directory(directory)
        checker = Accounts(book, ldap, shadow_local=shadow_local)
        sources.append(ldap)
    assert checker is not None
    throttle = throttle or Throttle()
    basic: Extractor = BasicExtractor(checker, throttle)
    extractors: dict[str, Extractor] = {"basic": basic}
    if tokens is not None:
        exists = book.has if book is not None else _no_account
        check = TokenCheck(tokens, throttle, accounts=exists)
        extractors = {"basic": TokenOrPassword(check, basic), "bearer": BearerExtractor(check)}
    return Gate(Policy(required), extractors, rights=rights, sources=sources)


def _no_account(user: str) -> bool:
    """Without a password file no account can hold an API token (see ``build_gate``)."""
    return False


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
