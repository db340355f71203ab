"""The access log: one line per request, every field a client chose escaped (``ops.logsafe``).

WSGI middleware, so it sits at the edge; the logger itself (``access_log``) and the escaping
live in ``ops.logsafe``, so ``-q`` can silence it without importing the edge.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from dynopypi.edge.forwarded import WSGIApp
from dynopypi.ops.logsafe import access_log, escape


def with_access_log(app: WSGIApp) -> WSGIApp:
    """One line per request: method, path, status, bytes, duration, user.

    Every field a client chose is escaped (``logsafe.escape``): one request, one line.
    """

    def middleware(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if not access_log.isEnabledFor(logging.INFO):
            return app(environ, start_response)
        started = time.perf_counter()
        seen: dict[str, str] = {}

        def recording_start_response(status: str, headers: list[tuple[str, str]], *exc: Any) -> Any:
            seen["status"] = status.split(" ", 1)[0]
            for key, value in headers:
                if key.lower() == "content-length":
                    seen["bytes"] = value
            return start_response(status, headers, *exc)

        result = app(environ, recording_start_response)
        access_log.info(
            "%s %s %s %s %.1fms %s",
            escape(environ.get("REQUEST_METHOD"), space=True),
            escape(environ.get("PATH_INFO"), space=True),
            seen.get("status", "-"),
            seen.get("bytes", "-"),
            (time.perf_counter() - started) * 1000,
            escape(environ.get("REMOTE_USER") or "-", space=True),
        )
        return result

    return middleware
