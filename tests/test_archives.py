"""Unit tables for the upload checks: archive budgets, what a valid distribution is, the
canonical file key, form fields, and the temp-file sweep."""

from __future__ import annotations

import io
import os
import tarfile
import zipfile
from pathlib import Path

import pytest
from support import hostile_archives as hostile
from support.fakedist import core_metadata, make_sdist, make_wheel
from support.uploads import MULTIPART, form_body, part

from dynopypi.dists import archives
from dynopypi.dists.check import check_distribution
from dynopypi.dists.names import file_key, parse_filename
from dynopypi.edge.multipart import read_form, read_urlencoded
from dynopypi.edge.parts import MAX_FORM_BYTES
from dynopypi.errors import InvalidInput, MetadataError, TooLarge
from dynopypi.publish.staging import open_temp, remove_stale_parts
from dynopypi.publish.upload import canonical_project


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


@pytest.mark.parametrize(
    ("one", "other", "same"),
    [
        ("Acme_Bar-1.0-py3-none-any.whl", "acme_bar-1.0-py3-none-any.whl", True),
        ("acme.bar-1.0.0-PY3-none-ANY.whl", "acme_bar-1.0-py3-none-any.whl", True),
        ("acme_bar-1.0-py3.py2-none-any.whl", "acme_bar-1.0-py2.py3-none-any.whl", True),
        ("acme_bar-1.0-py3-none-any.whl", "acme_bar-1.0-py2.py3-none-any.whl", False),
        ("acme_bar-1.0-1-py3-none-any.whl", "acme_bar-1.0-py3-none-any.whl", False),
        ("acme_bar-1.0-py3-none-any.whl", "acme_bar-1.0.post0-py3-none-any.whl", False),
        ("Acme-Bar-1.0.tgz", "acme_bar-1.0.tar.gz", True),
        ("acme_bar-1.0.zip", "acme_bar-1.0.tar.gz", False),
        ("acme-1.0-py3.11.egg", "ACME-1.0-PY3.11.egg", True),
    ],
)
def test_file_key(one: str, other: str, same: bool) -> None:
    assert (file_key(one) == file_key(other)) is same


@pytest.mark.parametrize(
    "name", ["acme ", " acme", "acme\x1f", "ac me", "acm\u0435", "", "-a", "a\n"]
)
def test_canonical_project_refuses(name: str) -> None:
    with pytest.raises(InvalidInput, match="not a valid project name"):
        canonical_project(name)


def test_canonical_project() -> None:
    assert canonical_project("Acme_Bar.x") == "acme-bar-x"


def _read(body: bytes, tmp_path: Path) -> object:
    """Read a form (the tests only look at what it refuses)."""
    return read_form(io.BytesIO(body), MULTIPART, str(len(body)), tmp_path, max_size=10**9)


def test_form_fields_total_is_bounded_and_unknown_fields_are_not_kept(tmp_path: Path) -> None:
    body = form_body({"description": "x" * 1000, "name": "acme"})
    form = read_form(io.BytesIO(body), MULTIPART, str(len(body)), tmp_path, max_size=10**9)
    assert form.fields == {"name": "acme"} and form.form_bytes == 1004
    big = b"".join(part(f"f{i}", b"\xff" * (MAX_FORM_BYTES // 3)) for i in range(4))
    with pytest.raises(TooLarge, match="form fields"):
        _read(big + form_body({}), tmp_path)
    with pytest.raises(TooLarge, match="'name'"):
        _read(form_body({"name": "a" * 70_000}), tmp_path)
    with pytest.raises(InvalidInput, match="UTF-8"):
        _read(part("version", b"\xff") + form_body({}), tmp_path)


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"name=%ff", "UTF-8"),
        (b"name=\xff", "UTF-8"),
        (b"&".join([b"a=b"] * 600), "fields"),
    ],
)
def test_urlencoded_refusals(body: bytes, problem: str) -> None:
    with pytest.raises(InvalidInput, match=problem):
        read_urlencoded(io.BytesIO(body), str(len(body)))


def test_urlencoded_keeps_known_fields() -> None:
    body = b":action=yank&name=acme&version=1.0&reason=bad+build&other=x"
    form = read_urlencoded(io.BytesIO(body), str(len(body)))
    assert form.fields == {
        ":action": "yank",
        "name": "acme",
        "version": "1.0",
        "reason": "bad build",
    }
    with pytest.raises(TooLarge):
        read_urlencoded(io.BytesIO(b""), str(1024 * 1024))


def test_sweep_removes_only_unlocked_temp_files_of_ours(tmp_path: Path) -> None:
    out, live, lock = open_temp(tmp_path)  # a live upload: locked
    out.close()
    (tmp_path / ".upload-deadbeef.part").write_bytes(b"dead")
    others = [".upload-short.part", "x.part", ".upload-deadbeef.part.keep", "pkg-1.0.tar.gz"]
    for name in others:
        (tmp_path / name).write_bytes(b"")
    (tmp_path / ".upload-symlinkx.part").symlink_to(tmp_path / "x.part")
    (tmp_path / ".upload-dirdirdi.part").mkdir()
    assert remove_stale_parts(tmp_path) == [".upload-deadbeef.part"]
    assert live.exists()
    os.close(lock)  # the upload ended without its file being removed (as if killed)
    assert remove_stale_parts(tmp_path) == [live.name]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [*others, ".upload-symlinkx.part", ".upload-dirdirdi.part"]
    )
