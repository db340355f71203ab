"""Setting converters shared by the settings modules (``config``, ``storage``, ``upstream``):
one syntax for booleans, numbers and sizes in every setting; each takes the setting's name
(or names it) so that its ``ConfigError`` says which one is wrong."""

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


def as_int(name: str, minimum: int, maximum: int) -> Callable[[Any], int]:
    def convert(value: Any) -> int:
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{name}: expected a whole number, got {value!r}") from None
        if not minimum <= number <= maximum:
            raise ConfigError(f"{name}: {number} is outside {minimum}..{maximum}")
        return number

    return convert


def as_float(name: str, minimum: float) -> Callable[[Any], float]:
    def convert(value: Any) -> float:
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{name}: expected a number, got {value!r}") from None
        if number < minimum:
            raise ConfigError(f"{name}: {number} is below {minimum}")
        return number

    return convert


def as_size(value: Any) -> int:
    text = str(value).strip().upper()
    scale = 1
    for suffix, factor in (("K", 1024), ("M", 1024**2), ("G", 1024**3)):
        if text.endswith((suffix, suffix + "B", suffix + "IB")):
            text = text.rstrip("IB").rstrip(suffix)
            scale = factor
            break
    return as_int("max_upload_size", 1, 1 << 50)(text) * scale


def format_size(size: int) -> str:
    """``size`` as ``as_size`` reads it, in the largest unit it is a whole number of
    (``1G``, ``500M``), else in bytes."""
    for suffix, factor in (("G", 1024**3), ("M", 1024**2), ("K", 1024)):
        if size and size % factor == 0:
            return f"{size // factor}{suffix}"
    return str(size)
