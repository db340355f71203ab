"""Memory that the server must not hold: bounds measured with tracemalloc on small real
directories, scaled so that each test fails with the shape that cost RSS at 60,000 files
(bench/run.py: "dynopypi RSS after load < 150 MB")."""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dynopypi.scan import walk

FILES = 3000


def _flat_dir(root: Path, count: int = FILES) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        (root / f"proj{i:05d}-1.0-py3-none-any.whl").write_bytes(b"")
    return root


@contextmanager
def _peak() -> Iterator[list[int]]:
    """The peak of traced memory above what was live at the start, in bytes."""
    out: list[int] = []
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        yield out
        out.append(tracemalloc.get_traced_memory()[1] - base)
    finally:
        tracemalloc.stop()


def test_a_walk_holds_one_directory_entry_at_a_time(tmp_path: Path) -> None:
    """Listing a directory first kept every entry and its stat alive: ~900 bytes per file,
    a 55 MB spike at each 60 s re-check of 60,000 files."""
    root = _flat_dir(tmp_path / "packages")
    with _peak() as peak:
        count = sum(1 for _ in walk(root, root, str(root), lambda what, why: None))
    assert count == FILES
    assert peak[0] < 100 * FILES, f"{peak[0] / FILES:.0f} bytes per file"
