from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import pytest
from support.fakedist import make_sdist, make_wheel

from dynopypi.dists import archives, metadata
from dynopypi.errors import MetadataError


def test_wheel_and_sdist_metadata(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path, "foo", "1.0", requires=["bar>=2"], requires_python=">=3.9")
    parsed = metadata.parse_metadata(metadata.wheel_metadata(wheel))
    assert parsed.first("Name") == "foo"
    assert parsed.all("Requires-Dist") == ["bar>=2"]
    assert parsed.requires_python == ">=3.9"
    sdist = make_sdist(tmp_path, "foo", "1.0", requires_python=">=3.10")
    assert metadata.parse_metadata(metadata.sdist_metadata(sdist)).requires_python == ">=3.10"


def test_not_a_zip(tmp_path: Path) -> None:
    bad = tmp_path / "foo-1.0-py3-none-any.whl"
    bad.write_bytes(b"PK\x03\x04 this is not really a zip")
    with pytest.raises(MetadataError, match="not a readable zip"):
        metadata.wheel_metadata(bad)


def test_wheel_without_metadata(tmp_path: Path) -> None:
    path = tmp_path / "foo-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("foo/__init__.py", "")
    with pytest.raises(MetadataError, match="found 0"):
        metadata.wheel_metadata(path)


def test_zip_bomb_refused(tmp_path: Path) -> None:
    path = tmp_path / "foo-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("foo-1.0.dist-info/METADATA", b"\0" * (metadata.MAX_METADATA_BYTES + 10))
    assert path.stat().st_size < 100_000
    with pytest.raises(MetadataError, match="too large"):
        metadata.wheel_metadata(path)


def test_lying_zip_header_is_bounded(tmp_path: Path) -> None:
    """A member whose declared size is small but whose data inflates far beyond it."""
    path = tmp_path / "foo-1.0-py3-none-any.whl"
    big = b"Name: foo\n" + b"x" * (metadata.MAX_METADATA_BYTES + 10)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("foo-1.0.dist-info/METADATA", big)
    data = bytearray(path.read_bytes())
    # patch the uncompressed size in the central directory to claim 10 bytes
    central = data.rfind(b"PK\x01\x02")
    data[central + 24 : central + 28] = (10).to_bytes(4, "little")
    path.write_bytes(bytes(data))
    with pytest.raises(MetadataError):
        metadata.wheel_metadata(path)


def test_gzip_bomb_sdist_refused(tmp_path: Path) -> None:
    path = tmp_path / "foo-1.0.tar.gz"
    with tarfile.open(path, "w:gz") as tf:
        blob = b"\0" * (metadata.MAX_METADATA_BYTES + 1)
        info = tarfile.TarInfo("foo-1.0/PKG-INFO")
        info.size = len(blob)
        tf.addfile(info, io.BytesIO(blob))
    with pytest.raises(MetadataError, match="too large"):
        metadata.sdist_metadata(path)


def test_sdist_scan_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(archives, "LIMITS", archives.Limits(max_entries=5))
    path = tmp_path / "foo-1.0.tar.gz"
    with tarfile.open(path, "w:gz") as tf:
        for i in range(10):
            info = tarfile.TarInfo(f"foo-1.0/f{i}")
            tf.addfile(info, io.BytesIO(b""))
        info = tarfile.TarInfo("foo-1.0/PKG-INFO")
        info.size = 10
        tf.addfile(info, io.BytesIO(b"Name: foo\n"))
    with pytest.raises(MetadataError, match="more than 5 entries"):
        metadata.sdist_metadata(path)


def test_file_digests() -> None:
    digests = metadata.file_digests(io.BytesIO(b"abc"), "sha512")
    assert set(digests) == {"sha256", "md5", "blake2b_256", "sha512"}
    assert digests["sha256"].startswith("ba7816bf")


def test_header_fields() -> None:
    raw = (
        b"Metadata-Version: 2.1\nName: Foo.Bar\nVersion: 1.0\nrequires-python: >=3.8\n"
        b"Description: x\n  continued\n\nRequires-Python: <0 (body, not a header)\n"
    )
    assert metadata.header_fields(raw, ("name", "requires-python")) == {
        "name": "Foo.Bar",
        "requires-python": ">=3.8",
    }
    assert metadata.header_fields(b"Name: x\n", ("requires-python",)) == {}
