"""Settings: one frozen dataclass, built once from CLI flags, ``DYNOPYPI_*`` and a TOML file.

Precedence is flag > environment > config file > default. Every value is validated here,
so a bad setting fails at start with one line naming the setting, and nothing downstream
reads the environment.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from dynopypi.auth.identity import ACTIONS
from dynopypi.errors import ConfigError
from dynopypi.settings.converters import as_bool, as_float, as_int, as_size
from dynopypi.settings.ldap import LDAP_CONVERTERS, check_ldap
from dynopypi.settings.operations import OPERATIONS_CONVERTERS
from dynopypi.settings.storage import STORAGE_CONVERTERS
from dynopypi.settings.toml import load_toml
from dynopypi.settings.upstream import UPSTREAM_CONVERTERS

ENV_PREFIX = "DYNOPYPI_"


def _default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "dynopypi"


DEFAULT_ROOTS = (Path("~/packages").expanduser(),)


@dataclass(frozen=True)
class Settings:
    roots: tuple[Path, ...] = DEFAULT_ROOTS
    host: str = "127.0.0.1"
    port: int = 8080
    fallback_url: str | None = None
    hash_algo: str | None = "sha256"
    welcome: Path | None = None
    cache_control: int | None = None
    health_endpoint: str = "/health"
    log_file: Path | None = None
    verbosity: int = 0
    cache_dir: Path = field(default_factory=_default_cache_dir)
    rescan_interval: float = 60.0
    threads: int = 8
    # write path and accounts
    passwords: Path | None = None
    rights: Path | None = None  # default: <passwords>.rights
    authenticate: frozenset[str] = frozenset({"update"})
    overwrite: bool = False
    max_upload_size: int = 1024**3
    # trusted publishing (OIDC identity tokens exchanged for short-lived API tokens)
    oidc_audience: str = "dynopypi"
    oidc_token_ttl: int = 900  # PEP 807: from 15 minutes to 6 hours
    # behind a reverse proxy
    trusted_proxies: tuple[str, ...] = ()
    x_accel_redirect: str | None = None  # e.g. "/_dynopypi_files/": nginx sends the bytes
    pages_dir: Path | None = None  # pages and file links published for nginx (site/)
    ready_endpoint: str = "/ready"
    # public packages through this index (upstream pull-through cache)
    upstream: tuple[str, ...] = ()
    upstream_ttl: float = 600.0
    upstream_timeout: float = 10.0
    private: tuple[str, ...] = ()
    private_check: bool = False  # look private names up upstream, for evidence only
    merge: tuple[str, ...] = ()
    min_age: float = 0.0
    min_age_exempt: tuple[str, ...] = ()
    min_age_unknown: str = "exclude"
    upstream_cache_max: int | None = None
    upstream_files_host: tuple[str, ...] = ()  # hosts upstream files may come from
    # an S3-compatible bucket instead of the package directories (settings.storage)
    storage: str | None = None
    s3_endpoint: str | None = None
    s3_presigned_downloads: bool = False
    s3_cache_max: int = 2 * 1024**3
    s3_list_interval: float = 600.0  # a listing of 60,000 objects costs ~3 s of CPU
    s3_journal_keep: float = 600.0  # journal entries the manifest covers go at this age
    # sign-in with an LDAP / Active Directory account (settings.ldap)
    ldap_url: tuple[str, ...] = ()
    ldap_start_tls: bool = False
    ldap_ca_file: Path | None = None
    ldap_user_dn: str | None = None  # bind mode: 'uid={user},ou=people,dc=example,dc=org'
    ldap_bind_dn: str | None = None  # search mode: the service account...
    ldap_bind_password_file: Path | None = None  # ...and the file with its password
    ldap_search_base: str | None = None
    ldap_search_filter: str = "(uid={user})"
    ldap_group_base: str | None = None
    ldap_group_filter: str | None = None  # e.g. '(member={dn})'; default: memberOf
    ldap_timeout: float = 5.0
    ldap_cache_ttl: float = 60.0
    ldap_shadow_local: bool = False  # may a directory account sign in as an htpasswd name
    # operations (settings.operations): metrics and quotas
    metrics: bool = True  # /metrics for accounts (and on metrics_listen, for anyone there)
    metrics_listen: str | None = None  # HOST:PORT of a listener that serves only /metrics
    quota_project: int | None = None  # bytes one project may hold (None: no limit)
    quota_total: int | None = None  # bytes the whole index may hold
    quota_overrides: tuple[tuple[str, int], ...] = ()  # (glob, bytes; 0 = no limit)

    @property
    def primary_root(self) -> Path:
        """Uploads go here; the first package directory given."""
        return self.roots[0]


def _as_path(value: Any) -> Path:
    return Path(str(value)).expanduser()


def _as_optional_path(value: Any) -> Path | None:
    """pypiserver spells 'none' as '.' (``-P .``)."""
    text = str(value).strip()
    return None if text in ("", ".") else Path(text).expanduser()


def _as_roots(value: Any) -> tuple[Path, ...]:
    items = value.split(os.pathsep) if isinstance(value, str) else list(value)
    roots = tuple(Path(str(item)).expanduser() for item in items if str(item).strip())
    if not roots:
        raise ConfigError("roots: at least one package directory is needed")
    return roots


def _as_hash_algo(value: Any) -> str | None:
    text = str(value).strip().lower()
    if text in ("", "off", "none", "false", "0"):
        return None
    if text not in hashlib.algorithms_guaranteed or text.startswith("shake_"):
        allowed = sorted(a for a in hashlib.algorithms_guaranteed if not a.startswith("shake"))
        raise ConfigError(f"hash_algo: {value!r} is not one of {', '.join(allowed)}, or off")
    return text


def _as_actions(value: Any) -> frozenset[str]:
    items = value.split(",") if isinstance(value, str) else list(value)
    actions = {str(item).strip().lower() for item in items} - {"", "."}
    unknown = actions - set(ACTIONS)
    if unknown:
        raise ConfigError(
            f"authenticate: unknown action(s) {', '.join(sorted(unknown))}; "
            f"use a comma-separated subset of {', '.join(ACTIONS)}, or '.' for none"
        )
    return frozenset(actions)


def _as_endpoint(name: str) -> Callable[[Any], str]:
    def convert(value: Any) -> str:
        text = str(value).strip()
        reserved = text in ("/",) or text.startswith(("/simple", "/packages", "/pypi/"))
        if not text.startswith("/") or reserved:
            raise ConfigError(f"{name}: {text!r} must be a path like /health")
        return text

    return convert


def _as_networks(value: Any) -> tuple[str, ...]:
    items = value.replace(",", " ").split() if isinstance(value, str) else list(value)
    for item in items:
        try:
            ipaddress.ip_network(str(item), strict=False)
        except ValueError:
            raise ConfigError(
                f"trusted_proxies: {item!r} is not an IP address or network (e.g. 127.0.0.1, "
                "10.0.0.0/8)"
            ) from None
    return tuple(str(item) for item in items)


def _as_accel_prefix(value: Any) -> str | None:
    text = str(value).strip()
    if not text:
        return None
    if not text.startswith("/"):
        raise ConfigError(f"x_accel_redirect: {text!r} must be a path like /_dynopypi_files/")
    return text.rstrip("/") + "/"


def _as_optional_seconds(value: Any) -> int | None:
    if value is None or str(value).strip() == "":
        return None
    return as_int("cache_control", 0, 10**9)(value)


def _as_audience(value: Any) -> str:
    text = str(value).strip()
    if not text or len(text) > 200 or not text.isprintable():
        raise ConfigError(f"oidc_audience: expected a short printable name, got {value!r}")
    return text


_CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "roots": _as_roots,
    "host": str,
    "port": as_int("port", 0, 65535),
    "hash_algo": _as_hash_algo,
    "welcome": _as_optional_path,
    "cache_control": _as_optional_seconds,
    "health_endpoint": _as_endpoint("health_endpoint"),
    "log_file": _as_optional_path,
    "verbosity": as_int("verbosity", -2, 3),
    "cache_dir": _as_path,
    "rescan_interval": as_float("rescan_interval", 0.0),
    "threads": as_int("threads", 1, 256),
    "passwords": _as_optional_path,
    "rights": _as_optional_path,
    "authenticate": _as_actions,
    "overwrite": as_bool("overwrite"),
    "max_upload_size": as_size,
    "oidc_audience": _as_audience,
    "oidc_token_ttl": as_int("oidc_token_ttl", 900, 21600),
    "trusted_proxies": _as_networks,
    "x_accel_redirect": _as_accel_prefix,
    "pages_dir": _as_optional_path,
    "ready_endpoint": _as_endpoint("ready_endpoint"),
    **UPSTREAM_CONVERTERS,  # fallback_url and the upstream block (settings.upstream)
    **STORAGE_CONVERTERS,
    **LDAP_CONVERTERS,
    **OPERATIONS_CONVERTERS,
}


def from_env(environ: Mapping[str, str]) -> dict[str, Any]:
    return {
        key[len(ENV_PREFIX) :].lower(): value
        for key, value in environ.items()
        if key.startswith(ENV_PREFIX) and key[len(ENV_PREFIX) :].lower() in _CONVERTERS
    }


def build_settings(
    flags: Mapping[str, Any],
    environ: Mapping[str, str] | None = None,
    config_file: Path | None = None,
) -> Settings:
    """Merge the sources (flags win) and validate every value; raise ``ConfigError``."""
    environ = os.environ if environ is None else environ
    if config_file is None and environ.get(ENV_PREFIX + "CONFIG"):
        config_file = Path(environ[ENV_PREFIX + "CONFIG"])
    merged: dict[str, Any] = {}
    if config_file is not None:
        merged.update(load_toml(config_file))
    merged.update(from_env(environ))
    merged.update({k: v for k, v in flags.items() if v is not None})
    known = {f.name for f in fields(Settings)}
    unknown = sorted(set(merged) - known)
    if unknown:
        raise ConfigError(f"config: unknown setting(s) {', '.join(unknown)}")
    values = {key: _CONVERTERS[key](value) for key, value in merged.items()}
    settings = Settings(**values)
    _check(settings)
    return settings


def _check(settings: Settings) -> None:
    if settings.storage is not None and settings.roots != DEFAULT_ROOTS:
        raise ConfigError(
            "storage: give either package directories or --storage s3://..., not both "
            "(move a directory into a bucket with 'dynopypi storage copy DIR s3://...')"
        )
    for root in settings.roots if settings.storage is None else ():
        if root.exists() and not root.is_dir():
            raise ConfigError(f"roots: {root} exists and is not a directory")
        # a mistyped directory must not become an empty index; only the default is created
        if not root.exists() and settings.roots != DEFAULT_ROOTS:
            raise ConfigError(
                f"roots: package directory {root} does not exist; create it "
                f"(mkdir -p {root}) or check the path"
            )
    if settings.log_file is not None and not settings.log_file.parent.is_dir():
        raise ConfigError(f"log_file: directory {settings.log_file.parent} does not exist")
    if settings.welcome is not None and not settings.welcome.is_file():
        raise ConfigError(f"welcome: {settings.welcome} is not a readable file")
    if settings.passwords is not None:
        from dynopypi.auth.policy import check_account_files  # passlib only when there are accounts

        check_account_files(settings.passwords, settings.rights)
    check_ldap(settings)
    reading = settings.authenticate - {"update"}
    if settings.passwords is None and not settings.ldap_url and reading:
        raise ConfigError(
            f"authenticate: {','.join(sorted(reading))} needs accounts; give -P/--passwords "
            "HTPASSWD (or --ldap-url), or open the index explicitly with '-P . -a .'"
        )
