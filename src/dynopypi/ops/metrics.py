"""What ``/metrics`` says (the Prometheus text format, by prometheus-client): one registry
per server, never the library's global one, so tests build as many servers as they like.

Two kinds of numbers. Events are counted as they happen: requests by route class and
status, their latency and bytes (``Requests``), writes, refusals, failed logins and
throttled requests by kind (``Tally``): plain numbers under a lock, about a microsecond on
the page hot path, where prometheus-client's own instruments cost several. Sizes and
counters that other parts already keep (the index, the caches, the journal, the upstream's
counts) are read only when Prometheus scrapes (``Readings``), so keeping them costs
nothing between scrapes.

prometheus-client itself is imported at the first scrape, which builds the registry over
these collectors: a server that is never scraped does not load it (1-3 MB of memory).
"""

from __future__ import annotations

import bisect
import itertools
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TypeVar, cast

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric
    from prometheus_client.registry import Collector, CollectorRegistry

# latency buckets, seconds: pages are answered in well under a millisecond when rendered,
# downloads and uploads take seconds; a dozen buckets keeps each series small
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10)
# the text format generate_latest writes, as every Prometheus since 2.0 reads it
_BOUNDS = [*(str(float(b)) for b in LATENCY_BUCKETS), "+Inf"]  # as "le" labels
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass(frozen=True)
class Reading:
    """A number read at scrape time: ``read`` returns it (or None when not applicable)."""

    name: str
    help: str
    read: Callable[[], float | None]
    counter: bool = False  # a running total (``_total``) rather than a level


class Collecting(Protocol):
    """What the registry asks of each collector (prometheus-client's ``Collector``)."""

    def collect(self) -> Iterator[Metric]: ...


C = TypeVar("C", bound=Collecting)


class Readings:
    """The numbers other parts keep, read when Prometheus scrapes."""

    def __init__(self) -> None:
        self._readings: list[Reading] = []

    def add(self, reading: Reading) -> None:
        self._readings.append(reading)

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        for reading in self._readings:
            value = reading.read()
            if value is None:
                continue
            family = CounterMetricFamily if reading.counter else GaugeMetricFamily
            yield family(reading.name, reading.help, value=value)


class Tally:
    """A counter by labels (``dynopypi_<name>_total``), counted as events happen."""

    def __init__(self, name: str, help: str, labels: tuple[str, ...] = ()) -> None:
        self.name, self.help, self.labels = name, help, labels
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, ...], int] = {} if labels else {(): 0}

    def inc(self, *values: str) -> None:
        with self._lock:
            self._counts[values] = self._counts.get(values, 0) + 1

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import CounterMetricFamily

        with self._lock:
            counts = dict(self._counts)
        if not self.labels:
            yield CounterMetricFamily(self.name, self.help, value=counts[()])
            return
        family = CounterMetricFamily(self.name, self.help, labels=list(self.labels))
        for values, count in sorted(counts.items()):
            family.add_metric(list(values), count)
        yield family


class Requests:
    """Requests by route class and status, their latency and bytes: plain numbers under
    one lock on the hot path (about a microsecond a request), made into Prometheus'
    counters and histograms only when it scrapes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, str], int] = {}
        self._bytes: dict[str, int] = {}
        self._buckets: dict[str, list[int]] = {}  # per bound (not cumulative), then +Inf
        self._sums: dict[str, float] = {}

    def add(self, route: str, status: str, seconds: float, size: int) -> None:
        slot = bisect.bisect_left(LATENCY_BUCKETS, seconds)
        key = (route, status)
        with self._lock:
            self._counts[key] = self._counts.get(key, 0) + 1
            buckets = self._buckets.get(route)
            if buckets is None:
                buckets = self._buckets[route] = [0] * (len(LATENCY_BUCKETS) + 1)
                self._bytes[route] = 0
                self._sums[route] = 0.0
            buckets[slot] += 1
            self._sums[route] += seconds
            self._bytes[route] += size

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily

        with self._lock:
            counts, sent = dict(self._counts), dict(self._bytes)
            buckets = {route: list(b) for route, b in self._buckets.items()}
            sums = dict(self._sums)
        requests = CounterMetricFamily(
            "dynopypi_http_requests",
            "HTTP requests answered, by route class and status",
            labels=["route", "status"],
        )
        for (route, status), count in sorted(counts.items()):
            requests.add_metric([route, status], count)
        latency = HistogramMetricFamily(
            "dynopypi_http_request_duration_seconds",
            "Time to answer a request (until its body is handed to the server), by route class",
            labels=["route"],
        )
        body = CounterMetricFamily(
            "dynopypi_http_response_bytes",
            "Bytes of response bodies (their Content-Length), by route class",
            labels=["route"],
        )
        for route in sorted(buckets):
            cumulative = list(itertools.accumulate(buckets[route]))
            latency.add_metric([route], list(zip(_BOUNDS, cumulative, strict=True)), sums[route])
            body.add_metric([route], sent[route])
        yield from (requests, latency, body)


class Metrics:
    """Every instrument of one server; its registry is made at the first scrape."""

    def __init__(self) -> None:
        self._collectors: list[Collecting] = []
        self._registry: CollectorRegistry | None = None
        self._registry_lock = threading.Lock()
        self.readings = self._add(Readings())
        self.requests = self._add(Requests())
        self.writes = self.tally(
            "dynopypi_writes",
            "Writes (upload, overwrite, remove, yank, unyank) by action and outcome (ok, "
            "unchanged, refused)",
            "action",
            "outcome",
        )
        self.refusals = self.tally(
            "dynopypi_refusals",
            "Requests refused, by the kind of refusal (NeedsAccount, Denied, AlreadyExists, "
            "StoreUnavailable, ...)",
            "kind",
        )

    def tally(self, name: str, help: str, *labels: str) -> Tally:
        """A new counter (``<name>_total``), in every scrape from now on."""
        return self._add(Tally(name, help, labels))

    def _add(self, collector: C) -> C:
        with self._registry_lock:
            self._collectors.append(collector)
            if self._registry is not None:
                self._registry.register(cast("Collector", collector))
        return collector

    def request(self, route: str, status: str, seconds: float, size: int) -> None:
        """One answered request (the edge calls this for every request)."""
        self.requests.add(route, status, seconds, size)

    def refused(self, kind: str) -> None:
        self.refusals.inc(kind)

    def wrote(self, action: str, outcome: str) -> None:
        self.writes.inc(action, outcome)

    def read(
        self, name: str, help: str, read: Callable[[], float | None], *, counter: bool = False
    ) -> None:
        self.readings.add(Reading(name, help, read, counter))

    def exposition(self) -> bytes:
        from prometheus_client.exposition import generate_latest

        return generate_latest(self._registry_now())

    def _registry_now(self) -> CollectorRegistry:
        with self._registry_lock:
            if self._registry is None:
                from prometheus_client import CollectorRegistry

                registry = CollectorRegistry(auto_describe=False)
                for collector in self._collectors:
                    registry.register(cast("Collector", collector))
                self._registry = registry
            return self._registry
