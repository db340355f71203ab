from __future__ import annotations

from pathlib import Path

import pytest

from dynopypi.errors import ConfigError
from dynopypi.settings.config import build_settings


def test_defaults(tmp_path: Path) -> None:
    settings = build_settings({"roots": [str(tmp_path)]}, environ={})
    assert settings.port == 8080
    assert settings.host == "127.0.0.1"
    assert settings.fallback_url is None  # opt-in only
    assert settings.hash_algo == "sha256"
    assert settings.authenticate == frozenset({"update"})
    assert settings.roots == (tmp_path,)


def test_precedence_flag_env_file(tmp_path: Path) -> None:
    config = tmp_path / "dynopypi.toml"
    config.write_text('[dynopypi]\nport = 7000\nhost = "0.0.0.0"\nthreads = 3\n')
    env = {"DYNOPYPI_PORT": "7100", "DYNOPYPI_THREADS": "5", "UNRELATED": "x"}
    settings = build_settings({"port": "7200", "roots": [str(tmp_path)]}, env, config)
    assert (settings.port, settings.threads, settings.host) == (7200, 5, "0.0.0.0")


def test_env_config_file(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text(f'roots = ["{tmp_path}"]\ncache-control = 60\n')
    settings = build_settings({}, {"DYNOPYPI_CONFIG": str(config)})
    assert settings.cache_control == 60


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ({"port": "http"}, "port: expected a whole number, got 'http'"),
        ({"port": "70000"}, "port: 70000 is outside"),
        ({"hash_algo": "crc32"}, "hash_algo: 'crc32' is not one of"),
        ({"fallback_url": "pypi.org/simple"}, "fallback_url: 'pypi.org/simple' must start"),
        ({"authenticate": "upload"}, "unknown action(s) upload"),
        ({"authenticate": "list", "passwords": "."}, "authenticate: list needs accounts"),
        ({"passwords": "/nonexistent/htpasswd"}, "passwords: /nonexistent/htpasswd does not exist"),
        ({"health_endpoint": "health"}, "health_endpoint: 'health' must be a path"),
        ({"threads": "0"}, "threads: 0 is outside"),
        ({"max_upload_size": "lots"}, "max_upload_size: expected a whole number"),
    ],
)
def test_invalid_settings(tmp_path: Path, flags: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as excinfo:
        build_settings({"roots": [str(tmp_path)], **flags}, environ={})
    assert message in str(excinfo.value)


def test_bad_toml(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("port = = 1")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        build_settings({}, {}, config)


def test_unknown_key_in_file(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text("prot = 1\n")
    with pytest.raises(ConfigError, match="unknown setting"):
        build_settings({}, {}, config)


def test_open_index_and_sizes(tmp_path: Path) -> None:
    settings = build_settings(
        {"roots": [str(tmp_path)], "passwords": ".", "authenticate": ".", "max_upload_size": "2G"},
        environ={},
    )
    assert settings.passwords is None
    assert settings.authenticate == frozenset()
    assert settings.max_upload_size == 2 * 1024**3
