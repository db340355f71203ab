"""Who an ``--upstream`` is and what it is sent: its URL without credentials, and the
Authorization header from the URL (``https://user:token@host/simple/``) or ``~/.netrc``.

Credentials go to the upstream's own host only; any other host (a files host, a
redirect) gets that host's own ``.netrc`` entry or nothing. The clean URL is what is
logged, shown and keyed on, so rotating a token keeps the cache.
"""

from __future__ import annotations

import base64
import functools
import netrc
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit, urlunsplit


@dataclass(frozen=True, slots=True)
class Origin:
    """One ``--upstream``: its URL without credentials, and the Authorization to send."""

    url: str  # ends with "/"
    auth: str | None

    @property
    def netloc(self) -> str:
        return urlsplit(self.url).netloc.lower()

    @property
    def label(self) -> str:
        return self.url


@functools.lru_cache(maxsize=256)
def _netrc_auth(host: str) -> str | None:
    """Read once per host (a changed ~/.netrc is seen after a restart)."""
    try:
        found = netrc.netrc().authenticators(host)
    except (OSError, netrc.NetrcParseError):
        return None
    if not found:
        return None
    login, _account, password = found
    return _basic(login or "", password or "")


def _basic(user: str, password: str) -> str:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return f"Basic {token}"


def clean_url(url: str) -> str:
    """The upstream URL without credentials, ending in "/" (what is logged and keyed on)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = host if parts.port is None else f"{host}:{parts.port}"
    if ":" in host:
        netloc = f"[{host}]" + ("" if parts.port is None else f":{parts.port}")
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/") + "/", "", ""))


def origin_of(url: str) -> Origin:
    """Split credentials out of an upstream URL (or find them in ~/.netrc)."""
    parts = urlsplit(url)
    auth: str | None
    if parts.username is not None:
        auth = _basic(unquote(parts.username), unquote(parts.password or ""))
    else:
        auth = _netrc_auth(parts.hostname or "")
    return Origin(clean_url(url), auth)


def auth_for(origin: Origin, url: str) -> str | None:
    """The origin's credentials on its own host only; elsewhere that host's .netrc entry."""
    parts = urlsplit(url)
    if parts.netloc.lower() == origin.netloc:
        return origin.auth
    return _netrc_auth(parts.hostname or "") if parts.hostname else None
