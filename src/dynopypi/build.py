"""Building the bucket parts from Settings (for the composition root, ``server``).

With ``--storage s3://...`` the bucket replaces the package directories: the index's one
directory is a private staging directory under the cache directory (uploads are received
there before they are stored), and the bucket source, reader, shelf and releases take the
place of the directory's.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from pathlib import Path

from dynopypi.core.describe import Describer
from dynopypi.core.index import Index
from dynopypi.errors import ConfigError
from dynopypi.settings.config import Settings
from dynopypi.settings.storage import parse_s3_url
from dynopypi.store.bucket.cache import BlobCache
from dynopypi.store.bucket.reader import BucketReader
from dynopypi.store.bucket.s3 import S3Storage
from dynopypi.store.bucket.source import BucketSource
from dynopypi.store.bucket.writer import BucketReleases, BucketShelf
from dynopypi.store.directory.digest_cache import DigestCache
from dynopypi.store.directory.reconcile import Reconciler


@dataclass(frozen=True)
class BucketParts:
    store: S3Storage
    source: BucketSource
    reader: BucketReader
    shelf: BucketShelf
    releases: BucketReleases


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


def build_bucket(
    settings: Settings, index: Index, describer: Describer, reconciler: Reconciler
) -> BucketParts:
    store = open_store(settings)
    source = BucketSource(
        store,
        index,
        describer,
        audit_interval=settings.s3_list_interval,
        journal_keep=settings.s3_journal_keep,
    )
    return BucketParts(
        store,
        source,
        BucketReader(store, BlobCache(staging_dir(settings, "blobs"), settings.s3_cache_max)),
        BucketShelf(source, reconciler),
        BucketReleases(source, reconciler),
    )
