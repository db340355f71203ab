"""What every route module shares: turning results into responses, and refusals into
statuses (the only place where a domain error meets HTTP).

``Shell`` wraps the request of the moment (Bottle's thread-local) and the services, so a
route reads as: parse, call the core, ``send`` or raise a domain error.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Callable
from typing import Any

import bottle

from dynopypi.core.model import Rendered
from dynopypi.dists.names import NormalizedName, is_valid_project_name, normalize
from dynopypi.errors import (
    AlreadyExists,
    BadGateway,
    Denied,
    DirectoryUnavailable,
    GatewayTimeout,
    InvalidInput,
    NeedsAccount,
    NoAcceptableFormat,
    NotFound,
    NotServed,
    Refused,
    StorageFull,
    Throttled,
    TooLarge,
    UpstreamBusy,
)
from dynopypi.ops.metrics import Metrics
from dynopypi.render.negotiate import accepts_gzip, choose_content_type
from dynopypi.services import Services
from dynopypi.store.base import StoreUnavailable
from dynopypi.web.ranges import not_modified

log = logging.getLogger(__name__)
Handler = Callable[..., Any]
BIG_BODY = 64 * 1024  # bodies this big go to waitress as a buffer, not copied per request
REALM = "dynopypi"
IDENTITY = "dynopypi.identity"  # the environ key of the request's proven Identity
STATUS: dict[type[Refused], int] = {
    InvalidInput: 400,
    NeedsAccount: 401,
    Denied: 403,
    NotFound: 404,
    NotServed: 410,  # gone for good (PyPI dropped XML-RPC search in 2020)
    NoAcceptableFormat: 406,
    AlreadyExists: 409,
    TooLarge: 413,
    Throttled: 429,
    StorageFull: 507,
    StoreUnavailable: 503,
    BadGateway: 502,
    GatewayTimeout: 504,
    UpstreamBusy: 503,
    DirectoryUnavailable: 503,
}


REASON_LIMIT = 200  # characters of a refusal's message that go into the status line
_NOT_IN_REASON = re.compile(r"[^\x20-\x7e\xa0-\xff]")


def text(
    status: int | str, message: str, headers: dict[str, str] | None = None
) -> bottle.HTTPResponse:
    response = bottle.HTTPResponse(
        body=message.rstrip("\n") + "\n", status=status, **(headers or {})
    )
    response.content_type = "text/plain; charset=utf-8"
    return response


def reason_phrase(message: str) -> str:
    """A refusal's message as an HTTP reason phrase: twine and requests print the status
    line, not the body (as PyPI does: ``400 File already exists ...``). The message can
    echo client input, so only what a status line may carry stays: latin-1 printable
    characters (the rest become '?'), one line, at most ``REASON_LIMIT`` characters."""
    line = _NOT_IN_REASON.sub("?", " ".join(message.split()))
    if len(line) > REASON_LIMIT:
        line = line[: REASON_LIMIT - 3].rstrip() + "..."
    return line


def refusal_response(exc: Refused) -> bottle.HTTPResponse:
    """A domain refusal as a status code, the headers its kind needs, and the message."""
    code = next((code for kind, code in STATUS.items() if isinstance(exc, kind)), 400)
    waits = (Throttled, StoreUnavailable, UpstreamBusy, DirectoryUnavailable)
    wait = exc.retry_after if isinstance(exc, waits) else 0
    return refusal(code, exc.message, wait)


def refusal(code: int, message: str, retry_after: int = 0) -> bottle.HTTPResponse:
    """A refusal's response: the message in the body and the reason phrase, a challenge
    with a 401 (so clients ask for a login), ``Retry-After`` when there is a wait."""
    headers: dict[str, str] = {}
    if code == STATUS[NeedsAccount]:
        headers["WWW-Authenticate"] = f'Basic realm="{REALM}", charset="UTF-8"'
    if retry_after:
        headers["Retry-After"] = str(retry_after)
    reason = reason_phrase(message)
    return text(f"{code} {reason}" if reason else code, message, headers)


def error_plugin(metrics: Metrics | None = None) -> Callable[[Handler], Handler]:
    """The plugin that turns refusals into responses (and counts them by kind)."""

    def plugin(callback: Handler) -> Handler:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return callback(*args, **kwargs)
            except Refused as exc:
                response = refusal_response(exc)
                if metrics is not None:
                    metrics.refused(type(exc).__name__)
                if log.isEnabledFor(logging.DEBUG):  # -v: why a client got its 4xx
                    request = bottle.request
                    log.debug("refused %s %s: %s", request.method, request.path, response.status)
                return response

        return wrapper

    return plugin


def plain_error(error: bottle.HTTPError) -> str:
    """Bottle's own errors (no route, wrong method) as plain text, like ours."""
    bottle.response.content_type = "text/plain; charset=utf-8"
    body = error.body if isinstance(error.body, str) and error.body else error.status_line
    return f"{body}\n"


class Shell:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.request = bottle.request
        seconds = services.settings.cache_control
        self.cache_header = (
            {"Cache-Control": f"public, max-age={seconds}"} if seconds is not None else {}
        )

    def send(self, rendered: Rendered, extra: dict[str, str] | None = None) -> bottle.HTTPResponse:
        """A cached page, gzipped when the client accepts it, 304 when it has it;
        ``extra``: more headers (the web UI's Content-Security-Policy...)."""
        headers = self.request.headers
        out = {"Vary": "Accept", **self.cache_header, **(extra or {})}
        if rendered.gzipped is not None and accepts_gzip(headers.get("Accept-Encoding")):
            body, etag = rendered.gzipped, rendered.etag[:-1] + '-gzip"'
            out["Content-Encoding"] = "gzip"
        else:
            body, etag = rendered.body, rendered.etag
        if rendered.gzipped is not None:
            out["Vary"] = "Accept, Accept-Encoding"
        out["ETag"] = etag
        if not_modified(headers, etag):
            out.pop("Content-Encoding", None)
            return bottle.HTTPResponse(status=304, **out)
        out["Content-Type"] = rendered.content_type
        out["Content-Length"] = str(len(body))
        if len(body) >= BIG_BODY:
            return bottle.HTTPResponse(body=io.BytesIO(body), status=200, **out)
        return bottle.HTTPResponse(body=body, status=200, **out)

    def require(self, action: str, project: str | None = None) -> None:
        """Refuse (NeedsAccount, Denied, Throttled) unless the client may do ``action``."""
        gate = self.services.gate
        if not gate.needs_account(action):
            return
        environ = self.request.environ
        try:
            identity = gate.authorize(
                action, project, environ.get("HTTP_AUTHORIZATION"), environ.get("REMOTE_ADDR", "")
            )
        except Denied as exc:  # a proven account without the right: the log names it
            if exc.user:
                environ["REMOTE_USER"] = exc.user
            raise
        environ[IDENTITY] = identity  # who acted, for the audit trail
        if identity.user:
            environ["REMOTE_USER"] = identity.user

    def negotiated(self) -> str:
        query = self.request.query.get("format")
        return choose_content_type(self.request.headers.get("Accept"), query)

    def redirect(self, location: str, status: int = 301) -> bottle.HTTPResponse:
        query = self.request.query_string
        return bottle.HTTPResponse(
            status=status, Location=location + (f"?{query}" if query else "")
        )

    def base_url(self) -> str:
        parts = self.request.urlparts
        return f"{parts.scheme}://{parts.netloc}{self.request.script_name}"

    @staticmethod
    def valid_name(name: str) -> NormalizedName:
        """The canonical name; a name no project can have is simply not found (and never
        echoed into a Location header)."""
        if not is_valid_project_name(name):
            raise NotFound(f"{name[:100]!r} is not a valid project name")
        return normalize(name)


class Routes:
    """One area of the API: ``install`` adds its routes to the app."""

    def __init__(self, shell: Shell) -> None:
        self.shell = shell
        self.services = shell.services

    def install(self, app: bottle.Bottle) -> None:
        raise NotImplementedError
