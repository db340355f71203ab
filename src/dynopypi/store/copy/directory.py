"""The storage contract over a package directory: a copy's end (``dynopypi storage copy``)
and the contract tests' reference store.

The server does not read its directories through this: it serves them from the index,
kept current by the watcher (``store.directory``). Put-if-absent is a hard link of the
staged file (it fails if anything appeared meanwhile); conditional writes of small state
objects hold an advisory lock on ``.dynopypi/.lock`` while they compare versions, so a CLI
and a server sharing the directory cannot lose each other's change. Links are never
followed out of the directory.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from dynopypi.store.base import (
    STATE_PREFIX,
    FileRange,
    KeyExists,
    Missing,
    Stat,
    StoreUnavailable,
    VersionChanged,
    check_key,
    is_key,
)
from dynopypi.store.directory.durable import fsync_dir, write_atomically

_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


_LOCK_KEY = STATE_PREFIX + ".lock"  # the writers' lock file: not an object, never listed


def _version(st: os.stat_result) -> str:
    return f"{st.st_ino:x}-{st.st_size:x}-{st.st_mtime_ns:x}"


class DirectoryStorage:
    def __init__(self, root: Path) -> None:
        self.root = Path(os.path.abspath(root))

    def describe(self) -> str:
        return str(self.root)

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def _stat(self, key: str, st: os.stat_result) -> Stat:
        return Stat(key, st.st_size, _version(st), st.st_mtime_ns)

    def check(self) -> None:
        if not os.access(self.root, os.R_OK | os.X_OK):
            raise StoreUnavailable(f"the package directory {self.root} cannot be read")

    def list(self, prefix: str = "") -> Iterator[Stat]:
        base = len(str(self.root)) + 1
        stack = [str(self.root)]
        while stack:
            top = stack.pop()
            try:
                entries = list(os.scandir(top))
            except OSError:
                continue
            for entry in sorted(entries, key=lambda e: e.name):
                key = entry.path[base:].replace(os.sep, "/")
                try:
                    if entry.is_dir(follow_symlinks=False):
                        if (key + "/").startswith(prefix) or prefix.startswith(key + "/"):
                            stack.append(entry.path)
                    elif (
                        entry.is_file(follow_symlinks=False)
                        and key.startswith(prefix)
                        and key != _LOCK_KEY
                        and is_key(key)
                    ):
                        yield self._stat(key, entry.stat(follow_symlinks=False))
                except OSError:
                    continue

    def stat(self, key: str) -> Stat | None:
        try:
            st = os.stat(self._path(key), follow_symlinks=False)
        except OSError:
            return None
        return self._stat(key, st) if stat.S_ISREG(st.st_mode) else None

    def open(self, key: str, start: int = 0, length: int | None = None) -> BinaryIO:
        try:
            fd = os.open(self._path(key), os.O_RDONLY | os.O_NOFOLLOW | _CLOEXEC)
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.ELOOP, errno.ENOTDIR, errno.EISDIR):
                raise Missing(key) from None
            raise StoreUnavailable(f"cannot read {key}: {exc.strerror}") from exc
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # a directory opens read-only too
            os.close(fd)
            raise Missing(key)
        stream = os.fdopen(fd, "rb")
        if start == 0 and length is None:
            return stream
        size = os.fstat(fd).st_size
        end = size if length is None else min(size, start + length)
        return FileRange(stream, start, max(0, end - start))  # type: ignore[return-value]

    def read(self, key: str, limit: int) -> tuple[bytes, Stat] | None:
        try:
            with self.open(key) as stream:
                st = os.fstat(stream.fileno())
                data = stream.read(limit + 1)
        except Missing:
            return None
        if len(data) > limit:
            raise StoreUnavailable(f"{key} is larger than {limit} bytes")
        return data, self._stat(key, st)

    def put_if_absent(self, key: str, staged: Path, *, sha256: str) -> Stat:
        target = self._path(key)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            os.link(staged, target)
        except FileExistsError:
            raise KeyExists(key, self.stat(key)) from None
        except OSError as exc:
            raise StoreUnavailable(f"cannot store {key}: {exc.strerror}") from exc
        fsync_dir(target.parent)
        found = self.stat(key)
        assert found is not None
        return found

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        lock = self.root / _LOCK_KEY
        lock.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | _CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def write(self, key: str, data: bytes, *, expect: str | None) -> Stat:
        target = self._path(key)
        try:
            with self._locked():
                current = self.stat(key)
                if expect is None and current is not None:
                    raise KeyExists(key, current)
                if expect is not None and (current is None or current.version != expect):
                    raise VersionChanged(key)
                target.parent.mkdir(parents=True, exist_ok=True)
                write_atomically(target, data, prefix=".write-")
                fsync_dir(target.parent)
        except OSError as exc:
            raise StoreUnavailable(f"cannot write {key}: {exc.strerror}") from exc
        found = self.stat(key)
        assert found is not None
        return found

    def delete(self, key: str) -> None:
        try:
            self._path(key).unlink(missing_ok=True)
        except OSError as exc:
            raise StoreUnavailable(f"cannot remove {key}: {exc.strerror}") from exc

    def local_path(self, key: str) -> Path | None:
        return self._path(key)

    def presigned_url(self, key: str, *, expires: int) -> str | None:
        check_key(key)
        return None
