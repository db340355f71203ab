"""The accounts file as docs/container.md mounts it (issue 20: container docs for a normal
host; when and why the htpasswd file must be readable by the container's user, and the
production ways): each variant the page gives, run with the image.

- A file only its owner's group may read (0640), group 0: the container's user (10001:0)
  reads it; the accounts are mounted as a directory, so an account added on the host with
  ``dynopypi passwd`` (which replaces the file) logs in without a restart.
- A file the container's user may not read: the container stops with one line naming it.
- A podman secret mounted for uid 10001, mode 0400.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from support import net
from support.podman import REPO, Container, build, leftovers, podman

IMAGE = "localhost/dynopypi:test"
CONTAINERFILE = REPO / "deploy" / "container" / "Containerfile"
AUTH_DIR = "/etc/dynopypi/auth"
HTPASSWD = f"{AUTH_DIR}/htpasswd"
LISTING_NEEDS_AN_ACCOUNT = ("-e", "DYNOPYPI_AUTHENTICATE=update,download,list")
NOGROUP = 65534


@pytest.fixture(scope="module")
def image() -> Iterator[str]:
    build(CONTAINERFILE, IMAGE, stages=["build"])  # cached layers: seconds after test_container
    yield IMAGE
    assert leftovers() == [], "a test left a container behind"


def passwd(path: Path, user: str, password: str) -> None:
    """``dynopypi passwd --password-stdin``, as the page's reader runs it on the host."""
    result = subprocess.run(
        [sys.executable, "-m", "dynopypi", "passwd", path, user, "--password-stdin"],
        input=password + "\n", capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


def status(port: int, user: str, password: str) -> int:
    url = f"http://127.0.0.1:{port}/simple/"
    return requests.get(url, auth=(user, password), timeout=10).status_code


def ready_port(container: Container) -> int:
    port = container.port(8080)
    problem = net.wait_ready(net.healthy(port, "/ready"), timeout=60)
    assert not problem, f"{problem}\n{container.logs()}"
    return port


def test_group_readable_directory_mount_sees_new_accounts(image: str, tmp_path: Path) -> None:
    auth = tmp_path / "auth"
    auth.mkdir()
    alice, bob = secrets.token_urlsafe(12), secrets.token_urlsafe(12)
    passwd(auth / "htpasswd", "alice", alice)
    os.chown(auth / "htpasswd", -1, 0)  # chgrp 0, mode 0640 as dynopypi passwd made it
    assert (auth / "htpasswd").stat().st_mode & 0o777 == 0o640
    args = ("-p", "127.0.0.1::8080", "-v", f"{auth}:{AUTH_DIR}:ro", *LISTING_NEEDS_AN_ACCOUNT)
    with Container(image, "--health-interval", "disable", *args) as container:
        port = ready_port(container)
        assert status(port, "alice", alice) == 200
        assert status(port, "bob", bob) == 401
        passwd(auth / "htpasswd", "bob", bob)  # a new file renamed into place
        problem = net.wait_ready(
            lambda: "" if status(port, "bob", bob) == 200 else "401", timeout=10
        )
        assert not problem, f"bob's new account was not seen\n{container.logs()}"


def test_a_file_the_container_user_cannot_read_is_one_clear_line(
    image: str, tmp_path: Path
) -> None:
    path = tmp_path / "htpasswd"
    passwd(path, "alice", secrets.token_urlsafe(12))
    os.chown(path, -1, NOGROUP)  # 0640, a group the container's user is not in
    with Container(image, "--health-interval", "disable", "-v", f"{path}:{HTPASSWD}:ro") as box:
        podman("wait", box.name, timeout=60)
        logs = box.logs()
        assert box.state("ExitCode") != "0", logs
        assert f"passwords: cannot read {HTPASSWD}: Permission denied" in logs, logs
        assert "Traceback" not in logs, logs


def test_a_podman_secret_for_the_container_user(image: str, tmp_path: Path) -> None:
    path = tmp_path / "htpasswd"
    password = secrets.token_urlsafe(12)
    passwd(path, "alice", password)
    name = f"dynopypi-test-htpasswd-{uuid.uuid4().hex[:8]}"
    podman("secret", "create", name, path)
    try:
        secret = f"{name},type=mount,target={HTPASSWD},uid=10001,mode=0400"
        args = ("-p", "127.0.0.1::8080", "--secret", secret, *LISTING_NEEDS_AN_ACCOUNT)
        with Container(image, "--health-interval", "disable", *args) as container:
            port = ready_port(container)
            assert status(port, "alice", password) == 200
            assert status(port, "alice", "wrong") == 401
    finally:
        podman("secret", "rm", name, check=False)
