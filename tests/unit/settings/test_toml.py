"""``check-config``'s TOML (issue 20 #12): pasted into /etc it means the same thing, so
paths are absolute; durations and sizes read as they were written; ``roots`` is left
out with ``--storage``; and it reads back to the same settings."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from dynopypi.settings.config import build_settings
from dynopypi.settings.toml import to_toml

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def test_paths_are_absolute_and_durations_and_sizes_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "packages").mkdir()
    monkeypatch.chdir(tmp_path)
    flags = {"roots": ["packages"], "cache_dir": "cache", "min_age": "7d",
             "max_upload_size": "100M", "upstream_cache_max": "50G", "upstream_ttl": "600",
             "upstream": ["https://pypi.org/simple/"]}  # fmt: skip
    printed = to_toml(build_settings(flags, environ={}))
    shown = tomllib.loads(printed)["dynopypi"]
    assert shown["roots"] == [str(tmp_path / "packages")]
    assert shown["cache_dir"] == str(tmp_path / "cache")
    assert (shown["min_age"], shown["max_upload_size"], shown["upstream_cache_max"]) == (
        "7d", "100M", "50G"
    )  # fmt: skip
    assert shown["upstream_ttl"] == 600 and shown["s3_cache_max"] == "2G"
    config = tmp_path / "pasted.toml"
    config.write_text(printed)
    monkeypatch.chdir("/")
    assert to_toml(build_settings({}, environ={}, config_file=config)) == printed


def test_roots_are_not_printed_with_storage() -> None:
    printed = to_toml(build_settings({"storage": "s3://bucket-x/prefix"}, environ={}))
    assert "# roots: not used (the packages are in storage)" in printed
    assert "roots" not in tomllib.loads(printed)["dynopypi"]
