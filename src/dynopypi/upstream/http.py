"""Talking to an upstream index: one bounded HTTP GET at a time, on ``http.client``.

Every exchange has three bounds, whatever the other end does:

- a per-``recv`` timeout (``--upstream-timeout``): silence is a stall;
- a **deadline** for the whole exchange, enforced by ``reaper`` (a drip of one
  byte every few seconds, in the headers or the body, ends there);
- a size cap for what is kept in memory (``read_bounded``'s limit, e.g. ``page.MAX_PAGE``;
  pages over ``BIG_PAGE`` are read and parsed one at a time, see ``PageMemory``).

Where it connects is ``reach``'s decision, for the first URL and for every
redirect (at most ``MAX_REDIRECTS``), on the address actually connected to. Credentials
come from ``origin`` and go to the upstream's own host only; another host gets
only its own ``.netrc`` entry.

A failure carries two texts: the detail for the log (redacted) and ``public``, what a
client may be told. Clients are strangers: they never learn an internal URL, an address
or a network error from us.
"""

from __future__ import annotations

import http.client
import socket
import threading
import time
import zlib
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urldefrag, urljoin, urlsplit

from dynopypi.ops.logsafe import redact
from dynopypi.upstream.origin import Origin, auth_for
from dynopypi.upstream.reach import Reach, Unreachable
from dynopypi.upstream.reaper import REAPER, Watch

BIG_PAGE = 4 * 1024 * 1024  # pages over this are read and parsed one at a time
BOUND = 3  # x --upstream-timeout: an exchange's deadline (connect, redirects, headers, page)
SLOT_WAIT = 0.5  # seconds a request waits for a free upstream slot before a 503
CHUNK = 64 * 1024
MAX_REDIRECTS = 5
REDIRECTS = (301, 302, 303, 307, 308)
USER_AGENT = "dynopypi (pull-through cache)"
_SAFE_PATH = "/%:@!$&'()*+,;=~-._"


class FetchFailed(Exception):
    """The upstream could not answer: down, refused, 5xx, too slow (``timeout``), too
    big, or it pointed somewhere we do not go. ``public``: what a client may be told."""

    def __init__(self, message: str, *, timeout: bool = False, public: str = "") -> None:
        super().__init__(redact(message))  # it reaches logs
        self.timeout = timeout
        self.public = public or (
            "the upstream index did not answer in time"
            if timeout
            else "the upstream index could not be reached or sent a broken answer"
        )


class Missing(Exception):
    """The upstream answered that there is no such page (404/410)."""

    def __init__(self, message: str) -> None:
        super().__init__(redact(message))


class NotModified(Exception):
    """The cached copy is still current (304)."""


class Response:
    """An open 2xx answer: its headers, and its body read in what arrives (``read1``)."""

    def __init__(
        self,
        conn: http.client.HTTPConnection,
        raw: http.client.HTTPResponse,
        url: str,
        watch: Watch,
    ) -> None:
        self._conn, self._raw, self.url, self._watch = conn, raw, url, watch
        self.status = raw.status
        self.headers = raw.headers

    def geturl(self) -> str:
        return self.url

    def read1(self, size: int) -> bytes:
        """What has arrived (up to ``size``); b"" only at the body's real end."""
        try:
            data = self._raw.read1(size)
        except (OSError, http.client.HTTPException, ValueError) as exc:
            raise self._failed(exc) from None
        if self._watch.fired:  # the deadline cut the socket: whatever came is not all
            raise self._failed(None)
        if not data and self._raw.length:  # closed before Content-Length was reached
            raise FetchFailed(f"{redact(self.url)}: the answer was cut short")
        return data

    @property
    def reason_phrase(self) -> str:
        return str(self._raw.reason)[:100]

    def extend(self, deadline: float) -> None:
        self._watch.move(deadline)

    def _failed(self, exc: BaseException | None) -> FetchFailed:
        return _failure(self.url, exc, self._watch.fired)

    def close(self) -> None:
        self._watch.cancel()
        self._raw.close()
        self._conn.close()


def _failure(url: str, exc: BaseException | None, fired: bool) -> FetchFailed:
    """A broken exchange: too slow (the deadline cut it, or a read timed out) or not."""
    if fired or isinstance(exc, TimeoutError):
        return FetchFailed(f"{redact(url)}: too slow", timeout=True)
    return FetchFailed(f"{redact(url)}: {exc}")


def open_url(
    url: str,
    origin: Origin,
    reach: Reach,
    headers: Mapping[str, str],
    *,
    timeout: float,
    deadline: float,
) -> Response:
    """GET ``url``, following redirects that ``reach`` allows; the open 2xx response.
    Raise ``Missing`` (404/410), ``NotModified`` (304) or ``FetchFailed``."""
    for _hop in range(MAX_REDIRECTS + 1):
        response = _exchange(url, auth_for(origin, url), reach, headers, timeout, deadline)
        status = response.status
        if 200 <= status < 300:
            return response
        location = response.headers.get("Location", "")
        response.close()
        if status in REDIRECTS and location:
            url = urldefrag(urljoin(url, location.strip()))[0]
            continue
        if status == 304:
            raise NotModified()
        if status in (404, 410):
            raise Missing(f"{url} answered {status}")
        raise FetchFailed(
            f"{url} answered {status} {response.reason_phrase}",
            public=f"the upstream index answered {status}",
        )
    raise FetchFailed(f"{url}: more than {MAX_REDIRECTS} redirects")


def _exchange(
    url: str,
    auth: str | None,
    reach: Reach,
    headers: Mapping[str, str],
    timeout: float,
    deadline: float,
) -> Response:
    try:
        host, port = reach.check_url(url)
        addresses = reach.addresses(host, port)
    except Unreachable as exc:
        raise FetchFailed(
            f"{redact(url[:200])}: not fetched: {exc}",
            public="the upstream index pointed to a place this index does not fetch from",
        ) from None
    parts = urlsplit(url)
    left = deadline - time.monotonic()
    if left <= 0:
        raise FetchFailed(f"{redact(url)}: no time left", timeout=True)
    kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    conn = kind(host, port, timeout=min(timeout, left))
    watches: list[Watch] = []

    def connect(_address: Any, connect_timeout: Any, _source: Any = None) -> socket.socket:
        failure: OSError = OSError(f"no address of {host} answered")
        for address in addresses:
            try:
                sock = socket.create_connection((address, port), connect_timeout)
            except OSError as exc:
                failure = exc
                continue
            sock.settimeout(timeout)  # per recv, from here on
            watches.append(REAPER.watch(sock, deadline))  # covers TLS and headers too
            return sock
        raise failure

    conn._create_connection = connect  # type: ignore[attr-defined]  # vetted addresses only
    target = quote(parts.path or "/", safe=_SAFE_PATH) + (f"?{parts.query}" if parts.query else "")
    sent = {"User-Agent": USER_AGENT, **headers}
    if auth:
        sent["Authorization"] = auth
    try:
        conn.request("GET", target, headers=sent)
        raw = conn.getresponse()
    except (OSError, http.client.HTTPException, ValueError) as exc:
        conn.close()
        fired = any(w.fired for w in watches)
        for watch in watches:
            watch.cancel()
        raise _failure(url, exc, fired) from None
    return Response(conn, raw, url, watches[0])


class PageMemory:
    """Pages over ``BIG_PAGE`` are held (read, then parsed) one at a time: eight parallel
    64 MiB pages would otherwise need eight times the memory of one."""

    _big = threading.BoundedSemaphore(1)

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.holding = False

    def grow(self, size: int, url: str) -> None:
        if size <= BIG_PAGE or self.holding:
            return
        if not self._big.acquire(timeout=max(0.0, self.deadline - time.monotonic())):
            raise FetchFailed(f"{url}: another big page is being read", timeout=True)
        self.holding = True

    def __enter__(self) -> PageMemory:
        return self

    def __exit__(self, *_exc: object) -> None:
        if self.holding:
            self.holding = False
            self._big.release()


def read_bounded(
    response: Any,
    limit: int,
    url: str,
    *,
    gzipped: bool = False,
    memory: PageMemory | None = None,
) -> bytes:
    """The whole body (inflated when ``gzipped``), refusing more than ``limit`` bytes,
    before or after inflating (a gzip bomb stops at the limit). Time is bounded by the
    response's deadline; ``memory`` is told the size as it grows."""
    chunks: list[bytes] = []
    total = 0
    inflater = zlib.decompressobj(wbits=47) if gzipped else None
    try:
        while True:
            data = response.read1(CHUNK)
            if inflater is not None:
                data = inflater.decompress(data, limit + 1 - total) if data else inflater.flush()
                if inflater.unconsumed_tail:
                    raise FetchFailed(f"{url}: the page is over {limit} bytes")
            if not data:
                return b"".join(chunks)
            total += len(data)
            if total > limit:
                raise FetchFailed(f"{url}: the page is over {limit} bytes")
            if memory is not None:
                memory.grow(total, url)
            chunks.append(data)
    except zlib.error as exc:
        raise FetchFailed(f"{url}: broken gzip: {exc}") from None
    finally:
        response.close()
