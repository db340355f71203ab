"""A bucket as the server's store: the same face as the package directories'
(``store.directory.store.DirectoryStore``), so the server and the routes treat both alike.

Its parts: the S3 storage, the bucket as the index's source (loaded from the manifest and
journal, then following it), the reader of served files, and the bucket's halves of the
publishing contracts (``writer``: the shelf and the releases).
"""

from __future__ import annotations

from dynopypi.core.index import ProjectLookup
from dynopypi.store.bucket.reader import BucketReader
from dynopypi.store.bucket.s3 import S3Storage
from dynopypi.store.bucket.source import BucketSource
from dynopypi.store.bucket.writer import BucketReleases, BucketShelf


class BucketStore:
    def __init__(
        self, storage: S3Storage, source: BucketSource, reader: BucketReader, lookup: ProjectLookup
    ) -> None:
        self.storage = storage  # hands out pre-signed URLs (--s3-presigned-downloads)
        self.source = source
        self.reader = reader
        self.shelf = BucketShelf(source, lookup)  # ``lookup``: the files as the index serves them
        self.releases = BucketReleases(source, lookup)

    def load(self) -> None:
        """Uploads a crash left half-done are aborted; the index loaded from the manifest
        and journal; then the journal followed."""
        self.storage.abort_multipart()
        self.source.load()
        self.source.start()

    def settle(self) -> None:
        self.source.index.verified.wait()  # the bucket's first listing

    def reload(self) -> None:
        """SIGHUP: nothing to re-read (yank state travels in the journal)."""

    def problem(self) -> str | None:
        return self.source.problem  # why the store is not answering, if it is not

    def stop(self) -> None:
        self.source.stop()
