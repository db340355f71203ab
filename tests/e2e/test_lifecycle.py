"""The service's life as systemd sees it: sd_notify readiness, SIGTERM drain, SIGHUP reload.

The unit (systemd/dynopypi.service) says ``Type=notify``, ``ExecReload=kill -HUP`` and
``TimeoutStopSec=45s``; these tests play systemd's part: a unix datagram socket named by
``NOTIFY_SOCKET``, and signals sent to the server process.
"""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from support.accounts import add_account, delete_account
from support.clients import twine_upload
from support.fakedist import make_wheel
from support.helpers import Helpers
from support.net import fetch, free_port
from support.processes import stop_process
from support.server import ServerFactory

TIMEOUT = 60.0
STARTUP_TIMEOUT = 60.0
STOP_BOUND = 15.0  # the unit allows 45 s; an idle server must be much quicker


# --------------------------------------------------------------------------- sd_notify


class NotifySocket:
    """systemd's side of sd_notify: one datagram per state change."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / "notify"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(self.path))
        self.received: list[str] = []

    def wait_for(self, state: str, *, timeout: float, proc: subprocess.Popen[bytes]) -> str:
        """The first message (since the last match) with ``state`` as one of its lines."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, min(0.2, deadline - time.monotonic())))
            try:
                message = self.sock.recv(4096).decode()
            except TimeoutError:
                if proc.poll() is not None and not self._pending():
                    break
                continue
            self.received.append(message)
            if state in message.splitlines():
                return message
        pytest.fail(f"no {state!r} within {timeout}s; received {self.received!r}")

    def _pending(self) -> bool:
        self.sock.settimeout(0.05)
        try:
            message = self.sock.recv(4096, socket.MSG_PEEK)
        except TimeoutError:
            return False
        return bool(message)

    def close(self) -> None:
        self.sock.close()


class Service:
    """``dynopypi run`` started the way systemd starts it (NOTIFY_SOCKET set)."""

    def __init__(self, work: Path, package_dir: Path, notify: NotifySocket) -> None:
        self.work = work
        self.package_dir = package_dir
        self.notify = notify
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.stderr_path = work / "server.stderr"

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.port = free_port()
        env = dict(os.environ, NOTIFY_SOCKET=str(self.notify.path), PYTHONUNBUFFERED="1")
        with self.stderr_path.open("ab") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "dynopypi", "run", "-p", str(self.port), "-i", "127.0.0.1",
                 "--cache-dir", str(self.work / "cache"), "--rescan-interval", "0",
                 str(self.package_dir)],
                stdout=subprocess.DEVNULL, stderr=err, stdin=subprocess.DEVNULL, env=env,
                start_new_session=True,
            )  # fmt: skip

    def logs(self) -> str:
        return self.stderr_path.read_text(errors="replace") if self.stderr_path.exists() else ""

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, signal.SIGKILL)


@pytest.fixture
def notify_socket() -> Iterator[NotifySocket]:
    # a short directory: unix socket paths are limited to 108 bytes
    with tempfile.TemporaryDirectory(prefix="dynopypi-notify-") as directory:
        sock = NotifySocket(Path(directory))
        yield sock
        sock.close()


@pytest.fixture
def service(tmp_path: Path, notify_socket: NotifySocket) -> Iterator[Service]:
    packages = tmp_path / "packages"
    packages.mkdir()
    make_wheel(packages, "lib", "1.0")
    make_wheel(packages, "app", "1.0", requires=["lib"])
    svc = Service(tmp_path, packages, notify_socket)
    yield svc
    svc.stop()


def test_sd_notify_ready_reload_stopping(service: Service, notify_socket: NotifySocket) -> None:
    service.start()
    assert service.proc is not None
    ready = notify_socket.wait_for("READY=1", timeout=STARTUP_TIMEOUT, proc=service.proc)
    # at the moment systemd hears READY=1 the service must answer (no retry, no polling)
    health = fetch(f"{service.base}/health")
    assert health.status_code == 200, service.logs()
    state = fetch(f"{service.base}/ready")
    assert state.status_code == 200, service.logs()
    assert state.json()["index_loaded"] is True
    assert "STATUS=serving 2 files" in ready.splitlines(), ready

    # systemctl reload: RELOADING=1 (with the monotonic time systemd 253+ wants), then READY=1
    os.kill(service.proc.pid, signal.SIGHUP)
    reloading = notify_socket.wait_for("RELOADING=1", timeout=10, proc=service.proc)
    assert any(line.startswith("MONOTONIC_USEC=") for line in reloading.splitlines()), reloading
    notify_socket.wait_for("READY=1", timeout=10, proc=service.proc)
    assert service.proc.poll() is None, service.logs()

    # systemctl stop: STOPPING=1, then a clean exit well within TimeoutStopSec
    started = time.monotonic()
    os.kill(service.proc.pid, signal.SIGTERM)
    notify_socket.wait_for("STOPPING=1", timeout=STOP_BOUND, proc=service.proc)
    code = service.proc.wait(timeout=STOP_BOUND)
    assert code == 0, service.logs()
    assert time.monotonic() - started < STOP_BOUND
    assert "stopped" in service.logs()


def test_without_notify_socket_nothing_breaks(
    server_factory: ServerFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Outside systemd (no NOTIFY_SOCKET, or a dead one) the server starts and stops."""
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "nobody-listens-here"))
    packages = tmp_path / "packages"
    packages.mkdir()
    server = server_factory(packages)
    assert server.get("/health").status_code == 200
    assert server.proc is not None
    os.kill(server.proc.pid, signal.SIGTERM)
    assert server.proc.wait(timeout=STOP_BOUND) == 0, server.logs()


# --------------------------------------------------------------------------- SIGTERM drain


def test_sigterm_finishes_download_in_flight(
    server_factory: ServerFactory, tmp_path: Path, helpers: Helpers
) -> None:
    packages = tmp_path / "packages"
    packages.mkdir()
    wheel = make_wheel(packages, "huge", "1.0", payload=os.urandom(50 * 2**20))
    expected = helpers.sha256_file(wheel)
    server = server_factory(packages)
    proc = server.proc
    assert proc is not None

    digest = hashlib.sha256()
    size = 0
    with requests.get(server.url(f"/packages/{wheel.name}"), stream=True, timeout=TIMEOUT) as r:
        assert r.status_code == 200, server.explain(r)
        chunks = r.iter_content(64 * 1024)
        for _ in range(16):  # a slow reader: 1 MiB of 50, then the stop comes
            chunk = next(chunks)
            digest.update(chunk)
            size += len(chunk)
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGTERM)

        def refused() -> bool:
            try:
                socket.create_connection(("127.0.0.1", server.port), timeout=2).close()
            except ConnectionRefusedError:
                return True
            return False

        # no new connections while the old one is still being served
        helpers.poll_until(refused, timeout=10, message="the listener stayed open")
        assert proc.poll() is None, "the server exited with a download in flight"
        for chunk in chunks:
            digest.update(chunk)
            size += len(chunk)
    assert size == wheel.stat().st_size, server.logs()
    assert digest.hexdigest() == expected
    assert proc.wait(timeout=STOP_BOUND) == 0, server.logs()
    logs = server.logs()
    assert "finishing requests in flight" in logs and "stopped" in logs, logs


def test_sigterm_idle_server_exits_quickly(server_factory: ServerFactory, tmp_path: Path) -> None:
    """Idle keep-alive connections do not hold the stop up until the drain timeout."""
    packages = tmp_path / "packages"
    packages.mkdir()
    make_wheel(packages, "lib", "1.0")
    server = server_factory(packages)
    proc = server.proc
    assert proc is not None
    with requests.Session() as session:  # leaves a keep-alive connection open
        assert session.get(server.url("/simple/"), timeout=TIMEOUT).status_code == 200
        started = time.monotonic()
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=STOP_BOUND) == 0, server.logs()
    assert time.monotonic() - started < 5.0, server.logs()


# --------------------------------------------------------------------------- SIGHUP


def test_sighup_reloads_accounts(
    server_factory: ServerFactory, tmp_path: Path, helpers: Helpers
) -> None:
    packages = tmp_path / "packages"
    packages.mkdir()
    htpasswd = tmp_path / "htpasswd"
    add_account(htpasswd, "alice", "alice-password")
    server = server_factory(packages, "-P", str(htpasswd))
    proc = server.proc
    assert proc is not None

    add_account(htpasswd, "bob", "bob-password")
    os.kill(proc.pid, signal.SIGHUP)
    helpers.poll_until(
        lambda: "reloaded accounts" in server.logs(),
        timeout=10,
        message=lambda: f"no reload logged\n{server.logs()}",
    )
    assert proc.poll() is None, server.logs()
    assert server.get("/health").status_code == 200

    wheel = make_wheel(tmp_path, "bobs-package", "1.0")
    result = twine_upload(f"{server.base}/", ("bob", "bob-password"), [wheel])
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}\n{server.logs()}"
    assert (packages / wheel.name).read_bytes() == wheel.read_bytes()

    # several reloads in a row: still serving, and a deleted account is gone at once
    delete_account(htpasswd, "bob")
    for _ in range(3):
        os.kill(proc.pid, signal.SIGHUP)
    helpers.poll_until(
        lambda: server.logs().count("reloaded accounts") >= 2,
        timeout=10,
        message="no second reload logged",
    )
    assert proc.poll() is None, server.logs()
    refused = server.request(
        "POST",
        "/",
        data={":action": "remove_pkg", "name": "bobs-package", "version": "1.0"},
        auth=("bob", "bob-password"),
    )
    with refused:
        assert refused.status_code == 401, server.explain(refused)
    assert (packages / wheel.name).exists()


# --------------------------------------------------------------------------- /ready


def test_log_file_survives_logrotate(
    server_factory: ServerFactory, tmp_path: Path, helpers: Helpers
) -> None:
    """logrotate moves the file away; the next lines go to a new file at the same path."""
    packages = tmp_path / "pkgs"
    packages.mkdir()
    log_file = tmp_path / "dynopypi.log"
    srv = server_factory(packages, "--log-file", str(log_file))
    assert srv.get("/simple/").status_code == 200
    helpers.poll_until(lambda: "GET /simple/ 200" in log_file.read_text())
    log_file.rename(tmp_path / "dynopypi.log.1")
    assert srv.get("/packages/").status_code == 200
    helpers.poll_until(
        lambda: log_file.exists() and "GET /packages/ 200" in log_file.read_text(),
        message="the access log should be written to a new file after the rotation",
    )
    assert "GET /packages/" not in (tmp_path / "dynopypi.log.1").read_text()
