"""The container image (deploy/container/Containerfile), built and run with podman.

This is the runbook's test.sh made real: the image runs with a host directory as its
packages volume and an htpasswd file mounted from outside, ``make publish-local`` uploads
dynopypi's own distributions to it (password from ``PS_LOCAL_PASSWD``), pip installs dynopypi
back from it, the file is in the host directory, and the container stops cleanly within 2 s
of SIGTERM. Also as OpenShift runs it (an arbitrary UID in group 0, read-only root).
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import clients, fakedist, net, uploads
from support.podman import REPO, Container, build, leftovers, podman

IMAGE = "localhost/dynopypi:test"
CONTAINERFILE = REPO / "deploy" / "container" / "Containerfile"
PACKAGES = "/var/lib/dynopypi/packages"
HTPASSWD = "/etc/dynopypi/auth/htpasswd"
OPENSHIFT_USER = "1000670000:0"
STOP_BUDGET = 2.0  # seconds from SIGTERM to exit


@pytest.fixture(scope="module")
def image() -> Iterator[str]:
    build(CONTAINERFILE, IMAGE, stages=["build"])
    yield IMAGE
    assert leftovers() == [], "a test left a container behind"


@pytest.fixture
def account(tmp_path: Path) -> tuple[str, str, Path]:
    """A generated account in an htpasswd file, readable by any container user (a secret
    mounted read-only)."""
    user, password = "alice", secrets.token_urlsafe(18)
    path = tmp_path / "htpasswd"
    result = subprocess.run(
        [sys.executable, "-m", "dynopypi", "passwd", path, user, "--password-stdin"],
        input=password + "\n", capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    path.chmod(0o644)
    return user, password, path


@pytest.fixture
def packages(tmp_path: Path) -> Path:
    """The host directory given as the packages volume: writable by group 0, which both the
    image's user (10001:0) and OpenShift's arbitrary UIDs belong to."""
    path = tmp_path / "packages"
    path.mkdir()
    os.chown(path, -1, 0)
    path.chmod(0o2770)
    return path


def run_args(packages: Path, htpasswd: Path, *extra: str) -> tuple[str, ...]:
    return (
        "-p", "127.0.0.1::8080",
        "-v", f"{packages}:{PACKAGES}",
        "-v", f"{htpasswd}:{HTPASSWD}:ro",
        "--health-interval", "disable",  # no systemd timers here; checked by hand below
        *extra,
    )  # fmt: skip


def wait_ready(container: Container) -> int:
    port = container.port(8080)
    problem = net.wait_ready(net.healthy(port, "/ready"), timeout=60)
    assert not problem, f"{problem}\n{container.logs()}"
    return port


def stop_cleanly(container: Container) -> None:
    elapsed = container.stop(timeout=10)
    assert container.state("ExitCode") == "0", container.logs()
    assert elapsed < STOP_BUDGET, f"stop took {elapsed:.1f}s\n{container.logs()}"


def make_publish_local(port: int, user: str, password: str) -> subprocess.CompletedProcess[str]:
    make = shutil.which("make")
    assert make, "make is required"
    env = {k: v for k, v in clients.clean_env().items() if not k.startswith("TWINE_")}
    env.update(clients.NULL_KEYRING)
    env.update({"TWINE_USERNAME": user, "PS_LOCAL_PASSWD": password})
    env.pop("MAKEFLAGS", None)
    return subprocess.run(
        [make, "-C", REPO, "publish-local", "HOST=127.0.0.1", f"PORT={port}"],
        env=env, capture_output=True, text=True, timeout=600, check=False,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip


def pip_install_back(port: int, user: str, password: str, target: Path, name: str) -> None:
    url = f"http://{user}:{password}@127.0.0.1:{port}/simple/"
    clients.check_ok(clients.pip_install(url, target, name))


def test_image_declares_user_volumes_healthcheck(image: str) -> None:
    (inspected,) = json.loads(podman("image", "inspect", image).stdout)
    config = inspected["Config"]
    assert config["User"] == "10001:0"
    assert set(config["Volumes"]) == {PACKAGES, "/var/cache/dynopypi"}
    assert config["StopSignal"] == "SIGTERM"
    assert "/health" in " ".join(inspected["Healthcheck"]["Test"])
    assert not any(v.startswith("DEBIAN_FRONTEND") for v in config["Env"])


def test_publish_local_round_trip(
    image: str, account: tuple[str, str, Path], packages: Path, tmp_path: Path
) -> None:
    user, password, htpasswd = account
    with Container(image, *run_args(packages, htpasswd)) as container:
        port = wait_ready(container)
        (REPO / "dist").mkdir(exist_ok=True)
        theirs = REPO / "dist" / "someone-elses-build.txt"  # dist/ is the user's: kept
        theirs.write_text("kept")
        try:
            published = make_publish_local(port, user, password)
            assert theirs.read_text() == "kept"
        finally:
            theirs.unlink(missing_ok=True)
        assert published.returncode == 0, f"{published.stdout}\n{published.stderr}"
        wheels = sorted((REPO / "build/publish-local").glob("dynopypi-*.whl"))
        assert len(wheels) == 1, wheels
        stored = packages / wheels[0].name
        assert stored.read_bytes() == wheels[0].read_bytes()  # `ls /tmp/packages`
        assert stored.stat().st_uid == 10001
        pip_install_back(port, user, password, tmp_path / "site", "dynopypi")
        assert (tmp_path / "site" / "dynopypi" / "server.py").is_file()
        health = podman("healthcheck", "run", container.name, check=False)
        assert health.returncode == 0, f"{health.stdout}{health.stderr}{container.logs()}"
        stop_cleanly(container)


def test_openshift_arbitrary_uid_read_only_root(
    image: str, account: tuple[str, str, Path], packages: Path, tmp_path: Path
) -> None:
    user, password, htpasswd = account
    wheel = fakedist.make_wheel(tmp_path, "openshift-demo", "1.0")
    extra = ("--user", OPENSHIFT_USER, "--read-only")
    with Container(image, *run_args(packages, htpasswd, *extra)) as container:
        port = wait_ready(container)
        url = f"http://127.0.0.1:{port}/"
        clients.check_ok(clients.twine_upload(url, (user, password), [wheel]))
        assert (packages / wheel.name).stat().st_uid == 1000670000
        pip_install_back(port, user, password, tmp_path / "site", "openshift-demo")
        written = container.exec("touch", "/opt/dynopypi/x")
        assert written.returncode != 0 and "Read-only file system" in written.stderr
        stop_cleanly(container)


def test_sigterm_finishes_upload_in_flight(
    image: str, account: tuple[str, str, Path], packages: Path, tmp_path: Path
) -> None:
    """SIGTERM while an upload is half sent: the upload completes and is stored, then the
    container exits 0, all within the 2 s budget."""
    user, password, htpasswd = account
    wheel = fakedist.make_wheel(tmp_path, "in-flight", "1.0", payload=os.urandom(200_000))
    data = wheel.read_bytes()
    body = uploads.form_body(uploads.file_upload_fields(wheel.name, data), (wheel.name, data))
    with Container(image, *run_args(packages, htpasswd)) as container:
        port = wait_ready(container)
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        with sock:
            token = base64.b64encode(f"{user}:{password}".encode()).decode()
            head = (
                f"POST / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Basic {token}\r\n"
                f"Content-Type: {uploads.MULTIPART}\r\nContent-Length: {len(body)}\r\n\r\n"
            )
            sock.sendall(head.encode() + body[: len(body) // 2])
            time.sleep(0.3)  # the server is reading the body now
            stopping = threading.Thread(target=container.stop, args=(10,))
            started = time.monotonic()
            stopping.start()
            until_logged(container, "finishing requests in flight")
            sock.sendall(body[len(body) // 2 :])
            answer = sock.recv(65536).decode("latin-1")
        stopping.join(timeout=30)
        elapsed = time.monotonic() - started
        assert answer.startswith("HTTP/1.1 200"), f"{answer}\n{container.logs()}"
        assert (packages / wheel.name).read_bytes() == data
        assert container.state("ExitCode") == "0", container.logs()
        assert elapsed < STOP_BUDGET, f"stop took {elapsed:.1f}s\n{container.logs()}"


def until_logged(container: Container, text: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in container.logs():
            return
        time.sleep(0.05)
    raise AssertionError(f"{text!r} not logged\n{container.logs()}")


def test_missing_accounts_file_is_one_clear_line(image: str, packages: Path) -> None:
    with Container(image, "-v", f"{packages}:{PACKAGES}") as container:
        podman("wait", container.name, timeout=60)
        assert container.state("ExitCode") != "0"
        logs = container.logs()
        assert f"passwords: {HTPASSWD} does not exist" in logs, logs
        assert "Traceback" not in logs, logs
