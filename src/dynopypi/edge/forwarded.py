"""What of a request's headers reaches the app: ``X-Forwarded-*`` only from configured
proxies, and no header value that cannot be read.

Bottle builds URLs from ``X-Forwarded-Host``/``-Proto`` without asking who sent them, so
this middleware decides first: from a trusted peer the headers are applied to the WSGI
environ (client address, scheme, host, path prefix); from anyone else they are deleted.

Bottle also decodes every header value it is asked for as UTF-8 and raises on anything
else, so one byte like ``\xe9`` in ``Accept``, ``If-None-Match`` or ``Range`` was a 500.
A value that is not UTF-8 is dropped here, as if the client had not sent it (which is
all a server can make of it); ``Authorization`` is the exception: the credential
extractors read it raw and count unreadable credentials as failed logins.
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


def drop_unreadable_headers(environ: dict[str, Any]) -> None:
    """Remove header values that are not UTF-8 (except Authorization; see the module doc)."""
    for key in [k for k, v in environ.items() if k.startswith("HTTP_") and isinstance(v, str)]:
        if key == "HTTP_AUTHORIZATION" or environ[key].isascii():
            continue
        try:
            environ[key].encode("latin-1").decode("utf-8")
        except UnicodeError:
            del environ[key]


def trust_proxies(app: WSGIApp, networks: tuple[Network, ...]) -> WSGIApp:
    def middleware(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        drop_unreadable_headers(environ)
        apply_forwarded(environ, networks)
        return app(environ, start_response)

    return middleware
