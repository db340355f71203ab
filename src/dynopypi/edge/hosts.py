"""The Host a URL may be built from: checked once, for every request, before any route.

Bottle builds absolute URLs (the PyPI JSON API's file URLs, the welcome page) from
``X-Forwarded-Host`` if present, else ``Host``, without checking either. ``forwarded`` has
already applied what a trusted proxy vouched for; this middleware then removes every
forwarding header (so nothing downstream reads one again) and refuses a request whose
Host is not a host name, an IPv4 address or a bracketed IPv6 address with an optional
port: ``evil.example:80@attacker.test`` never reaches a page.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable
from typing import Any

from dynopypi.edge.forwarded import WSGIApp

_FORWARDING = (
    "HTTP_X_FORWARDED_FOR",
    "HTTP_X_FORWARDED_PROTO",
    "HTTP_X_FORWARDED_HOST",
    "HTTP_X_FORWARDED_PORT",
    "HTTP_X_FORWARDED_PREFIX",
    "HTTP_X_FORWARDED_SSL",
    "HTTP_X_REAL_IP",
    "HTTP_FORWARDED",
)
_LABEL = re.compile(r"(?!-)[A-Za-z0-9_-]{1,63}(?<!-)\Z")  # "_": container names
_PORT = re.compile(r"[0-9]{1,5}\Z")


def valid_host(value: str) -> bool:
    """True for ``name``, ``1.2.3.4`` or ``[::1]``, each with an optional ``:port``."""
    if not value or len(value) > 260:
        return False
    host, port = value, ""
    if value.startswith("["):
        end = value.find("]")
        host, rest = value[1:end], value[end + 1 :]
        if end < 0 or (rest and not rest.startswith(":")):
            return False
        port = rest[1:] if rest else ""
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            return False
        return not rest or bool(_PORT.match(port))
    if ":" in value:
        host, _, port = value.rpartition(":")
        if not _PORT.match(port):
            return False
    labels = host.removesuffix(".").split(".")
    return all(_LABEL.match(label) for label in labels)


def checked_host(app: WSGIApp) -> WSGIApp:
    """Drop forwarding headers and refuse (400) a request with an invalid Host."""

    def middleware(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        for key in _FORWARDING:
            environ.pop(key, None)
        host = environ.get("HTTP_HOST")
        if host is not None and not valid_host(host):
            body = (
                b"the Host header is not a host name, an IP address or [IPv6 address], "
                b"with an optional :port; send the index's own address\n"
            )
            start_response(
                "400 Bad Request",
                [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))],
            )
            return [body]
        return app(environ, start_response)

    return middleware
