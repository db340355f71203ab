"""Building the upstream parts from Settings (for the composition root, ``server``).

Without ``--upstream`` nothing here exists: the index has only its package directories
and the ``first_directory_wins`` rule, exactly as before.
"""

from __future__ import annotations

from dynopypi.catalog import Catalog, UpstreamParts
from dynopypi.core.index import Index
from dynopypi.core.snapshot import first_directory_wins
from dynopypi.core.visibility import Cooldown, Exempt
from dynopypi.settings.config import Settings
from dynopypi.store.base import Reader
from dynopypi.store.directory.reader import FileReader
from dynopypi.store.directory.reconcile import Reconciler
from dynopypi.upstream.files import FileFetcher
from dynopypi.upstream.names import upstream_rule
from dynopypi.upstream.source import Upstream
from dynopypi.upstream.store import UpstreamStore, upstream_dir


def build_index(settings: Settings) -> tuple[Index, UpstreamStore | None]:
    """The index, with the upstream cache as its last source when there is an upstream."""
    if not settings.upstream:
        return Index(settings.roots, first_directory_wins), None
    store = UpstreamStore(upstream_dir(settings.cache_dir, settings.upstream))
    rule = upstream_rule(len(settings.roots), settings.private, settings.merge)
    return Index(settings.roots, rule, upstream_root=store.files), store


def build_upstream(
    settings: Settings, index: Index, store: UpstreamStore | None, reader: Reader
) -> UpstreamParts | None:
    """``reader`` reads the cached files: the package directories' own (which covers the
    cache directory as the index's last root), or a local one beside a bucket."""
    if store is None:
        return None
    source = Upstream(
        index, store, settings.upstream,
        ttl=settings.upstream_ttl, timeout=settings.upstream_timeout,
        private=settings.private, merge=settings.merge, private_check=settings.private_check,
        files_hosts=settings.upstream_files_host, slots=upstream_slots(settings.threads),
    )  # fmt: skip
    files = FileFetcher(
        store, source.urls.get, source.stored, source.reach, slots=source.slots,
        timeout=settings.upstream_timeout, cache_max=settings.upstream_cache_max,
        hash_algo=settings.hash_algo,
    )  # fmt: skip
    return UpstreamParts(source, files, reader)


def upstream_slots(threads: int) -> int:
    """How many workers may wait on upstream at once: all but two, which stay free for
    local pages, downloads and /health whatever upstream does (one with few threads)."""
    return max(1, threads - 2)


def cooldown(settings: Settings) -> Cooldown:
    exempt = tuple(Exempt.parse(spec) for spec in settings.min_age_exempt)
    return Cooldown(settings.min_age, exempt, settings.min_age_unknown)


def build_catalog(
    settings: Settings, reconciler: Reconciler, reader: Reader, store: UpstreamStore | None
) -> Catalog:
    local = reader if reader.local else FileReader(reconciler.index, reconciler.cache)
    upstream = build_upstream(settings, reconciler.index, store, local)
    return Catalog(reconciler, reader, upstream, cooldown(settings))
