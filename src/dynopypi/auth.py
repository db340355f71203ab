"""Accounts and rights: htpasswd through passlib, a per-user rights file, login throttling.

Policy is decided by ``Authenticator.authorize`` from plain values (action, project,
Authorization header, client address), so it is testable without a server.

The rights file (``<htpasswd>.rights`` unless given) narrows what each account may do::

    # user      actions                 projects that 'update' applies to (globs)
    alice       list,download,update    *
    ci-bot      update                  acme-* tools
    reader      list,download
    *           list,download           # everyone not listed above

Without a rights file every account has every right (pypiserver's behaviour). With one,
an account not listed and not covered by a ``*`` line may only list and download.
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import hashlib
import hmac
import logging
import os
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from passlib.apache import HtpasswdFile, htpasswd_context

from .dists import normalize
from .errors import ConfigError, Denied, NeedsAccount, Throttled

log = logging.getLogger(__name__)

LIST, DOWNLOAD, UPDATE = "list", "download", "update"


@dataclass(frozen=True, slots=True)
class Rights:
    actions: frozenset[str]
    projects: tuple[str, ...] = ("*",)  # normalized globs for 'update'

    def allows(self, action: str, project: str | None) -> bool:
        if action not in self.actions:
            return False
        if action != UPDATE or project is None:
            return True
        name = normalize(project)
        return any(fnmatch.fnmatchcase(name, glob) for glob in self.projects)


ALL_RIGHTS = Rights(frozenset({LIST, DOWNLOAD, UPDATE}))
READ_ONLY = Rights(frozenset({LIST, DOWNLOAD}))


def parse_rights(text: str, source: str = "rights file") -> dict[str, Rights]:
    rules: dict[str, Rights] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        user, *rest = line.split()
        if not rest:
            raise ConfigError(f"{source}:{number}: {user!r} has no actions")
        actions = frozenset(a.strip().lower() for a in rest[0].split(",") if a.strip())
        unknown = actions - {LIST, DOWNLOAD, UPDATE}
        if unknown:
            raise ConfigError(
                f"{source}:{number}: unknown action(s) {', '.join(sorted(unknown))}; "
                "use list, download, update"
            )
        globs = tuple(str(normalize(g)) for g in rest[1:]) or ("*",)  # glob chars survive
        rules[user] = Rights(actions, globs)
    return rules


class _Throttle:
    """Failed logins per client address in a sliding window: slow down, then refuse.

    Nothing is permanent: once the window has passed, an address starts afresh, so an
    attacker cannot lock a real user out for longer than ``window`` seconds.
    """

    def __init__(self, *, window: float = 60.0, slow_after: int = 3, block_after: int = 10):
        self.window, self.slow_after, self.block_after = window, slow_after, block_after
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, address: str, now: float) -> deque[float]:
        times = self._failures.setdefault(address, deque())
        while times and times[0] <= now - self.window:
            times.popleft()
        return times

    def check(self, address: str) -> None:
        now = time.monotonic()
        with self._lock:
            times = self._recent(address, now)
            if len(times) >= self.block_after:
                retry = max(1, int(times[0] + self.window - now) + 1)
                raise Throttled(
                    f"too many failed logins from {address}; try again in {retry} seconds",
                    retry_after=retry,
                )
            delay = 0.25 * max(0, len(times) - self.slow_after + 1)
        if delay:
            time.sleep(min(delay, 2.0))

    def failed(self, address: str) -> None:
        with self._lock:
            self._recent(address, time.monotonic()).append(time.monotonic())
            if len(self._failures) > 10_000:  # bound memory under a spray of addresses
                now = time.monotonic()
                for key in [k for k, v in self._failures.items() if not v or v[-1] < now - 60]:
                    del self._failures[key]


class _Reloading:
    """A file re-read when its (mtime, size, inode) changes; checked at most once a second."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: tuple[int, int, int] | None = None
        self._checked = 0.0

    def changed(self) -> bool:
        now = time.monotonic()
        if now - self._checked < 1.0 and self._stamp is not None:
            return False
        self._checked = now
        try:
            st = os.stat(self.path)
            stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        except OSError:
            stamp = (0, 0, 0)
        if stamp == self._stamp:
            return False
        self._stamp = stamp
        return True

    def force(self) -> None:
        self._checked = 0.0
        self._stamp = None


class Authenticator:
    def __init__(
        self,
        passwords: Path | None,
        required: frozenset[str],
        *,
        rights_file: Path | None = None,
        throttle: _Throttle | None = None,
    ) -> None:
        self.required = required
        self.passwords = passwords
        self._lock = threading.Lock()
        self._htpasswd: HtpasswdFile | None = None
        self._dummy_hash = ""
        self._rights: dict[str, Rights] | None = None
        self._pw_file = _Reloading(passwords) if passwords else None
        rights_path = rights_file or (
            passwords.with_name(passwords.name + ".rights") if passwords else None
        )
        self._rights_file = _Reloading(rights_path) if rights_path else None
        self.throttle = throttle or _Throttle()
        self._key = secrets.token_bytes(32)
        self._verified: dict[bytes, float] = {}  # hmac(user:password) -> expiry
        self.reload()

    # ---- files -----------------------------------------------------------------------
    def reload(self, *, force: bool = False) -> None:
        """Re-read the htpasswd and rights files if they changed (or always, if forced)."""
        with self._lock:
            if force:
                for f in (self._pw_file, self._rights_file):
                    if f is not None:
                        f.force()
            if self._pw_file is not None and self._pw_file.changed():
                self._load_htpasswd(self._pw_file.path)
            if self._rights_file is not None and self._rights_file.changed():
                self._load_rights(self._rights_file.path)

    def _load_htpasswd(self, path: Path) -> None:
        try:
            htpasswd = HtpasswdFile(str(path))
        except (OSError, ValueError) as exc:
            log.error("cannot read password file %s (%s); keeping the previous accounts", path, exc)
            return
        self._htpasswd = htpasswd
        self._verified.clear()
        users = htpasswd.users()
        scheme = htpasswd_context.identify(htpasswd.get_hash(users[0])) if users else "bcrypt"
        # unknown users are checked against this, so they cost what a real account costs
        self._dummy_hash = htpasswd_context.handler(scheme).hash(secrets.token_hex(16))
        log.info("loaded %d accounts from %s", len(users), path)

    def _load_rights(self, path: Path) -> None:
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            self._rights = None
            return
        except OSError as exc:
            log.error("cannot read rights file %s (%s); keeping the previous rights", path, exc)
            return
        try:
            self._rights = parse_rights(text, str(path))
        except ConfigError as exc:
            log.error("%s; keeping the previous rights", exc)
            return
        self._verified.clear()
        log.info("loaded rights for %d accounts from %s", len(self._rights), path)

    # ---- decisions ---------------------------------------------------------------------
    def rights_of(self, user: str) -> Rights:
        rules = self._rights
        if rules is None:
            return ALL_RIGHTS
        return rules.get(user) or rules.get("*") or READ_ONLY

    def needs_account(self, action: str) -> bool:
        return action in self.required

    def authorize(
        self, action: str, project: str | None, authorization: str | None, address: str
    ) -> str | None:
        """The user name allowed to do ``action``; None when no account is needed.

        Raises NeedsAccount (no or wrong credentials), Denied (lacks the right) or
        Throttled (this address failed too often).
        """
        if not self.needs_account(action):
            return None
        if self.passwords is None:
            raise Denied(
                "uploads are disabled on this index: the server was started without "
                "accounts (-P/--passwords)"
                if action == UPDATE
                else f"{action} needs an account, but this index has no accounts"
            )
        self.reload()
        credentials = _basic_credentials(authorization)
        if credentials is None:
            raise NeedsAccount(
                f"{action} on this index needs an account: send a user name and password"
            )
        user, password = credentials
        self.throttle.check(address)
        if not self._verify(user, password):
            self.throttle.failed(address)
            log.warning("failed login for %r from %s", user, address)
            raise NeedsAccount("wrong user name or password")
        if not self.rights_of(user).allows(action, project):
            target = f" project {normalize(project)!r}" if project and action == UPDATE else ""
            raise Denied(f"account {user!r} may not {action}{target} on this index")
        return user

    def _verify(self, user: str, password: str) -> bool:
        token = hmac.new(self._key, f"{user}\0{password}".encode(), hashlib.sha256).digest()
        now = time.monotonic()
        expiry = self._verified.get(token)
        if expiry is not None and expiry > now:
            return True
        htpasswd = self._htpasswd
        if htpasswd is None:
            return False
        stored = htpasswd.get_hash(user)
        if stored is None:
            htpasswd_context.verify(password, self._dummy_hash)  # same cost as a real check
            return False
        ok = bool(htpasswd_context.verify(password, stored))
        if ok:
            if len(self._verified) > 1000:
                self._verified.clear()
            self._verified[token] = now + 300  # bcrypt per request would cap throughput
        return ok


def _basic_credentials(header: str | None) -> tuple[str, str] | None:
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    if not sep or not user:
        return None
    return user, password
