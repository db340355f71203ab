"""Upload temp files: made locked, and swept at start when the process that made them died.

An upload streams into ``.upload-XXXXXXXX.part`` beside its target (so it can be linked into
place without a copy). A SIGKILL during the checks, or a power loss, leaves that file
behind; nothing else ever removes it. Each live upload holds an ``flock`` on its file, so
the sweep can tell the files of dead uploads (which it can lock) from live ones (in this
process or another one), and never touches a file it did not name.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import tempfile
from pathlib import Path
from typing import IO

TEMP_PREFIX = ".upload-"
TEMP_SUFFIX = ".part"
log = logging.getLogger(__name__)


def open_temp(target_dir: Path) -> tuple[IO[bytes], Path, int]:
    """A new temp file, locked (``flock``) for as long as the upload lives, so that the
    start-up sweep can tell a file of a live upload from one a killed process left.

    (The file, its path, and a second descriptor that keeps the lock once the file is
    closed; close it after the file is linked into place or removed.)
    """
    target_dir.mkdir(parents=True, exist_ok=True)
    while True:
        fd, name = tempfile.mkstemp(dir=target_dir, prefix=TEMP_PREFIX, suffix=TEMP_SUFFIX)
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:  # a sweep may have taken it between mkstemp and flock: then make another
            same = os.stat(name).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return os.fdopen(fd, "wb"), Path(name), os.dup(fd)
        os.close(fd)


_OURS = re.compile(re.escape(TEMP_PREFIX) + r"[A-Za-z0-9_]{8}" + re.escape(TEMP_SUFFIX))


def remove_stale_parts(directory: Path) -> list[str]:
    """Delete the temp files of uploads that died (SIGKILL, power loss) in ``directory``.

    Only ours: regular files named as ``mkstemp`` names them here. Only stale: a live
    upload holds an ``flock`` on its file (in this process or another one), so a file we
    can lock is nobody's. Returns the names removed.
    """
    removed: list[str] = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed
    for entry in entries:
        try:
            if not _OURS.fullmatch(entry.name) or not entry.is_file(follow_symlinks=False):
                continue
            fd = os.open(entry.path, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.unlink(entry.path)
            removed.append(entry.name)
        except OSError:
            continue  # locked: a live upload
        finally:
            os.close(fd)
    if removed:
        log.info("removed %d temp files of interrupted uploads in %s", len(removed), directory)
    return removed
