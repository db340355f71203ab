"""Where the upstream's bytes may come from: the hosts and addresses dynopypi connects to.

An upstream page is untrusted input, and every link on it is a URL the server would
fetch: without a rule, a hostile page turns the index into a proxy to anything it can
reach (a cloud metadata endpoint, an internal admin service, a port scan whose results
come back in error messages). So pages and files are fetched only from

- the hosts of the ``--upstream`` URLs themselves (host and port),
- the hosts the operator names with ``--upstream-files-host`` (``files.pythonhosted.org``
  is implied for ``pypi.org``, whose files live there),

and a connection is refused to loopback, private, link-local and other non-global
addresses, unless an ``--upstream`` itself is at such an address (a company mirror on
the internal network): then its internal neighbours are what the operator asked for.
The address is checked on the address actually connected to, after DNS, so a name that
resolves to 127.0.0.1 is no way around it. Redirects go through the same check.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

Resolve = Callable[[str, int], list[str]]  # host, port -> addresses (IP strings)
IMPLIED = {"pypi.org": ("files.pythonhosted.org",)}  # an index's own file hosts


class Unreachable(Exception):
    """The URL is not one dynopypi may fetch (a host not allowed, an internal address).
    The message is for the log: the client is told only that upstream refused it."""


def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` has (the system resolver), in its order of preference."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def default_port(scheme: str) -> int:
    return 443 if scheme == "https" else 80


def endpoint(url: str) -> tuple[str, int]:
    """(host in lower case, port) of an http(s) URL; raises ``ValueError`` if it has none."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if not host or parts.scheme not in ("http", "https"):
        raise ValueError(f"not an http(s) URL with a host: {url[:100]!r}")
    return host, parts.port or default_port(parts.scheme)


def is_internal(address: str) -> bool:
    """Loopback, private, link-local, shared, reserved, multicast, unspecified: anything
    not globally routable (an IPv4 address mapped into IPv6 counts as itself)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return True  # not an address we understand: never connect to it
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


def parse_host(spec: str) -> tuple[str, int | None]:
    """``--upstream-files-host`` values: ``HOST`` (the scheme's port) or ``HOST:PORT``."""
    text = spec.strip().lower()
    if "//" in text:
        text = urlsplit(text).netloc
    host, port = text, None
    if text.startswith("["):  # [v6]:port
        host, _, rest = text[1:].partition("]")
        port = int(rest[1:]) if rest.startswith(":") and rest[1:].isdigit() else None
    elif text.count(":") == 1:
        host, _, number = text.partition(":")
        if not number.isdigit():
            raise ValueError(f"{spec!r}: the port must be a number")
        port = int(number)
    if not host or any(c in host for c in "/@?# "):
        raise ValueError(f"{spec!r} is not a host name (HOST or HOST:PORT)")
    return host, port


@dataclass
class Reach:
    """The rule above, for one configuration (thread-safe; addresses of the upstreams
    themselves are looked up once, when first needed)."""

    upstreams: Sequence[str]
    files_hosts: Sequence[str] = ()
    resolver: Resolve = resolve
    _hosts: list[tuple[str, int | None]] = field(default_factory=list)
    _internal_ok: bool | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        for url in self.upstreams:
            host, port = endpoint(url)
            self._hosts.append((host, port))
            self._hosts += [(implied, None) for implied in IMPLIED.get(host, ())]
        self._hosts += [parse_host(spec) for spec in self.files_hosts]

    def check_url(self, url: str) -> tuple[str, int]:
        """The URL's (host, port) if dynopypi may fetch it; else ``Unreachable``."""
        try:
            host, port = endpoint(url)
        except ValueError as exc:
            raise Unreachable(str(exc)) from None
        for allowed, allowed_port in self._hosts:
            if host == allowed and (allowed_port is None or port == allowed_port):
                if allowed_port is None and port != default_port(urlsplit(url).scheme):
                    continue  # a named HOST means its scheme's port, nothing else
                return host, port
        raise Unreachable(f"{host}:{port} is neither an --upstream nor an --upstream-files-host")

    def addresses(self, host: str, port: int) -> list[str]:
        """The addresses of ``host`` that may be connected to (at least one, or
        ``Unreachable``)."""
        try:
            found = self.resolver(host, port)
        except OSError as exc:
            raise Unreachable(f"{host}: cannot resolve: {exc}") from None
        if self.internal_ok():
            allowed = found
        else:
            allowed = [address for address in found if not is_internal(address)]
        if not allowed:
            listed = ", ".join(found[:4])
            raise Unreachable(f"{host} resolves only to internal addresses ({listed})")
        return allowed

    def internal_ok(self) -> bool:
        """Is an ``--upstream`` itself on an internal address? (Asked once it resolves.)"""
        if self._internal_ok is not None:
            return self._internal_ok
        with self._lock:
            verdict = _any_internal(self.resolver, (endpoint(u) for u in self.upstreams))
            if verdict is not None:
                self._internal_ok = verdict
            return bool(verdict)


def _any_internal(resolver: Resolve, hosts: Iterable[tuple[str, int]]) -> bool | None:
    """True if any host has an internal address; None if none could be resolved (ask
    again next time: DNS may be back)."""
    resolved = False
    for host, port in hosts:
        try:
            found = resolver(host, port)
        except OSError:
            continue
        resolved = True
        if any(is_internal(address) for address in found):
            return True
    return False if resolved else None
