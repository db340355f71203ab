"""The app's side of the body gate (``guard``): what ``decide`` asks, where an upload's
body goes (``upload_stream``), and how a request refused before its body is answered.

Kept apart from ``guard`` (which is about waitress) so the policy stays where it is: the
decision is the app's ``Gate``, asked exactly as a route asks it, and the answer is the
shell's mapping of refusals to statuses.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from dynopypi.auth.identity import UPDATE
from dynopypi.auth.policy import Gate
from dynopypi.edge.bodies import BodySink, Stream
from dynopypi.edge.forwarded import Network, WSGIApp, apply_forwarded
from dynopypi.edge.guard import REFUSED, Decide
from dynopypi.edge.multipart import FormParser, declared_length
from dynopypi.errors import Denied, NotServed, Refused, TooLarge

log = logging.getLogger(__name__)


MINT_PATH = "/_/oidc/mint-token"  # trusted publishing: the credential is in the body
MAX_MINT_BODY = 64 * 1024  # {"token": JWT}: a few KiB


XMLRPC_PATHS = frozenset({"/RPC2"})  # pypiserver's XML-RPC endpoint; elsewhere: by text/xml


def xmlrpc_refusal(path: str, content_type: str) -> NotServed | None:
    """A POST of XML-RPC (``pip search``, old tools): not an upload that needs an account,
    an API this index does not serve, and the answer says so and what to use instead."""
    if path not in XMLRPC_PATHS and not content_type.lower().startswith("text/xml"):
        return None
    return NotServed(
        "XML-RPC search (pip search) is not served by this index (PyPI stopped serving it "
        "in 2020): look projects up with the JSON API (/pypi/NAME/json), the simple "
        "pages (/simple/) or the web UI (/)"
    )


Refusal = Callable[[Refused, dict[str, Any]], None]


def body_gate(
    gate: Gate, networks: tuple[Network, ...], on_refused: Refusal | None = None
) -> Decide:
    """The app's gate as ``decide``: every body is an upload (the only requests that
    carry one), so it needs ``update``; except XML-RPC (``xmlrpc_refusal``), which is
    refused for what it is, and the trusted publishing exchange, whose small JSON body
    *is* the credential (refused unless its declared length is small). ``headers`` are
    waitress's (``AUTHORIZATION``, ``X_FORWARDED_FOR``); the client's address is found as
    the app finds it. ``on_refused`` hears of each upload refused here (the audit trail)."""

    def decide(headers: Mapping[str, str], peer: str, path: str) -> Refused | None:
        not_served = xmlrpc_refusal(path, headers.get("CONTENT_TYPE", ""))
        if not_served is not None:
            return not_served
        if path == MINT_PATH:
            length = headers.get("CONTENT_LENGTH", "")
            if length.isdigit() and int(length) <= MAX_MINT_BODY:
                return None
            return TooLarge(
                f"the token exchange takes a JSON body of at most {MAX_MINT_BODY} bytes "
                "with a Content-Length"
            )
        environ: dict[str, Any] = {f"HTTP_{key}": value for key, value in headers.items()}
        environ["REMOTE_ADDR"] = peer
        apply_forwarded(environ, networks)
        try:
            gate.authorize(UPDATE, None, headers.get("AUTHORIZATION"), environ["REMOTE_ADDR"])
        except Refused as exc:
            if on_refused is not None:
                on_refused(exc, environ)
            return exc
        return None

    return decide


def upload_stream(target_dir: Path, max_size: int) -> Stream:
    """An allowed multipart ``POST /`` (an upload) is parsed as it arrives, its file part
    written once, into the staged file in ``target_dir`` (the route then takes the form
    from the ``FormParser``). What the head already shows to be wrong (not form-data, no
    boundary, over ``max_size``) is refused before the body. Every other body (the small
    urlencoded actions, bodies on other paths) is spooled as before."""

    def stream(
        headers: Mapping[str, str], method: str, path: str, chunked: bool
    ) -> BodySink | None:
        content_type = headers.get("CONTENT_TYPE", "")
        if method != "POST" or path != "/" or not content_type.lower().startswith("multipart/"):
            return None
        length = -1 if chunked else declared_length(headers.get("CONTENT_LENGTH"), max_size)
        return FormParser(content_type, length, target_dir, max_size=max_size)

    return stream


def refusals_first(app: WSGIApp, respond: Callable[[Refused], Any]) -> WSGIApp:
    """Answer a request refused before its body with ``respond`` (the shell's mapping of
    refusals to statuses); every other request goes to ``app``."""

    def middleware(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        refusal = environ.get(REFUSED)
        if refusal is None:
            return app(environ, start_response)
        if isinstance(refusal, Denied) and refusal.user:  # the access log names the account
            environ["REMOTE_USER"] = refusal.user
        response = respond(refusal)
        # -v: why a client got its 4xx, as the shell says it for refusals after the body
        log.debug(
            "refused %s %s: %s",
            environ.get("REQUEST_METHOD"),
            environ.get("PATH_INFO"),
            response.status_line,
        )
        body = response.body.encode() if isinstance(response.body, str) else response.body
        headers = [(k, v) for k, v in response.headerlist if k.lower() != "content-length"]
        start_response(response.status_line, [*headers, ("Content-Length", str(len(body)))])
        return [body]

    return middleware
