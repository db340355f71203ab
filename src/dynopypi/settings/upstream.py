"""Settings of the public-packages block (``--upstream`` and its guards, and pypiserver's
``--fallback-url``): their converters, kept out of ``config`` so that one reads short.
Each raises ``ConfigError`` naming the setting."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dynopypi.core.visibility import UNKNOWN_CHOICES, Exempt, parse_duration
from dynopypi.errors import ConfigError
from dynopypi.ops.logsafe import redact
from dynopypi.settings.converters import as_bool, as_float, as_size
from dynopypi.upstream.reach import parse_host


def _as_url(value: Any) -> str | None:
    text = str(value).strip()
    if not text:
        return None
    if not text.startswith(("http://", "https://")):
        raise ConfigError(f"fallback_url: {redact(text)!r} must start with http:// or https://")
    return text.rstrip("/") + "/"


def _as_list(value: Any) -> list[str]:
    """Repeatable settings: a TOML list, or a string split on spaces and commas."""
    items = value.replace(",", " ").split() if isinstance(value, str) else list(value)
    return [str(item).strip() for item in items if str(item).strip()]


def _as_upstreams(value: Any) -> tuple[str, ...]:
    urls = tuple(_as_list(value))
    for url in urls:
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"upstream: {redact(url)!r} must start with http:// or https://")
    return urls


def _as_globs(name: str) -> Callable[[Any], tuple[str, ...]]:
    def convert(value: Any) -> tuple[str, ...]:
        globs = tuple(_as_list(value))
        for glob in globs:
            if len(glob) > 200:
                raise ConfigError(f"{name}: {glob[:40]!r}... is too long for a name glob")
        return globs

    return convert


def _as_duration(value: Any) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    try:
        return parse_duration(str(value))
    except ValueError as exc:
        raise ConfigError(f"min_age: {exc}") from None


def _as_exempt(value: Any) -> tuple[str, ...]:
    specs = tuple(_as_list(value))
    for spec in specs:
        Exempt.parse(spec)  # raises ConfigError naming the bad spec
    return specs


def _as_unknown(value: Any) -> str:
    text = str(value).strip().lower()
    if text not in UNKNOWN_CHOICES:
        raise ConfigError(f"min_age_unknown: {value!r} is not one of {', '.join(UNKNOWN_CHOICES)}")
    return text


def _as_files_hosts(value: Any) -> tuple[str, ...]:
    hosts = tuple(_as_list(value))
    for host in hosts:
        try:
            parse_host(host)
        except ValueError as exc:
            raise ConfigError(f"upstream_files_host: {exc}") from None
    return hosts


def _as_optional_size(value: Any) -> int | None:
    text = str(value).strip().lower()
    return None if text in ("", "0", "none", "off") else _size(value)


def _size(value: Any) -> int:
    try:
        return as_size(value)
    except ConfigError:
        raise ConfigError(
            f"upstream_cache_max: {value!r} is not a size like 500M or 50G (or 0 for no bound)"
        ) from None


UPSTREAM_CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "fallback_url": _as_url,
    "upstream": _as_upstreams,
    "upstream_ttl": as_float("upstream_ttl", 0.0),
    "upstream_timeout": as_float("upstream_timeout", 0.1),
    "private": _as_globs("private"),
    "private_check": as_bool("private_check"),
    "merge": _as_globs("merge"),
    "min_age": _as_duration,
    "min_age_exempt": _as_exempt,
    "min_age_unknown": _as_unknown,
    "upstream_cache_max": _as_optional_size,
    "upstream_files_host": _as_files_hosts,
}
