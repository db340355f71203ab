"""The server's metrics (``ops.metrics``) with what each part keeps read at scrape time:
the index's size, the store's health, the bucket journal's position, the upstream's counts
and caches. Built once by ``build``; nothing here runs between scrapes.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from dynopypi.catalog import Catalog
from dynopypi.core.index import Index
from dynopypi.core.usage import UsageMemo
from dynopypi.ops.metrics import Metrics
from dynopypi.settings.config import Settings
from dynopypi.site.publisher import Publisher
from dynopypi.store.bucket.store import BucketStore
from dynopypi.store.directory.store import DirectoryStore

Readings = list[tuple[str, str, Callable[[], float | None]]]


def meter(
    index: Index,
    usage: UsageMemo,
    store: DirectoryStore | BucketStore,
    catalog: Catalog,
    settings: Settings,
) -> Metrics:
    """The server's metrics, with what the parts keep read at scrape time."""
    metrics = Metrics()
    levels: Readings = [
        ("index_projects", "Projects in the index (local and upstream)",
         lambda: len(index.snapshot.projects)),
        ("index_files", "Files in the index's own stores", lambda: usage.of(index.snapshot).files),
        ("index_bytes", "Bytes of the files in the index's own stores",
         lambda: usage.of(index.snapshot).total),
        ("store_problem", "1 while the package store does not answer",
         lambda: float(store.problem() is not None)),
    ]  # fmt: skip
    if settings.quota_total is not None:
        total = settings.quota_total
        levels.append(("quota_total_bytes", "The index's --quota-total", lambda: total))
    more_levels, totals = store_readings(store)
    upstream_levels, upstream_totals = upstream_readings(catalog)
    for name, text, read in levels + more_levels + upstream_levels:
        metrics.read(f"dynopypi_{name}", text, read)
    for name, text, read in totals + upstream_totals:
        metrics.read(f"dynopypi_{name}", text, read, counter=True)
    return metrics


def meter_pages(metrics: Metrics, publisher: Publisher) -> None:
    """What ``--pages-dir`` has yet to publish, and whether it stopped: while it is behind
    or broken, nginx asks the app for those pages and files (correct, at the app's speed)."""
    metrics.read(
        "dynopypi_pages_behind",
        "Projects whose pages and files nginx cannot send yet (written behind after a start "
        "or a big change; nginx asks the app for them meanwhile)",
        lambda: publisher.behind(),
    )
    metrics.read(
        "dynopypi_pages_broken",
        "1 when publishing for nginx stopped after a failure (a full disk): nginx asks the "
        "app for everything until a restart",
        lambda: float(publisher.broken),
    )


def store_readings(store: DirectoryStore | BucketStore) -> tuple[Readings, Readings]:
    """(levels, running totals) of the directory's watcher or the bucket's journal."""
    if isinstance(store, DirectoryStore):
        watcher = store.watcher
        return [], [
            ("watcher_paths_refreshed", "Paths re-read after filesystem events",
             lambda: watcher.refreshed),
            ("watcher_rescan_changes", "Changed files the periodic re-check found (events "
             "the watcher missed)", lambda: watcher.rescanned),
            ("watcher_errors", "Errors while refreshing the index", lambda: watcher.errors),
        ]  # fmt: skip
    journal, blobs = store.source.journal, store.reader.cache
    return [
        ("journal_entry", "The bucket journal's entry this replica is at",
         lambda: journal.state.seq),
        ("journal_contact_age_seconds", "Seconds since the bucket last answered this "
         "replica's journal poll (how far behind it may be)",
         lambda: time.monotonic() - journal.last_contact if journal.last_contact else None),
        ("blob_cache_bytes", "Bytes in the local copy of bucket files",
         lambda: blobs.total if blobs is not None else None),
    ], []  # fmt: skip


def upstream_readings(catalog: Catalog) -> tuple[Readings, Readings]:
    """(levels, running totals) of the upstream cache, when there is one."""
    upstream = catalog.upstream
    if upstream is None:
        return [], []
    counts, held, files = upstream.source.counts, upstream.source.held, upstream.files.held
    return [
        ("upstream_cache_bytes", "Bytes of upstream files cached on disk",
         lambda: files.cache_bytes),
        ("upstream_pages_held", "Upstream project pages held in memory", lambda: len(held.pages)),
    ], [
        ("upstream_page_hits", "Upstream pages answered from the cache", lambda: counts.hits),
        ("upstream_page_fetches", "Upstream pages fetched or revalidated", lambda: counts.misses),
        ("upstream_fetch_errors", "Upstream page fetches that failed", lambda: counts.errors),
        ("upstream_fetch_seconds", "Seconds spent fetching upstream pages",
         lambda: counts.fetch_seconds),
    ]  # fmt: skip
