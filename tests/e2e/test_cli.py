"""The ``dynopypi`` command line: help, settings validation (one clear line on stderr, a
non-zero exit), ``check-config``, and settings from ``DYNOPYPI_*`` variables and --config.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from support.net import free_port, healthy, wait_ready
from support.processes import port_was_taken, stop_process

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DYNOPYPI = [sys.executable, "-m", "dynopypi"]


def env_without_dynopypi(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DYNOPYPI_")}
    env.update(extra)
    return env


def cli(*args: Any, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*DYNOPYPI, *map(str, args)],
        env=env or env_without_dynopypi(),
        capture_output=True,
        text=True,
        timeout=30,  # a settings error must stop the server before it serves anything
        check=False,
        stdin=subprocess.DEVNULL,
    )


def settings_printed(output: str) -> dict[str, Any]:
    """``check-config`` prints TOML one can paste into the config file."""
    parsed: dict[str, Any] = tomllib.loads(output)["dynopypi"]
    return parsed


@pytest.fixture
def pkg(tmp_path: Path) -> Path:
    path = tmp_path / "pkgs"
    path.mkdir()
    return path


# --------------------------------------------------------------------------- help


def test_run_help_mentions_the_flags() -> None:
    script = Path(sys.executable).parent / "dynopypi"
    for command in ([*DYNOPYPI, "run", "--help"], [str(script), "run", "--help"]):
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=30, check=False,
            env=env_without_dynopypi(),
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        text = result.stdout
        for flag in ("-p", "--port", "-P", "--passwords", "-a", "--authenticate", "-o",
                     "--overwrite", "--max-upload-size", "--hash-algo", "--rights",
                     "--fallback-url", "--cache-dir", "PACKAGES_DIR", "DYNOPYPI_"):  # fmt: skip
            assert flag in text, f"{flag} missing from run --help:\n{text}"


def test_top_level_help_lists_the_commands() -> None:
    result = cli("--help")
    assert result.returncode == 0, result.stderr
    for command in ("run", "passwd", "yank", "unyank", "check-config"):
        assert command in result.stdout
    version = cli("--version")
    assert version.returncode == 0 and version.stdout.startswith("dynopypi "), version


# --------------------------------------------------------------------------- bad settings


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (["-p", "notaport"], ["port"]),
        (["-p", "70000"], ["port"]),
        (["--hash-algo", "crc32"], ["hash_algo", "hash-algo"]),
        (["-a", "list"], ["authenticate"]),
        (["-a", "update,bogus", "-P", "."], ["authenticate"]),
        (["-P", "/nonexistent/htpasswd"], ["passwords"]),
        (["--max-upload-size", "lots"], ["max_upload_size", "max-upload-size"]),
        (["--threads", "0"], ["threads"]),
        (["--rescan-interval", "-1"], ["rescan_interval", "rescan-interval"]),
        (["--cache-control", "soon"], ["cache_control", "cache-control"]),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) and v[0].startswith("-") else None,
)
@pytest.mark.parametrize("command", ["run", "check-config"])
def test_invalid_setting_fails_with_one_line(
    pkg: Path, command: str, args: list[str], names: list[str]
) -> None:
    result = cli(command, "-i", "127.0.0.1", *args, pkg)
    assert result.returncode != 0, result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert any(name in lines[0] for name in names), lines[0]
    assert result.stdout == ""


def test_invalid_environment_value_fails_with_one_line(pkg: Path) -> None:
    result = cli("run", pkg, env=env_without_dynopypi(DYNOPYPI_PORT="eighty"))
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "port" in lines[0] and "eighty" in lines[0], result.stderr


# --------------------------------------------------------------------------- check-config


def test_check_config_prints_the_settings(pkg: Path, tmp_path: Path) -> None:
    result = cli("check-config", "-p", "1234", "--hash-algo", "MD5", "-P", ".", "-a", ".",
                 "--max-upload-size", "2M", "-o", pkg)  # fmt: skip
    assert result.returncode == 0, result.stderr
    settings = settings_printed(result.stdout)
    assert settings["port"] == 1234
    assert settings["hash_algo"] == "md5"
    assert settings["max_upload_size"] == "2M"  # as written
    assert settings["overwrite"] is True
    assert "passwords" not in settings and "# passwords: not set" in result.stdout
    assert settings["roots"] == [str(pkg)]
    assert settings["authenticate"] == []
    # what it prints is a config file that gives the same settings back
    config = tmp_path / "pasted.toml"
    config.write_text(result.stdout)
    again = cli("check-config", "--config", config)
    assert again.returncode == 0, again.stderr
    assert again.stdout == result.stdout


def test_settings_precedence_flag_environment_file(pkg: Path, tmp_path: Path) -> None:
    config = tmp_path / "dynopypi.toml"
    config.write_text('[dynopypi]\nport = 5555\nhash_algo = "sha512"\n')
    from_file = cli("check-config", "--config", config, pkg)
    assert from_file.returncode == 0, from_file.stderr
    assert settings_printed(from_file.stdout)["port"] == 5555

    env = env_without_dynopypi(DYNOPYPI_PORT="4321")
    from_env = cli("check-config", "--config", config, pkg, env=env)
    settings = settings_printed(from_env.stdout)
    assert settings["port"] == 4321
    assert settings["hash_algo"] == "sha512"  # the file still counts for the rest

    from_flag = cli("check-config", "--config", config, "-p", "1111", pkg, env=env)
    assert settings_printed(from_flag.stdout)["port"] == 1111


# --------------------------------------------------------------------------- DYNOPYPI_PORT


@contextlib.contextmanager
def running(args: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*DYNOPYPI, *args], env=env, stdout=out, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        try:
            yield proc
        finally:
            stop_process(proc)


def test_dynopypi_port_environment_variable_is_honoured(pkg: Path, tmp_path: Path) -> None:
    from support.fakedist import make_wheel

    make_wheel(pkg, "env-port", "1.0")
    log = tmp_path / "server.log"
    for _attempt in range(3):  # the port can be taken between choosing and binding it
        port = free_port()
        env = env_without_dynopypi(DYNOPYPI_PORT=str(port), PYTHONUNBUFFERED="1")
        args = ["run", "-i", "127.0.0.1", "--cache-dir", str(tmp_path / "cache"),
                "--rescan-interval", "0", str(pkg)]  # fmt: skip
        with running(args, env, log) as proc:
            if not wait_ready(healthy(port), timeout=60, process=proc):
                with requests.get(f"http://127.0.0.1:{port}/simple/env-port/", timeout=30) as r:
                    assert r.status_code == 200, r.text
                    assert "env_port-1.0-py3-none-any.whl" in r.text
                return
        if not port_was_taken(log, 0):
            break
    pytest.fail(f"the server did not listen on DYNOPYPI_PORT:\n{log.read_text()}")
