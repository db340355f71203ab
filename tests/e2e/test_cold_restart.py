"""A cold start killed while it reads, then started again: every page served is complete,
and once the reading is done its helper processes are gone.

The digest cache is left as such a kill leaves it (part of the rows, the reading not
marked done). The restart must not serve from that part of a cache alone: every project
on disk is listed at once and each page, asked for right away, has every file of its
project; the rest is read behind in worker processes, which are gone when it is done.
"""

from __future__ import annotations

import signal
import sqlite3
import time
from pathlib import Path

import pytest
import requests
from support.fakedist import make_wheel
from support.helpers import poll_until
from support.server import DynoServer, ServerFactory

PROJECTS, VERSIONS = 600, 5  # 3,000 files: read behind in worker processes (>= 500)
JSON_V1 = "application/vnd.pypi.simple.v1+json"


def cached_rows(server: DynoServer) -> int:
    total = 0
    for path in (server.work_dir / "cache").glob("index-*.sqlite3"):
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as db:
            total += db.execute("SELECT count(*) FROM files").fetchone()[0]
    return total


def children(pid: int) -> list[str]:
    """The command lines of the processes whose parent is ``pid``."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                found.append((stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode())
        except (OSError, IndexError, ValueError):
            continue
    return found


@pytest.fixture
def packages(tmp_path: Path) -> Path:
    root = tmp_path / "packages"
    root.mkdir()
    for i in range(PROJECTS):
        for v in range(VERSIONS):
            make_wheel(root, f"proj{i:03d}", f"1.{v}", payload=b"x" * 2_000)
    return root


def interrupt(server: DynoServer) -> int:
    """Leave the cache as a kill during a cold read does: a third of the rows missing
    (some of nearly every project's files) and the reading not marked done. Deterministic,
    unlike a kill timed against a read that takes a second. Returns the rows left."""
    for path in (server.work_dir / "cache").glob("index-*.sqlite3"):
        with sqlite3.connect(path, timeout=5) as db:
            db.execute("DELETE FROM files WHERE rowid % 3 = 0")
            db.execute("UPDATE state SET value = '0' WHERE key = 'complete'")
    return cached_rows(server)


def test_restart_during_a_cold_read_serves_only_whole_projects(
    server_factory: ServerFactory, packages: Path
) -> None:
    server = server_factory(packages)
    total = PROJECTS * VERSIONS
    poll_until(lambda: "indexed " in server.stderr_path.read_text(), timeout=60)
    server.stop(signal.SIGKILL)
    assert 0 < interrupt(server) < total
    offset = len(server.stderr_path.read_text())

    server.start()
    listing = requests.get(server.url("/simple/"), headers={"Accept": JSON_V1}, timeout=30)
    names = [p["name"] for p in listing.json()["projects"]]
    assert len(names) == PROJECTS, server.logs()
    with requests.Session() as session:
        for name in names:
            page = session.get(server.url(f"/simple/{name}/"), headers={"Accept": JSON_V1})
            assert page.status_code == 200, (name, server.logs())
            assert len(page.json()["files"]) == VERSIONS, (name, page.json())

    poll_until(lambda: "indexed " in server.stderr_path.read_text()[offset:], timeout=60)
    assert "reading" in server.stderr_path.read_text()[offset:]  # behind, in workers
    assert server.proc is not None
    pid = server.proc.pid
    poll_until(lambda: not children(pid), timeout=10, message=lambda: str(children(pid)))
    time.sleep(0.5)
    assert cached_rows(server) == total
