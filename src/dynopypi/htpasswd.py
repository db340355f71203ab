"""Passwords from an Apache htpasswd file, re-read when an operator changes it.

Checking a bcrypt hash takes a quarter of a second on purpose, and pip sends credentials
with every request, so a successful check is remembered for a few minutes under an HMAC of
user and password (keyed per process: the cache never holds anything that could be
replayed or reversed). Changing the file forgets every remembered login, so a removed
account or changed password stops working at once.

Unknown users are checked against a dummy hash of the same scheme as the real ones, so a
login for an account that does not exist takes as long as a wrong password, and timing
does not tell an attacker which user names exist.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import threading
import time
from collections.abc import Callable
from pathlib import Path

from passlib.apache import HtpasswdFile, htpasswd_context

from .reloading import ReloadingFile

log = logging.getLogger(__name__)

HashCheck = Callable[[str, str], bool]


def check_hash(password: str, stored: str) -> bool:
    """passlib's verification of ``password`` against an htpasswd hash (slow by design)."""
    return bool(htpasswd_context.verify(password, stored))


def dummy_hash(scheme: str) -> str:
    """A hash of a random secret in ``scheme``, for unknown users to be checked against."""
    return str(htpasswd_context.handler(scheme).hash(secrets.token_hex(16)))


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
        self._htpasswd: HtpasswdFile | None = None
        self._scheme = ""
        self._dummy = ""
        self._generation = 0  # bumped by every reload that replaces the accounts
        self._remembered: dict[bytes, float] = {}  # hmac(user, password) -> expiry
        self.reload()

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
            htpasswd = HtpasswdFile(str(self.path))
        except (OSError, ValueError) as exc:
            log.error(
                "cannot read password file %s (%s); keeping the previous accounts", self.path, exc
            )
            return False
        users = htpasswd.users()
        scheme = htpasswd_context.identify(htpasswd.get_hash(users[0])) if users else "bcrypt"
        dummy = self._dummy if scheme == self._scheme else dummy_hash(scheme)
        with self._lock:
            self._htpasswd, self._scheme, self._dummy = htpasswd, scheme, dummy
            self._generation += 1
            self._remembered.clear()
        log.info("loaded %d accounts from %s", len(users), self.path)
        return True

    def verify(self, user: str, password: str) -> bool:
        """Whether ``password`` is ``user``'s; costs one hash check unless remembered."""
        token = hmac.new(self._key, f"{user}\0{password}".encode(), hashlib.sha256).digest()
        with self._lock:
            now = self._clock()
            expiry = self._remembered.get(token)
            if expiry is not None and expiry > now:
                return True
            htpasswd, dummy, generation = self._htpasswd, self._dummy, self._generation
        if htpasswd is None:
            return False
        stored = htpasswd.get_hash(user)
        if stored is None:
            self._check(password, dummy)  # same cost as a real account
            return False
        if not self._check(password, stored):
            return False
        self._remember(token, now + self._remember_for, generation)
        return True

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
