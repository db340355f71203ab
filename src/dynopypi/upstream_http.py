"""Talking to an upstream index: one bounded HTTP GET at a time, with the standard library.

Every request has a connect/read timeout and an overall deadline, so a slow upstream
costs a request at most that long; a page is read up to a size cap; redirects are
followed by urllib (at most 10, loops refused). Credentials come from the upstream URL
(``https://user:token@host/simple/``) or ``~/.netrc``, and are sent as an "unredirected"
header: urllib does not carry it to wherever a redirect points, and a link to another
host gets only that host's own ``.netrc`` entry.
"""

from __future__ import annotations

import base64
import functools
import http.client
import netrc
import socket
import time
import urllib.error
import urllib.request
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit, urlunsplit

from .logsafe import redact

MAX_PAGE = 64 * 1024 * 1024  # a project page bigger than this is refused
CHUNK = 64 * 1024
USER_AGENT = "dynopypi (pull-through cache)"


class FetchFailed(Exception):
    """The upstream could not answer: down, refused, 5xx, too slow (``timeout``), too big."""

    def __init__(self, message: str, *, timeout: bool = False) -> None:
        super().__init__(redact(message))  # it reaches logs and clients' error pages
        self.timeout = timeout


class Missing(Exception):
    """The upstream answered that there is no such page (404/410)."""

    def __init__(self, message: str) -> None:
        super().__init__(redact(message))


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


@dataclass(frozen=True, slots=True)
class Page:
    body: bytes
    content_type: str
    etag: str | None
    last_modified: str | None
    url: str  # after redirects: relative links resolve against it


def open_url(
    url: str, auth: str | None, headers: Mapping[str, str], timeout: float
) -> http.client.HTTPResponse:
    """GET ``url``; the open response (status 2xx). Raise Missing, FetchFailed, or
    ``NotModified`` (a 304 to a conditional request)."""
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, **headers})
    if auth:
        request.add_unredirected_header("Authorization", auth)
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code == 304:
            raise NotModified() from None
        if exc.code in (404, 410):
            raise Missing(f"{url} answered {exc.code}") from None
        raise FetchFailed(f"{url} answered {exc.code} {exc.reason}") from None
    except TimeoutError as exc:
        raise FetchFailed(f"{url}: no answer within {timeout:g}s", timeout=True) from exc
    except urllib.error.URLError as exc:
        slow = isinstance(exc.reason, (TimeoutError, socket.timeout))
        raise FetchFailed(f"{url}: {exc.reason}", timeout=slow) from None
    except (OSError, http.client.HTTPException, ValueError) as exc:
        raise FetchFailed(f"{url}: {exc}") from None
    return response  # type: ignore[no-any-return]


class NotModified(Exception):
    """The cached copy is still current (304)."""


def read_bounded(
    response: http.client.HTTPResponse,
    limit: int,
    deadline: float,
    url: str,
    *,
    gzipped: bool = False,
) -> bytes:
    """The whole body (inflated when ``gzipped``), refusing more than ``limit`` bytes,
    before or after inflating (a gzip bomb stops at the limit), or past ``deadline``."""
    chunks: list[bytes] = []
    total = 0
    inflater = zlib.decompressobj(wbits=47) if gzipped else None
    try:
        while True:
            if time.monotonic() > deadline:
                raise FetchFailed(f"{url}: the page took too long", timeout=True)
            data = response.read(CHUNK)
            if inflater is not None:
                data = inflater.decompress(data, limit + 1 - total) if data else inflater.flush()
                if inflater.unconsumed_tail:
                    raise FetchFailed(f"{url}: the page is over {limit} bytes")
            if not data:
                return b"".join(chunks)
            total += len(data)
            if total > limit:
                raise FetchFailed(f"{url}: the page is over {limit} bytes")
            chunks.append(data)
    except zlib.error as exc:
        raise FetchFailed(f"{url}: broken gzip: {exc}") from None
    except TimeoutError:
        raise FetchFailed(f"{url}: the page stalled", timeout=True) from None
    except (OSError, http.client.HTTPException) as exc:
        raise FetchFailed(f"{url}: {exc}") from None
    finally:
        response.close()


def fetch_page(
    origin: Origin,
    url: str,
    accept: str,
    *,
    etag: str | None,
    last_modified: str | None,
    timeout: float,
) -> Page:
    """GET one page, conditionally when validators are known."""
    headers = {"Accept": accept, "Accept-Encoding": "gzip"}  # big pages shrink ten-fold
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    deadline = time.monotonic() + timeout * 3
    response = open_url(url, auth_for(origin, url), headers, timeout)
    final = response.geturl() or url
    encoding = response.headers.get("Content-Encoding", "").strip().lower()
    if encoding not in ("", "identity", "gzip", "x-gzip"):
        response.close()
        raise FetchFailed(f"{url}: unexpected Content-Encoding {encoding[:40]!r}")
    body = read_bounded(response, MAX_PAGE, deadline, url, gzipped=encoding in ("gzip", "x-gzip"))
    return Page(
        body,
        response.headers.get("Content-Type", "text/html"),
        response.headers.get("ETag"),
        response.headers.get("Last-Modified"),
        final,
    )
