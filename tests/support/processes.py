"""Starting and stopping the processes the tests run: no process (or child of one) outlives
a test, and none starts at all in a unit run (``make unit``)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from pathlib import Path

GRACE = 10.0  # seconds a process gets to exit after the polite signal, then after SIGKILL
UNIT_RUN = "DYNOPYPI_TESTS_UNIT"  # set by ``make unit``: pure and in-process tests only


class ProcessInUnitRun(RuntimeError):
    """A helper was asked to start a process while ``make unit`` runs."""


def unit_run() -> bool:
    """Whether this is a unit run (``DYNOPYPI_TESTS_UNIT`` set to anything but 0)."""
    return os.environ.get(UNIT_RUN, "") not in ("", "0")


def forbidden_in_unit_run(what: str) -> None:
    """Raise at once in a unit run: every helper that starts a process (a dynopypi server,
    nginx, SeaweedFS, a real client, openssl, podman) calls this first. The markers
    (``process``, ``s3``, ``nginx``, ``podman``; tests/conftest.py) keep such tests out of a
    unit run; a test that gets here is missing one, or belongs in tests/e2e."""
    if unit_run():
        raise ProcessInUnitRun(
            f"{what} would start a process, and a unit run ({UNIT_RUN}=1, `make unit`) "
            "starts none: give the test a fixture that marks it (tests/conftest.py, "
            "PROCESS_FIXTURES) or move it to tests/e2e"
        )


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
