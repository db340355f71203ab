"""Ansible for the deployment tests (tests/deploy/test_ansible*.py): the playbook run from
this checkout's venv over SSH, with settings of the test's own (no ~/.ansible, no
``ANSIBLE_*`` of the caller's), and its recap read back per host."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from support.podman import REPO, Container
from support.processes import forbidden_in_unit_run

ANSIBLE_DIR = REPO / "deploy" / "ansible"
BIN = Path(sys.executable).parent


@dataclass
class Run:
    result: subprocess.CompletedProcess[str]
    seconds: float = 0.0

    @property
    def output(self) -> str:
        return f"{self.result.stdout}\n{self.result.stderr}"

    def recap(self, host: str = "target") -> dict[str, int]:
        """The PLAY RECAP counters of ``host`` (ok, changed, failed, ...)."""
        match = re.search(rf"^{re.escape(host)}\s+:\s+(.*)$", self.result.stdout, re.MULTILINE)
        assert match, self.output[-6000:]
        return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", match.group(1))}


def tool(name: str) -> str:
    path = BIN / name
    assert path.exists(), f"{name} is missing: pip install -e '.[deploy]'"
    return str(path)


def run(
    args: list[str | Path],
    *,
    timeout: float = 600,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    forbidden_in_unit_run(f"{Path(str(args[0])).name} (deployment tests)")
    return subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=timeout, check=False,
        stdin=subprocess.DEVNULL, env=env, cwd=cwd,
    )  # fmt: skip


def ansible_env(work: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(
        ANSIBLE_CONFIG=str(work / "ansible.cfg"),
        ANSIBLE_HOME=str(work / "ansible-home"),
        ANSIBLE_NOCOLOR="1",
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
    )
    return env


def write_config(work: Path) -> None:
    """ansible.cfg: throwaway host keys, pipelining, one SSH connection kept per host."""
    (work / "ansible.cfg").write_text(
        "[defaults]\nhost_key_checking = False\nstdout_callback = default\n"
        "[ssh_connection]\npipelining = True\n"
        "ssh_args = -o UserKnownHostsFile=/dev/null -o StrictHostKeyChecking=no "
        "-o ControlMaster=auto -o ControlPersist=120s\n"
    )


def playbook(work: Path, *options: str) -> Run:
    """site.yml with work/inventory.ini and the variables of work/vars.json (and
    ``options``, e.g. ``--diff``, which shows what changed in each file unless no_log)."""
    began = time.monotonic()
    result = run(
        [tool("ansible-playbook"), "-i", work / "inventory.ini", "-e", f"@{work / 'vars.json'}",
         *options, ANSIBLE_DIR / "site.yml"],
        env=ansible_env(work), timeout=900,
    )  # fmt: skip
    return Run(result, time.monotonic() - began)


def ssh_key(work: Path) -> Path:
    key = work / "id_ed25519"
    assert run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key]).returncode == 0
    return key


def localhost_certificate(work: Path) -> tuple[Path, Path]:
    """A self-signed certificate for localhost and its key, in work/."""
    cert, key = work / "localhost.crt", work / "localhost.key"
    made = run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
         "-keyout", key, "-out", cert],
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    return cert, key


def build_wheel(work: Path) -> Path:
    """dynopypi's wheel from this checkout, in work/dist."""
    built = run([sys.executable, "-m", "build", "--wheel", "--outdir", work / "dist", REPO])
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = (work / "dist").glob("*.whl")
    return wheel


def wait_for_ssh(work: Path, *containers: Container) -> None:
    """Until every host of the inventory answers Ansible's ping (sshd is up)."""
    deadline = time.monotonic() + 60
    while True:
        ping = run([tool("ansible"), "-i", work / "inventory.ini", "all", "-m", "ping"],
                   env=ansible_env(work), timeout=120)  # fmt: skip
        if ping.returncode == 0:
            return
        logs = "".join(box.logs() for box in containers)
        assert time.monotonic() < deadline, ping.stdout + ping.stderr + logs
        time.sleep(1)
