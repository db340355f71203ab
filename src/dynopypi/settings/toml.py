"""Settings as TOML: reading the ``--config`` file, and printing settings (``check-config``)
in the same form, so that what a person sees can be pasted into that file as it is.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any

from dynopypi.core.visibility import format_duration
from dynopypi.errors import ConfigError
from dynopypi.ops.logsafe import redact
from dynopypi.settings.converters import format_size

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def load_toml(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"config: cannot read {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config: {path} is not valid TOML: {exc}") from exc
    section = data.get("dynopypi", data)
    if not isinstance(section, dict):
        raise ConfigError(f"config: {path}: [dynopypi] must be a table")
    return {key.replace("-", "_"): value for key, value in section.items()}


def load_section(path: Path, name: str) -> dict[str, Any]:
    """The ``[name]`` table of a TOML file (``[retention]``), keys with ``_``; empty when
    there is none."""
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"config: cannot read {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config: {path} is not valid TOML: {exc}") from exc
    section = data.get(name, {})
    if not isinstance(section, dict):
        raise ConfigError(f"config: {path}: [{name}] must be a table")
    return {key.replace("-", "_"): value for key, value in section.items()}


def toml_value(value: Any) -> str | None:
    """One setting in TOML (None when it is unset: TOML has no null). A path is shown
    absolute (what is pasted into /etc must not depend on where this ran); a whole
    number of seconds without ``.0``."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return repr(int(value))
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, PurePath):
        return json.dumps(os.path.abspath(value), ensure_ascii=False)
    if isinstance(value, (tuple, list, frozenset, set)):
        items = sorted(value) if isinstance(value, (frozenset, set)) else value
        return "[" + ", ".join(str(toml_value(item)) for item in items) + "]"
    return json.dumps(str(value), ensure_ascii=False)  # a JSON string is a TOML basic string


def to_toml(settings: DataclassInstance) -> str:
    """The settings as a ``[dynopypi]`` table; unset ones as comments. Credentials in URLs
    (``--upstream https://user:token@host/``) are printed as ``***``: keep them in the
    file you wrote, or in ``~/.netrc``."""
    lines = ["[dynopypi]"]
    storage = getattr(settings, "storage", None)
    for item in fields(settings):
        value = getattr(settings, item.name)
        if item.name == "roots" and storage is not None:
            lines.append("# roots: not used (the packages are in storage)")
            continue
        shown = _AS_WRITTEN.get(item.name)
        text = toml_value(shown(value) if shown and value is not None else value)
        line = f"# {item.name}: not set" if text is None else f"{item.name} = {text}"
        lines.append(redact(line))
    return "\n".join(lines) + "\n"


# settings a person writes as "7d" or "1G": shown that way, not as seconds or bytes
_AS_WRITTEN: dict[str, Callable[[Any], str]] = {
    "min_age": format_duration,
    "max_upload_size": format_size,
    "upstream_cache_max": format_size,
    "s3_cache_max": format_size,
}
