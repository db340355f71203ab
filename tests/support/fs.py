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


AUDIT = (".dynopypi", ".dynopypi/.lock", ".dynopypi/audit")  # the trail: see ``tree``


def tree(root: Path, *, audit: bool = False) -> dict[str, Entry]:
    """Everything below ``root`` (dotfiles too, links not followed): relpath -> Entry.
    The audit trail records refused writes too, so it is left out unless ``audit``."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames]:
            path = Path(dirpath, name)
            key = path.relative_to(root).as_posix()
            if not audit and (key in AUDIT or key.startswith(".dynopypi/audit/")):
                continue
            st = path.lstat()
            found[key] = Entry(st.st_size, st.st_ino, st.st_mtime_ns)
    return found


def leftovers(root: Path) -> list[str]:
    """Temporary upload files left below ``root`` (``.upload-*``, ``*.part``, ``*.tmp``)."""
    return [
        p
        for p in tree(root)
        if p.rsplit("/", 1)[-1].startswith(".upload-") or p.endswith((".part", ".tmp"))
    ]
