"""``make ansible-target`` (issue 20: a documented way to try the Ansible role without a
spare host): the ports the person chooses reach the script, which says how to call it when
called wrongly. Starting the container itself is ``make ansible-test``'s kind of work (it
deploys to the same image); here nothing is started."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "deploy" / "ansible" / "try-target.sh"


def test_make_ansible_target_passes_the_chosen_ports() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TARGET_", "MAKE"))}
    shown = subprocess.run(
        ["make", "-s", "-n", "-C", str(REPO), "ansible-target", "TARGET_SSH_PORT=2201",
         "TARGET_HTTP_PORT=8001", "TARGET_HTTPS_PORT=8401", "TARGET_DIR=/tmp/target"],
        capture_output=True, text=True, timeout=60, check=True, env=env,
    )  # fmt: skip
    assert "try-target.sh start /tmp/target 2201 8001 8401" in " ".join(
        shown.stdout.replace("\\\n", " ").split()
    )


def test_the_script_says_how_to_call_it() -> None:
    wrong = subprocess.run(
        ["bash", str(SCRIPT), "start", "/tmp/target"], capture_output=True, text=True,
        timeout=60, check=False,
    )  # fmt: skip
    assert wrong.returncode == 2 and wrong.stderr.startswith("usage: "), wrong
    syntax = subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True, text=True)
    assert syntax.returncode == 0, syntax.stderr
