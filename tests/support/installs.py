"""Installing through an index with real pip and uv (``--target``), for the upstream tests:
what is installed, and a public dependency chain to install."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from support.clients import PIP, run_client, uv_command
from support.fakedist import make_wheel

UV_ENV = {"UV_PYTHON_DOWNLOADS": "never", "UV_NO_PROGRESS": "1"}


def pip_install(index_url: str, target: Path, *reqs: str) -> subprocess.CompletedProcess[str]:
    return run_client(
        [*PIP, "install", "--no-cache-dir", "--target", target, "--index-url", index_url, *reqs]
    )


def uv_install(
    index_url: str, target: Path, cache: Path, *reqs: str
) -> subprocess.CompletedProcess[str]:
    return run_client(
        [*uv_command(), "pip", "install", "--no-config", "--cache-dir", cache,
         "--python", sys.executable, "--target", target, "--index-url", index_url, *reqs],
        extra_env=UV_ENV,
    )  # fmt: skip


def installed(target: Path) -> dict[str, str]:
    """module -> version of what a --target install put there."""
    out = {}
    for init in target.glob("*/__init__.py"):
        out[init.parent.name] = init.read_text().split('"')[1]
    return out


def chain(directory: Path) -> None:
    """chain-a -> chain-b -> chain-c, public only."""
    directory.mkdir(parents=True, exist_ok=True)
    make_wheel(directory, "chain-a", "1.0", requires=["chain-b"])
    make_wheel(directory, "chain-b", "1.0", requires=["chain-c>=1"])
    make_wheel(directory, "chain-c", "1.0")
