"""The tools and the servers under test: installing them, starting them.

wrk and nginx come from apt-get when missing (as root); pypiserver 2.4.2 in its best
configuration (waitress, the watchdog ``cached-dir`` backend) and a plain pip live in venvs
under bench/out/, reused across runs. Both servers are started with the same access rules
(no accounts, uploads allowed) and timed from spawn to their first 200 on /simple/.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Sequence
from contextlib import suppress
from pathlib import Path

from run_common import HOST, OUT, REPO, START_TIMEOUT, Proc, log, wait_first_200

PYPISERVER_VENV = OUT / "pypiserver-venv"
PIP_VENV = OUT / "pip-venv"
PYPISERVER_REQS = ("pypiserver==2.4.2", "waitress", "watchdog<2.3", "passlib")
SERVERS = ("pypiserver", "dynopypi")
NGINX_FALLBACK = "/usr/sbin/nginx"


def apt_install(package: str) -> None:
    log(f"{package} missing: installing it with apt-get")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    cmd = ["apt-get", "install", "-y", "-q", package]
    if subprocess.run(cmd, env=env, timeout=300, check=False).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], env=env, timeout=300, check=False)
        subprocess.run(cmd, env=env, timeout=300, check=True)


def ensure_wrk() -> None:
    if shutil.which("wrk"):
        return
    apt_install("wrk")
    if not shutil.which("wrk"):
        raise SystemExit("wrk is required (apt-get install -y wrk)")


def nginx_exe() -> str | None:
    found = shutil.which("nginx")
    if found is None and Path(NGINX_FALLBACK).exists():
        found = NGINX_FALLBACK
    return found


def ensure_nginx() -> str:
    exe = nginx_exe()
    if exe is None:
        apt_install("nginx")
        exe = nginx_exe()
    if exe is None:
        raise SystemExit("nginx is required for --nginx (apt-get install -y nginx)")
    return exe


def _venv_ok(python: Path, check: str) -> bool:
    if not python.exists():
        return False
    done = subprocess.run([str(python), "-c", check], capture_output=True, timeout=60)
    return done.returncode == 0


def ensure_pypiserver() -> Path:
    python = PYPISERVER_VENV / "bin" / "python"
    check = (
        "import pypiserver, waitress, watchdog.observers, passlib;"
        "assert pypiserver.__version__ == '2.4.2', pypiserver.__version__;"
        "from pypiserver.__main__ import guess_auto_server, AutoServer;"
        "assert guess_auto_server() is AutoServer.Waitress"
    )
    if not _venv_ok(python, check):
        log(f"creating {PYPISERVER_VENV} ({', '.join(PYPISERVER_REQS)})")
        shutil.rmtree(PYPISERVER_VENV, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(PYPISERVER_VENV)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", *PYPISERVER_REQS],
            check=True,
            timeout=600,
        )
        if not _venv_ok(python, check):
            raise SystemExit("pypiserver venv is broken (see above)")
    return PYPISERVER_VENV / "bin" / "pypi-server"


def ensure_pip_venv() -> Path:
    python = PIP_VENV / "bin" / "python"
    if not _venv_ok(python, "import pip"):
        shutil.rmtree(PIP_VENV, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(PIP_VENV)], check=True, timeout=300)
    return python


def dynopypi_exe() -> Path:
    beside = Path(sys.executable).parent / "dynopypi"
    return beside if beside.exists() else REPO / ".venv" / "bin" / "dynopypi"


def pip_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull
    return env


def server_command(
    name: str, port: int, pkgdir: Path, cache_dir: Path, extra: Sequence[str] = ()
) -> list[str]:
    if name == "pypiserver":
        # --server auto picks waitress in 2.4.2 (its --server has no "waitress" choice);
        # --backend cached-dir is the watchdog cache; -a . -P . disables auth;
        # --disable-fallback keeps 404s local instead of redirecting to the public index.
        exe = PYPISERVER_VENV / "bin" / "pypi-server"
        return [
            str(exe), "run", "-p", str(port), "-i", HOST, "--server", "auto",
            "--backend", "cached-dir", "-a", ".", "-P", ".", "--disable-fallback", *extra,
            str(pkgdir),
        ]  # fmt: skip
    # Same access rules as pypiserver: no account needed, uploads included (-a . -P .).
    return [
        str(dynopypi_exe()), "run", "-p", str(port), "-i", HOST, "-a", ".", "-P", ".",
        "--cache-dir", str(cache_dir), *extra, str(pkgdir),
    ]  # fmt: skip


def start(
    name: str, port: int, pkgdir: Path, cache_dir: Path, logfile: Path, extra: Sequence[str]
) -> tuple[Proc, float]:
    proc = Proc(server_command(name, port, pkgdir, cache_dir, extra), logfile)
    try:
        return proc, wait_first_200(proc, port, "/simple/", START_TIMEOUT)
    except BaseException:
        proc.stop()
        raise


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    with suppress(OSError, subprocess.SubprocessError):
        done = subprocess.run(["wrk", "-v"], capture_output=True, text=True, timeout=10)
        out["wrk"] = (done.stdout + done.stderr).split("\n", 1)[0].strip()
    return out
