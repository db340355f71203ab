"""Changing a bucket: uploads, removals and yanks, each stored, then journaled.

The order makes every crash safe: an upload's object is stored (put-if-absent: exactly one
of two racing uploads, on any replicas, wins), then its facts, then the journal entry that
tells every replica; a replica that dies before the entry leaves an object the listing
adopts later. A removal deletes first and journals after. Yanks are journal entries only,
so two replicas yanking at once never lose each other's change.
"""

from __future__ import annotations

import hmac
import logging
import time

from dynopypi.core.index import ProjectLookup
from dynopypi.dists.facts import SizeAndTime
from dynopypi.dists.names import DistFile, ParsedName
from dynopypi.errors import NotFound
from dynopypi.publish.form import UploadForm
from dynopypi.publish.releases import release_files, yank_targets
from dynopypi.publish.shelf import Outcome, exists_error, same_file
from dynopypi.store.base import KeyExists, Stat
from dynopypi.store.bucket.facts import store_facts
from dynopypi.store.bucket.records import Added, Record, Removed, Yanked, facts_key, meta_key
from dynopypi.store.bucket.source import BucketSource

log = logging.getLogger(__name__)


class BucketShelf:
    def __init__(self, source: BucketSource, lookup: ProjectLookup) -> None:
        self.source = source
        self.storage = source.storage
        self.lookup = lookup

    def stored(self, filename: str, parsed: ParsedName) -> DistFile | None:
        return same_file(self.lookup.project(parsed.project), filename)

    def unchanged(self, dist: DistFile, sha256: str) -> bool:
        return hmac.compare_digest(dist.sha256, sha256)

    def place(
        self, form: UploadForm, parsed: ParsedName, metadata: bytes | None, *, overwrite: bool
    ) -> Outcome:
        assert form.filename is not None and form.temp_path is not None
        sha256 = form.digests["sha256"]
        existing = self.stored(form.filename, parsed)
        key = existing.relpath if existing is not None else form.filename
        created = True
        try:
            stat = self.storage.put_if_absent(key, form.temp_path, sha256=sha256)
        except KeyExists as exc:
            current = exc.current
            if current is not None and current.sha256 == sha256:
                if key in self.source.journal.state.records:
                    return Outcome(self._indexed(key), created=False)
                stat, created = current, False  # stored, never journaled: finish the job
            elif not overwrite:
                raise exists_error(form.filename, existing) from None
            else:
                stat = self._replace(key, form, existing)
        from dynopypi.dists.facts import facts_of

        facts = facts_of(form.digests, str(form.temp_path), parsed.packagetype, metadata)
        st = SizeAndTime(form.size, time.time_ns())
        entry = self.source.describer.entry(st, facts, parsed)
        record = Record(key, entry, stat.version)
        store_facts(self.storage, record, facts.metadata)
        self.source.journal.append(Added(record))
        log.info("stored %s (%d bytes) in %s", key, form.size, self.storage.describe())
        return Outcome(self._indexed(key), created=created)

    def _replace(self, key: str, form: UploadForm, existing: DistFile | None) -> Stat:
        """--overwrite: the old object goes, the new one is put if nobody was faster."""
        assert form.temp_path is not None and form.filename is not None
        self.storage.delete(key)
        try:
            return self.storage.put_if_absent(key, form.temp_path, sha256=form.digests["sha256"])
        except KeyExists:
            raise exists_error(form.filename, existing) from None

    def _indexed(self, key: str) -> DistFile | None:
        record = self.source.journal.state.records.get(key)
        return self.source.dist(record) if record is not None else None


class BucketReleases:
    """``Releases`` for a bucket: the same rules, journaled."""

    def __init__(self, source: BucketSource, lookup: ProjectLookup) -> None:
        self.source = source
        self.lookup = lookup

    def files_of(self, name: str, version: str) -> list[DistFile]:
        return release_files(self.lookup, name, version)

    def remove(self, name: str, version: str) -> list[DistFile]:
        files = self.files_of(name, version)
        if not files:
            raise NotFound(f"no release {version!r} of {name!r}")
        storage = self.source.storage
        for dist in files:
            storage.delete(dist.relpath)
            storage.delete(facts_key(dist.relpath))
            storage.delete(meta_key(dist.relpath))
            self.source.journal.append(Removed(dist.relpath))
            log.info("removed %s from %s", dist.relpath, storage.describe())
        return files

    def yank(
        self, name: str, version: str, filename: str | None, reason: str | None
    ) -> list[DistFile]:
        """One journal entry for every file changed, so each replica shows the whole
        release yanked (or not) at once; the web action and ``dynopypi yank`` both call
        this."""
        files = yank_targets(self.files_of(name, version), name, version, filename, reason)
        if files:
            self.source.journal.append_many([Yanked(dist.relpath, reason) for dist in files])
        return files
