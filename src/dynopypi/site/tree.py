"""The published tree on disk: pages and links nginx serves, each replaced atomically.

``<pages_dir>/open/`` is what anyone may have (nginx sends it to any client),
``<pages_dir>/closed/`` what needs an account (nginx sends it once the app's cached check
said yes). Entries are written under ``<pages_dir>/.tmp/`` and renamed into place, so
nginx sees the old entry or the new one, never a part, and never a temp file. A package
file is published as a hard link: the inode the index describes, so a file swapped for a
link afterwards is not followed, and one removed from the package directory is gone from
the tree when the index drops it (its link is unlinked then). Nothing in the trees is ever
a symbolic link (a link is checked in the private temp directory before it is placed), so
nginx needs no ``disable_symlinks`` there, which halved its download rate.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import shutil
import stat
import threading
import time
from pathlib import Path

log = logging.getLogger(__name__)

OPEN, CLOSED = "open", "closed"  # for anyone; for accounts (see the shipped nginx site)
TREES = (OPEN, CLOSED)


def tree_for(needs_account: bool) -> str:
    """The tree of what an action publishes: for anyone, or for accounts only."""
    return CLOSED if needs_account else OPEN


TEMP = ".tmp"


class SiteTree:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.temp = root / TEMP
        self._count = 0
        self._lock = threading.Lock()
        self._refused_links = 0

    def reset(self) -> None:
        """Start from an empty tree: what a previous run published may be stale (a file
        removed while the server was down). The old tree leaves nginx's root at once (one
        rename each) and is deleted behind."""
        self.root.mkdir(parents=True, exist_ok=True, mode=0o755)
        for tree in TREES:
            if (self.root / tree).exists():
                old = self.root / f".old-{tree}-{os.getpid()}-{time.monotonic_ns()}"
                os.replace(self.root / tree, old)
        for stale in self.root.glob(".old-*"):
            threading.Thread(target=shutil.rmtree, args=(stale, True), daemon=True).start()
        shutil.rmtree(self.temp, ignore_errors=True)
        self.temp.mkdir(mode=0o700)
        for tree in TREES:
            (self.root / tree).mkdir(mode=0o755)

    def _target(self, relpath: str) -> Path:
        parts = relpath.split("/")
        if parts[0] not in TREES or any(p in ("", ".", "..") for p in parts):
            raise ValueError(f"not a path inside the published trees: {relpath!r}")
        return self.root.joinpath(*parts)

    def _temp_name(self) -> Path:
        with self._lock:
            self._count += 1
            return self.temp / f"{self._count}"

    def _place(self, temp: Path, relpath: str) -> None:
        target = self._target(relpath)
        try:
            os.replace(temp, target)
        except FileNotFoundError:
            target.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
            os.replace(temp, target)

    def write(self, relpath: str, data: bytes) -> None:
        temp = self._temp_name()
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        self._place(temp, relpath)

    def link(self, relpath: str, source: Path) -> bool:
        """Publish ``source`` (a regular file, links already resolved) at ``relpath``;
        False when it cannot be hard-linked (another filesystem, someone else's file
        under protected_hardlinks): then the app keeps serving it."""
        temp = self._temp_name()
        try:
            os.link(source, temp, follow_symlinks=False)
            if not stat.S_ISREG(os.lstat(temp).st_mode):  # swapped for a link meanwhile
                os.unlink(temp)
                self.remove(relpath)
                return False
        except OSError as exc:
            self.remove(relpath)
            if self._refused_links < 3:
                self._refused_links += 1
                hint = " (another filesystem)" if exc.errno == errno.EXDEV else ""
                log.warning("pages: cannot link %s%s: %s; the app sends it", source, hint, exc)
            return False
        self._place(temp, relpath)
        return True

    def remove(self, relpath: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._target(relpath))

    def prune(self, relpath: str) -> None:
        """Remove the directory at ``relpath`` if it is empty, and its empty parents."""
        path = self._target(relpath)
        while path.parent != self.root:
            try:
                path.rmdir()
            except OSError:
                return
            path = path.parent
