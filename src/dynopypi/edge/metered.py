"""Every request counted for ``/metrics`` (``observer``: called by the request middleware
of ``access_log``, which times each request anyway, so counting adds no layer of its own),
and the small app that answers ``--metrics-listen``.

A request's route class is a handful of prefix tests on its path (``route_class``, pure),
so the labels are a fixed, small set whatever paths clients send. Failed logins (credentials
sent and refused: 401 with an Authorization header) and throttled requests (429) are counted
from the status here, so ``auth`` knows nothing of metrics.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from dynopypi.edge.forwarded import WSGIApp
from dynopypi.ops.metrics import CONTENT_TYPE, Metrics

METRICS_PATH = "/metrics"
_PREFIXES = (
    ("/simple/", "page"),
    ("/packages/", "file"),
    ("/pypi/", "json"),
    ("/as-of/", "as_of"),
    ("/_authorize/", "authorize"),
    (METRICS_PATH, "metrics"),
)


def route_class(method: str, path: str, health: tuple[str, ...] = ()) -> str:
    """Which kind of route a request is for, as a metric label (a fixed, small set)."""
    if path == "/":
        return "upload" if method == "POST" else "home"
    if path == "/simple/":
        return "index"
    if path in health:
        return "health"
    for prefix, name in _PREFIXES:
        if path.startswith(prefix):
            if name == "file" and path.endswith(".metadata"):
                return "metadata"
            return name
    return "other"


Observer = Callable[[dict[str, Any], str, float, int], None]


def observer(metrics: Metrics, health: tuple[str, ...]) -> Observer:
    """What the request middleware (``access_log``) calls once per answered request:
    (environ, status code, seconds, body bytes) counted, and nothing else done."""
    login_failures = metrics.tally(
        "dynopypi_login_failures",
        "Requests whose credentials were refused (401 with an Authorization header)",
    )
    throttled = metrics.tally(
        "dynopypi_throttled_requests", "Requests refused by the login throttle (429)"
    )
    add = metrics.requests.add

    def observe(environ: dict[str, Any], status: str, seconds: float, size: int) -> None:
        route = route_class(environ.get("REQUEST_METHOD", ""), environ.get("PATH_INFO", ""), health)
        add(route, status, seconds, size)
        if status == "401" and environ.get("HTTP_AUTHORIZATION"):
            login_failures.inc()
        elif status == "429":
            throttled.inc()

    return observe


def metrics_app(metrics: Metrics) -> WSGIApp:
    """The app of ``--metrics-listen``: ``/metrics`` and nothing else, without accounts
    (the address is the protection: one that only Prometheus reaches)."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != METRICS_PATH or environ.get("REQUEST_METHOD") not in (
            "GET",
            "HEAD",
        ):
            body = b"only GET /metrics is served on this address\n"
            start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8"),
                                             ("Content-Length", str(len(body)))])  # fmt: skip
            return [body]
        body = metrics.exposition()
        start_response("200 OK", [("Content-Type", CONTENT_TYPE),
                                  ("Content-Length", str(len(body)))])  # fmt: skip
        return [body] if environ["REQUEST_METHOD"] == "GET" else []

    return app
