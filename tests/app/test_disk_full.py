"""A full disk and hostile archives: refused with the right status, nothing left behind.

The package directory lives on a small tmpfs mounted for the test (CI runs as root, as
the sessions do); the upload fills it, the server answers 507, and once space is freed the
same upload succeeds.
"""

from __future__ import annotations

import os
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.fakedist import make_wheel
from support.uploads import upload


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, f"this test needs root to mount a tmpfs: {done.stderr}"
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _names(directory: Path) -> set[str]:
    return {p.name for p in directory.iterdir()}


def test_full_disk_is_507_leaves_nothing_and_a_retry_succeeds(
    server_factory: Any, small_fs: Path, tmp_path: Path
) -> None:
    packages = small_fs / "packages"
    packages.mkdir()
    server = server_factory(packages, "-P", ".", "-a", ".")
    wheel = make_wheel(tmp_path, "big", "1.0", payload=os.urandom(2 * 2**20))
    filler = small_fs / "filler"
    filler.write_bytes(b"\0" * (3 * 2**20))  # leaves less than the wheel needs
    before = _names(packages)

    r = upload(server, wheel)
    assert r.status_code == 507, server.explain(r)
    assert "disk is full" in r.text and "retry" in r.text
    assert _names(packages) == before  # no file, no temp file

    filler.unlink()
    r = upload(server, wheel)
    assert r.status_code == 200, server.explain(r)
    assert (packages / wheel.name).read_bytes() == wheel.read_bytes()
    assert wheel.name in server.listed_files("big")


def _bomb_wheel(directory: Path) -> Path:
    """A 1 KB wheel whose METADATA inflates to 64 MB."""
    path = directory / "bomb-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.writestr("bomb/__init__.py", "")
        zf.writestr("bomb-1.0.dist-info/METADATA", b"Name: bomb\n" + b"\0" * (64 * 2**20))
        zf.writestr("bomb-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\n")
        zf.writestr("bomb-1.0.dist-info/RECORD", "")
    return path


def test_zip_bomb_upload_is_refused_not_expanded(
    server_factory: Any, helpers: Any, tmp_path: Path
) -> None:
    packages = tmp_path / "packages"
    packages.mkdir()
    server = server_factory(packages, "-P", ".", "-a", ".")
    bomb = _bomb_wheel(tmp_path)
    assert bomb.stat().st_size < 200_000
    r = upload(server, bomb)
    assert r.status_code == 400, server.explain(r)
    assert "too large" in r.text
    assert _names(packages) == {".dynopypi"}  # only the audit trail's record of the refusal
    assert {p.name for p in (packages / ".dynopypi").iterdir()} == {"audit", ".lock"}
    # dropped into the directory instead, it is served without metadata, never expanded
    (packages / bomb.name).write_bytes(bomb.read_bytes())
    helpers.poll_until(
        lambda: bomb.name in (server.listed_files("bomb") or {}),
        message="a dropped zip bomb should be listed (without metadata)",
    )
    _r, page = server.project_json("bomb")
    assert page["files"][0]["core-metadata"] is False
