"""Memory that the server must not hold: bounds measured with tracemalloc on small real
directories, scaled so that each test fails with the shape that cost RSS at 60,000 files
(bench/run.py: "dynopypi RSS after load < 150 MB")."""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from dynopypi.core.describe import Describer
from dynopypi.core.index import Index
from dynopypi.dists.facts import CacheEntry
from dynopypi.dists.names import DistFile
from dynopypi.store.directory.digest_cache import DigestCache
from dynopypi.store.directory.reconcile import Reconciler
from dynopypi.store.directory.scan import walk

FILES = 3000


def _flat_dir(root: Path, count: int = FILES) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        (root / f"proj{i:05d}-1.0-py3-none-any.whl").write_bytes(b"")
    return root


@dataclass
class Traced:
    peak: int = 0  # the highest traced memory above the start, in bytes
    kept: int = 0  # what was still traced at the end, above the start
    base: int = 0  # traced at the start


@contextmanager
def _traced() -> Iterator[Traced]:
    out = Traced()
    tracemalloc.start()
    try:
        out.base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        yield out
        current, peak = tracemalloc.get_traced_memory()
        out.peak, out.kept = peak - out.base, current - out.base
    finally:
        tracemalloc.stop()


def test_a_walk_holds_one_directory_entry_at_a_time(tmp_path: Path) -> None:
    """Listing a directory first kept every entry and its stat alive: ~900 bytes per file,
    a ~45 MB spike at each 60 s re-check of 60,000 files."""
    root = _flat_dir(tmp_path / "packages")
    with _traced() as traced:
        count = sum(1 for _ in walk(root, root, str(root), lambda what, why: None))
    assert count == FILES
    assert traced.peak < 100 * FILES, f"{traced.peak / FILES:.0f} bytes per file"


def _cached_dir(root: Path, cache: DigestCache, count: int = FILES) -> None:
    """Files and their cache rows, as a restart finds them (rows made up: no hashing)."""
    _flat_dir(root, count)
    rows: list[tuple[str, CacheEntry, bytes | None]] = []
    for i in range(count):
        relpath = f"proj{i:05d}-1.0-py3-none-any.whl"
        st = (root / relpath).stat()
        entry = CacheEntry(
            st.st_size, st.st_mtime_ns, bytes(80), None, ">=3.8", bytes(32), f"Proj{i:05d}",
            f"proj{i:05d}", "1.0", "bdist_wheel", "py3",
        )  # fmt: skip
        rows.append((relpath, entry, b"Metadata-Version: 2.1\n"))
    cache.put_many(str(root), rows)
    cache.set_complete(True)  # the last check had read every file


def test_cache_entries_come_in_batches_in_path_order(tmp_path: Path) -> None:
    cache = DigestCache(tmp_path / "cache.sqlite3")
    _cached_dir(tmp_path / "a", cache, 7)
    _cached_dir(tmp_path / "b", cache, 3)
    got = [relpath for relpath, _entry in cache.entries(str(tmp_path / "a"), batch=2)]
    assert got == [f"proj{i:05d}-1.0-py3-none-any.whl" for i in range(7)]
    assert len(list(cache.entries(str(tmp_path / "b"), batch=3))) == 3  # a full last batch
    assert list(cache.entries(str(tmp_path / "c"))) == []


def test_a_warm_start_never_holds_every_cache_row_at_once(tmp_path: Path) -> None:
    """Reading every row first (and a dict of entries) peaked at ~400 bytes per file above the
    DistFiles it keeps, and left ~24 MB of RSS behind at 60,000 files (103 -> 79 MB)."""
    root = tmp_path / "packages"
    cache = DigestCache(tmp_path / "cache.sqlite3")
    _cached_dir(root, cache)
    reconciler = Reconciler(Index((root,)), cache, Describer("sha256"))
    handed: list[int] = []

    def change(added: list[DistFile]) -> None:  # what is kept, measured before the merge
        handed.extend((len(added), tracemalloc.get_traced_memory()[0]))

    reconciler.index.change = change  # type: ignore[assignment,method-assign]
    with _traced() as traced:
        reconciler.load_cached()
    count, at_change = handed
    assert count == FILES
    transient = traced.base + traced.peak - at_change
    assert transient < 150 * FILES, f"{transient / FILES:.0f} bytes per file"
