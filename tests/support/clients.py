"""Running real clients (pip, uv, twine) as subprocesses that can see only the server under test."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

PIP = [sys.executable, "-m", "pip", "--isolated", "--disable-pip-version-check", "--no-input"]
NULL_KEYRING = {"PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"}  # never ask a desktop


class HasLogs(Protocol):
    """A server under test (dynopypi, nginx) whose logs explain a failure."""

    def logs(self) -> str: ...


def uv_command() -> list[str]:
    """uv from this venv's bin directory, else as a module of this interpreter."""
    exe = Path(sys.executable).parent / "uv"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "uv"]


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for client subprocesses that can see only the server under test.

    This machine configures extra indexes and find-links through ``PIP_*`` variables and
    pip config files; uv reads ``UV_*`` variables. All of them are dropped, and
    ``PIP_CONFIG_FILE=/dev/null`` makes pip skip every config file.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    env["PIP_CONFIG_FILE"] = os.devnull
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    if extra:
        env.update(extra)
    return env


def run_client(
    args: Sequence[Any],
    *,
    cwd: Path | None = None,
    extra_env: Mapping[str, str] | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 300.0,
) -> subprocess.CompletedProcess[str]:
    """Run a client command with :func:`clean_env` (or exactly ``env``); never leaves the
    process behind."""
    return subprocess.run(
        [str(a) for a in args],
        env=dict(env) if env is not None else clean_env(extra_env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def check_ok(result: subprocess.CompletedProcess[str], *servers: HasLogs) -> None:
    """Fail with the command's output and the servers' logs unless it exited 0."""
    logs = "\n".join(server.logs() for server in servers)
    assert result.returncode == 0, (
        f"command failed ({result.returncode}): {result.args}\n"
        f"--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}\n{logs}"
    )


def client_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """:func:`clean_env` without ``TWINE_*`` either, and a keyring that never asks the
    desktop: for clients that send credentials."""
    env = {k: v for k, v in clean_env().items() if not k.startswith("TWINE_")}
    env.update(NULL_KEYRING)
    env.update(extra or {})
    return env


def twine_upload(
    repository_url: str,
    auth: tuple[str, str],
    files: Sequence[Path],
    *,
    config_file: Path | None = None,
    cert: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """``twine upload`` of ``files`` to ``repository_url`` as ``auth``, never prompting;
    ``cert``: the only CA it trusts (requests lets the machine's CA bundle variables win
    over ``--cert``, so they are cleared)."""
    options = ["--config-file", config_file] if config_file is not None else []
    env = {"TWINE_NON_INTERACTIVE": "1"}
    if cert is not None:
        options += ["--cert", cert]
        env.update(REQUESTS_CA_BUNDLE="", CURL_CA_BUNDLE="")
    return run_client(
        [sys.executable, "-m", "twine", "upload", "--disable-progress-bar", "--non-interactive",
         *options, "--repository-url", repository_url, "-u", auth[0], "-p", auth[1], *files],
        env=client_env(env),
    )  # fmt: skip


def pip_install(
    index_url: str, target: Path, *requirements: str
) -> subprocess.CompletedProcess[str]:
    """``pip install --target`` of ``requirements`` alone (no dependencies) from ``index_url``,
    credentials only from the URL (no keyring)."""
    return run_client(
        [*PIP, "install", "--no-cache-dir", "--no-deps", "--keyring-provider", "disabled",
         "--target", target, "--index-url", index_url, *requirements],
        env=client_env(),
    )  # fmt: skip
