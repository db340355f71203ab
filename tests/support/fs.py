"""Snapshots of package directories, to prove that a request left the disk as it was."""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple


class Entry(NamedTuple):
    """What a snapshot keeps of one path: a replaced file has a new inode, a rewritten one
    a new mtime, a grown or truncated one a new size."""

    size: int
    inode: int
    mtime_ns: int


def tree(root: Path) -> dict[str, Entry]:
    """Everything below ``root`` (dotfiles too, links not followed): relpath -> Entry."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames]:
            path = Path(dirpath, name)
            st = path.lstat()
            found[path.relative_to(root).as_posix()] = Entry(st.st_size, st.st_ino, st.st_mtime_ns)
    return found


def leftovers(root: Path) -> list[str]:
    """Temporary upload files left below ``root`` (``.upload-*``, ``*.part``, ``*.tmp``)."""
    return [
        p
        for p in tree(root)
        if p.rsplit("/", 1)[-1].startswith(".upload-") or p.endswith((".part", ".tmp"))
    ]
