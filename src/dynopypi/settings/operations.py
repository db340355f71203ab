"""Settings of running the index as a service: metrics (``--metrics``,
``--metrics-listen``) and quotas (``--quota-project``, ``--quota-total``, per-project
overrides). Their converters, kept out of ``config`` so that one reads short; each raises
``ConfigError`` naming the setting.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from typing import Any

from dynopypi.errors import ConfigError
from dynopypi.settings.converters import as_bool, as_size


def as_listen(value: Any) -> str | None:
    """``HOST:PORT`` (``[::1]:9108`` for IPv6), or empty for none."""
    text = str(value).strip()
    if not text:
        return None
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(
            f"metrics_listen: {text!r} is not HOST:PORT (e.g. 127.0.0.1:9108, [::1]:9108)"
        )
    return text


def _size(name: str) -> Callable[[Any], int | None]:
    def convert(value: Any) -> int | None:
        if value is None or str(value).strip() in ("", "0", "none", "off"):
            return None
        try:
            return as_size(value)
        except ConfigError:
            raise ConfigError(f"{name}: {value!r} is not a size like 500M or 20G") from None

    return convert


def as_overrides(value: Any) -> tuple[tuple[str, int], ...]:
    """Per-project quotas: ``{"big-*" = "50G"}`` or ``[["big-*", "50G"]]`` in TOML,
    ``big-*=50G,tiny=1M`` in the environment. The first glob that matches wins."""
    if isinstance(value, str):
        pairs: list[Any] = [item.split("=", 1) for item in value.split(",") if item.strip()]
    elif isinstance(value, dict):
        pairs = list(value.items())
    else:
        pairs = [tuple(item) for item in value]
    out: list[tuple[str, int]] = []
    for pair in pairs:
        if len(pair) != 2 or not str(pair[0]).strip():
            raise ConfigError(f"quota_overrides: {pair!r} is not GLOB=SIZE (e.g. big-*=50G)")
        size = _size(f"quota_overrides ({pair[0]})")(pair[1])
        out.append((str(pair[0]).strip().lower(), 0 if size is None else size))
    return tuple(out)


def quota_for(
    project: str, default: int | None, overrides: tuple[tuple[str, int], ...]
) -> int | None:
    """The size limit of ``project`` (None: no limit; an override of 0 lifts it)."""
    for glob, size in overrides:
        if fnmatch.fnmatchcase(project, glob):
            return size or None
    return default


OPERATIONS_CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "metrics": as_bool("metrics"),
    "metrics_listen": as_listen,
    "quota_project": _size("quota_project"),
    "quota_total": _size("quota_total"),
    "quota_overrides": as_overrides,
}
