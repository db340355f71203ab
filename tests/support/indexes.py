"""Other indexes as real subprocesses, to import from and compare with: pypiserver (PEP 503
HTML behind an htpasswd) and devpi-server (PEP 691 JSON). Each is a ``DynoServer`` whose
command is the other program's, so starting, the free port, logs in a failing test's
report and stopping are the same as for dynopypi; ``python -m dynopypi`` commands
(``storage copy``, ``compare``) run through ``dynopypi``.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import requests

from dynopypi.store.directory.yanks import write_yanks
from support.clients import twine_upload
from support.fakedist import make_sdist, make_wheel
from support.processes import forbidden_in_unit_run
from support.server import DynoServer, Factory


@dataclass
class PypiServer(DynoServer):
    """``pypi-server run`` over a package directory; ``passwords``: every action
    (list, download, update) needs an account of that htpasswd file."""

    passwords: Path | None = None

    @property
    def label(self) -> str:
        return f"pypiserver on port {self.port} ({self.package_dir})"

    def command(self) -> list[str]:
        auth = ["-a", "download,list,update", "-P", str(self.passwords)]
        return [
            sys.executable, "-m", "pypiserver", "run", "-p", str(self.port), "-i", "127.0.0.1",
            "--disable-fallback", *(auth if self.passwords else ["-a", ".", "-P", "."]),
            str(self.package_dir),
        ]  # fmt: skip


class PypiServerFactory(Factory[PypiServer]):
    kind = "pypiserver"
    passwords: Path | None = None

    def make(self, package_dir: Path, work: Path, extra_args: tuple[str, ...]) -> PypiServer:
        return PypiServer(package_dir=package_dir, work_dir=work, passwords=self.passwords)


@dataclass
class DevpiServer(DynoServer):
    """``devpi-server`` (offline: it never asks PyPI) with one index, ``root/dev``, which
    has no bases; ``upload`` puts files there with twine as root."""

    HEALTH = "/+api"
    PASSWORD = "devpi-root"

    @property
    def label(self) -> str:
        return f"devpi-server on port {self.port}"

    @property
    def index_url(self) -> str:
        return f"{self.base}/root/dev/+simple/"

    def command(self) -> list[str]:
        server = str(Path(sys.executable).parent / "devpi-server")
        return [server, "--serverdir", str(self.work_dir / "devpi"), "--port", str(self.port),
                "--host", "127.0.0.1", "--offline-mode"]  # fmt: skip

    def start(self, *, same_port: bool = False) -> None:
        if not (self.work_dir / "devpi").exists():
            init = str(Path(sys.executable).parent / "devpi-init")
            subprocess.run(
                [init, "--serverdir", str(self.work_dir / "devpi"), "--root-passwd",
                 self.PASSWORD], check=True, capture_output=True, timeout=120,
            )  # fmt: skip
        super().start(same_port=same_port)
        login = requests.post(
            f"{self.base}/+login",
            json={"user": "root", "password": self.PASSWORD},
            headers={"Accept": "application/json"},
            timeout=30,
        )
        token = login.json()["result"]["password"]
        auth = base64.b64encode(f"root:{token}".encode()).decode()
        made = requests.put(
            f"{self.base}/root/dev",
            json={"bases": [], "volatile": True},
            headers={"Accept": "application/json", "X-Devpi-Auth": auth},
            timeout=30,
        )
        assert made.status_code in (200, 201), made.text

    def upload(self, files: list[Path]) -> None:
        done = twine_upload(f"{self.base}/root/dev/", ("root", self.PASSWORD), files)
        assert done.returncode == 0, done.stdout + done.stderr


class DevpiFactory(Factory[DevpiServer]):
    kind = "devpi"

    def make(self, package_dir: Path, work: Path, extra_args: tuple[str, ...]) -> DevpiServer:
        return DevpiServer(package_dir=package_dir, work_dir=work)


def dynopypi(
    *args: object,
    env: dict[str, str] | None = None,
    timeout: float = 300,
    input_text: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """``python -m dynopypi ARGS`` as a person runs it: a clean environment (no
    ``DYNOPYPI_*``, no ``AWS_*`` of the test run's, ``HOME`` as given or the real one),
    plus ``env``; ``input_text`` on its standard input."""
    forbidden_in_unit_run("python -m dynopypi")
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DYNOPYPI_"))}
    return subprocess.run(
        [sys.executable, "-m", "dynopypi", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        input=input_text,
        stdin=subprocess.DEVNULL if input_text is None else None,
        env={**base, **(env or {})},
    )


def last_line(result: subprocess.CompletedProcess[str]) -> str:
    """The summary line (stdout's last), after checking no traceback was printed."""
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines, result.stderr
    return lines[-1]


# ---- a source to import: upload times (mtimes) and yanks, with and without a reason
S = 1_000_000_000
TIMES = {  # each file's upload time (its mtime in the source directory), ns
    "alpha-1.0-py3-none-any.whl": 1_600_000_000 * S + 123_456_000,
    "alpha-1.0.tar.gz": 1_600_000_100 * S,
    "alpha-2.0-py3-none-any.whl": 1_700_000_000 * S + 5_000,
    "beta_pkg-0.1.tar.gz": 1_750_000_000 * S,
}
YANKS = {"alpha-2.0-py3-none-any.whl": "broken build", "beta_pkg-0.1.tar.gz": ""}


def fill(root: Path, *, yanks: bool = True) -> Path:
    """Four files of two projects in ``root``, with ``TIMES`` and (``yanks``) ``YANKS``."""
    root.mkdir(parents=True, exist_ok=True)
    make_wheel(root, "alpha", "1.0", requires_python=">=3.8")
    make_sdist(root, "alpha", "1.0")
    make_wheel(root, "alpha", "2.0", payload=b"x" * 200_000)
    make_sdist(root, "beta_pkg", "0.1")
    for name, ns in TIMES.items():
        os.utime(root / name, ns=(ns, ns))
    if yanks:
        write_yanks(root, YANKS)
    return root
