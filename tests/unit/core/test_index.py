from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.fakedist import make_sdist, make_wheel

from dynopypi.core.describe import Describer
from dynopypi.core.index import Index
from dynopypi.core.model import Project
from dynopypi.dists.facts import Facts, read_facts
from dynopypi.dists.names import DistFile, NormalizedName, normalize
from dynopypi.render.renderer import Renderer
from dynopypi.store.directory import scan
from dynopypi.store.directory.digest_cache import DigestCache
from dynopypi.store.directory.reader import FileReader
from dynopypi.store.directory.reconcile import Reconciler
from dynopypi.store.directory.updates import PathUpdates


class Disk:
    """The index over real directories with the parts that keep and read it."""

    def __init__(self, roots: tuple[Path, ...], cache_file: Path | None) -> None:
        self.cache = DigestCache(cache_file)
        self.index = Index(roots)
        self.reconciler = Reconciler(self.index, self.cache, Describer("sha256"))
        self.paths = PathUpdates(self.reconciler)
        self.reader = FileReader(self.index, self.cache)

    def project(self, name: NormalizedName) -> Project | None:
        return self.index.snapshot.project(name)

    def file_at(self, relpath: str) -> DistFile | None:
        return self.index.snapshot.file_at(relpath)

    @property
    def file_count(self) -> int:
        return self.index.snapshot.file_count


def _index(root: Path, cache_file: Path | None = None, *more: Path) -> Disk:
    disk = Disk((root, *more), cache_file)
    disk.reconciler.sync()
    return disk


def test_sync_finds_files_at_any_depth(tmp_path: Path) -> None:
    root = tmp_path / "pkgs"
    (root / "a" / "b").mkdir(parents=True)
    wheel = make_wheel(root / "a" / "b", "Foo.Bar", "1.0", requires_python=">=3.8")
    make_sdist(root, "foo-bar", "0.9")
    (root / "README.txt").write_text("not a package")
    (root / "foo.whl").write_bytes(b"junk")
    index = _index(root)
    project = index.project(normalize("foo.bar"))
    assert project is not None
    assert [f.relpath for f in project.files] == [
        "foo_bar-0.9.tar.gz",
        "a/b/foo_bar-1.0-py3-none-any.whl",
    ]
    assert project.versions == ["0.9", "1.0"]
    whl = project.files[1]
    assert whl.digests["sha256"] == hashlib.sha256(wheel.read_bytes()).hexdigest()
    assert whl.requires_python == ">=3.8"
    assert whl.metadata_sha256 is not None
    metadata = index.reader.metadata(whl)
    assert metadata is not None
    assert hashlib.sha256(metadata).hexdigest() == whl.metadata_sha256
    assert project.files[0].metadata_sha256 is None  # sdists: no PEP 658 file
    assert index.file_count == 2


def test_cache_avoids_rehashing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "pkgs"
    root.mkdir()
    make_wheel(root, "foo", "1.0")
    cache_file = tmp_path / "cache.sqlite3"
    first = _index(root, cache_file)
    digest = first.project(normalize("foo")).files[0].digests  # type: ignore[union-attr]
    first.cache.close()

    def no_reading(*args: object) -> None:
        raise AssertionError("a warm start must not hash files again")

    monkeypatch.setattr("dynopypi.dists.facts.file_digests", no_reading)
    monkeypatch.setattr("dynopypi.dists.facts.read_metadata", no_reading)
    second = _index(root, cache_file)
    files = second.project(normalize("foo")).files  # type: ignore[union-attr]
    assert files[0].digests == digest
    # a changed file is hashed again
    os.utime(root / "foo-1.0-py3-none-any.whl", ns=(1, 1))
    with pytest.raises(AssertionError, match="must not hash"):
        _index(root, cache_file)


def test_upsert_and_discard(tmp_path: Path) -> None:
    root = tmp_path / "pkgs"
    root.mkdir()
    index = _index(root)
    assert index.project(normalize("foo")) is None
    path = make_wheel(root, "foo", "1.0")
    index.paths.refresh(0, path)
    assert index.project(normalize("foo")) is not None
    assert index.file_at("foo-1.0-py3-none-any.whl") is not None
    path.unlink()
    index.paths.refresh(0, path)
    assert index.project(normalize("foo")) is None
    assert index.file_at("foo-1.0-py3-none-any.whl") is None


def test_directory_removal_discards_tree(tmp_path: Path) -> None:
    root = tmp_path / "pkgs"
    sub = root / "sub"
    sub.mkdir(parents=True)
    make_wheel(sub, "foo", "1.0")
    index = _index(root)
    assert index.file_count == 1
    (sub / "foo-1.0-py3-none-any.whl").unlink()
    sub.rmdir()
    index.paths.refresh(0, sub)
    assert index.file_count == 0


def test_symlink_out_of_root_ignored(tmp_path: Path) -> None:
    root = tmp_path / "pkgs"
    outside = tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    target = make_wheel(outside, "secret", "1.0")
    (root / target.name).symlink_to(target)
    inner = make_wheel(root, "inner", "1.0")
    (root / "alias-1.0-py3-none-any.whl").symlink_to(inner)
    index = _index(root)
    assert index.project(normalize("secret")) is None
    assert index.project(normalize("alias")) is not None  # a link inside the root is fine
    index.paths.refresh(0, root / target.name)
    assert index.project(normalize("secret")) is None


def test_dotfiles_and_partial_uploads_ignored(tmp_path: Path) -> None:
    root = tmp_path / "pkgs"
    (root / ".hidden").mkdir(parents=True)
    make_wheel(root / ".hidden", "foo", "1.0")
    make_wheel(root, "bar", "1.0").rename(root / ".upload-bar-1.0-py3-none-any.whl")
    index = _index(root)
    assert index.file_count == 0


def test_index_page_rendered_again_only_when_the_project_set_changes(tmp_path: Path) -> None:
    root = tmp_path / "pkgs"
    root.mkdir()
    make_wheel(root, "foo", "1.0")
    index = _index(root)
    renderer = Renderer("sha256")
    first = renderer.index_page(index.index.snapshot, "text/html")
    assert renderer.index_page(index.index.snapshot, "text/html") is first
    listing = renderer.listing_page(index.index.snapshot)
    # a new file of the same project: the index page is unchanged
    index.paths.refresh(0, make_wheel(root, "foo", "2.0"))
    assert renderer.index_page(index.index.snapshot, "text/html") is first
    assert renderer.listing_page(index.index.snapshot) is not listing  # lists every file
    index.paths.refresh(0, make_wheel(root, "bar", "1.0"))
    second = renderer.index_page(index.index.snapshot, "text/html")
    assert second is not first
    assert b"bar" in second.body and b"bar" not in first.body


def test_first_root_wins_for_same_path(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    make_wheel(a, "foo", "1.0", payload=b"from a")
    make_wheel(b, "foo", "1.0", payload=b"from b")
    make_wheel(b, "bar", "1.0")
    index = _index(a, None, b)
    dist = index.file_at("foo-1.0-py3-none-any.whl")
    assert dist is not None and dist.root == 0
    assert index.project(normalize("bar")) is not None
    (a / "foo-1.0-py3-none-any.whl").unlink()
    index.paths.refresh(0, a / "foo-1.0-py3-none-any.whl")
    dist = index.file_at("foo-1.0-py3-none-any.whl")
    assert dist is not None and dist.root == 1


def test_cold_start_reads_in_worker_processes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "pkgs"
    root.mkdir()
    wheels = [make_wheel(root, f"p{i}", "1.0", requires_python=">=3.9") for i in range(6)]
    sdist = make_sdist(root, "p0", "0.9")
    monkeypatch.setattr("dynopypi.store.directory.scan.PARALLEL_THRESHOLD", 2)
    index = _index(root)
    for path in [*wheels, sdist]:
        dist = index.file_at(path.name)
        assert dist is not None
        assert dist.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    wheel = index.file_at(wheels[3].name)
    assert wheel is not None and wheel.requires_python == ">=3.9"
    assert wheel.metadata_sha256 is not None
    assert hashlib.sha256(index.reader.metadata(wheel) or b"").hexdigest() == wheel.metadata_sha256


def test_a_file_added_during_a_rescan_is_not_dropped(tmp_path: Path) -> None:
    """The re-check's directory listing can be older than an upload indexed meanwhile."""
    root = tmp_path / "pkgs"
    root.mkdir()
    make_wheel(root, "old", "1.0")
    index = _index(root)
    stale = list(index.reconciler._walk(0, root))  # the listing, taken before the upload
    index.paths.upsert(0, make_wheel(root, "new", "1.0").name)
    index.reconciler._walk = lambda root, top: iter(stale)  # type: ignore[method-assign]
    index.reconciler.sync()
    assert index.file_at("new-1.0-py3-none-any.whl") is not None
    (root / "new-1.0-py3-none-any.whl").unlink()
    index.reconciler.sync()  # really gone now
    assert index.file_at("new-1.0-py3-none-any.whl") is None


def test_snapshot_never_lists_files_removed_or_rewritten_while_down(tmp_path: Path) -> None:
    root = tmp_path / "pkgs"
    root.mkdir()
    kept = make_wheel(root, "kept", "1.0")
    gone = make_wheel(root, "gone", "1.0")
    rewritten = make_wheel(root, "rewritten", "1.0")
    cache_file = tmp_path / "cache.sqlite3"
    _index(root, cache_file).cache.close()
    gone.unlink()
    make_wheel(root, "rewritten", "1.0", payload=b"new bytes")
    make_wheel(root, "added", "1.0")
    index = Disk((root,), cache_file)
    assert index.reconciler.load_cached() == 1
    assert [f.filename for p in index.index.snapshot.projects.values() for f in p.files] == [
        kept.name
    ]
    index.reconciler.sync()  # the background check then brings the rest
    dist = index.file_at(rewritten.name)
    assert dist is not None
    assert dist.sha256 == hashlib.sha256(rewritten.read_bytes()).hexdigest()
    assert index.file_at("added-1.0-py3-none-any.whl") is not None
    assert index.file_at(gone.name) is None


def test_cold_start_lists_every_project_and_completes_one_on_demand(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing half-read is ever served: a pending project is listed, then read whole by
    the request that asks for it, while the background pass (held here) reads the rest."""
    root = tmp_path / "pkgs"
    root.mkdir()
    wheels = {
        "a": [make_wheel(root, "a", "1.0"), make_wheel(root, "a", "2.0")],
        "b": [make_wheel(root, "b", "1.0")],
        "c": [make_sdist(root, "c", "1.0")],
    }
    monkeypatch.setattr("dynopypi.store.directory.reconcile.PARALLEL_THRESHOLD", 1)
    release = threading.Event()
    real_read_many = scan.read_many

    def held_read_many(*args: Any) -> Iterator[Facts]:
        assert release.wait(30)
        yield from real_read_many(*args)

    monkeypatch.setattr("dynopypi.store.directory.cold_start.read_many", held_read_many)
    disk = Disk((root,), None)
    assert disk.reconciler.start_cold()
    snapshot = disk.index.snapshot
    assert set(snapshot.pending) == {"a", "b", "c"} and not snapshot.projects
    assert [p.name for p in snapshot.listed()] == ["a", "b", "c"]
    assert disk.index.loaded and not disk.index.verified.is_set()

    project = disk.reconciler.project(normalize("a"))  # read now, in this thread
    assert project is not None
    assert {f.sha256 for f in project.files} == {
        hashlib.sha256(p.read_bytes()).hexdigest() for p in wheels["a"]
    }
    assert set(disk.index.snapshot.pending) == {"b", "c"}  # the others still wait
    assert disk.file_at(wheels["b"][0].name) is None

    release.set()
    assert disk.reconciler.completer.done.wait(30)
    assert disk.index.verified.wait(30)  # set by the pass just after ``done``: wait, not peek
    assert not disk.index.snapshot.pending
    for paths in wheels.values():
        for path in paths:
            dist = disk.file_at(path.name)
            assert dist is not None
            assert dist.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def _held_cold_start(root: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Disk, threading.Event]:
    """A cold start whose background pass waits for the returned event."""
    monkeypatch.setattr("dynopypi.store.directory.reconcile.PARALLEL_THRESHOLD", 1)
    release = threading.Event()

    def held(*args: Any) -> Iterator[Facts]:
        assert release.wait(30)
        return iter(())

    monkeypatch.setattr("dynopypi.store.directory.cold_start.read_many", held)
    disk = Disk((root,), None)
    assert disk.reconciler.start_cold()
    return disk, release


def test_a_pending_file_is_found_by_its_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "pkgs"
    root.mkdir()
    wheel = make_wheel(root, "solo", "1.0")
    make_wheel(root, "other", "1.0")
    disk, release = _held_cold_start(root, monkeypatch)
    dist = disk.reconciler.file_at(wheel.name)  # a download link from before the restart
    assert dist is not None and dist.sha256 == hashlib.sha256(wheel.read_bytes()).hexdigest()
    release.set()
    assert disk.reconciler.completer.done.wait(30)  # what the pool did not deliver is read
    assert disk.project(normalize("other")) is not None


def test_concurrent_requests_for_a_pending_project_all_find_it_complete(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "pkgs"
    root.mkdir()
    wheels = [make_wheel(root, "a", f"{v}.0") for v in range(1, 4)]
    make_wheel(root, "b", "1.0")
    disk, release = _held_cold_start(root, monkeypatch)
    real_read_facts = read_facts

    def slow_read_facts(*args: Any) -> Facts:
        time.sleep(0.05)  # the first reader is still reading when the others ask
        return real_read_facts(*args)

    monkeypatch.setattr("dynopypi.store.directory.reconcile.read_facts", slow_read_facts)
    results: list[int | None] = []

    def ask() -> None:
        project = disk.reconciler.project(normalize("a"))
        results.append(None if project is None else len(project.files))

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert results == [len(wheels)] * 4
    release.set()
    assert disk.reconciler.completer.done.wait(30)


def test_a_pending_project_is_not_held_up_by_another_being_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each request completes its own project: one whose files are slow to read (or a
    background batch being published) never makes a request for another project wait."""
    root = tmp_path / "pkgs"
    root.mkdir()
    slow_wheel = make_wheel(root, "slow", "1.0")
    make_wheel(root, "quick", "1.0")
    disk, release = _held_cold_start(root, monkeypatch)
    reading, finish = threading.Event(), threading.Event()
    real_read_facts = read_facts

    def held_read_facts(path: str, *args: Any) -> Facts:
        if path.endswith(slow_wheel.name):
            reading.set()
            assert finish.wait(30)
        return real_read_facts(path, *args)

    monkeypatch.setattr("dynopypi.store.directory.reconcile.read_facts", held_read_facts)
    slow = threading.Thread(target=disk.reconciler.project, args=(normalize("slow"),))
    slow.start()
    try:
        assert reading.wait(30)
        quick = disk.reconciler.project(normalize("quick"))  # while "slow" is being read
        assert quick is not None and len(quick.files) == 1
        assert normalize("slow") in disk.index.snapshot.pending  # never served in part
    finally:
        finish.set()
        slow.join(30)
    assert disk.project(normalize("slow")) is not None
    release.set()
    assert disk.reconciler.completer.done.wait(30)


def test_a_strangers_url_during_a_cold_start_is_not_logged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    root = tmp_path / "pkgs"
    root.mkdir()
    make_wheel(root, "a", "1.0")
    disk, release = _held_cold_start(root, monkeypatch)
    with caplog.at_level(logging.DEBUG):
        for url in ("x\n2026-11-30 INFO forged.whl", "../../etc/passwd", "a-1.0.whl.metadata"):
            assert disk.reconciler.file_at(url) is None
    assert caplog.text == ""
    release.set()
    assert disk.reconciler.completer.done.wait(30)


def test_a_recheck_that_reads_nothing_never_marks_the_cache_partial(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stop during the periodic re-check (every minute) must not make the next start read
    everything again: the mark goes only while new files are being read."""
    root = tmp_path / "pkgs"
    root.mkdir()
    make_wheel(root, "kept", "1.0")
    disk = Disk((root,), tmp_path / "cache.sqlite")
    disk.reconciler.sync()
    assert disk.cache.complete()
    marks: list[bool] = []
    real_set = disk.cache.set_complete

    def recorded(complete: bool) -> None:
        marks.append(complete)
        real_set(complete)

    monkeypatch.setattr(disk.cache, "set_complete", recorded)
    disk.reconciler.sync()  # nothing changed on disk
    assert False not in marks and disk.cache.complete()
    make_wheel(root, "added", "1.0")
    disk.reconciler.sync()  # one new file to read: partial until it is
    assert marks[-2:] == [False, True] and disk.cache.complete()
