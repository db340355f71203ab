"""The temp-file sweep: what a start removes of uploads that never finished."""

from __future__ import annotations

import os
from pathlib import Path

from dynopypi.publish.staging import open_temp, remove_stale_parts


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
