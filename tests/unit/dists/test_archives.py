"""Unit tables for the upload checks: archive budgets and what a valid distribution is
(the canonical file key is in test_names, form fields in tests/unit/edge/test_multipart,
the project name in tests/unit/publish/test_upload, the temp-file sweep in
tests/unit/publish/test_staging)."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import pytest
from support import hostile_archives as hostile
from support.fakedist import core_metadata, make_sdist, make_wheel

from dynopypi.dists import archives
from dynopypi.dists.check import check_distribution
from dynopypi.dists.names import parse_filename
from dynopypi.errors import MetadataError


def _check(tmp_path: Path, filename: str, data: bytes) -> bytes | None:
    path = tmp_path / "upload.part"
    path.write_bytes(data)
    return check_distribution(path, filename, parse_filename(filename))


def _zip(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return out.getvalue()


def _tar(members: dict[str, bytes], mode: str = "w:gz") -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode=mode) as tf:  # type: ignore[call-overload]
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return out.getvalue()


META = core_metadata("pkg", "1.0").encode()
INFO = "pkg-1.0.dist-info"
WHL = "pkg-1.0-py3-none-any.whl"
WHEEL = b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
GOOD_WHEEL = {
    "pkg/__init__.py": b"",
    "pkg-1.0.dist-info/METADATA": META,
    "pkg-1.0.dist-info/WHEEL": WHEEL,
    "pkg-1.0.dist-info/RECORD": b"",
}
CASES: list[tuple[str, bytes, str | None]] = [
    ("pkg-1.0-py3-none-any.whl", _zip(GOOD_WHEEL), None),
    ("pkg-1.0.0-py3-none-any.whl", _zip(GOOD_WHEEL), None),  # same version, spelled longer
    ("pkg-1.0.tar.gz", _tar({"pkg-1.0/PKG-INFO": META}), None),
    ("pkg-1.0.tgz", _tar({"pkg-1.0/PKG-INFO": META}), None),
    ("pkg-1.0.tar.bz2", _tar({"pkg-1.0/PKG-INFO": META}, "w:bz2"), None),
    ("pkg-1.0.tar.xz", _tar({"pkg-1.0/PKG-INFO": META}, "w:xz"), None),
    ("pkg-1.0.tar", _tar({"pkg-1.0/PKG-INFO": META}, "w"), None),
    ("pkg-1.0.zip", _zip({"pkg-1.0/PKG-INFO": META}), None),
    ("pkg-1.0-py3.11.egg", _zip({"EGG-INFO/PKG-INFO": META}), None),
    ("pkg-1.0.tar.xz", _tar({"pkg-1.0/PKG-INFO": META}, "w:gz"), "compressed"),
    ("pkg-1.0.tar", _tar({"pkg-1.0/PKG-INFO": META}), "compressed"),
    ("pkg-1.0.tar.gz", _tar({"pkg-1.0/setup.py": b""}), "PKG-INFO"),
    ("pkg-1.0.tar.gz", _tar({"pkg-1.0/PKG-INFO": core_metadata("x", "1.0").encode()}), "'x'"),
    ("pkg-1.0.tar.gz", _tar({"pkg-1.0/PKG-INFO": core_metadata("pkg", "2").encode()}), "'2'"),
    ("pkg-1.0.tar.gz", _tar({"pkg-1.0/PKG-INFO": META, "/etc/x": b""}), "leaves"),
    ("pkg-1.0.tar.gz", _tar({"pkg-1.0/PKG-INFO": META})[:-4], "readable|truncated"),
    ("pkg-1.0.tar.gz", _tar({"pkg-1.0/PKG-INFO": META})[:60], "readable|truncated"),
    ("pkg-1.0.zip", _zip({"pkg-1.0/PKG-INFO": META, "a\\..\\b": b""}), "leaves"),
    ("pkg-1.0-py3.11.egg", _zip(GOOD_WHEEL), "EGG-INFO"),
    (WHL, _zip({**GOOD_WHEEL, f"{INFO}/WHEEL": b"Wheel-Version: 2.0\n"}), "Wheel-Version"),
    (WHL, _zip({k.replace(INFO, "x-1.0.dist-info"): v for k, v in GOOD_WHEEL.items()}), "'x'"),
    (WHL, _zip({**GOOD_WHEEL, f"{INFO}/METADATA": META.replace(b"1.0", b"1.1")}), "'1.1'"),
    ("pkg-1.0-py3-none-any.whl", b"PK\x05\x06" + b"\0" * 18, "exactly one top-level .dist-info"),
    ("pkg-1.0-py3-none-any.whl", b"not a zip at all", "readable zip"),
]


@pytest.mark.parametrize(("filename", "data", "problem"), CASES)
def test_check_distribution(
    tmp_path: Path, filename: str, data: bytes, problem: str | None
) -> None:
    if problem is None:
        _check(tmp_path, filename, data)
    else:
        with pytest.raises(MetadataError, match=problem):
            _check(tmp_path, filename, data)


def test_budget_scales_with_the_archive_and_has_a_floor() -> None:
    limits = archives.Limits(floor_bytes=100, ratio=10, max_bytes=10_000)
    assert archives.Budget(1, "x", limits).allowed == 100
    assert archives.Budget(50, "x", limits).allowed == 500
    assert archives.Budget(10**9, "x", limits).allowed == 10_000
    budget = archives.Budget(1, "'x'", limits)
    budget.charge(100)
    with pytest.raises(MetadataError, match="archive bomb"):
        budget.charge(1)


def test_cpu_time_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(archives, "LIMITS", archives.Limits(cpu_seconds=0.0))
    data = _tar({"pkg-1.0/PKG-INFO": META, "pkg-1.0/big": b"\0" * 4_000_000}, "w:bz2")
    with pytest.raises(MetadataError, match="CPU"):
        _check(tmp_path, "pkg-1.0.tar.bz2", data)


@pytest.mark.parametrize("compression", ["bz2", "gz", "xz"])
def test_tar_bombs(tmp_path: Path, compression: str) -> None:
    data = hostile.tar_bomb("pkg", "1.0", compression, 4 * hostile.BLOCK)
    with pytest.raises(MetadataError, match="archive bomb"):
        _check(tmp_path, f"pkg-1.0.tar.{compression}", data)


def test_zip_entry_count_is_read_before_zipfile_parses(tmp_path: Path) -> None:
    limits = archives.Limits(max_entries=100)
    data = hostile.many_entries_wheel("pkg", "1.0", 200)
    path = tmp_path / "w.whl"
    path.write_bytes(data)
    with open(path, "rb") as fh, pytest.raises(MetadataError, match="203 entries"):
        archives.check_zip_directory(fh, len(data), archives.Budget(len(data), "w", limits))
    many = hostile.many_entries_wheel("pkg", "1.0", 70_000)  # zip64 end records
    path.write_bytes(many)
    with open(path, "rb") as fh, pytest.raises(MetadataError, match="70003 entries"):
        archives.check_zip_directory(fh, len(many), archives.Budget(len(many), "w"))


def test_zip_bomb_members_are_charged_before_expanding(tmp_path: Path) -> None:
    data = hostile.zip_bomb(hostile.egg_members("pkg", "1.0"), 10 * hostile.BLOCK)
    with pytest.raises(MetadataError, match="archive bomb"):
        _check(tmp_path, "pkg-1.0-py3.11.egg", data)


def test_real_distributions_pass(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path, "real-thing", "2.0", payload=b"x" * 100_000)
    assert b"Name: real-thing" in (_check(tmp_path, wheel.name, wheel.read_bytes()) or b"")
    sdist = make_sdist(tmp_path, "real-thing", "2.0")
    assert b"Version: 2.0" in (_check(tmp_path, sdist.name, sdist.read_bytes()) or b"")
