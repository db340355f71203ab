"""What a start says it did (issue 20 #12): a warm start loads its files from the cache
and only checks the disk, and its log line says so instead of "indexed 33440 files in
0.00s"."""

from __future__ import annotations

from pathlib import Path

from support.fakedist import make_wheel
from support.inproc import AppServer


def started(pkg: Path, work: Path) -> str:
    server = AppServer(pkg, work)
    server.start()
    try:
        server.server.store.settle()  # the check a real start runs after binding
        return server.logs()
    finally:
        server.stop()


def test_a_warm_start_says_its_files_came_from_the_cache(tmp_path: Path) -> None:
    pkg, work = tmp_path / "packages", tmp_path / "work"
    pkg.mkdir()
    work.mkdir()
    for version in ("1.0", "1.1", "2.0"):
        make_wheel(pkg, "warm", version)
    cold = started(pkg, work)
    assert "indexed 3 files of 1 projects" in cold and "loaded from the cache" not in cold, cold
    warm = started(pkg, work)
    assert "indexed 3 files of 1 projects: loaded from the cache, none changed on disk" in warm
    make_wheel(pkg, "warm", "3.0")
    changed = started(pkg, work)
    assert "4 files of 1 projects: loaded from the cache, 1 new, changed or removed" in changed
