"""Every part of the service built from Settings, in one place (for ``server``, the CLI's
one-off commands and in-process tests).

The package directories give the index, its digest cache, the reconciler and the
directory's shelf and releases. ``--storage s3://...`` replaces them with a bucket's: the
index's one directory is then a private staging directory under the cache directory
(uploads are received there before they are stored). ``--upstream`` adds the upstream
cache as the index's last source and the fetchers behind the catalog; without it none of
that exists and the ``first_directory_wins`` rule merges the directories, exactly as before.
Nothing here starts a thread: ``server`` does.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from dynopypi.audit.hooks import record_mint, record_reload
from dynopypi.audit.trail import AuditTrail
from dynopypi.auth.policy import Gate, build_gate
from dynopypi.catalog import Catalog, UpstreamParts
from dynopypi.core.describe import Describer
from dynopypi.core.index import Index, ProjectLookup
from dynopypi.core.snapshot import first_directory_wins
from dynopypi.core.usage import UsageMemo
from dynopypi.core.visibility import Cooldown, Exempt
from dynopypi.errors import ConfigError
from dynopypi.metering import meter, meter_pages
from dynopypi.publish.releases import ReleaseChanges
from dynopypi.render.renderer import Renderer
from dynopypi.services import Services
from dynopypi.settings.config import Settings
from dynopypi.settings.ldap import directory_config
from dynopypi.settings.storage import parse_s3_url
from dynopypi.site.publisher import Publisher, publisher_for
from dynopypi.store.base import Reader, Storage
from dynopypi.store.bucket.cache import BlobCache
from dynopypi.store.bucket.reader import BucketReader
from dynopypi.store.bucket.s3 import S3Storage
from dynopypi.store.bucket.source import BucketSource
from dynopypi.store.bucket.store import BucketStore
from dynopypi.store.bucket.writer import BucketReleases
from dynopypi.store.copy.directory import DirectoryStorage
from dynopypi.store.directory.digest_cache import DigestCache
from dynopypi.store.directory.reader import FileReader
from dynopypi.store.directory.reconcile import Reconciler
from dynopypi.store.directory.releases import Releases
from dynopypi.store.directory.store import DirectoryStore
from dynopypi.store.directory.updates import PathUpdates
from dynopypi.store.directory.yanks import YankStore
from dynopypi.trust.mint import Minter, Trust
from dynopypi.trust.oidc_keys import IssuerKeys
from dynopypi.trust.publishers import PublisherStore
from dynopypi.trust.replay import Replays
from dynopypi.trust.tokens import TokenStore
from dynopypi.upstream.files import FileFetcher
from dynopypi.upstream.names import upstream_rule
from dynopypi.upstream.source import Upstream
from dynopypi.upstream.store import UpstreamStore, upstream_dir

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Parts:
    """What ``server.Server`` runs: built once from Settings (those of a bucket: its staging
    directory as the only root)."""

    settings: Settings
    cache: DigestCache
    index: Index
    store: DirectoryStore | BucketStore
    renderer: Renderer
    gate: Gate
    catalog: Catalog
    services: Services
    publisher: Publisher | None = None  # --pages-dir: what nginx serves on its own


def build_parts(settings: Settings) -> Parts:
    if settings.storage is not None:
        settings = bucket_settings(settings)  # the bucket replaces the directories
    for root in settings.roots:  # config refuses missing ones but the default
        if not root.is_dir():
            root.mkdir(parents=True, exist_ok=True)
            log.warning("created the package directory %s (the default)", root)
    cache = DigestCache(cache_path(settings))
    yanks = YankStore(settings.roots)
    index, upstream_store = build_index(settings)
    describer = Describer(settings.hash_algo, yanks.lookup)
    reconciler = Reconciler(index, cache, describer)
    renderer = Renderer(settings.hash_algo)
    s3 = open_store(settings) if settings.storage is not None else None
    state = s3 or state_storage(settings)
    trust = build_trust(settings, state)
    gate = build_gate(
        settings.passwords, settings.authenticate, settings.rights, tokens=trust.tokens,
        directory=directory_config(settings), shadow_local=settings.ldap_shadow_local,
    )  # fmt: skip
    store: DirectoryStore | BucketStore
    if s3 is not None:
        store = build_bucket(settings, s3, index, describer, reconciler)
    else:
        store = DirectoryStore(reconciler, yanks, rescan=settings.rescan_interval)
    catalog = build_catalog(settings, reconciler, store.reader, upstream_store)
    audit = AuditTrail(store.storage or DirectoryStorage(settings.primary_root))
    gate.on_change = partial(record_reload, audit, settings.passwords, settings.rights)
    trust.minter.on_mint = partial(record_mint, audit)
    usage = UsageMemo(len(settings.roots))
    metrics = meter(index, usage, store, catalog, settings) if settings.metrics else None
    services = Services(
        settings, index, renderer, gate, catalog, store, trust, audit, metrics, usage
    )
    still = not catalog.cooldown.active  # what nginx may send: see site.publisher
    publisher = None if settings.pages_dir is None else publisher_for(
        settings.pages_dir, index, renderer, catalog.reader, gate.needs_account,
        pages=still and not settings.upstream, files=still and not settings.storage,
    )  # fmt: skip
    if metrics is not None and publisher is not None:
        meter_pages(metrics, publisher)
    return Parts(settings, cache, index, store, renderer, gate, catalog, services, publisher)


def cache_path(settings: Settings) -> Path:
    """One cache file per set of package directories, so two servers never share rows."""
    key = "\0".join(str(r.resolve()) for r in settings.roots)
    return settings.cache_dir / f"index-{hashlib.sha256(key.encode()).hexdigest()[:16]}.sqlite3"


# ---- API tokens and trusted publishing -------------------------------------------------
def state_storage(settings: Settings) -> Storage:
    """Where tokens and publishers are kept: in the bucket, or in the first package
    directory (``.dynopypi/``), so a backup of the packages keeps them and every replica
    of a bucket shares them. ``settings`` as given on the command line (not a bucket's
    staging settings)."""
    if settings.storage is not None:
        return open_store(settings)
    return DirectoryStorage(settings.primary_root)


def build_trust(settings: Settings, storage: Storage) -> Trust:
    tokens = TokenStore(storage)
    publishers = PublisherStore(storage)
    return Trust(tokens, publishers, Minter(
        publishers, tokens, IssuerKeys(), Replays(storage),
        audience=settings.oidc_audience, ttl=settings.oidc_token_ttl,
    ))  # fmt: skip


# ---- the upstream parts (``--upstream``) ----------------------------------------------
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
        index,
        store,
        settings.upstream,
        ttl=settings.upstream_ttl,
        timeout=settings.upstream_timeout,
        private=settings.private,
        merge=settings.merge,
        private_check=settings.private_check,
        files_hosts=settings.upstream_files_host,
        slots=upstream_slots(settings.threads),
    )
    files = FileFetcher(
        store,
        source.held.urls.get,
        source.held.stored,
        source.reach,
        slots=source.slots,
        timeout=settings.upstream_timeout,
        cache_max=settings.upstream_cache_max,
        hash_algo=settings.hash_algo,
    )
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


# ---- the bucket parts (``--storage s3://...``) ------------------------------------------
def staging_dir(settings: Settings, kind: str = "staging") -> Path:
    """This bucket's own directory of ``kind`` under the cache directory."""
    assert settings.storage is not None
    key = f"{settings.storage}\0{settings.s3_endpoint}"
    return settings.cache_dir / f"{kind}-{hashlib.sha256(key.encode()).hexdigest()[:16]}"


def bucket_settings(settings: Settings) -> Settings:
    """The settings the rest is built from: the staging directory as the only root."""
    staging = staging_dir(settings)
    staging.mkdir(parents=True, exist_ok=True, mode=0o700)
    return dataclasses.replace(settings, roots=(staging,))


def open_store(settings: Settings) -> S3Storage:
    assert settings.storage is not None
    bucket, prefix = parse_s3_url(settings.storage)
    try:
        import boto3  # noqa: F401
    except ImportError:
        raise ConfigError(
            "storage: s3:// needs boto3, which is not installed; install dynopypi with its "
            "s3 extra (pip install 'dynopypi[s3]')"
        ) from None
    return S3Storage(bucket, prefix, endpoint_url=settings.s3_endpoint)


def open_releases(settings: Settings) -> BucketReleases:
    """The bucket's releases as a replica finds them at start (manifest, then journal), for
    a change made from the command line (``dynopypi yank``): nothing served, no thread
    started, nothing written under the cache directory. ``StoreUnavailable`` when the store
    does not answer or the bucket is missing."""
    store = open_store(settings)
    store.check()  # a missing bucket is an error, not an empty index
    index = Index((staging_dir(settings),))  # a name only: source 0 is the bucket
    describer = Describer(settings.hash_algo)
    source = BucketSource(store, index, describer)
    source.load()
    return BucketReleases(source, Reconciler(index, DigestCache(None), describer))


def open_audit(settings: Settings) -> AuditTrail:
    """The audit trail of these settings' store, for the command line (``dynopypi audit``,
    ``dynopypi yank``): the bucket's, or the first package directory's."""
    if settings.storage is not None:
        return AuditTrail(open_store(settings))
    return AuditTrail(DirectoryStorage(settings.primary_root))


def open_for_changes(settings: Settings) -> tuple[Index, ReleaseChanges]:
    """The store's index as a starting server finds it, and its releases, for a change
    made from the command line (``dynopypi retention apply``): the same removal path as
    the web's ``remove_pkg``, seen by a running server (every replica) within a second.
    Nothing is served and no thread is started."""
    if settings.storage is not None:
        releases = open_releases(settings)
        return releases.source.index, releases
    yanks = YankStore(settings.roots)
    index = Index(settings.roots)
    describer = Describer(settings.hash_algo, yanks.lookup)
    reconciler = Reconciler(index, DigestCache(cache_path(settings)), describer)
    reconciler.sync()
    return index, Releases(PathUpdates(reconciler), yanks)


def build_bucket(
    settings: Settings,
    storage: S3Storage,
    index: Index,
    describer: Describer,
    lookup: ProjectLookup,
) -> BucketStore:
    source = BucketSource(
        storage,
        index,
        describer,
        audit_interval=settings.s3_list_interval,
        journal_keep=settings.s3_journal_keep,
    )
    blobs = BlobCache(staging_dir(settings, "blobs"), settings.s3_cache_max)
    return BucketStore(storage, source, BucketReader(storage, blobs), lookup)
