"""The two ends of ``dynopypi storage copy``: a package directory or a bucket, each as the
place packages are read from and as the place they are put.

The rules are the server's, so a copy lands exactly as an upload would: a directory gets
the file linked into place from a locked temp file beside it (never a partial file under
the final name; a killed copy leaves a ``.upload-*.part`` that the next start sweeps), with
the mode uploads get; a bucket gets a put-if-absent carrying the sha256, then the facts
record and core metadata, then a journal entry, so replicas following the bucket see the
file within a second and a copy killed between the steps is completed by the next run.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, BinaryIO

from .bucket_facts import store_facts
from .bucket_journal import Journal
from .bucket_records import (
    RECORD_LIMIT,
    Added,
    BadRecord,
    Record,
    Yanked,
    facts_key,
    is_package_key,
    record_from_json,
)
from .describe import Describer
from .dists import DIST_SUFFIXES, ParsedName, parse_filename
from .errors import ConfigError, InvalidFilename, MetadataError
from .metadata import read_metadata
from .scan import Facts, facts_of, is_ignored_name, walk
from .staging import open_temp, remove_stale_parts
from .storage import KeyExists, Storage, StoreUnavailable, is_key
from .storage_dir import DirectoryStorage
from .yank import read_yanks, write_yanks

CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Item:
    """One package at the source."""

    key: str
    size: int
    mtime_ns: int  # its upload time: the file's mtime, or the bucket record's
    sha256: str | None  # what the source's own records say its bytes hash to (None: none)
    parsed: ParsedName

    @property
    def filename(self) -> str:
        return self.key.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class Existing:
    """What is already at the destination under a key."""

    sha256: str
    complete: bool  # False: a bucket object a killed copy left without its journal entry


class Placed(Exception):
    """Not an error: ``place`` found the same bytes already there (complete)."""


class Conflict(Exception):
    """Other bytes are at the destination under this key; they are kept."""

    def __init__(self, sha256: str) -> None:
        super().__init__(sha256)
        self.sha256 = sha256


def sha256_of(stream: IO[bytes]) -> str:
    digest = hashlib.sha256()
    while chunk := stream.read(CHUNK):
        digest.update(chunk)
    return digest.hexdigest()


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a, b)


def item_of(key: str, size: int, mtime_ns: int, sha256: str | None) -> Item | str:
    """The item, or why it is not a package the index would serve (a string)."""
    if not is_key(key):
        return "its name cannot be a storage key"
    try:
        parsed = parse_filename(key.rsplit("/", 1)[-1])
    except InvalidFilename as exc:
        return str(exc)
    return Item(key, size, mtime_ns, sha256, parsed)


def staged_facts(digests: dict[str, str], path: Path, item: Item) -> Facts:
    """Digests and core metadata of a staged copy (named by the item: the temp file's own
    name does not say whether an sdist is a zip or a tarball)."""
    kind = item.parsed.packagetype
    metadata = None
    if kind in ("bdist_wheel", "sdist"):
        try:
            metadata = read_metadata(path, kind, item.filename)
        except MetadataError as exc:
            return Facts(digests, None, None, None, str(exc))
    return facts_of(digests, str(path), kind, metadata)


@dataclass(frozen=True)
class _Stat:
    st_size: int
    st_mtime_ns: int


def _read_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()  # read at import, while single-threaded


class DirSide:
    """A package directory (what ``dynopypi run DIR`` serves)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(os.path.abspath(root))
        self.storage = DirectoryStorage(self.root)

    def describe(self) -> str:
        return str(self.root)

    def prepare(self, role: str) -> None:
        if not self.root.is_dir():
            raise ConfigError(f"{role}: {self.root} is not a directory (create it first)")
        if role == "DST":
            remove_stale_parts(self.root)  # temp files of a copy or upload that was killed

    # ---- as the source
    def items(self) -> tuple[list[Item], list[str]]:
        found: list[Item] = []
        ignored: list[str] = []
        real = os.path.realpath(self.root)

        def warn(path: str, why: str) -> None:
            ignored.append(f"{path}: {why}")

        for relpath, st in walk(self.root, self.root, real, warn):
            item = item_of(relpath.replace(os.sep, "/"), st.st_size, st.st_mtime_ns, None)
            if isinstance(item, Item):
                found.append(item)
            else:
                ignored.append(f"{relpath}: {item}")
        return found, ignored

    def open(self, item: Item) -> BinaryIO:
        return open(self.root / item.key, "rb")  # walk refused links leaving the directory

    def sha256(self, item: Item) -> str:
        with self.open(item) as stream:
            return sha256_of(stream)

    def yanks(self, items: list[Item]) -> dict[str, str]:
        """The directory's yanks (by file name) as the keys they apply to."""
        by_name = read_yanks(self.root)
        return {i.key: by_name[i.filename] for i in items if i.filename in by_name}

    # ---- as the destination
    def existing(self, key: str) -> Existing | None:
        if self.storage.stat(key) is None:
            return None
        with self.storage.open(key) as stream:
            return Existing(sha256_of(stream), complete=True)

    @contextlib.contextmanager
    def stage(self, item: Item) -> Iterator[tuple[IO[bytes], Path]]:
        """A locked temp file in the directory's top (where start-up sweeps leftovers)."""
        out, path, lock = open_temp(self.root)
        try:
            yield out, path
        finally:
            out.close()
            path.unlink(missing_ok=True)
            os.close(lock)

    def place(self, item: Item, staged: Path, facts: Facts) -> None:
        assert facts.digests is not None
        sha256 = facts.digests["sha256"]
        os.chmod(staged, 0o644 & ~_UMASK)  # what an upload gets
        try:
            self.storage.put_if_absent(item.key, staged, sha256=sha256)
        except KeyExists:
            found = self.existing(item.key)
            if found is None or not same(found.sha256, sha256):
                raise Conflict(found.sha256 if found else "(not a file)") from None
            raise Placed from None

    def add_yanks(self, yanks: dict[str, str]) -> int:
        """Merge into ``.dynopypi/yanked.json`` (by file name); how many changed."""
        state = read_yanks(self.root)
        changed = 0
        for key, reason in sorted(yanks.items()):
            name = key.rsplit("/", 1)[-1]
            if state.get(name) != reason:
                state[name] = reason
                changed += 1
        if changed:
            write_yanks(self.root, state)
        return changed


class BucketSide:
    """A bucket below a prefix (what ``dynopypi run --storage s3://...`` serves)."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self.journal = Journal(storage, lambda changes: None)
        self.describer = Describer(None)
        self._temp: str | None = None

    def describe(self) -> str:
        return self.storage.describe()

    def prepare(self, role: str) -> None:
        self.storage.check()
        self.journal.load()

    def close(self) -> None:
        if self._temp is not None:
            shutil.rmtree(self._temp, ignore_errors=True)

    def _record(self, key: str) -> Record | None:
        """The journal's record of ``key``, else its facts record, if any decodes."""
        record = self.journal.state.records.get(key)
        if record is not None:
            return record
        found = self.storage.read(facts_key(key), RECORD_LIMIT)
        if found is None:
            return None
        try:
            record = record_from_json(json.loads(found[0]))
        except (ValueError, BadRecord):
            return None
        return record if record.key == key else None

    # ---- as the source
    def items(self) -> tuple[list[Item], list[str]]:
        found: list[Item] = []
        ignored: list[str] = []
        for st in self.storage.list():
            key = st.key
            if not is_package_key(key) or any(is_ignored_name(p) for p in key.split("/")):
                continue
            if not key.lower().endswith(DIST_SUFFIXES):
                continue
            record = self._record(key)
            sha = record.entry.hashes[:32].hex() if record is not None else None
            if sha is None:  # no record: what the put said, if it said anything
                head = self.storage.stat(key)
                sha = head.sha256 if head is not None else None
            mtime = record.entry.mtime_ns if record is not None else st.modified_ns
            item = item_of(key, st.size, mtime, sha)
            if isinstance(item, Item):
                found.append(item)
            else:
                ignored.append(f"{key}: {item}")
        return found, ignored

    def open(self, item: Item) -> BinaryIO:
        return self.storage.open(item.key)

    def sha256(self, item: Item) -> str:
        if item.sha256 is not None:
            return item.sha256
        with self.open(item) as stream:
            return sha256_of(stream)

    def yanks(self, items: list[Item]) -> dict[str, str]:
        keys = {i.key for i in items}
        return {k: r for k, r in self.journal.state.yanked.items() if k in keys}

    # ---- as the destination
    def existing(self, key: str) -> Existing | None:
        st = self.storage.stat(key)
        if st is None:
            return None
        sha = st.sha256
        record = self._record(key)
        if sha is None and record is not None and record.version == st.version:
            sha = record.entry.hashes[:32].hex()
        if sha is None:  # put there another way, never described: read it
            with self.storage.open(key) as stream:
                sha = sha256_of(stream)
        return Existing(sha, complete=key in self.journal.state.records)

    @contextlib.contextmanager
    def stage(self, item: Item) -> Iterator[tuple[IO[bytes], Path]]:
        if self._temp is None:
            self._temp = tempfile.mkdtemp(prefix="dynopypi-copy-")
        fd, name = tempfile.mkstemp(dir=self._temp, suffix=".part")
        out = os.fdopen(fd, "wb")
        try:
            yield out, Path(name)
        finally:
            out.close()
            Path(name).unlink(missing_ok=True)

    def place(self, item: Item, staged: Path, facts: Facts) -> None:
        assert facts.digests is not None
        sha256 = facts.digests["sha256"]
        try:
            st = self.storage.put_if_absent(item.key, staged, sha256=sha256)
        except KeyExists:
            found = self.existing(item.key)
            if found is None:
                raise StoreUnavailable(f"{item.key} exists and vanished at once") from None
            if not same(found.sha256, sha256):
                raise Conflict(found.sha256) from None
            if found.complete:
                raise Placed from None
            current = self.storage.stat(item.key)  # completing a killed copy's object
            if current is None:
                raise StoreUnavailable(f"{item.key} vanished while being recorded") from None
            st = current
        size = os.stat(staged).st_size
        entry = self.describer.entry(_Stat(size, item.mtime_ns), facts, item.parsed)  # type: ignore[arg-type]
        record = Record(item.key, entry, st.version)
        store_facts(self.storage, record, facts.metadata)
        self.journal.append(Added(record))

    def add_yanks(self, yanks: dict[str, str]) -> int:
        """A journal entry per yank the bucket lacks; how many."""
        state = self.journal.state
        changed = 0
        for key, reason in sorted(yanks.items()):
            if key in state.records and state.yanked.get(key) != reason:
                self.journal.append(Yanked(key, reason))
                changed += 1
        return changed


Side = DirSide | BucketSide
