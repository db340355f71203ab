"""A person following the README or a docs page, command by command (tests/e2e/test_docs.py,
tests/e2e/test_readme.py: the commands in the docs cannot drift from the program).

Every fenced ``sh`` block of a page runs in order, in a fresh directory that plays the
checkout. What the reader is given, and the only substitutions made:

- ``PATH`` starts with a throwaway virtual environment's ``bin`` (``VIRTUAL_ENV``, and
  ``PIP_PYTHON`` for this repository's pip: where ``pip install`` and ``uv pip install``
  install), then this repository's venv ``bin``
  (``dynopypi``, ``twine``, ``uv``, ``weed``: what ``. .venv/bin/activate`` gives, so the
  checkout's ``.venv/bin/activate`` is an empty script).
- ``HOME`` and ``XDG_CACHE_HOME`` are fresh (no ~/.pypirc, ~/.netrc, caches); ``PIP_*``,
  ``UV_*``, ``TWINE_*``, ``AWS_*``, ``DYNOPYPI_*`` and make's variables are dropped, pip
  and uv read no config file, keyring is the null backend.
- Ports: every command gets ``DYNOPYPI_PORT`` (a free port) and ``127.0.0.1:8080`` becomes
  ``127.0.0.1:<that port>``; every other port the page names (``127.0.0.1:8281``,
  ``-p 8281``, SeaweedFS's ``-s3.port=8333`` ...) becomes a free port of its own.
- ``https://pypi.org/simple/`` becomes a real dynopypi that serves ``requests`` and its
  dependencies (wheels a month old), the public index of these tests.
- ``PACKAGE`` becomes ``readme-demo``, a wheel in ``./packages``; ``dist/`` holds ``foo``
  1.0 (wheel and sdist), standing for the reader's built packages; ``./htpasswd`` exists
  (empty, as the quickstart's ``touch`` leaves it).
- Servers, as in another terminal: a line starting with ``dynopypi run`` (or
  ``make run``, which is replaced by the command ``make -n run`` shows) starts a server in
  the background, replacing the one on its port, and the reader waits for its /health; a
  line starting with ``weed`` starts SeaweedFS likewise and waits for its S3 port. A
  trailing ``&`` on such a line is dropped.
- One terminal: a shell variable set in one block (``TOKEN=$(...)``, ``read -rsp ...``) is
  there in the next ones; ``export NAME=value ...`` lines also apply to the servers
  started after them.
- The other lines of a block run as one ``bash -e`` script in a pseudo-terminal, and the
  reader types alice's password at each password prompt (``dynopypi passwd``, twine,
  ``read -p``, curl), as a person would.
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.clients import NULL_KEYRING
from support.fakedist import make_sdist, make_wheel
from support.net import free_port, healthy, wait_ready
from support.processes import stop_process
from support.seaweed import _choose_ports

REPO = Path(__file__).resolve().parents[2]
REPO_BIN = Path(sys.executable).parent
PASSWORD = "alice's docs password 1"
PROMPT = re.compile(rb"(?i)(password[^\n]*:|repeat it:) ?$")
TIMEOUT = 300.0
PUBLIC_INDEX = "https://pypi.org/simple/"
DOCS_PORT = 8080
S3_PORT = 8333  # SeaweedFS's S3 port in the docs
# the dependencies of the public index's `requests`, as on PyPI
REQUESTS_DEPENDENCIES = ("charset-normalizer", "idna", "urllib3", "certifi")
WEED_PORT = re.compile(r"-(\w+\.port(?:\.grpc)?)=(\d+)")
OTHER_PORT = re.compile(r"(127\.0\.0\.1:|-p )(\d{4,5})\b")


def sh_blocks(text: str, sections: tuple[str, ...] = ()) -> Iterator[str]:
    """The ``sh`` blocks of ``text`` (only those under the ``## `` sections named
    ``sections``, if given), in order."""
    current = ""
    in_block = False
    block: list[str] = []
    for line in text.splitlines():
        if line.startswith("## ") and not in_block:
            current = line[3:].strip()
        if sections and current not in sections:
            continue
        if not in_block and line.strip() == "```sh":
            in_block, block = True, []
        elif in_block and line.strip() == "```":
            in_block = False
            yield "\n".join(block)
        elif in_block:
            block.append(line)


def commands(block: str) -> list[str]:
    """The block's lines, continuation lines (``\\`` at the end) joined."""
    joined: list[str] = []
    pending = ""
    for line in block.splitlines():
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        joined.append(pending + line)
        pending = ""
    return joined


def make_public_index(directory: Path) -> Path:
    """``requests`` with its dependencies, a month old (older than any cooldown shown)."""
    directory.mkdir(parents=True, exist_ok=True)
    made = [make_wheel(directory, "requests", "2.32.3", requires=REQUESTS_DEPENDENCIES)]
    made += [make_wheel(directory, name, "3.0") for name in REQUESTS_DEPENDENCIES]
    month_ago = time.time() - 30 * 86400
    for path in made:
        os.utime(path, (month_ago, month_ago))
    return directory


def in_terminal(script: str, cwd: Path, env: dict[str, str]) -> tuple[int, str]:
    """Run ``script`` with bash in a pseudo-terminal (its controlling terminal, so getpass
    and curl prompt there), typing PASSWORD at each password prompt. (exit status, output)"""
    master, slave = os.openpty()
    proc = subprocess.Popen(
        ["setsid", "--ctty", "bash", "-e", "-c", script],
        stdin=slave, stdout=slave, stderr=slave, cwd=cwd, env=env,
    )  # fmt: skip
    os.close(slave)
    output, answered = b"", 0
    deadline = time.monotonic() + TIMEOUT
    try:
        while time.monotonic() < deadline:
            ready, _w, _x = select.select([master], [], [], 0.5)
            if not ready:
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: every process of the terminal has exited
                break
            if not chunk:
                break
            output += chunk
            if PROMPT.search(output[answered:].rstrip(b"\r\n")):
                os.write(master, PASSWORD.encode() + b"\n")
                answered = len(output)
        else:
            pytest.fail(f"the commands did not finish:\n{script}\n{output.decode()}")
        # the terminal closes as bash exits, a moment before bash can be waited for: wait,
        # or stop_process would take a shell that is exiting for one still running
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)
    finally:
        stop_process(proc)
        os.close(master)
    return proc.returncode, output.decode(errors="replace").replace("\r\n", "\n")


def tcp_open(port: int) -> str:
    """Empty once something accepts connections on the loopback ``port``."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return ""
    except OSError as exc:
        return f"port {port}: {exc}"


class Reader:
    """A person following a page in ``tmp/checkout`` (see the module docstring)."""

    def __init__(self, tmp: Path, public_index: str) -> None:
        self.checkout = tmp / "checkout"
        (self.checkout / "packages").mkdir(parents=True)
        (self.checkout / "dist").mkdir()
        (self.checkout / "htpasswd").touch()
        (self.checkout / ".venv" / "bin").mkdir(parents=True)
        (self.checkout / ".venv" / "bin" / "activate").write_text("# PATH is set already\n")
        make_wheel(self.checkout / "packages", "readme-demo", "1.0")
        make_wheel(self.checkout / "dist", "foo", "1.0")
        make_sdist(self.checkout / "dist", "foo", "1.0")
        self.venv = tmp / "client-venv"
        # without pip of its own (ten times faster to make): this venv's pip installs into
        # it, told so by PIP_PYTHON (pip's --python)
        subprocess.run(
            [sys.executable, "-m", "venv", "--without-pip", self.venv], check=True, timeout=120
        )
        self.public_index = public_index
        self.port = free_port()
        self.ports: dict[int, int] = {DOCS_PORT: self.port}
        self.weed_ports: dict[str, int] = {}
        self.servers: dict[int, subprocess.Popen[bytes]] = {}
        self.log = tmp / "servers.log"
        self.shell_state = tmp / "shell-variables.sh"  # what one terminal would remember
        self.log.touch()
        home = tmp / "home"
        home.mkdir()
        dropped = ("PIP_", "UV_", "TWINE_", "DYNOPYPI_", "AWS_", "VIRTUAL_ENV", "MAKE", "MFLAGS")
        env = {k: v for k, v in os.environ.items() if not k.startswith(dropped)}
        env.update(NULL_KEYRING)
        env.update(
            HOME=str(home), XDG_CACHE_HOME=str(home / ".cache"), DYNOPYPI_PORT=str(self.port),
            PATH=os.pathsep.join([str(self.venv / "bin"), str(REPO_BIN), env.get("PATH", "")]),
            VIRTUAL_ENV=str(self.venv), PIP_PYTHON=str(self.venv / "bin" / "python"),
            PIP_CONFIG_FILE=os.devnull, UV_NO_CONFIG="1",
            PIP_DISABLE_PIP_VERSION_CHECK="1", PYTHONUNBUFFERED="1", TERM="dumb",
        )  # fmt: skip
        self.env = env
        self.transcript: list[str] = []

    # ---- what the page says, with this machine's ports and index

    def port_for(self, port: int) -> int:
        if port not in self.ports:
            self.ports[port] = free_port()
        return self.ports[port]

    def weed_port(self, flag: str) -> int:
        if not self.weed_ports:
            self.weed_ports = _choose_ports()
        return self.weed_ports[flag]

    def substitute(self, text: str) -> str:
        weed = "-s3.port=" in text or bool(self.weed_ports)

        def other(match: re.Match[str]) -> str:
            port = int(match[2])
            if port == S3_PORT and weed:  # the store's S3 port, wherever the page names it
                return f"{match[1]}{self.weed_port('s3.port')}"
            return f"{match[1]}{self.port_for(port)}"

        text = OTHER_PORT.sub(other, text)
        text = WEED_PORT.sub(lambda m: f"-{m[1]}={self.weed_port(m[1])}", text)
        text = text.replace(PUBLIC_INDEX, self.public_index)
        return re.sub(r"\bPACKAGE\b", "readme-demo", text)

    # ---- servers, as in other terminals

    def make_run(self, line: str) -> str:
        """What ``make run ...`` runs, as make itself says (``make -n``)."""
        args = [*shlex.split(line)[2:], f"PORT={self.port}", "PACKAGES=./packages"]
        # not the make that runs the tests (make test): its MAKEFLAGS would add -w's lines
        env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
        shown = subprocess.run(
            ["make", "-s", "-n", "--no-print-directory", "-C", str(REPO), "run", *args],
            capture_output=True, text=True, timeout=60, check=True, env=env,
        )  # fmt: skip
        runs = [line for line in shown.stdout.splitlines() if "/dynopypi run " in line]
        assert runs, f"make -n run shows no dynopypi run:\n{shown.stdout}"
        command = runs[-1].split("/dynopypi run ", 1)
        assert len(command) == 2, f"make -n run shows no dynopypi run:\n{shown.stdout}"
        return "dynopypi run " + command[1]

    def serve(self, command: str) -> None:
        command = command.rstrip().removesuffix("&").strip()
        if command.startswith("make run"):
            command = self.make_run(command)
        if command.startswith("weed "):
            port = self.weed_port("s3.port")
            probe = lambda: tcp_open(port)  # noqa: E731
        else:
            given = re.search(r"(?:^| )(?:-p|--port)[ =](\d+)", command)
            port = int(given[1]) if given else self.port
            probe = healthy(port)
        self.stop(port)
        with self.log.open("ab") as out:
            self.servers[port] = subprocess.Popen(
                ["bash", "-c", f"exec {command}"], cwd=self.checkout, env=self.env,
                stdout=out, stderr=out, stdin=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip
        problem = wait_ready(probe, timeout=60, process=self.servers[port])
        assert not problem, f"{command}: {problem}\n{self.log.read_text()}"

    def stop(self, port: int | None = None) -> None:
        for each in list(self.servers) if port is None else [port]:
            server = self.servers.pop(each, None)
            if server is not None:
                stop_process(server, signal.SIGTERM)

    # ---- the page

    def add_account(self) -> None:
        """alice, as the quickstart leaves her in ./htpasswd."""
        self.run([f"printf '%s\\n' {shlex.quote(PASSWORD)} | dynopypi passwd ./htpasswd alice "
                  "--password-stdin"])  # fmt: skip

    def run(self, script: list[str]) -> None:
        """Run ``script`` in the reader's shell: the variables earlier blocks set are there."""
        state = shlex.quote(str(self.shell_state))
        keep = ['__seen=" $(compgen -v | tr "\\n" " ") "', f"[ ! -f {state} ] || . {state}"]
        keep_after = [
            'for __v in $(compgen -v); do case "$__seen" in *" $__v "*) continue;; esac',
            '  case $__v in __*|BASH*|PIPESTATUS|_) ;; *) declare -p "$__v";; esac',
            f"done > {state}",
        ]
        whole = "\n".join([*keep, *script, *keep_after])
        status, output = in_terminal(whole, self.checkout, self.env)
        self.transcript.append(output)
        assert status == 0, f"{script} -> {status}\n{output}\n{self.log.read_text()[-6000:]}"

    def follow(self, block: str) -> None:
        script: list[str] = []
        for line in commands(self.substitute(block)):
            if line.startswith(("dynopypi run ", "make run", "weed ")):
                if script:
                    self.run(script)
                    script = []
                self.serve(line)
                continue
            if line.startswith("export "):
                for word in shlex.split(line)[1:]:
                    name, _eq, value = word.partition("=")
                    self.env[name] = value
            if line.strip():
                script.append(line)
        if script:
            self.run(script)

    def installed(self, *names: str) -> list[str]:
        """Which of ``names`` are installed in the reader's virtual environment."""
        site = next(self.venv.glob("lib/python*/site-packages"))
        return [n for n in names if list(site.glob(f"{n.replace('-', '_')}-*.dist-info"))]
