"""The first hour of a new user and an operator (issue 11): the real ``dynopypi`` console
script, as a person runs it, never answers with a traceback or a silent surprise.

- failures to start are one line naming the address and what to do (busy port, unknown
  host, port out of range, privileged port, a log file in a missing directory);
- a mistyped package directory is an error; only the default ``~/packages`` is created,
  with a warning line naming it; ``passwd`` never creates directories;
- ``-q`` drops only the access log, ``-v`` adds debug lines;
- ``--version``, the ``Server`` header and the welcome page agree with the package metadata;
- ``run --bogus`` shows ``run``'s usage; ``yank --file`` and ``unyank`` say what matched.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from support.fakedist import make_sdist, make_wheel
from support.net import free_port, healthy, wait_ready
from support.processes import stop_process

SCRIPT = Path(sys.executable).parent / "dynopypi"  # the console script pip installed
TIMEOUT = 60


def env_for(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DYNOPYPI_")}
    env.update(HOME=str(home), XDG_CACHE_HOME=str(home / "cache"), PYTHONUNBUFFERED="1")
    return env


def dynopypi(
    *args: str | Path, home: Path, prefix: tuple[str, ...] = (), stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    """The console script without a controlling terminal (as under CI or a pipe)."""
    return subprocess.run(
        [*prefix, str(SCRIPT), *map(str, args)],
        env=env_for(home),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
        start_new_session=True,
    )


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("dynopypi: error: "), lines[0]
    return lines[0]


@pytest.fixture
def pkg(tmp_path: Path) -> Path:
    path = tmp_path / "packages"
    path.mkdir()
    return path


# --------------------------------------------------------------------------- starting


def test_port_in_use_is_one_line(tmp_path: Path, pkg: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = one_error_line(dynopypi("run", "-p", port, pkg, home=tmp_path))
    assert f"127.0.0.1:{port}" in line and "already in use" in line and "-p" in line, line


def test_unresolvable_host_is_one_line(tmp_path: Path, pkg: Path) -> None:
    line = one_error_line(dynopypi("run", "-i", "no-such-host.invalid", pkg, home=tmp_path))
    assert "no-such-host.invalid" in line and "resolve" in line, line


@pytest.mark.parametrize("port", ["65536", "-1", "http"])
def test_port_out_of_range_is_one_line(tmp_path: Path, pkg: Path, port: str) -> None:
    line = one_error_line(dynopypi("run", f"--port={port}", pkg, home=tmp_path))
    assert "port" in line and port in line, line


def test_privileged_port_is_one_line(tmp_path: Path, pkg: Path) -> None:
    """As root, the test drops CAP_NET_BIND_SERVICE (what an ordinary user lacks)."""
    low = int(Path("/proc/sys/net/ipv4/ip_unprivileged_port_start").read_text())
    assert low > 1, "this host lets everyone bind port 1; the test needs a privileged port"
    prefix = ("setpriv", "--bounding-set=-net_bind_service") if os.geteuid() == 0 else ()
    line = one_error_line(dynopypi("run", "-p", "1", pkg, home=tmp_path, prefix=prefix))
    assert "127.0.0.1:1" in line and "1024" in line, line


def test_log_file_in_a_missing_directory_is_one_line(tmp_path: Path, pkg: Path) -> None:
    log = tmp_path / "no-such-dir" / "dynopypi.log"
    line = one_error_line(dynopypi("run", "--log-file", log, pkg, home=tmp_path))
    assert str(log.parent) in line, line


# --------------------------------------------------------------------------- directories


def test_a_mistyped_package_directory_is_an_error(tmp_path: Path) -> None:
    typo = tmp_path / "pakages"
    for command in ("run", "check-config"):
        line = one_error_line(dynopypi(command, typo, home=tmp_path))
        assert str(typo) in line and "does not exist" in line, line
    line = one_error_line(dynopypi("yank", "foo", "1.0", "-d", typo, home=tmp_path))
    assert str(typo) in line
    assert not typo.exists()


class Running:
    """``dynopypi run`` (the console script) on a free port until ``stop``."""

    def __init__(self, home: Path, *args: str | Path) -> None:
        self.home = home
        self.log = home / f"server-{time.monotonic_ns()}.log"
        for _attempt in range(3):  # the port can be taken between choosing and binding
            self.port = free_port()
            with self.log.open("wb") as out:
                self.proc = subprocess.Popen(
                    [str(SCRIPT), "run", "-p", str(self.port), *map(str, args)],
                    env=env_for(home), stdout=out, stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL, start_new_session=True,
                )  # fmt: skip
            problem = wait_ready(healthy(self.port), timeout=TIMEOUT, process=self.proc)
            if not problem:
                return
            stop_process(self.proc)
            if "already in use" not in self.output():
                break
        pytest.fail(f"dynopypi did not start: {problem}\n{self.output()}")

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> str:
        stop_process(self.proc, signal.SIGTERM)
        return self.output()


@pytest.fixture
def running() -> Iterator[list[Running]]:
    started: list[Running] = []
    yield started
    for server in started:
        stop_process(server.proc)


def test_the_default_package_directory_is_created_with_a_warning(
    tmp_path: Path, running: list[Running]
) -> None:
    server = Running(tmp_path)
    running.append(server)
    default = tmp_path / "packages"
    assert default.is_dir()
    output = server.stop()
    warnings = [line for line in output.splitlines() if "WARNING" in line]
    assert any(f"created the package directory {default}" in w for w in warnings), output


def test_passwd_does_not_create_directories(tmp_path: Path) -> None:
    target = tmp_path / "no-such-dir" / "htpasswd"
    result = dynopypi("passwd", "--password-stdin", target, "zed", home=tmp_path, stdin="pw\n")
    line = one_error_line(result)
    assert str(target.parent) in line, line
    assert not target.parent.exists()


def test_passwd_mistakes_are_one_line_and_change_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "conf"
    folder.mkdir()
    line = one_error_line(
        dynopypi("passwd", "--password-stdin", folder, "zed", home=tmp_path, stdin="pw\n")
    )
    assert "is a directory" in line, line
    malformed = tmp_path / "not-htpasswd"
    malformed.write_text("this is no htpasswd line\n")
    result = dynopypi("passwd", "--password-stdin", malformed, "zed", home=tmp_path, stdin="pw\n")
    assert "not an htpasswd file" in one_error_line(result)
    assert malformed.read_text() == "this is no htpasswd line\n"
    # no terminal to prompt on: say how to give the password instead of reading it echoed
    line = one_error_line(dynopypi("passwd", tmp_path / "htpasswd", "zed", home=tmp_path))
    assert "--password-stdin" in line, line
    assert not (tmp_path / "htpasswd").exists()


# --------------------------------------------------------------------------- logging


def test_quiet_drops_only_the_access_log(tmp_path: Path, pkg: Path, running: list[Running]) -> None:
    server = Running(tmp_path, "-q", pkg)
    running.append(server)
    assert requests.get(f"{server.base}/simple/", timeout=30).status_code == 200
    output = server.stop()
    assert f"serving {pkg} on http://127.0.0.1:{server.port}/" in output, output
    assert "stopped" in output, output
    assert "GET /simple/" not in output and "dynopypi.access" not in output, output


def test_verbose_adds_debug_lines(tmp_path: Path, pkg: Path, running: list[Running]) -> None:
    server = Running(tmp_path, "-v", pkg)
    running.append(server)
    assert requests.get(f"{server.base}/simple/", timeout=30).status_code == 200
    response = requests.post(server.base + "/", data={":action": "yank"}, timeout=30)
    assert response.status_code == 403  # no accounts: uploads are refused
    make_wheel(pkg, "debug-me", "1.0")
    deadline = time.monotonic() + 30
    while "file event: debug_me-1.0" not in server.output() and time.monotonic() < deadline:
        time.sleep(0.1)
    output = server.stop()
    assert "GET /simple/" in output, output  # -v keeps the access log
    debug = [line for line in output.splitlines() if " DEBUG " in line]
    assert any("settings: Settings(" in line for line in debug), output
    assert any("refused POST /: 403" in line for line in debug), output
    assert any("file event: debug_me-1.0-py3-none-any.whl" in line for line in debug), output


# --------------------------------------------------------------------------- version


def test_version_header_and_welcome_page_agree_with_the_metadata(
    tmp_path: Path, pkg: Path, running: list[Running]
) -> None:
    version = importlib.metadata.version("dynopypi")
    printed = dynopypi("--version", home=tmp_path)
    assert printed.returncode == 0 and printed.stdout.strip() == f"dynopypi {version}", printed
    server = Running(tmp_path, pkg)
    running.append(server)
    response = requests.get(server.base + "/", timeout=30)
    assert response.headers["Server"] == f"dynopypi/{version}", response.headers
    assert f"dynopypi {version}" in response.text
    # the welcome page's upload instructions work as shown: uv needs the password given
    assert "UV_PUBLISH_PASSWORD" in response.text and "-u USER" in response.text


# --------------------------------------------------------------------------- smaller items


def test_an_unknown_run_flag_shows_runs_usage(tmp_path: Path, pkg: Path) -> None:
    result = dynopypi("run", "--bogus", pkg, home=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("usage: dynopypi run "), result.stderr
    assert "dynopypi run: error: unrecognized arguments: --bogus" in result.stderr
    top = dynopypi("--bogus", home=tmp_path)
    assert top.returncode == 2 and "unrecognized arguments: --bogus" in top.stderr, top.stderr
    for command in (("upstream", "shadowed"), ("upstream", "purge"), ("storage", "copy", "a", "b")):
        sub = dynopypi(*command, "--bogus", home=tmp_path)
        assert sub.returncode == 2 and "Traceback" not in sub.stderr, sub.stderr
        assert f"dynopypi {' '.join(command[:2])}: error: unrecognized arguments: --bogus" in (
            sub.stderr
        ), sub.stderr


def test_yank_a_file_that_is_not_there_names_it(tmp_path: Path, pkg: Path) -> None:
    wheel = make_wheel(pkg, "foo", "1.0")
    sdist = make_sdist(pkg, "foo", "1.0")
    result = dynopypi("yank", "foo", "1.0", "--file", "nothere.whl", "-d", pkg, home=tmp_path)
    line = one_error_line(result)
    assert "nothere.whl" in line and wheel.name in line and sdist.name in line, line
    assert not (pkg / ".dynopypi" / "yanked.json").exists()


def test_unyank_lists_only_what_was_yanked(tmp_path: Path, pkg: Path) -> None:
    wheel = make_wheel(pkg, "foo", "1.0")
    sdist = make_sdist(pkg, "foo", "1.0")
    nothing = dynopypi("unyank", "foo", "1.0", "-d", pkg, home=tmp_path)
    assert nothing.returncode == 0, nothing.stderr
    assert "nothing is yanked" in nothing.stdout and wheel.name not in nothing.stdout
    yank = dynopypi("yank", "foo", "1.0", "--file", sdist.name, "-d", pkg, home=tmp_path)
    assert yank.returncode == 0, yank.stderr
    unyank = dynopypi("unyank", "foo", "1.0", "-d", pkg, home=tmp_path)
    assert unyank.returncode == 0, unyank.stderr
    assert sdist.name in unyank.stdout and wheel.name not in unyank.stdout, unyank.stdout
    assert json.loads((pkg / ".dynopypi" / "yanked.json").read_text()) == {}


def test_http_unyank_lists_only_what_was_yanked(
    tmp_path: Path, pkg: Path, running: list[Running]
) -> None:
    make_wheel(pkg, "foo", "1.0")
    server = Running(tmp_path, "-P", ".", "-a", ".", pkg)
    running.append(server)
    fields = {":action": "unyank", "name": "foo", "version": "1.0"}
    response = requests.post(server.base + "/", data=fields, timeout=30)
    assert response.status_code == 200 and "nothing is yanked" in response.text, response.text
    fields = {":action": "yank", "name": "foo", "version": "1.0", "filename": "nothere.whl"}
    response = requests.post(server.base + "/", data=fields, timeout=30)
    assert response.status_code == 404 and "foo-1.0-py3-none-any.whl" in response.reason
