"""nginx's ``auth_request`` in both directions: what the app's authorization checks answer
nginx, and how nginx hands a refusal back so the client reads the app's own words.

nginx passes on only 401 (keeping ``WWW-Authenticate``) and 403 from an auth check; any other
status becomes its 500, and it answers both with its own error page, whose status line says
just ``401 Unauthorized`` (all that twine prints). So a refusal from a check under
``/_authorize/`` leaves the app as 401 or 403 (``for_auth_request``) carrying the real one in
``X-Dynopypi-Refusal``: status, ``Retry-After`` and message. The shipped site captures that
header (``auth_request_set``) and sends the refused request to ``/_refusal``, which answers
exactly that refusal (``decode``; the route is in ``web/ops.py``) without looking at any
credentials: a failed login is checked, and counted by the throttle, once.

The header is harmless whoever sends it: ``/_refusal`` only ever answers a 4xx (or a 503)
to the caller itself, with a bounded, sanitized message, and grants nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote

from dynopypi.edge.forwarded import WSGIApp

REFUSAL_HEADER = "X-Dynopypi-Refusal"
AUTHORIZE = "/_authorize/"
MESSAGE_LIMIT = 1000  # characters of a message passed on (auth refusals are one sentence)
HEADER_LIMIT = 2000  # bytes of the header: it must fit nginx's proxy_buffer_size (4k)
RETRY_LIMIT = 86400
_FORMAT = re.compile(r"(4\d\d|503) (\d{1,6}) ([!-~]*)")
PASSED_ON = "503"  # the one 5xx a check passes on: the account directory did not answer


@dataclass(frozen=True)
class Refusal:
    """A refusal as it travels from the auth check to ``/_refusal`` (retry_after 0: none)."""

    status: int
    retry_after: int
    message: str


def encode(refusal: Refusal) -> str:
    """``<status> <retry_after> <message, percent-encoded>``: one ASCII token per field, so
    nothing a message echoes can end the header, and bounded for nginx's header buffer."""
    message = refusal.message[:MESSAGE_LIMIT]
    while True:
        value = f"{refusal.status} {refusal.retry_after} {quote(message, safe='')}"
        if len(value) <= HEADER_LIMIT:
            return value
        message = message[: len(message) * 3 // 4]


def decode(value: str | None) -> Refusal | None:
    """The refusal ``encode`` wrote, or None for anything else (a 4xx status, or 503)."""
    match = _FORMAT.fullmatch(value.strip()) if value else None
    if match is None:
        return None
    retry_after = min(int(match.group(2)), RETRY_LIMIT)
    message = unquote(match.group(3), errors="replace")[:MESSAGE_LIMIT]
    return Refusal(int(match.group(1)), retry_after, message)


def _refusal_of(status: str, headers: list[tuple[str, str]], body: bytes) -> Refusal:
    code = int(status.split(" ", 1)[0])
    retry = next((v for k, v in headers if k.lower() == "retry-after"), "")
    message = body.decode("utf-8", "replace").strip() or status.partition(" ")[2]
    seconds = min(int(retry), RETRY_LIMIT) if retry.isascii() and retry.isdigit() else 0
    return Refusal(code, seconds, message)


def for_auth_request(app: WSGIApp) -> WSGIApp:
    """Answers of ``/_authorize/...`` as auth_request can pass them on: a 4xx becomes 401
    (a missing or wrong login) or 403 (anything else: no right, throttled, a bad request)
    with the real refusal in ``REFUSAL_HEADER``; so does a 503 (the LDAP directory did
    not answer: the client must read 503 and Retry-After, not nginx's 500); 2xx and other
    5xx go out unchanged."""

    def middleware(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if not str(environ.get("PATH_INFO", "")).startswith(AUTHORIZE):
            return app(environ, start_response)
        seen: dict[str, Any] = {}
        written: list[bytes] = []

        def capture(status: str, headers: list[tuple[str, str]], *exc: Any) -> Any:
            seen["status"], seen["headers"] = status, headers
            return written.append

        result = app(environ, capture)
        try:  # a check's answer is a few hundred bytes at most
            chunks = list(result)
            body = b"".join([*written, *chunks])
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        status, headers = seen["status"], list(seen["headers"])
        if status.startswith("4") or status[:3] == PASSED_ON:
            headers.append((REFUSAL_HEADER, encode(_refusal_of(status, headers, body))))
            if status[:3] != "401":
                status = "403" + status[3:]
        headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
        start_response(status, [*headers, ("Content-Length", str(len(body)))])
        return [body]

    return middleware
