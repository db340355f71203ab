"""Connections to the directory: opened over TLS when asked, reused, bounded, failed over.

ldap3 (pure Python) speaks the protocol. This module owns what ldap3 leaves to its user:

- **bounded**: at most ``max_connections`` connections exist at once; a login that finds
  them all busy waits for one no longer than the timeout, then the directory counts as
  unavailable (the worker is not held hostage by a slow directory).
- **reused**: a connection goes back to an idle list after use (for ``MAX_IDLE`` seconds)
  and the next login binds on it again (a bind replaces its identity), saving a TCP and TLS
  handshake. One the server has closed fails on first use and is replaced by a fresh one,
  so a stale pool never looks like an outage.
- **failed over**: fresh connections try each URL in order (``--ldap-url`` repeated); a
  URL that refused or timed out is skipped until every other one fails too.
- **timed out**: connecting and each reply are bounded by ``timeout`` seconds.
- **TLS**: ``ldaps://`` URLs, or StartTLS on ``ldap://`` ones, verify the server's
  certificate against ``--ldap-ca-file`` (or the system's CAs) and its name; a
  certificate that fails is an unavailable directory, never a plain-text fallback.

``Unreachable`` says the directory could not answer (the caller turns it into a 503);
any answer it *did* give (a refused bind, an empty search) is returned as such.
"""

from __future__ import annotations

import logging
import math
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ldap3
from ldap3.core import exceptions as ldap_errors

log = logging.getLogger(__name__)

# the server says it cannot serve now (operationsError, timeLimitExceeded,
# adminLimitExceeded, busy, unavailable, other): as good as no answer
UNAVAILABLE_RESULTS = frozenset({1, 3, 11, 51, 52, 80})
MAX_IDLE = 60.0  # seconds an idle connection is kept for reuse
# errors ldap3 raises before sending anything: the request itself is unusable (a name
# that makes no valid DN, ...), which is a refused login, not an outage
_REFUSED_LOCALLY = (
    ldap_errors.LDAPInvalidDnError,
    ldap_errors.LDAPInvalidFilterError,
    ldap_errors.LDAPInvalidValueError,
    ldap_errors.LDAPPasswordIsMandatoryError,
    ldap_errors.LDAPUserNameIsMandatoryError,
)


class Unreachable(Exception):
    """No URL of the directory answered (``str`` says what happened, for logs and /ready)."""


class Rejected(Exception):
    """ldap3 refused to send the request (a value it cannot encode): a failed login."""


@dataclass(frozen=True)
class Endpoint:
    """Where and how to connect: the URLs in order, TLS, and the time allowed."""

    urls: tuple[str, ...]
    start_tls: bool = False
    ca_file: Path | None = None
    timeout: float = 5.0
    max_connections: int = 4


class VerifiedTls(ldap3.Tls):  # type: ignore[misc]  # ldap3 has no type hints
    """TLS the way the standard library verifies it: the CA file (or the system's CAs),
    and the certificate's names against the host (``check_hostname``, IP addresses
    included). ldap3's own name check calls ``ssl.match_hostname``, deprecated since
    Python 3.7 and gone in 3.12, so the socket is wrapped here instead."""

    def __init__(self, ca_file: Path | None) -> None:
        super().__init__(validate=ssl.CERT_REQUIRED)
        self.context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)

    def wrap_socket(self, connection: Any, do_handshake: bool = False) -> None:
        connection.socket = self.context.wrap_socket(
            connection.socket,
            server_hostname=connection.server.host,
            do_handshake_on_connect=do_handshake,
        )


class Pool:
    """A bounded set of connections to the directory's URLs (see the module docstring)."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self._slots = threading.BoundedSemaphore(endpoint.max_connections)
        self._lock = threading.Lock()
        self._idle: list[tuple[Any, float]] = []  # (open ldap3.Connection, since when)
        self._failed: dict[str, float] = {}  # URL -> when it last failed to connect
        self._tls = VerifiedTls(endpoint.ca_file)

    def _server(self, url: str) -> Any:
        """A new ldap3 Server each time: one remembers a failed address for minutes, and
        a directory that is back must be used at once."""
        return ldap3.Server(
            url,
            use_ssl=url.lower().startswith("ldaps://"),
            tls=self._tls,
            connect_timeout=self.endpoint.timeout,
            get_info=ldap3.NONE,
        )

    @contextmanager
    def connection(self) -> Iterator[Session]:
        """A session on one connection, all of whose exchanges end within the timeout;
        raises Unreachable when no connection can be had in time."""
        deadline = time.monotonic() + self.endpoint.timeout
        if not self._slots.acquire(timeout=self.endpoint.timeout):
            raise Unreachable(
                f"all {self.endpoint.max_connections} connections to the directory stayed "
                f"busy for {self.endpoint.timeout:g} s"
            )
        try:
            session = Session(self, deadline)
            try:
                yield session
            finally:
                session.release()
        finally:
            self._slots.release()

    def take_idle(self) -> Any | None:
        """The connection used last, if it was idle less than ``MAX_IDLE`` seconds (a
        firewall may have dropped an older one silently: a bind on it would hang for the
        whole timeout before the retry on a fresh one)."""
        with self._lock:
            now = time.monotonic()
            stale = [conn for conn, since in self._idle if now - since > MAX_IDLE]
            self._idle = [(conn, since) for conn, since in self._idle if now - since <= MAX_IDLE]
            conn = self._idle.pop()[0] if self._idle else None
        for old in stale:
            close(old)
        return conn

    def give_back(self, conn: Any) -> None:
        with self._lock:
            if len(self._idle) < self.endpoint.max_connections:
                self._idle.append((conn, time.monotonic()))
                return
        close(conn)

    def open_fresh(self) -> Any:
        """A new open connection to the first URL that answers (StartTLS done)."""
        problems: list[str] = []
        with self._lock:  # URLs that failed lately go last, so one dead URL costs little
            order = sorted(self.endpoint.urls, key=lambda url: self._failed.get(url, 0.0))
        for url in order:
            server = self._server(url)
            conn = ldap3.Connection(
                server, receive_timeout=max(1, math.ceil(self.endpoint.timeout)), read_only=True,
                raise_exceptions=False, auto_referrals=False,
            )  # fmt: skip
            try:
                conn.open()
                if self.endpoint.start_tls and not server.ssl and not conn.start_tls():
                    raise ldap_errors.LDAPStartTLSError(f"StartTLS refused: {conn.result}")
                with self._lock:
                    self._failed.pop(url, None)
                return conn
            except Exception as exc:  # ldap3 raises more than its own (struct.error, ...)
                close(conn)
                with self._lock:
                    self._failed[url] = time.monotonic()
                problems.append(f"{url}: {describe(exc)}")
        raise Unreachable("; ".join(problems) or "no --ldap-url")

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn, _since in idle:
            close(conn)


class Session:
    """One borrowed connection. Each call binds or searches; a connection that fails is
    replaced by a fresh one once (a server may close idle ones), then Unreachable."""

    def __init__(self, pool: Pool, deadline: float) -> None:
        self._pool = pool
        self._deadline = deadline  # a slow directory answers each reply just in time
        self._conn: Any | None = None

    def bind(self, dn: str, password: str) -> bool:
        """Whether ``dn`` with ``password`` binds; raises Unreachable, Rejected."""
        if not password:  # an empty password is an anonymous bind that "succeeds"
            raise Rejected("empty password")
        ok = self._run(lambda conn: conn.rebind(user=dn, password=password))
        return bool(ok)

    def ping(self) -> None:
        """Open a fresh connection (StartTLS included), or raise Unreachable."""
        self._drop()
        self._conn = self._pool.open_fresh()

    def search(
        self, base: str, flt: str, attributes: list[str], *, scope: str = ldap3.SUBTREE,
        limit: int = 0,
    ) -> list[tuple[str, dict[str, list[str]]]]:  # fmt: skip
        """(dn, attributes) of the entries found; a missing base is an empty answer."""
        seconds = max(1, int(self._pool.endpoint.timeout))
        options = {"search_scope": scope, "size_limit": limit, "time_limit": seconds}
        self._run(lambda conn: conn.search(base, flt, attributes=attributes, **options))
        conn = self._conn
        assert conn is not None
        return [
            (str(entry["dn"]), {k: [str(v) for v in _values(vs)] for k, vs in
                                entry.get("attributes", {}).items()})
            for entry in conn.response or ()
            if entry.get("type") == "searchResEntry"
        ]  # fmt: skip

    def _run(self, operation: Any) -> Any:
        for attempt in range(2):
            conn = self._conn or (self._pool.take_idle() if attempt == 0 else None)
            fresh = conn is None
            if conn is None:
                conn = self._pool.open_fresh()  # raises Unreachable
            self._conn = conn
            left = self._deadline - time.monotonic()
            if left <= 0:
                raise Unreachable(f"no answer within {self._pool.endpoint.timeout:g} s")
            try:
                if conn.socket is not None:
                    conn.socket.settimeout(left)  # below ldap3's whole-second one
                result = operation(conn)
            except _REFUSED_LOCALLY as exc:
                raise Rejected(describe(exc)) from None
            except Exception as exc:  # whatever broke, the directory gave no answer
                self._drop()
                if fresh:
                    raise Unreachable(describe(exc)) from None
                continue  # a stale idle connection: once more on a fresh one
            code = conn.result.get("result") if isinstance(conn.result, dict) else None
            if code in UNAVAILABLE_RESULTS:
                self._drop()
                raise Unreachable(f"the directory answered {conn.result.get('description')}")
            return result
        raise Unreachable("the directory closed the connection twice")

    def _drop(self) -> None:
        if self._conn is not None:
            close(self._conn)
            self._conn = None

    def release(self) -> None:
        if self._conn is not None and not self._conn.closed:
            self._pool.give_back(self._conn)
        self._conn = None


def attribute(attributes: dict[str, list[str]], name: str) -> list[str]:
    """An attribute's values whatever case the server spelled its name in."""
    wanted = name.lower()
    return next((v for k, v in attributes.items() if k.lower() == wanted), [])


def _values(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def close(conn: Any) -> None:
    """Unbind, and close the socket whatever state ldap3 left it in (a connection that
    failed to open keeps its socket open otherwise)."""
    try:
        conn.unbind()
    except Exception:  # closing a broken connection: nothing more to learn
        log.debug("closing an LDAP connection failed", exc_info=True)
    sock = getattr(conn, "socket", None)
    if sock is not None:
        with suppress(OSError):
            sock.close()


def describe(exc: BaseException) -> str:
    """An ldap3 error as a short line (its repr can carry whole request objects)."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__
