"""Settings of the package storage (``--storage``, ``--s3-endpoint``,
``--s3-presigned-downloads``, ...): their names and converters (the flags themselves are
in ``cli.storage``). Each converter raises ``ConfigError`` naming the
setting; credentials never appear in a setting (they come from AWS's usual variables and
files)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from dynopypi.errors import ConfigError
from dynopypi.settings.converters import as_bool

STORAGE_FLAGS = (
    "storage",
    "s3_endpoint",
    "s3_presigned_downloads",
    "s3_cache_max",
    "s3_list_interval",
    "s3_journal_keep",
)


def parse_s3_url(text: str) -> tuple[str, str]:
    """``s3://BUCKET/PREFIX`` → (bucket, prefix); ``ConfigError`` otherwise."""
    parts = urlsplit(text)
    bucket = parts.netloc
    if parts.scheme != "s3" or not bucket or parts.query or parts.fragment or "@" in bucket:
        raise ConfigError(f"storage: {text!r} is not s3://BUCKET or s3://BUCKET/PREFIX")
    if not (3 <= len(bucket) <= 63) or not all(c.isalnum() or c in ".-" for c in bucket):
        raise ConfigError(f"storage: {bucket!r} is not a valid bucket name")
    prefix = parts.path.strip("/")
    if any(p in ("", ".", "..") for p in prefix.split("/")) and prefix:
        raise ConfigError(f"storage: the prefix {prefix!r} has empty, '.' or '..' parts")
    return bucket, prefix


def _as_storage(value: Any) -> str | None:
    text = str(value).strip()
    if not text:
        return None
    parse_s3_url(text)
    return text


def _as_endpoint(value: Any) -> str | None:
    text = str(value).strip()
    if not text:
        return None
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"s3_endpoint: {text!r} must be an http:// or https:// URL")
    if parts.username or parts.password:
        raise ConfigError(
            "s3_endpoint: put credentials in AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY "
            "(or ~/.aws/credentials), not in the URL"
        )
    return text.rstrip("/")


def _as_cache_max(value: Any) -> int:
    text = str(value).strip().upper().removesuffix("B").removesuffix("I")
    scale = {"K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}.get(text[-1:], 1)
    number = text[:-1] if scale > 1 else text
    try:
        size = int(float(number) * scale)
    except ValueError:
        raise ConfigError(f"s3_cache_max: expected a size like 2G or 0, got {value!r}") from None
    if size < 0:
        raise ConfigError("s3_cache_max: a size cannot be negative")
    return size


def _as_seconds(name: str) -> Callable[[Any], float]:
    def convert(value: Any) -> float:
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{name}: expected seconds, got {value!r}") from None
        if seconds < 0:
            raise ConfigError(f"{name}: seconds cannot be negative")
        return seconds

    return convert


STORAGE_CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "storage": _as_storage,
    "s3_endpoint": _as_endpoint,
    "s3_presigned_downloads": as_bool("s3_presigned_downloads"),
    "s3_cache_max": _as_cache_max,
    "s3_list_interval": _as_seconds("s3_list_interval"),
    "s3_journal_keep": _as_seconds("s3_journal_keep"),
}
