"""Logging: where lines go, how much is said (-q/-v), and the one-line-per-request access log.

The levels follow what a person asks for: ``-q`` drops the access log and nothing else
(start, stop, warnings stay), ``-qq`` keeps warnings and errors only, ``-v`` adds dynopypi's
debug lines (settings, file events, refusals with their reason), ``-vv`` the libraries'
debug lines too, ``-vvv`` even watchdog's.
"""

from __future__ import annotations

import logging
import logging.handlers
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any

from .config import Settings
from .proxy import WSGIApp

access_log = logging.getLogger("dynopypi.access")


def setup_logging(settings: Settings) -> None:
    """-q drops the access log only (start, stop and warnings stay); -qq keeps warnings and
    errors; -v adds dynopypi's debug lines; -vv the libraries' as well."""
    verbosity = settings.verbosity
    handler: logging.Handler
    if settings.log_file is not None:
        handler = logging.handlers.WatchedFileHandler(settings.log_file)  # logrotate-safe
    else:
        handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(
        logging.DEBUG if verbosity >= 2 else logging.WARNING if verbosity <= -2 else logging.INFO
    )
    logging.getLogger("dynopypi").setLevel(logging.DEBUG if verbosity >= 1 else logging.NOTSET)
    access_log.setLevel(logging.WARNING if verbosity <= -1 else logging.NOTSET)
    logging.getLogger("watchdog").setLevel(logging.DEBUG if verbosity >= 3 else logging.WARNING)


def with_access_log(app: WSGIApp) -> WSGIApp:
    """One line per request: method, path, status, bytes, duration, user."""

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
            environ.get("REQUEST_METHOD"),
            environ.get("PATH_INFO"),
            seen.get("status", "-"),
            seen.get("bytes", "-"),
            (time.perf_counter() - started) * 1000,
            environ.get("REMOTE_USER") or "-",
        )
        return result

    return middleware
