"""Setting converters shared by the settings modules (``config``, ``storage_config``):
each takes the setting's name so that its ``ConfigError`` names it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dynopypi.errors import ConfigError


def as_bool(name: str) -> Callable[[Any], bool]:
    def convert(value: Any) -> bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off", ""):
            return False
        raise ConfigError(f"{name}: expected true or false, got {value!r}")

    return convert
