"""Notice when an operator's file (htpasswd, rights) was replaced or edited.

Accounts are changed by editing files while the server runs, so every request asks
whether a file changed; a stat per request would be wasted work, so the answer is
cached for a second. Tools like ``dynopypi passwd`` replace the file atomically, which
changes the inode even when mtime and size look the same, hence the inode in the stamp.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

Stamp = tuple[int, int, int]
MISSING: Stamp = (0, 0, 0)


def stamp_of(path: Path) -> Stamp:
    """(mtime_ns, size, inode) of ``path``; a missing or unreadable file is one state."""
    try:
        st = os.stat(path)
    except OSError:
        return MISSING
    return (st.st_mtime_ns, st.st_size, st.st_ino)


class ReloadingFile:
    """A file's stamp, compared at most once per ``interval`` seconds.

    Not thread-safe on its own: the owner calls ``changed`` under its reload lock, so two
    requests never both load the same change.
    """

    def __init__(
        self,
        path: Path,
        *,
        interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = path
        self._interval = interval
        self._clock = clock
        self._stamp: Stamp | None = None
        self._checked = 0.0

    def changed(self) -> bool:
        """True the first time, then whenever the stamp differs from the last one seen."""
        now = self._clock()
        if self._stamp is not None and now - self._checked < self._interval:
            return False
        self._checked = now
        stamp = stamp_of(self.path)
        if stamp == self._stamp:
            return False
        self._stamp = stamp
        return True

    def force(self) -> None:
        """Make the next ``changed`` re-read the file whatever its stamp (SIGHUP)."""
        self._checked = 0.0
        self._stamp = None
