"""Trusting a reverse proxy's ``X-Forwarded-*`` headers, but only from configured proxies.

Bottle builds URLs from ``X-Forwarded-Host``/``-Proto`` without asking who sent them, so
this middleware decides first: from a trusted peer the headers are applied to the WSGI
environ (client address, scheme, host, path prefix); from anyone else they are deleted.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from typing import Any

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_FORWARDED = (
    "HTTP_X_FORWARDED_FOR",
    "HTTP_X_FORWARDED_PROTO",
    "HTTP_X_FORWARDED_HOST",
    "HTTP_X_FORWARDED_PORT",
    "HTTP_X_FORWARDED_PREFIX",
    "HTTP_X_REAL_IP",
    "HTTP_FORWARDED",
)


def parse_networks(items: Iterable[str]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(item.strip(), strict=False) for item in items if item.strip())


def _trusted(address: str, networks: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    return any(ip in net for net in networks)


def _is_address(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _last(value: str) -> str:
    """The entry the nearest proxy added (the only one it can vouch for)."""
    return value.rsplit(",", 1)[-1].strip()


def apply_forwarded(environ: dict[str, Any], networks: tuple[Network, ...]) -> None:
    if not networks or not _trusted(str(environ.get("REMOTE_ADDR", "")), networks):
        for key in _FORWARDED:
            environ.pop(key, None)
        return
    client = _last(environ.get("HTTP_X_FORWARDED_FOR", ""))
    if _is_address(client):  # the throttle and the log key on it: nothing else goes
        environ["REMOTE_ADDR"] = client
    proto = _last(environ.get("HTTP_X_FORWARDED_PROTO", "")).lower()
    if proto in ("http", "https"):
        environ["wsgi.url_scheme"] = proto
    host = _last(environ.get("HTTP_X_FORWARDED_HOST", ""))
    if host and all(c.isalnum() or c in ".-:[]" for c in host):
        environ["HTTP_HOST"] = host
    prefix = _last(environ.get("HTTP_X_FORWARDED_PREFIX", "")).rstrip("/")
    if prefix.startswith("/") and all(c.isalnum() or c in "/-._~" for c in prefix):
        environ["SCRIPT_NAME"] = prefix + environ.get("SCRIPT_NAME", "")


def trust_proxies(app: WSGIApp, networks: tuple[Network, ...]) -> WSGIApp:
    def middleware(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        apply_forwarded(environ, networks)
        return app(environ, start_response)

    return middleware
