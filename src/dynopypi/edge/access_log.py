"""The access log: one line per request, every field a client chose escaped (``ops.logsafe``);
the same middleware hands each request to the metrics (``metered.observer``).

WSGI middleware, so it sits at the edge; the logger itself (``access_log``) and the escaping
live in ``ops.logsafe``, so ``-q`` can silence it without importing the edge.

A line reads ``ADDRESS METHOD PATH STATUS BYTES DURATION ACCOUNT [WRITE]``:

- ``ADDRESS`` is the client's, after ``--trusted-proxies`` (``edge.forwarded`` has already
  put the address a trusted proxy vouched for in ``REMOTE_ADDR``);
- ``ACCOUNT`` is the proven account (also when it lacks the right: a 403), ``-`` for
  none, or ``tried:NAME`` when a login was refused (401, 429) with Basic credentials: the
  name someone tried, so a guesser shows up in the log (the password never does);
- ``WRITE``, on ``POST /`` only, is what the route recorded in ``WRITE_KEY``: the action
  and the file names it stored, removed or yanked (``upload=NAME``, ``remove_pkg=A,B``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from dynopypi.auth.identity import parse_basic
from dynopypi.edge.forwarded import WSGIApp
from dynopypi.edge.metered import Observer
from dynopypi.ops.logsafe import access_log, escape

WRITE_KEY = "dynopypi.write"  # environ key: (action, file names) of a write, set by its route
REFUSED_STATUSES = frozenset({"401", "403", "429"})
MAX_NAME = 100  # characters of an attempted account name or of one file name logged


def account_field(environ: dict[str, Any], status: str) -> str:
    """The proven account, ``-``, or on a refusal the Basic user name someone tried."""
    user = environ.get("REMOTE_USER")
    if user:
        return escape(user, space=True)
    if status in REFUSED_STATUSES:
        credentials = parse_basic(environ.get("HTTP_AUTHORIZATION"))
        if credentials is not None:
            return "tried:" + escape(credentials[0][:MAX_NAME], space=True)
    return "-"


def write_field(environ: dict[str, Any]) -> str:
    """`` ACTION=FILE,FILE`` for a write its route recorded, else nothing."""
    write = environ.get(WRITE_KEY)
    if not write:
        return ""
    action, names = write
    files = ",".join(escape(name[:MAX_NAME], space=True) for name in names) or "-"
    return f" {escape(action[:MAX_NAME], space=True)}={files}"


def with_access_log(app: WSGIApp, observe: Observer | None = None) -> WSGIApp:
    """One line per request (see the module doc for its fields); and each request handed
    to ``observe`` (the metrics), timed once for both.

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
        status = seen.get("status", "-")
        if observe is not None:
            size = seen.get("bytes", "")
            observe(environ, status, time.perf_counter() - started,
                    int(size) if size.isdigit() else 0)  # fmt: skip
        if not logging_on:
            return result
        access_log.info(
            "%s %s %s %s %s %.1fms %s%s",
            environ.get("REMOTE_ADDR") or "-",  # a socket's peer or a checked address
            escape(environ.get("REQUEST_METHOD"), space=True),
            escape(environ.get("PATH_INFO"), space=True),
            status,
            seen.get("bytes", "-"),
            (time.perf_counter() - started) * 1000,
            account_field(environ, status),
            write_field(environ),
        )
        return result

    return middleware
