"""What a distribution file is, and how its file name maps to a project and a version.

Parsing is pure: it never touches the file. Wheels and ``.tar.gz``/``.zip`` sdists go
through ``packaging.utils``; other archive suffixes pip still understands, and eggs, are
split the same way with the version validated by ``packaging``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import NewType

from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from .errors import InvalidFilename

NormalizedName = NewType("NormalizedName", str)

_NORMALIZE_RE = re.compile(r"[-_.]+")
_VALID_NAME_RE = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$", re.IGNORECASE)

SDIST_SUFFIXES = (".tar.gz", ".zip", ".tar.bz2", ".tgz", ".tar.xz", ".tar")
DIST_SUFFIXES = (".whl", ".egg", *SDIST_SUFFIXES)


def normalize(name: str) -> NormalizedName:
    """PEP 503 normalization; the only place a ``NormalizedName`` is made."""
    return NormalizedName(_NORMALIZE_RE.sub("-", name).lower())


def is_valid_project_name(name: str) -> bool:
    return bool(_VALID_NAME_RE.match(name))


def has_dist_suffix(filename: str) -> bool:
    return filename.lower().endswith(DIST_SUFFIXES)


@dataclass(frozen=True, slots=True)
class ParsedName:
    project: NormalizedName
    version: Version
    packagetype: str  # "bdist_wheel", "sdist" or "bdist_egg", as the PyPI JSON API names it
    python_tag: str  # "py3", "cp311.cp312", "source"


def _sdist_stem(filename: str) -> str | None:
    lower = filename.lower()
    for suffix in SDIST_SUFFIXES:
        if lower.endswith(suffix):
            return filename[: -len(suffix)]
    return None


def parse_filename(filename: str) -> ParsedName:
    """Map a distribution file name to (project, version, type); raise ``InvalidFilename``."""
    if "/" in filename or "\\" in filename or "\x00" in filename:
        raise InvalidFilename(f"{filename!r} is not a plain file name")
    lower = filename.lower()
    try:
        if lower.endswith(".whl"):
            wheel_name, version, _build, tags = parse_wheel_filename(filename)
            pythons = sorted({t.interpreter for t in tags})
            return ParsedName(normalize(wheel_name), version, "bdist_wheel", ".".join(pythons))
        if lower.endswith((".tar.gz", ".zip")):
            sdist_name, version = parse_sdist_filename(filename)
            return ParsedName(normalize(sdist_name), version, "sdist", "source")
    except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion) as exc:
        raise InvalidFilename(f"{filename!r} is not a valid distribution file name: {exc}") from exc
    stem = _sdist_stem(filename)
    packagetype, python_tag = "sdist", "source"
    if stem is None and lower.endswith(".egg"):
        # name-version[-pyX.Y[-platform]].egg
        parts = filename[:-4].split("-")
        if len(parts) < 2:
            raise InvalidFilename(f"{filename!r} is not a valid egg file name")
        stem = f"{parts[0]}-{parts[1]}"
        packagetype = "bdist_egg"
        python_tag = parts[2] if len(parts) > 2 else ""
    if stem is None:
        raise InvalidFilename(f"{filename!r} does not end in a distribution suffix")
    name, sep, version_text = stem.rpartition("-")
    if not sep or not is_valid_project_name(name):
        raise InvalidFilename(
            f"{filename!r} does not look like NAME-VERSION{filename[len(stem) :]}"
        )
    try:
        version = Version(version_text)
    except InvalidVersion as exc:
        raise InvalidFilename(f"{filename!r} has an invalid version {version_text!r}") from exc
    return ParsedName(normalize(name), version, packagetype, python_tag)


@dataclass(frozen=True, slots=True)
class DistFile:
    """One served file. Immutable: the index replaces it rather than mutating it."""

    relpath: str  # posix path below its root, e.g. "sub/foo-1.0.tar.gz"
    root: int  # which package directory (index into Settings.roots)
    filename: str
    project: NormalizedName
    display_name: str  # the project name as spelled in the file name
    version: Version
    packagetype: str
    python_tag: str
    size: int
    mtime_ns: int
    upload_time_ns: int
    digests: dict[str, str] = field(hash=False)  # algorithm -> hex digest
    requires_python: str | None = None
    metadata_sha256: str | None = None  # set when core metadata is served (PEP 658)
    yanked: str | None = None  # None: not yanked; "" yanked without a reason

    @property
    def is_yanked(self) -> bool:
        return self.yanked is not None


def display_name_of(filename: str) -> str:
    """The project name as the file name spells it (wheel/sdist names are escaped with _)."""
    stem = _sdist_stem(filename)
    if filename.lower().endswith((".whl", ".egg")):
        return filename.split("-", 1)[0]
    if stem is not None:
        return stem.rpartition("-")[0]
    return filename
