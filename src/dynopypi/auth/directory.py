"""Accounts and groups from an LDAP directory (OpenLDAP, Active Directory); the chain that
puts them behind the htpasswd accounts is ``policy.Accounts``.

Two ways to find a person's entry:

- **bind** (``--ldap-user-dn 'uid={user},ou=people,dc=example,dc=org'``): the DN is the
  template with the escaped name; the password is checked by binding as it.
- **search** (``--ldap-search-base`` and ``--ldap-search-filter '(uid={user})'``, with a
  service account ``--ldap-bind-dn``): the service account finds exactly one entry (none,
  or more than one, is a failed login), then the password is checked by binding as it.
  Active Directory: ``(sAMAccountName={user})`` or ``(userPrincipalName={user})``.

Groups come from the entry's ``memberOf`` (OpenLDAP's memberof overlay, AD), or with
``--ldap-group-base`` and ``--ldap-group-filter`` from a search for groups (``(member={dn})``
for ``groupOfNames``, ``(memberUid={user})`` for ``posixGroup``); a group is named by the
value of its DN's first part (``cn=py-publishers,...`` is ``@py-publishers`` in the rights
file), or its ``cn``. With ``--ldap-group-base`` alone, only ``memberOf`` groups below it
count: where people may create groups, one named ``py-publishers`` elsewhere is no grant.

A successful login is remembered for ``cache_ttl`` seconds under an HMAC of name and
password (keyed per process, as in ``htpasswd``): pip sends credentials with every request,
and a disabled account stops working at most ``cache_ttl`` seconds later.

When the directory does not answer, a login is neither accepted nor refused:
``DirectoryUnavailable`` (503 with ``Retry-After``), and for ``retry_after`` seconds every
login that needs it is answered so at once, so a dead directory does not hold a worker per
request for the whole timeout. ``problem`` says why (for ``/ready``); the first login (or
``/ready``) after that time asks again, so recovery needs no restart.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import ldap3

from dynopypi.auth.ldap_client import Endpoint, Pool, Rejected, Session, Unreachable, attribute
from dynopypi.auth.ldap_escape import (
    acceptable_name,
    escape_dn_value,
    escape_filter_value,
    fill,
    first_value,
    is_under,
    naming_attribute,
)
from dynopypi.errors import DirectoryUnavailable

log = logging.getLogger(__name__)

NO_GROUPS: frozenset[str] = frozenset()
MAX_GROUPS = 1000  # a group search's answer is bounded (memory per login)
Login = tuple[str, frozenset[str]]  # the name as the directory spells it, and its groups
Entry = tuple[str, dict[str, list[str]]]  # a DN and its attributes


@dataclass(frozen=True)
class DirectoryConfig:
    """How to find, check and group a person in the directory (see the module docstring)."""

    endpoint: Endpoint
    user_dn: str | None = None
    bind_dn: str | None = None
    bind_password: str = field(default="", repr=False)  # never in a repr, hence a log
    search_base: str | None = None
    search_filter: str = "(uid={user})"
    group_base: str | None = None
    group_filter: str | None = None
    cache_ttl: float = 60.0


class Directory:
    """Checks passwords and finds groups in the directory; safe to call from many threads."""

    def __init__(
        self, config: DirectoryConfig, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.config = config
        self._pool = Pool(config.endpoint)
        self._clock = clock
        self._key = secrets.token_bytes(32)
        self._lock = threading.Lock()
        self._probe_lock = threading.Lock()
        self._remembered: dict[bytes, tuple[float, Login]] = {}
        self._naming = naming_attribute(config.user_dn or config.search_filter)
        self._down_until = 0.0
        self.retry_after = max(1, math.ceil(config.endpoint.timeout))
        self.problem: str | None = None

    def authenticate(self, user: str, password: str) -> Login | None:
        """(the name as the directory spells it, the groups) if ``password`` is ``user``'s,
        else None; raises DirectoryUnavailable when the directory cannot tell."""
        if not acceptable_name(user) or not password:
            return None
        token = self._token(user, password)
        now = self._clock()
        with self._lock:
            hit = self._remembered.get(token)
            if hit is not None and hit[0] > now:
                return hit[1]
            down = self._down_until > now
        if down:
            raise self._unavailable()
        try:
            login = self._ask(user, password)
        except Unreachable as exc:
            self._went_down(str(exc))
            raise self._unavailable() from None
        self._came_back()
        if login is not None:
            self._remember(token, now + self.config.cache_ttl, login)
        return login

    def remembered(self, user: str, password: str) -> Login | None:
        """A login proven less than ``cache_ttl`` seconds ago, else None (no question
        asked: the chain tries this before any password hash)."""
        token, now = self._token(user, password), self._clock()
        with self._lock:
            hit = self._remembered.get(token)
        return hit[1] if hit is not None and hit[0] > now else None

    def _token(self, user: str, password: str) -> bytes:
        return hmac.new(self._key, f"{user}\0{password}".encode(), hashlib.sha256).digest()

    def reload(self, *, force: bool = False) -> bool:
        """For ``/ready`` and the gate: once the wait after an outage is over, ask the
        directory whether it answers again, in a thread of its own (one at a time): a
        request of an htpasswd account must not wait for a directory that may hang."""
        if self.problem is None or self._down_until > self._clock():
            return False
        if self._probe_lock.acquire(blocking=False):
            threading.Thread(target=self._probe, name="ldap-probe", daemon=True).start()
        return False

    def _probe(self) -> None:
        try:
            with self._pool.connection() as session:
                if self.config.bind_dn is None:
                    session.ping()  # bind mode: a fresh connection that opens will do
                else:
                    self._service_bind(session)
        except Unreachable as exc:
            self._went_down(str(exc))
            return
        finally:
            self._probe_lock.release()
        self._came_back()

    def close(self) -> None:
        self._pool.close()

    # ---- the questions asked

    def lookup(self, user: str) -> Login | None:
        """The name and groups of ``user`` as the service account finds them, with no
        password (search mode only; ``check-config --explain``). Raises Unreachable."""
        assert self.config.user_dn is None
        return self._ask(user, None) if acceptable_name(user) else None

    def _ask(self, user: str, password: str | None) -> Login | None:
        """Bind mode: bind, then read the entry as the person. Search mode: find the entry
        and its groups as the service account, then bind (unless ``lookup``)."""
        config = self.config
        with self._pool.connection() as session:
            try:
                if config.user_dn is not None and password is not None:
                    dn = fill(config.user_dn, user=escape_dn_value(user))
                    if not session.bind(dn, password):
                        return None
                    entry = self._read(session, dn, ["memberOf", self._naming])  # as the person
                    if entry is None:
                        return None
                else:
                    entry = self._find(session, user)
                    if entry is None:  # a bind all the same: as long as a wrong password
                        if password is not None and config.search_base is not None:
                            session.bind(f"cn=dynopypi-no-such-user,{config.search_base}", password)
                        return None
                    dn = entry[0]
                name = self._name_of(user, entry[1])
                if name is None:
                    return None
                groups = self._groups(session, name, dn, attribute(entry[1], "memberOf"))
                bound = password is None or config.user_dn is not None  # bind mode: done
                if not (bound or session.bind(dn, password or "")):
                    return None  # search mode: the password is checked last, as the person
                return name, groups
            except Rejected as exc:
                log.info("LDAP login for %r not sent: %s", user[:64], exc)
                return None

    def _read(self, session: Session, dn: str, attributes: list[str]) -> Entry | None:
        entries = session.search(dn, "(objectClass=*)", attributes, scope=ldap3.BASE)
        if not entries:  # bound, yet the entry cannot be read: an ACL, or an alias DN
            log.warning("LDAP: %s bound but cannot read its own entry: login refused", dn)
        return entries[0] if entries else None

    def _name_of(self, user: str, attributes: dict[str, list[str]]) -> str | None:
        """The name as the directory has it. Directories compare names loosely (case,
        spaces), so ``ALICE`` and `` alice`` bind as alice; the identity must still be
        ``alice``, or her own line in the rights file (and the log) would miss her."""
        values = attribute(attributes, self._naming)
        if user in values:
            return user
        loose = [v for v in values if " ".join(v.split()).casefold() == user.strip().casefold()]
        if len(loose) == 1:
            return loose[0]
        log.warning(
            "LDAP entry for %r has no %s value like it: login refused", user[:64], self._naming
        )
        return None

    def _service_bind(self, session: Session) -> None:
        config = self.config
        assert config.bind_dn is not None  # settings require it with a search base
        if not session.bind(config.bind_dn, config.bind_password):
            raise Unreachable(
                f"the service account {config.bind_dn!r} could not bind: check "
                "--ldap-bind-dn and --ldap-bind-password-file"
            )

    def _find(self, session: Session, user: str) -> Entry | None:
        """The one entry the search filter finds for ``user`` (as the service account)."""
        config = self.config
        assert config.search_base is not None
        self._service_bind(session)
        flt = fill(config.search_filter, user=escape_filter_value(user))
        entries = session.search(config.search_base, flt, ["memberOf", self._naming], limit=2)
        if len(entries) != 1:
            if entries:
                log.warning("LDAP search %s found more than one entry: login refused", flt)
            return None
        return entries[0]

    def _groups(self, session: Session, user: str, dn: str, member_of: list[str]) -> frozenset[str]:
        config = self.config
        if config.group_filter is not None and config.group_base is not None:
            flt = fill(
                config.group_filter, user=escape_filter_value(user), dn=escape_filter_value(dn)
            )
            found = session.search(config.group_base, flt, ["cn"], limit=MAX_GROUPS)
            names = [(attribute(a, "cn") or [first_value(d)])[0] for d, a in found]
            return frozenset(n for n in names if n)
        if config.group_base is not None:  # only groups below it count (see the docstring)
            member_of = [dn for dn in member_of if is_under(dn, config.group_base)]
        return frozenset(name for name in map(first_value, member_of) if name)

    # ---- the cache and the outage state

    def _remember(self, token: bytes, expiry: float, login: Login) -> None:
        with self._lock:
            if len(self._remembered) >= 1000:
                now = self._clock()
                self._remembered = {t: e for t, e in self._remembered.items() if e[0] > now}
                if len(self._remembered) >= 1000:
                    self._remembered.clear()
            self._remembered[token] = (expiry, login)

    def _went_down(self, reason: str) -> None:
        with self._lock:
            self._down_until = self._clock() + self.retry_after
            first = self.problem is None
            self.problem = f"ldap: the directory does not answer ({reason})"
        (log.error if first else log.debug)("%s", self.problem)

    def _came_back(self) -> None:
        with self._lock:
            was, self.problem, self._down_until = self.problem, None, 0.0
        if was is not None:
            log.warning("ldap: the directory answers again")

    def _unavailable(self) -> DirectoryUnavailable:
        return DirectoryUnavailable(
            "the account directory (LDAP) does not answer, so this login can be neither "
            f"accepted nor refused; try again in {self.retry_after} seconds",
            retry_after=self.retry_after,
        )
