"""The ends of ``dynopypi storage copy`` (``Side``: where packages are read from and put),
what they share, and the package directory end (the bucket end is ``bucket``).

The rules are the server's, so a copy lands exactly as an upload would: in a directory the
file is linked into place from a locked temp file in the directory's top (never a partial
file under the final name; a killed copy leaves a ``.upload-*.part`` that the next copy or
server start sweeps), with the mode uploads get and the source's upload time as its mtime
(where a directory keeps upload times); yanks merge into ``yanked.json``.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import hmac
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, BinaryIO, Protocol

from dynopypi.dists.facts import Facts, facts_of
from dynopypi.dists.metadata import read_metadata
from dynopypi.dists.names import ParsedName, parse_filename
from dynopypi.errors import ConfigError, InvalidFilename, MetadataError
from dynopypi.publish.staging import open_temp, remove_stale_parts
from dynopypi.store.base import KeyExists, Storage, StoreUnavailable, is_key
from dynopypi.store.copy.directory import DirectoryStorage
from dynopypi.store.directory.scan import walk
from dynopypi.store.directory.yanks import read_yanks, write_yanks

CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Item:
    """One package at the source."""

    key: str
    size: int
    mtime_ns: int  # its upload time: the file's mtime, the bucket record's, an index page's
    # (an index may tell it only with the download: ``Side.upload_time`` has the last word)
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

    def check(self, role: str) -> None:
        if not self.root.is_dir():
            raise ConfigError(f"{role}: {self.root} is not a directory (create it first)")

    def prepare(self, role: str) -> None:
        self.check(role)
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

    def upload_time(self, item: Item) -> int:
        return item.mtime_ns

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
        try:
            out, path, lock = open_temp(self.root)
        except OSError as exc:  # every other file would fail the same way: stop
            raise StoreUnavailable(f"cannot write in {self.root}: {exc.strerror}") from exc
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
        os.utime(staged, ns=(item.mtime_ns, item.mtime_ns))  # the upload time it had
        self._no_links_on_the_way(item.key)
        try:
            self.storage.put_if_absent(item.key, staged, sha256=sha256)
        except KeyExists:
            found = self.existing(item.key)
            if found is None or not same(found.sha256, sha256):
                raise Conflict(found.sha256 if found else "(not a file)") from None
            raise Placed from None

    def _no_links_on_the_way(self, key: str) -> None:
        """A directory of the key that is a symbolic link could lead out of the package
        directory (and the server does not follow directory links): refuse."""
        path = self.root
        for part in key.split("/")[:-1]:
            path = path / part
            if path.is_symlink():
                raise OSError(errno.ELOOP, f"{part}/ is a symbolic link; not followed")

    def where(self) -> str:
        return os.path.realpath(self.root) + "/"

    def finish(self) -> None:
        """Nothing waits: every file is in place when ``place`` returns."""

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


class Side(Protocol):
    """What ``copier`` needs of either end."""

    @property
    def storage(self) -> Storage | None:
        """Its objects, for the state records carried after the packages (None: an end
        that has no such records, a remote index)."""
        ...

    def describe(self) -> str: ...
    def where(self) -> str:
        """Where its objects are, such that one place inside another starts with it."""
        ...

    def prepare(self, role: str) -> None: ...
    def items(self) -> tuple[list[Item], list[str]]: ...
    def open(self, item: Item) -> BinaryIO: ...
    def sha256(self, item: Item) -> str: ...
    def upload_time(self, item: Item) -> int:
        """The time ``item`` was uploaded (ns), known once it was read."""
        ...

    def yanks(self, items: list[Item]) -> dict[str, str]: ...
    def existing(self, key: str) -> Existing | None: ...
    def stage(self, item: Item) -> contextlib.AbstractContextManager[tuple[IO[bytes], Path]]: ...
    def place(self, item: Item, staged: Path, facts: Facts) -> None: ...
    def finish(self) -> None: ...
    def add_yanks(self, yanks: dict[str, str]) -> int: ...
