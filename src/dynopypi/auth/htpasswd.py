"""Passwords from an Apache htpasswd file, re-read when an operator changes it.

Checking a bcrypt hash takes a quarter of a second on purpose, and pip sends credentials
with every request, so a successful check is remembered for a few minutes under an HMAC of
user and password (keyed per process: the cache never holds anything that could be
replayed or reversed). Changing the file forgets every remembered login, so a removed
account or changed password stops working at once.

Every check costs the same whoever the user (``password_hashes``): one hash per kind in the file,
so timing tells an attacker neither which user names exist nor which kind of hash an
account has.

A file that cannot be read or is malformed stops the server at start (``ConfigError``,
one line naming the file and line); on a live reload the previous accounts stay, the
log says why, and ``problem`` tells ``/ready``.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from dynopypi.auth.password_hashes import Kind, check_hash, checkable, dummy_of, kind_of
from dynopypi.auth.reloading import ReloadingFile
from dynopypi.errors import ConfigError

log = logging.getLogger(__name__)

HashCheck = Callable[[str, str], bool]


@dataclass(frozen=True, slots=True)
class Account:
    stored: str  # the hash as written in the file
    kind: Kind


def parse_htpasswd(text: str, source: str = "htpasswd") -> dict[str, Account]:
    """The accounts of an htpasswd file's text; ConfigError names the line at fault.

    As in Apache: ``user:hash`` lines, ``#`` comments and blank lines ignored, the first
    line of a user wins.
    """
    accounts: dict[str, Account] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        user, sep, stored = line.partition(":")
        if not sep or not user or not stored:
            raise ConfigError(f"{source}:{number}: not an htpasswd file (expected 'user:hash')")
        try:
            kind = kind_of(stored)
        except ValueError as exc:
            raise ConfigError(
                f"{source}:{number}: the hash of {user!r} is malformed ({exc})"
            ) from None
        accounts.setdefault(user, Account(stored, kind))
    return accounts


def read_htpasswd(path: Path) -> dict[str, Account]:
    """The accounts of the file at ``path``; ConfigError (one line) if it cannot be used."""
    if path.is_dir():
        raise ConfigError(f"{path} is a directory, not an htpasswd file")
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(f"{path}:{line}: not UTF-8 text") from None
    return parse_htpasswd(text, str(path))


class PasswordBook:
    """The accounts of one htpasswd file; ``verify`` is safe to call from many threads."""

    def __init__(
        self,
        path: Path,
        *,
        remember_for: float = 300.0,
        max_remembered: int = 1000,
        check: HashCheck = check_hash,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = path
        self._file = ReloadingFile(path, clock=clock)
        self._remember_for = remember_for
        self._max_remembered = max_remembered
        self._check = check
        self._clock = clock
        self._key = secrets.token_bytes(32)
        self._lock = threading.Lock()  # guards the fields below; never held while hashing
        self._reload_lock = threading.Lock()  # one reload at a time
        self._accounts: Mapping[str, Account] = {}
        self._dummies: tuple[tuple[Kind, str], ...] = ()  # one per kind in the file, sorted
        self._generation = 0  # bumped by every reload that replaces the accounts
        self._remembered: dict[bytes, float] = {}  # hmac(user, password) -> expiry
        self.problem: str | None = None  # why the last reload failed, for /ready
        self._file.changed()
        self._install(read_htpasswd(path))  # at start a bad file is fatal (ConfigError)

    @property
    def generation(self) -> int:
        """How many times the accounts were replaced (tests use it to see a reload)."""
        with self._lock:
            return self._generation

    def reload(self, *, force: bool = False) -> bool:
        """Re-read the file if it changed (or always, if forced); True if it was replaced.

        A request that finds another thread already reloading goes on with the accounts
        it has rather than queue behind the dummy-hash computation.
        """
        if not self._reload_lock.acquire(blocking=force):
            return False
        try:
            if force:
                self._file.force()
            return self._file.changed() and self._load()
        finally:
            self._reload_lock.release()

    def _load(self) -> bool:
        try:
            accounts = read_htpasswd(self.path)
        except ConfigError as exc:
            kept = len(self._accounts)
            self.problem = f"password file: {exc}; serving the previous {kept} accounts"
            log.error("%s", self.problem)
            return False
        self._install(accounts)
        return True

    def _install(self, accounts: dict[str, Account]) -> None:
        known = dict(self._dummies)
        kinds = sorted({account.kind for account in accounts.values()})
        dummies = tuple((kind, known.get(kind) or dummy_of(kind)) for kind in kinds)
        with self._lock:
            self._accounts, self._dummies = accounts, dummies
            self._generation += 1
            self._remembered.clear()
            self.problem = None
        plain = sorted(u for u, a in accounts.items() if a.kind.scheme == "plaintext")
        if plain:
            log.warning(
                "%s: %d accounts (%s) have no recognised hash and are compared as plain "
                "text; set their passwords again with 'dynopypi passwd'",
                self.path, len(plain), ", ".join(repr(u) for u in plain[:5]),
            )  # fmt: skip
        log.info(
            "loaded %d accounts from %s (hash kinds: %s)",
            len(accounts), self.path, ", ".join(str(k) for k in kinds) or "none",
        )  # fmt: skip

    def has(self, user: str) -> bool:
        """Whether the file has this account (an API token dies with its account; the
        directory chain never asks the directory about it)."""
        with self._lock:
            return user in self._accounts

    def verify(self, user: str, password: str) -> bool:
        """Whether ``password`` is ``user``'s; costs one hash check per kind in the file
        (whoever the user) unless the login is remembered."""
        if not checkable(password):
            return False  # before any lookup, so it costs the same for every user
        token = hmac.new(self._key, f"{user}\0{password}".encode(), hashlib.sha256).digest()
        with self._lock:
            now = self._clock()
            expiry = self._remembered.get(token)
            if expiry is not None and expiry > now:
                return True
            account, dummies = self._accounts.get(user), self._dummies
            generation = self._generation
        ok = False
        for kind, dummy in dummies:  # never stops early: the work is the same for all
            own = account is not None and account.kind == kind
            matched = self._checked(password, account.stored if own and account else dummy)
            ok = ok or (own and matched)
        if ok:
            self._remember(token, now + self._remember_for, generation)
        return ok

    def _checked(self, password: str, stored: str) -> bool:
        """A check that fails (rather than raising) on a hash passlib cannot use."""
        try:
            return self._check(password, stored)
        except ValueError as exc:
            log.error("%s: a password check failed: %s", self.path, exc)
            return False

    def _remember(self, token: bytes, expiry: float, generation: int) -> None:
        """Store a login, unless the accounts were replaced while it was being checked:
        it was proven against a file that is gone, so the cache must not outlive it."""
        with self._lock:
            if generation != self._generation:
                return
            if len(self._remembered) >= self._max_remembered:
                now = self._clock()
                self._remembered = {t: e for t, e in self._remembered.items() if e > now}
                if len(self._remembered) >= self._max_remembered:
                    self._remembered.clear()
            self._remembered[token] = expiry
