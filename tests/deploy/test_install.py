"""``make install DESTDIR=...`` stages a tree that a package can ship: nothing in it names
the staging directory, so once copied to its final place (PREFIX) the console script runs
as it is (its shebang names the final venv's python, bytecode the final source paths); the
``dynopypi(1)`` man page, generated from the parser, is in ``PREFIX/share/man/man1``."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MAKE_VARIABLES = {"PREFIX", "SYSCONFDIR", "LOCALSTATEDIR", "NGINX_SITE_DIR", "DESTDIR", "VENV"}


@pytest.mark.slow
def test_a_destdir_install_works_once_moved_into_place(tmp_path: Path) -> None:
    stage, final = tmp_path / "stage", tmp_path / "final"
    env = {k: v for k, v in os.environ.items() if k not in MAKE_VARIABLES}
    result = subprocess.run(
        ["make", "-C", str(REPO), "install", f"DESTDIR={stage}", f"PREFIX={final}",
         f"PYTHON={sys.executable}"],
        capture_output=True, text=True, timeout=300, check=False, env=env,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    staged_venv = stage / str(final).lstrip("/") / "share/venv/dynopypi"
    naming_stage = [
        str(path.relative_to(stage))
        for path in staged_venv.rglob("*")
        if path.is_file() and not path.is_symlink() and str(stage).encode() in path.read_bytes()
    ]
    assert naming_stage == [], naming_stage
    man = stage / str(final).lstrip("/") / "share/man/man1/dynopypi.1"
    assert man.is_file(), "make install installs no dynopypi(1) man page"
    page = man.read_text(encoding="utf-8")
    assert page.startswith('.\\"') and ".TH" in page and "dynopypi run" in page, page[:300]
    assert "\\-\\-upstream" in page, "the man page lacks options of run"  # from the parser
    shutil.copytree(stage / str(final).lstrip("/"), final, symlinks=True)  # the package manager
    shutil.rmtree(stage)
    script = final / "share/venv/dynopypi/bin/dynopypi"
    version = subprocess.run(
        [str(script), "--version"], capture_output=True, text=True, timeout=60, check=False
    )
    assert version.returncode == 0 and version.stdout.startswith("dynopypi "), version
