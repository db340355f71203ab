"""Whether a file is a valid distribution of the type its name says, before it is stored.

An index that stores what it cannot read serves installers files that fail late (a wheel
without ``WHEEL``), lie about what they are (a ``.dist-info`` of another project; wheel
bytes named ``.egg``), or conflict with the page that lists them. Each type's rule:

- wheel: a zip with exactly one top-level ``<name>-<version>.dist-info`` naming the file's
  project and version, holding METADATA (same name and version), WHEEL (Wheel-Version 1.x)
  and RECORD;
- sdist: a tar compressed as its suffix says (or a zip) with ``<top>/PKG-INFO`` naming the
  file's project and version;
- egg: a zip with ``EGG-INFO/PKG-INFO`` naming the file's project and version;

and for all: member names that stay inside the archive, no device files, every member
readable (CRCs, compressed streams to their end), all within an ``archives.Budget``.
"""

from __future__ import annotations

import os
import posixpath
import tarfile
import zipfile
from pathlib import Path
from typing import IO

from packaging.version import InvalidVersion, Version

from dynopypi.dists.archives import (
    TAR_SUFFIXES,
    Budget,
    compression_of,
    open_zip,
    read_tar_member,
    read_zip_member,
    tar_entries,
    verify_zip,
)
from dynopypi.dists.metadata import ARCHIVE_ERRORS, MAX_METADATA_BYTES, is_pkg_info, parse_metadata
from dynopypi.dists.names import ParsedName, normalize
from dynopypi.errors import MetadataError

MAX_WHEEL_FILE = 64 * 1024


def check_distribution(path: Path, filename: str, parsed: ParsedName) -> bytes | None:
    """The core metadata (wheels and sdists; None for eggs) of a valid distribution;
    ``MetadataError`` saying what is wrong otherwise."""
    lower = filename.lower()
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            budget = Budget(size, repr(filename))
            if lower.endswith(".whl"):
                return _wheel(fh, size, budget, parsed)
            if lower.endswith(".egg"):
                _egg(fh, size, budget, parsed)
                return None
            if lower.endswith(".zip"):
                return _zip_sdist(fh, size, budget, parsed)
            suffix = next(s for s in TAR_SUFFIXES if lower.endswith(s))
            return _tar_sdist(fh, TAR_SUFFIXES[suffix], suffix, budget, parsed)
    except ARCHIVE_ERRORS as exc:
        if isinstance(exc, MetadataError):
            raise
        raise MetadataError(f"{filename!r} is not a readable archive ({exc})") from exc


def check_core(raw: bytes, parsed: ParsedName, what: str) -> None:
    """The metadata names the file's project and version."""
    metadata = parse_metadata(raw)
    name, version = metadata.first("Name"), metadata.first("Version")
    if not name or normalize(name.strip()) != parsed.project:
        raise MetadataError(
            f"the metadata in {what} names project {name!r}, not {parsed.project!r}"
        )
    if not _same_version(version, parsed.version):
        raise MetadataError(f"the metadata in {what} has version {version!r}, not {parsed.version}")


def _same_version(text: str | None, version: Version) -> bool:
    try:
        return text is not None and Version(text) == version
    except InvalidVersion:
        return False


def _check_name(name: str, what: str) -> None:
    """A member name that stays inside the archive wherever it is unpacked."""
    if (
        not name
        or name.startswith(("/", "\\"))
        or "\\" in name
        or "\0" in name
        or ".." in name.split("/")
        or (len(name) > 1 and name[1] == ":")
    ):
        raise MetadataError(f"{what} has a member named {name[:200]!r} that leaves the archive")


# ---- zips ---------------------------------------------------------------------------------
def _zip_names(zf: zipfile.ZipFile, what: str) -> list[str]:
    names = [info.filename for info in zf.infolist()]
    for name in names:
        _check_name(name, what)
    return names


def _wheel(fh: IO[bytes], size: int, budget: Budget, parsed: ParsedName) -> bytes:
    what = budget.what
    with open_zip(fh, size, budget) as zf:
        names = _zip_names(zf, what)
        tops = {n.split("/", 1)[0] for n in names if "/" in n}
        infos = sorted(t for t in tops if t.endswith(".dist-info"))
        if len(infos) != 1:
            raise MetadataError(
                f"{what} must hold exactly one top-level .dist-info directory, found {infos}"
            )
        info_dir = infos[0]
        name, _, version = info_dir.removesuffix(".dist-info").partition("-")
        if normalize(name) != parsed.project or not _same_version(version, parsed.version):
            raise MetadataError(
                f"{what}: its metadata directory {info_dir!r} is for project "
                f"{str(normalize(name))!r} version {version!r}, not {parsed.project} "
                f"{parsed.version}"
            )
        for needed in ("METADATA", "WHEEL", "RECORD"):
            if f"{info_dir}/{needed}" not in names:
                raise MetadataError(f"{what} has no {info_dir}/{needed}: not a valid wheel")
        wheel = read_zip_member(zf, zf.getinfo(f"{info_dir}/WHEEL"), budget, MAX_WHEEL_FILE)
        major = parse_metadata(wheel).first("Wheel-Version") or ""
        if major.strip().split(".")[0] != "1":
            raise MetadataError(f"{what}: WHEEL says Wheel-Version {major!r}; 1.x is supported")
        raw = read_zip_member(zf, zf.getinfo(f"{info_dir}/METADATA"), budget, MAX_METADATA_BYTES)
        check_core(raw, parsed, what)
        verify_zip(zf, budget)
        return raw


def _egg(fh: IO[bytes], size: int, budget: Budget, parsed: ParsedName) -> None:
    with open_zip(fh, size, budget) as zf:
        names = _zip_names(zf, budget.what)
        if "EGG-INFO/PKG-INFO" not in names:
            raise MetadataError(f"{budget.what} has no EGG-INFO/PKG-INFO: not a valid egg")
        info = zf.getinfo("EGG-INFO/PKG-INFO")
        check_core(read_zip_member(zf, info, budget, MAX_METADATA_BYTES), parsed, budget.what)
        verify_zip(zf, budget)


def _zip_sdist(fh: IO[bytes], size: int, budget: Budget, parsed: ParsedName) -> bytes:
    with open_zip(fh, size, budget) as zf:
        names = _zip_names(zf, budget.what)
        found = [n for n in names if is_pkg_info(n) and not n.endswith("/")]
        if not found:
            raise MetadataError(f"{budget.what} has no top-level PKG-INFO: not a valid sdist")
        raw = read_zip_member(zf, zf.getinfo(found[0]), budget, MAX_METADATA_BYTES)
        check_core(raw, parsed, budget.what)
        verify_zip(zf, budget)
        return raw


# ---- tars ---------------------------------------------------------------------------------
def _tar_sdist(
    fh: IO[bytes], compression: str, suffix: str, budget: Budget, parsed: ParsedName
) -> bytes:
    what = budget.what
    actual = compression_of(fh)
    if actual != compression:
        raise MetadataError(
            f"{what} is {'a ' + actual if actual else 'not a'} compressed stream, "
            f"not what {suffix} says"
        )
    raw: bytes | None = None
    for info, tf in tar_entries(fh, compression, budget):
        _check_tar_member(info, what)
        if raw is None and info.isfile() and is_pkg_info(info.name):
            raw = read_tar_member(tf, info, budget, MAX_METADATA_BYTES)
    if raw is None:
        raise MetadataError(f"{what} has no top-level PKG-INFO: not a valid sdist")
    check_core(raw, parsed, what)
    return raw


def _check_tar_member(info: tarfile.TarInfo, what: str) -> None:
    _check_name(info.name, what)
    if not (info.isfile() or info.isdir() or info.issym() or info.islnk()):
        raise MetadataError(f"{what} holds {info.name[:200]!r}, a device or fifo")
    if info.issym() or info.islnk():
        base = posixpath.dirname(info.name) if info.issym() else ""
        target = posixpath.normpath(posixpath.join(base, info.linkname))
        if info.linkname.startswith("/") or target == ".." or target.startswith("../"):
            raise MetadataError(
                f"{what} holds a link {info.name[:200]!r} that points outside the archive"
            )
