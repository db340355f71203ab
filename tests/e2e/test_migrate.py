"""``dynopypi storage copy INDEX_URL DEST``: moving in from a running index, checked with
``dynopypi compare`` against a dynopypi serving what was imported.

The sources are real and started here: another dynopypi (PEP 691 JSON with upload times
and yanks), pypiserver behind an htpasswd (PEP 503 HTML, no upload times: the files'
Last-Modified carries them), and a fake index for what honest ones never do.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.fakedist import make_sdist, make_wheel
from support.helpers import poll_until
from support.indexes import TIMES, YANKS, PypiServerFactory, S, dynopypi, fill, last_line
from support.server import DynoServer, ServerFactory
from support.upstream import FakeUpstream

from dynopypi.store.directory.yanks import read_yanks


@pytest.fixture(scope="module")
def source(
    module_server_factory: ServerFactory, tmp_path_factory: pytest.TempPathFactory
) -> DynoServer:
    """Another dynopypi, with upload times and yanks."""
    return module_server_factory(fill(tmp_path_factory.mktemp("source") / "pkgs"))


def files_in(root: Path) -> dict[str, bytes]:
    """The package files (not the temp files of a copy, not ``.dynopypi/``)."""
    return {p.name: p.read_bytes() for p in root.iterdir() if p.is_file() and p.name[0] != "."}


def test_another_dynopypi_imported_into_a_directory_answers_alike_and_a_rerun_copies_nothing(
    source: DynoServer, server_factory: ServerFactory, tmp_path: Path
) -> None:
    dest = tmp_path / "dest"
    dest.mkdir()
    done = dynopypi("storage", "copy", source.index_url, dest, "-j", "2")
    assert done.returncode == 0, done.stderr
    assert last_line(done).startswith("copied 4 (") and "yanks carried 2" in last_line(done)
    assert files_in(dest) == files_in(source.package_dir)
    for name, ns in TIMES.items():  # the page's upload-time, to the microsecond it gives
        assert abs((dest / name).stat().st_mtime_ns - ns) < 1000, name
    assert read_yanks(dest) == YANKS

    again = dynopypi("storage", "copy", source.index_url, dest)
    assert again.returncode == 0, again.stderr
    assert last_line(again).startswith("copied 0 (0 B), skipped 4 (already there)")

    imported = server_factory(dest)
    compared = dynopypi("compare", source.index_url, imported.index_url)
    assert compared.returncode == 0, compared.stdout + compared.stderr
    assert last_line(compared) == "compared 2 projects, 4 files: the two indexes answer alike"


def test_only_the_projects_and_the_files_asked_for(source: DynoServer, tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    dest.mkdir()
    since = "2023-11-14T22:13:20Z"  # alpha 2.0's upload time exactly: it is included
    done = dynopypi("storage", "copy", source.index_url, dest, "--project", "ALPHA*",
                    "--since", since)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert sorted(files_in(dest)) == ["alpha-2.0-py3-none-any.whl"]
    assert "2 files older than --since left out" in done.stderr


def test_pypiserver_behind_htpasswd_is_imported_with_netrc_and_lacks_only_what_it_never_says(
    source: DynoServer, server_factory: ServerFactory, tmp_path: Path
) -> None:
    passwords = tmp_path / "htpasswd"
    made = dynopypi("passwd", "--password-stdin", passwords, "alice", input_text="s3cret\n")
    assert made.returncode == 0, made.stderr
    factory = PypiServerFactory(tmp_path / "work")
    factory.passwords = passwords
    try:
        old = factory(fill(tmp_path / "old", yanks=False))
        dest = tmp_path / "dest"
        dest.mkdir()
        refused = dynopypi("storage", "copy", old.index_url, dest)
        assert refused.returncode == 1
        assert "401" in refused.stderr and ".netrc" in refused.stderr, refused.stderr

        home = tmp_path / "home"
        home.mkdir()
        (home / ".netrc").write_text("machine 127.0.0.1 login alice password s3cret\n")
        (home / ".netrc").chmod(0o600)
        done = dynopypi("storage", "copy", old.index_url, dest, env={"HOME": str(home)})
        assert done.returncode == 0, done.stderr
        assert last_line(done).startswith("copied 4 (")
        assert files_in(dest) == files_in(old.package_dir)
        for name, ns in TIMES.items():  # from Last-Modified: to the second
            assert (dest / name).stat().st_mtime_ns == ns // S * S, name

        in_url = old.index_url.replace("://", "://alice:s3cret@")
        warned = dynopypi("storage", "copy", in_url, dest)
        assert warned.returncode == 0, warned.stderr
        assert last_line(warned).startswith("copied 0 (0 B), skipped 4")
        assert "warning: SRC carries credentials on the command line" in warned.stderr
        assert "s3cret" not in warned.stdout + warned.stderr

        imported = server_factory(dest)
        compared = dynopypi("compare", old.index_url, imported.index_url, "--json",
                            env={"DYNOPYPI_SOURCE_USER": "alice",
                                 "DYNOPYPI_SOURCE_PASSWORD": "s3cret"})  # fmt: skip
        assert compared.returncode == 1, compared.stderr
        report = json.loads(compared.stdout)
        # pypiserver gives no upload times and no requires-python; everything else agrees
        assert report["counts"] == {"requires-python": 1, "upload-time": 4}, report
        assert all(d["old"] is None for d in report["differences"])
        assert report["problems"] == []
    finally:
        factory.close()


def _publish_tampered(fake: FakeUpstream, tmp_path: Path) -> list[Path]:
    built = tmp_path / "built"
    built.mkdir()
    files = [make_wheel(built, "gamma", "1.0"), make_sdist(built, "gamma", "1.0")]
    fake.publish("gamma", [(files[0], b"not what the page promised", None), (files[1], None, None)])
    fake.answers["/simple/"].body = b'<a href="gamma/">gamma</a>'
    return files


@pytest.fixture
def index(fake: FakeUpstream) -> Iterator[FakeUpstream]:
    from support.upstream import Answer

    fake.answers["/simple/"] = Answer(b"", "text/html")
    yield fake


def test_a_file_whose_bytes_differ_from_its_page_is_refused_and_reported(
    index: FakeUpstream, tmp_path: Path
) -> None:
    files = _publish_tampered(index, tmp_path)
    dest = tmp_path / "dest"
    dest.mkdir()
    done = dynopypi("storage", "copy", index.index_url, dest)
    assert done.returncode == 1
    assert "copied 1 (" in last_line(done) and "failed 1" in last_line(done)
    assert f"failed: {files[0].name}: its bytes" in done.stderr and "refused" in done.stderr
    assert sorted(files_in(dest)) == [files[1].name]
    assert not list(dest.glob(".upload-*"))
    # no upload-time on the page, no Last-Modified: the import says it did not know
    assert "1 files without an upload time" in done.stderr


def test_a_link_to_another_host_is_refused_unless_allowed(
    index: FakeUpstream, tmp_path: Path
) -> None:
    files_host = FakeUpstream().start()
    try:
        index.file_host = files_host
        built = tmp_path / "built"
        built.mkdir()
        wheel = make_wheel(built, "delta", "1.0")
        index.publish("delta", [(wheel, None, "2024-01-02T03:04:05Z")])
        index.answers["/simple/"].body = b'<a href="delta/">delta</a>'
        dest = tmp_path / "dest"
        dest.mkdir()
        done = dynopypi("storage", "copy", index.index_url, dest)
        assert done.returncode == 1
        assert f"--allow-host 127.0.0.1:{files_host.port}" in done.stderr, done.stderr
        assert files_in(dest) == {}
        allowed = dynopypi("storage", "copy", index.index_url, dest,
                           "--allow-host", f"127.0.0.1:{files_host.port}")  # fmt: skip
        assert allowed.returncode == 0, allowed.stderr
        assert files_in(dest) == {wheel.name: wheel.read_bytes()}
        assert (dest / wheel.name).stat().st_mtime_ns == 1_704_164_645 * S
    finally:
        files_host.stop()


def test_a_killed_import_is_finished_by_the_next_run(index: FakeUpstream, tmp_path: Path) -> None:
    built = tmp_path / "built"
    built.mkdir()
    wheels = [make_wheel(built, "slow", f"1.{n}", payload=bytes([n]) * 300_000) for n in range(6)]
    index.publish("slow", [(w, None, "2025-05-05T05:05:05Z") for w in wheels], trickle=0.15)
    index.answers["/simple/"].body = b'<a href="slow/">slow</a>'
    dest = tmp_path / "dest"
    dest.mkdir()
    command = [sys.executable, "-m", "dynopypi", "storage", "copy", index.index_url, str(dest),
               "-j", "1"]  # fmt: skip
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        poll_until(lambda: len(files_in(dest)) >= 2, timeout=60, message="files arriving")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    before = len(files_in(dest))
    assert before < len(wheels)
    for name, data in files_in(dest).items():  # whole files only under their names
        assert data == (built / name).read_bytes()
    done = dynopypi("storage", "copy", index.index_url, dest)
    assert done.returncode == 0, done.stderr
    assert last_line(done).startswith(f"copied {len(wheels) - before} (")
    assert f"skipped {before} (already there)" in last_line(done)
    assert files_in(dest) == {w.name: w.read_bytes() for w in wheels}
    assert not list(dest.glob(".upload-*"))  # the killed run's temp file was swept


def test_copying_into_an_index_url_is_refused_in_one_line(tmp_path: Path) -> None:
    done = dynopypi("storage", "copy", tmp_path, "http://127.0.0.1:9/simple/")
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "dynopypi: error: DST: an index URL can only be copied from (SRC), not into"
    )
    shutil.rmtree(tmp_path, ignore_errors=True)
