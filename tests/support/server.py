"""dynopypi as a real subprocess (``python -m dynopypi run``) on a free loopback port.

For what only a real server shows: real clients (pip, uv, twine), signals, restarts,
nginx in front, the command line, and paths that reach waitress byte for byte.
"""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Generic, TypeVar

import pytest
import requests

from support.clients import REQUEST_TIMEOUT, IndexClient, RawResponse
from support.net import free_port, healthy, wait_ready
from support.processes import forbidden_in_unit_run, port_was_taken, stop_process

STARTUP_TIMEOUT = 60.0  # seconds; the machine is noisy and imports can be slow

LIVE: list[IndexClient] = []  # servers whose logs go into the report of a failing test
S = TypeVar("S", bound=IndexClient)


@dataclass
class DynoServer(IndexClient):
    """A running ``python -m dynopypi run`` subprocess."""

    HEALTH = "/health"  # the path that answers 200 once it serves
    package_dir: Path
    work_dir: Path
    extra_args: tuple[str, ...] = ()
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    _logs: list[IO[bytes]] = field(default_factory=list)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def label(self) -> str:
        return f"dynopypi on port {self.port} ({self.package_dir})"

    @property
    def stderr_path(self) -> Path:
        return self.work_dir / "server.stderr"

    @property
    def stdout_path(self) -> Path:
        return self.work_dir / "server.stdout"

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "dynopypi",
            "run",
            "-p",
            str(self.port),
            "-i",
            "127.0.0.1",
            "--cache-dir",
            str(self.work_dir / "cache"),
            "--rescan-interval",
            "0",
            str(self.package_dir),
            *self.extra_args,
        ]

    def environment(self) -> dict[str, str]:
        """Variables the server needs beyond the test run's own (none by default)."""
        return {}

    # ---- lifecycle

    def start(self, *, same_port: bool = False) -> None:
        """Start on a free port, or with ``same_port`` where the last start listened (a
        restart that a proxy's configuration, naming the port, must find again)."""
        forbidden_in_unit_run(f"{type(self).__name__} (python -m dynopypi run)")
        (self.work_dir / "cache").mkdir(parents=True, exist_ok=True)
        last_error: str = ""
        for _attempt in range(3):  # the free port can be stolen between bind and use
            if not (same_port and self.port):
                self.port = free_port()
            out = self.stdout_path.open("ab")
            err = self.stderr_path.open("ab")
            log_start = err.tell()
            self._logs = [out, err]
            env = dict(os.environ)
            env["PYTHONUNBUFFERED"] = "1"
            env.update(self.environment())
            self.proc = subprocess.Popen(
                self.command(),
                stdout=out,
                stderr=err,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
            )
            last_error = wait_ready(
                healthy(self.port, self.HEALTH), timeout=STARTUP_TIMEOUT, process=self.proc
            )
            if not last_error:
                return
            self.stop()
            if not port_was_taken(self.stderr_path, log_start):
                break  # a real start-up failure, not a lost race for the port
        pytest.fail(
            f"dynopypi did not become ready: {last_error}\ncommand: {self.command()}\n{self.logs()}"
        )

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop it (SIGTERM: it drains; SIGKILL: a crash, nothing finished)."""
        if self.proc is not None:
            stop_process(self.proc, sig)
        for fh in self._logs:
            fh.close()
        self._logs = []

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def logs(self, limit: int = 6000) -> str:
        parts = []
        for label, path in (("stderr", self.stderr_path), ("stdout", self.stdout_path)):
            try:
                text = path.read_text(errors="replace")
            except FileNotFoundError:
                text = ""
            if len(text) > limit:
                text = "...\n" + text[-limit:]
            parts.append(f"----- server {label} -----\n{text}")
        return "\n".join(parts)

    # ---- HTTP

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", REQUEST_TIMEOUT)
        url = path if path.startswith("http") else self.url(path)
        return requests.request(method, url, **kwargs)

    def raw(
        self,
        method: str,
        path: str,
        headers: Mapping[str, str] | None = None,
        timeout: float = REQUEST_TIMEOUT,
    ) -> RawResponse:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, headers=dict(headers or {}))
            resp = conn.getresponse()
            body = resp.read()
            return RawResponse(
                status=resp.status,
                headers={k.lower(): v for k, v in resp.getheaders()},
                body=body,
            )
        finally:
            conn.close()


class Factory(Generic[S]):
    """Starts servers of one kind (``factory(package_dir, *run_flags)``); stops them all
    at teardown. Their logs go into the report of a failing test meanwhile."""

    kind = "server"

    def __init__(self, tmp_root: Path) -> None:
        self.tmp_root = tmp_root
        self.servers: list[S] = []

    def make(self, package_dir: Path, work: Path, extra_args: tuple[str, ...]) -> S:
        raise NotImplementedError

    def __call__(self, package_dir: Path, *extra_args: str) -> S:
        work = self.tmp_root / f"{self.kind}{len(self.servers)}"
        (work / "cache").mkdir(parents=True, exist_ok=True)
        Path(package_dir).mkdir(parents=True, exist_ok=True)  # the server refuses a missing one
        server = self.make(Path(package_dir), work, extra_args)
        self.servers.append(server)
        LIVE.append(server)
        server.start()
        return server

    def close(self) -> None:
        for server in self.servers:
            server.stop()
            if server in LIVE:
                LIVE.remove(server)


class ServerFactory(Factory["DynoServer"]):
    """``python -m dynopypi run`` subprocesses."""

    def make(self, package_dir: Path, work: Path, extra_args: tuple[str, ...]) -> DynoServer:
        return DynoServer(package_dir=package_dir, work_dir=work, extra_args=extra_args)
