"""What ``/metrics`` says (the Prometheus text format, by prometheus-client): one registry
per server, never the library's global one, so tests build as many servers as they like.

Two kinds of numbers. Events are counted as they happen (``Metrics``: requests by route
class and status, their latency and bytes, writes and refusals by kind), each through a
labelled child that is looked up once and kept, so the page hot path pays one dict lookup
and two increments. Sizes and counters that other parts already keep (the index, the caches,
the journal, the upstream's counts) are read only when Prometheus scrapes (``Readings``),
so keeping them costs nothing between scrapes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector

# latency buckets, seconds: pages are answered in well under a millisecond when rendered,
# downloads and uploads take seconds; a dozen buckets keeps each series small
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10)
# the text format generate_latest writes, as every Prometheus since 2.0 reads it
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass(frozen=True)
class Reading:
    """A number read at scrape time: ``read`` returns it (or None when not applicable)."""

    name: str
    help: str
    read: Callable[[], float | None]
    counter: bool = False  # a running total (``_total``) rather than a level


class Readings(Collector):
    """The numbers other parts keep, read when Prometheus scrapes."""

    def __init__(self) -> None:
        self._readings: list[Reading] = []

    def add(self, reading: Reading) -> None:
        self._readings.append(reading)

    def collect(self) -> Iterator[Metric]:
        for reading in self._readings:
            value = reading.read()
            if value is None:
                continue
            family = CounterMetricFamily if reading.counter else GaugeMetricFamily
            yield family(reading.name, reading.help, value=value)


class Metrics:
    """Every instrument of one server, in its own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.readings = Readings()
        self.registry.register(self.readings)
        reg = self.registry
        self.requests = Counter("dynopypi_http_requests", "HTTP requests answered, by route "
                                "class and status", ["route", "status"], registry=reg)  # fmt: skip
        self.latency = Histogram(
            "dynopypi_http_request_duration_seconds",
            "Time to answer a request (to the first byte of its body), by route class",
            ["route"], buckets=LATENCY_BUCKETS, registry=reg,
        )  # fmt: skip
        self.sent = Counter("dynopypi_http_response_bytes", "Bytes of response bodies (their "
                            "Content-Length), by route class", ["route"], registry=reg)  # fmt: skip
        self.writes = Counter("dynopypi_writes", "Writes (upload, overwrite, remove, yank, "
                              "unyank) by action and outcome (ok, unchanged, refused)",
                              ["action", "outcome"], registry=reg)  # fmt: skip
        self.refusals = Counter("dynopypi_refusals", "Requests refused, by the kind of refusal "
                                "(NeedsAccount, Denied, AlreadyExists, StoreUnavailable, ...)",
                                ["kind"], registry=reg)  # fmt: skip
        self._lock = threading.Lock()
        self._children: dict[tuple[str, str], tuple[Counter, Histogram, Counter]] = {}

    def request(self, route: str, status: str, seconds: float, size: int) -> None:
        """One answered request (the edge calls this for every request)."""
        key = (route, status)
        children = self._children.get(key)
        if children is None:
            with self._lock:
                children = (
                    self.requests.labels(route, status),
                    self.latency.labels(route),
                    self.sent.labels(route),
                )
                self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)
        if size:
            children[2].inc(size)

    def refused(self, kind: str) -> None:
        self.refusals.labels(kind).inc()

    def wrote(self, action: str, outcome: str) -> None:
        self.writes.labels(action, outcome).inc()

    def read(
        self, name: str, help: str, read: Callable[[], float | None], *, counter: bool = False
    ) -> None:
        self.readings.add(Reading(name, help, read, counter))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
