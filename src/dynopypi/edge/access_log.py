"""The access log: one line per request, every field a client chose escaped (``ops.logsafe``);
the same middleware hands each request to the metrics (``metered.observer``).

WSGI middleware, so it sits at the edge; the logger itself (``access_log``) and the escaping
live in ``ops.logsafe``, so ``-q`` can silence it without importing the edge.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from dynopypi.edge.forwarded import WSGIApp
from dynopypi.edge.metered import Observer
from dynopypi.ops.logsafe import access_log, escape


def with_access_log(app: WSGIApp, observe: Observer | None = None) -> WSGIApp:
    """One line per request: method, path, status, bytes, duration, user; and each
    request handed to ``observe`` (the metrics), timed once for both.

    Every field a client chose is escaped (``logsafe.escape``): one request, one line.
    """

    def middleware(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        logging_on = access_log.isEnabledFor(logging.INFO)
        if not logging_on and observe is None:
            return app(environ, start_response)
        started = time.perf_counter()
        seen: dict[str, str] = {}

        def recording_start_response(status: str, headers: list[tuple[str, str]], *exc: Any) -> Any:
            seen["status"] = status[:3]
            for key, value in headers:
                if len(key) == 14 and key.lower() == "content-length":
                    seen["bytes"] = value
            return start_response(status, headers, *exc)

        result = app(environ, recording_start_response)
        if observe is not None:
            size = seen.get("bytes", "")
            observe(environ, seen.get("status", "-"), time.perf_counter() - started,
                    int(size) if size.isdigit() else 0)  # fmt: skip
        if not logging_on:
            return result
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
