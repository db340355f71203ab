"""The README's Use and Upload sections, run as written (issue 11: the README's first
upload commands failed as written, so now the test suite runs them).

Every fenced ``sh`` block of the "## Use" and "## Upload" sections (with their
subsections) runs in order, as a person following the README would, in a fresh directory
that plays the checkout. What the test provides, and the only substitutions it makes:

- ``PATH`` starts with a throwaway virtual environment's ``bin`` (``VIRTUAL_ENV``; where
  ``pip install`` and ``uv pip install`` install), then this repository's venv ``bin``
  (``dynopypi``, ``twine``, ``uv``: what ``. .venv/bin/activate`` gives).
- ``HOME`` and ``XDG_CACHE_HOME`` are fresh (no ~/.pypirc, ~/.netrc, caches); ``PIP_*``,
  ``UV_*``, ``TWINE_*`` and ``DYNOPYPI_*`` variables are dropped, pip reads no config file
  and uv none either (``UV_NO_CONFIG``), keyring is the null backend.
- The port: every command gets ``DYNOPYPI_PORT`` (a free port), and ``127.0.0.1:8080`` in
  the text becomes ``127.0.0.1:<that port>``.
- ``PACKAGE`` becomes ``readme-demo``, a wheel the test puts into ``./packages``; ``dist/``
  holds ``foo`` 1.0 (wheel and sdist), standing for the reader's built packages.
- A line starting with ``dynopypi run`` starts a server in the background (the previous one
  stops), as in a second terminal; the test waits for its /health. Before the Use section
  the test starts ``dynopypi run ./packages``, as the Set-up's ``make run`` does.
- The other lines of a block run as one ``bash -e`` script in a pseudo-terminal, and the
  test types alice's password at each password prompt (``dynopypi passwd``, twine,
  ``read -p``, curl), as a person would.
"""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.bucket_server import BucketServerFactory, fill_bucket
from support.clients import NULL_KEYRING
from support.fakedist import make_sdist, make_wheel
from support.helpers import poll_until
from support.net import free_port, healthy, wait_ready
from support.processes import stop_process
from support.seaweed import SeaweedFS

README = Path(__file__).resolve().parents[2] / "README.md"
REPO_BIN = Path(sys.executable).parent
PASSWORD = "alice's readme password 1"
PROMPT = re.compile(rb"(?i)(password[^\n]*:|repeat it:) ?$")
TIMEOUT = 300.0


def sections(text: str, titles: tuple[str, ...]) -> Iterator[str]:
    """The ``sh`` blocks of the ``## `` sections named ``titles``, in README order."""
    current = ""
    in_block = False
    block: list[str] = []
    for line in text.splitlines():
        if line.startswith("## "):
            current = line[3:].strip()
        if current not in titles:
            continue
        if not in_block and line.strip() == "```sh":
            in_block, block = True, []
        elif in_block and line.strip() == "```":
            in_block = False
            yield "\n".join(block)
        elif in_block:
            block.append(line)


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
            pytest.fail(f"the README commands did not finish:\n{script}\n{output.decode()}")
    finally:
        stop_process(proc)
        os.close(master)
    return proc.returncode, output.decode(errors="replace").replace("\r\n", "\n")


class Reader:
    """A person following the README in ``home/checkout`` (see the module docstring)."""

    def __init__(self, tmp: Path) -> None:
        self.checkout = tmp / "checkout"
        (self.checkout / "packages").mkdir(parents=True)
        (self.checkout / "dist").mkdir()
        make_wheel(self.checkout / "packages", "readme-demo", "1.0")
        make_wheel(self.checkout / "dist", "foo", "1.0")
        make_sdist(self.checkout / "dist", "foo", "1.0")
        self.venv = tmp / "client-venv"
        subprocess.run([sys.executable, "-m", "venv", self.venv], check=True, timeout=120)
        self.port = free_port()
        self.server: subprocess.Popen[bytes] | None = None
        self.log = tmp / "servers.log"
        home = tmp / "home"
        home.mkdir()
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("PIP_", "UV_", "TWINE_", "DYNOPYPI_", "VIRTUAL_ENV"))
        }
        env.update(NULL_KEYRING)
        env.update(
            HOME=str(home), XDG_CACHE_HOME=str(home / ".cache"), DYNOPYPI_PORT=str(self.port),
            PATH=os.pathsep.join([str(self.venv / "bin"), str(REPO_BIN), env.get("PATH", "")]),
            VIRTUAL_ENV=str(self.venv), PIP_CONFIG_FILE=os.devnull, UV_NO_CONFIG="1",
            PIP_DISABLE_PIP_VERSION_CHECK="1", PYTHONUNBUFFERED="1", TERM="dumb",
        )  # fmt: skip
        self.env = env
        self.transcript: list[str] = []

    def substitute(self, text: str) -> str:
        return text.replace("127.0.0.1:8080", f"127.0.0.1:{self.port}").replace(
            "PACKAGE", "readme-demo"
        )

    def serve(self, command: str) -> None:
        self.stop()
        with self.log.open("ab") as out:
            self.server = subprocess.Popen(
                ["bash", "-c", f"exec {command}"], cwd=self.checkout, env=self.env,
                stdout=out, stderr=out, stdin=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip
        problem = wait_ready(healthy(self.port), timeout=60, process=self.server)
        assert not problem, f"{command}: {problem}\n{self.log.read_text()}"

    def stop(self) -> None:
        if self.server is not None:
            stop_process(self.server, signal.SIGTERM)
            self.server = None

    def follow(self, block: str) -> None:
        script: list[str] = []
        for line in [*self.substitute(block).splitlines(), None]:
            if line is None or line.startswith("dynopypi run "):
                if script:
                    status, output = in_terminal("\n".join(script), self.checkout, self.env)
                    self.transcript.append(output)
                    assert status == 0, f"{script}\n{output}\n{self.log.read_text()}"
                    script = []
                if line is not None:
                    self.serve(line)
            elif line.strip():
                script.append(line)


@pytest.fixture
def reader(tmp_path: Path) -> Iterator[Reader]:
    person = Reader(tmp_path)
    yield person
    person.stop()


def test_readme_use_and_upload_run_as_written(reader: Reader) -> None:
    text = README.read_text()
    use = list(sections(text, ("Use",)))
    upload = list(sections(text, ("Upload",)))
    assert use and len(upload) >= 4, "the README's Use and Upload sections lost their blocks"

    reader.serve("dynopypi run ./packages")  # the Set-up's `make run`, in another terminal
    for block in use:
        reader.follow(block)
    installed = list(reader.venv.glob("lib/python*/site-packages/readme_demo"))
    assert installed, "\n".join(reader.transcript)

    for block in upload:
        reader.follow(block)
    said = "\n".join(reader.transcript)
    packages = reader.checkout / "packages"
    assert "added 'alice'" in said, said
    assert "yanked foo-1.0" in said and "unyanked" in said, said
    assert "removed foo-1.0" in said, said
    assert not list(packages.glob("foo-*")), said  # uploaded, then removed by the last block


def test_readme_yank_on_a_bucket_runs_as_written(seaweed: SeaweedFS, tmp_path: Path) -> None:
    """The Several machines section's ``dynopypi yank``/``unyank`` block, one line at a
    time, against a bucket served by a replica: the README's bucket and endpoint become a
    fresh bucket (same prefix) of the test's SeaweedFS, its credentials come from the
    environment (as the section's ``export`` gives them), ``dynopypi`` from this venv.
    Every bucket yank the README shows elsewhere is one of these lines."""
    text = README.read_text()
    blocks = [b for b in sections(text, ("Several machines",)) if "dynopypi yank " in b]
    assert len(blocks) == 1, "the Several machines section lost its yank block"
    lines = [line for line in blocks[0].splitlines() if line.strip()]
    assert [line.split()[1] for line in lines] == ["yank", "unyank"], lines
    shown = {
        line.strip()
        for line in text.splitlines()
        if line.strip().startswith(("dynopypi yank ", "dynopypi unyank ")) and "--storage" in line
    }
    assert shown <= set(lines), shown - set(lines)

    url = f"s3://{seaweed.new_bucket('packages')}/pypi"
    dist = tmp_path / "dist"
    dist.mkdir()
    files = sorted([make_wheel(dist, "foo", "1.0").name, make_sdist(dist, "foo", "1.0").name])
    fill_bucket(seaweed, dist, url)
    factory = BucketServerFactory(tmp_path, seaweed)
    try:
        replica = factory.replica(url, "-P", ".", "-a", ".")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DYNOPYPI_"))}
        env.update(seaweed.aws_env(), PATH=os.pathsep.join([str(REPO_BIN), env["PATH"]]))
        for line, yanked in zip(lines, ("broken on Windows", False), strict=True):
            command = line.replace("s3://packages/pypi", url)
            command = command.replace("http://127.0.0.1:8333", seaweed.endpoint_url)
            done = subprocess.run(
                ["bash", "-e", "-c", command], capture_output=True, text=True, timeout=120,
                check=False, env=env, stdin=subprocess.DEVNULL,
            )  # fmt: skip
            assert done.returncode == 0, f"{command}\n{done.stdout}{done.stderr}"
            verb = line.split()[1]
            assert sorted(done.stdout.splitlines()) == [f"{verb}ed {url}/{n}" for n in files]

            def state(want: object = yanked) -> bool:
                _r, doc = replica.project_json("foo")
                return [f.get("yanked", False) for f in doc["files"]] == [want] * len(files)

            poll_until(state, timeout=3.0, message=f"the replica did not show {line!r}")
    finally:
        factory.close()


def test_readme_names_what_an_operator_needs() -> None:
    text = README.read_text()
    for needed in ("dynopypi reindex", "/etc/dynopypi/dynopypi.env", ". .venv/bin/activate",
                   "UV_PUBLISH_PASSWORD", "nginx", "openssl", "Ctrl-C"):  # fmt: skip
        assert needed in text, needed
    ignored = (README.parent / ".gitignore").read_text().split()
    assert "/htpasswd" in ignored  # the README's own example writes ./htpasswd
