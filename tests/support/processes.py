"""Stopping the servers the tests start, so that no process (or child of one) outlives a test."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from pathlib import Path

GRACE = 10.0  # seconds a process gets to exit after the polite signal, then after SIGKILL


def stop_process(
    proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM, *, whole_group: bool = True
) -> None:
    """Send ``sig`` (to the process group, or to the leader only), SIGKILL the group if it
    is still there after ``GRACE``, and make sure no member of the group survives.

    The processes are started with ``start_new_session=True``: their pid is their group.
    """
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            if whole_group:
                os.killpg(proc.pid, sig)
            else:
                os.kill(proc.pid, sig)
        try:
            proc.wait(timeout=GRACE)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=GRACE)
    # the leader is gone; no child of its group may survive it
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def port_was_taken(log: Path, offset: int) -> bool:
    """Whether the log says, after ``offset``, that the listen address was in use: a lost
    race for a free port (worth another try), not a real start-up failure."""
    try:
        with log.open("rb") as fh:
            fh.seek(offset)
            text = fh.read().decode(errors="replace").lower()
    except FileNotFoundError:
        return False
    return "address already in use" in text or "errno 98" in text
