"""``make install DESTDIR=...`` stages a tree that a package can ship: nothing in it names
the staging directory, so once copied to its final place (PREFIX) the console script runs
as it is (its shebang names the final venv's python, bytecode the final source paths).
The venv is made from the system's python3, never from whichever one is first on PATH,
and an interpreter the service cannot see (under /root, /home or /tmp) is refused. The
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
        ["make", "-C", str(REPO), "install", f"DESTDIR={stage}", f"PREFIX={final}"],
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
    if Path("/usr/bin/python3").exists():  # the system's, whatever python3 PATH finds first
        assert "home = /usr/bin\n" in (staged_venv / "pyvenv.cfg").read_text()
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


def test_an_interpreter_the_service_cannot_see_is_refused(tmp_path: Path) -> None:
    """Issue 20 #8: a python3 under /root (pyenv, uv), /home or /tmp is hidden from the
    service by ProtectHome=yes and PrivateTmp=yes: refused before anything is installed,
    with what to do."""
    if not str(tmp_path).startswith("/tmp/"):
        pytest.skip("the temporary directory is not under /tmp here")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", tmp_path / "v"], check=True)
    stage = tmp_path / "stage"
    env = {k: v for k, v in os.environ.items() if k not in MAKE_VARIABLES}
    result = subprocess.run(
        ["make", "-C", str(REPO), "install", f"DESTDIR={stage}",
         f"INSTALL_PYTHON={tmp_path / 'v/bin/python3'}"],
        capture_output=True, text=True, timeout=60, check=False, env=env,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert result.returncode != 0
    assert "which the service cannot see (ProtectHome=yes, PrivateTmp=yes" in result.stderr
    assert "INSTALL_PYTHON=" in result.stderr
    assert not (stage / "usr/share/venv").exists()


def dry_run(target: str, venv: Path) -> str:
    env = {k: v for k, v in os.environ.items() if k not in MAKE_VARIABLES}
    result = subprocess.run(
        ["make", "-C", str(REPO), "-n", target, f"VENV={venv}"],
        capture_output=True, text=True, timeout=60, check=False, env=env,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_make_run_installs_only_the_server(tmp_path: Path) -> None:
    """Issue 20 #9: serving needs the server, not pytest, mypy, twine, uv, boto3 and a
    147 MB SeaweedFS: ``make run`` installs ``.`` only; the tests' targets add the rest."""
    run = dry_run("run", tmp_path / "venv")
    assert "pip install --quiet --disable-pip-version-check -e ." in run
    assert "[test]" not in run and "dynopypi run" in run
    assert "[test]" not in dry_run("venv-run", tmp_path / "venv")
    for target in ("unit", "lint", "venv"):
        assert "-e '.[test]'" in dry_run(target, tmp_path / "venv"), target
