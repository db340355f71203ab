"""Writing files in a package directory so that a crash leaves the old file or the new one,
never half of one: a temp file beside the target, fsynced, renamed over it, and the
directory fsynced (``write_atomically``, ``fsync_dir``).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def write_atomically(path: Path, data: bytes, *, prefix: str) -> None:
    """Replace ``path`` with ``data`` whole or not at all (a temp file beside it, synced,
    renamed over it): a crash never leaves a half-written state file."""
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=prefix, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(temp, 0o644)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def fsync_dir(directory: Path) -> None:
    """Make a new or renamed entry in ``directory`` durable (best effort)."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
