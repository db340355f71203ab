"""Build small but real distributions: installable wheels and well-formed sdists.

Kept with the tests (not shipped in the wheel) so tests, the benchmark corpus and demos
all build their fixtures the same way. Output is deterministic: fixed timestamps and
ordering, so the same arguments give the same bytes (and the same hashes).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import tarfile
import zipfile
from collections.abc import Sequence
from pathlib import Path

from packaging.utils import canonicalize_name

_EPOCH = (1980, 1, 1, 0, 0, 0)


def _module_name(name: str) -> str:
    return canonicalize_name(name).replace("-", "_")


def core_metadata(
    name: str,
    version: str,
    *,
    requires: Sequence[str] = (),
    requires_python: str | None = None,
    summary: str | None = None,
    headers: Sequence[str] = (),
    description: str = "",
) -> str:
    """``headers`` are extra ``Key: value`` lines; ``description`` the body (PEP 566)."""
    lines = [
        "Metadata-Version: 2.1",
        f"Name: {name}",
        f"Version: {version}",
        f"Summary: {summary if summary is not None else f'The {name} test package'}",
        "Author: dynopypi tests",
        "License: MIT",
    ]
    if requires_python:
        lines.append(f"Requires-Python: {requires_python}")
    lines.extend(f"Requires-Dist: {req}" for req in requires)
    lines.extend(headers)
    return "\n".join(lines) + "\n\n" + description


def make_wheel(
    directory: Path,
    name: str,
    version: str,
    *,
    requires: Sequence[str] = (),
    requires_python: str | None = None,
    payload: bytes = b"",
    filename_name: str | None = None,
    headers: Sequence[str] = (),
    description: str = "",
) -> Path:
    """Write ``{name}-{version}-py3-none-any.whl`` into ``directory`` and return its path.

    ``headers`` and ``description`` go into its METADATA (see ``core_metadata``).
    ``payload`` is stored (uncompressed) as a data file, to make large wheels;
    ``filename_name`` overrides the name part of the file name (for mismatch tests).
    """
    module = _module_name(name)
    dist_name = _module_name(filename_name if filename_name is not None else name)
    dist_info = f"{_module_name(name)}-{version}.dist-info"
    files: list[tuple[str, bytes]] = [
        (f"{module}/__init__.py", f'__version__ = "{version}"\n'.encode()),
        (
            f"{dist_info}/METADATA",
            core_metadata(
                name,
                version,
                requires=requires,
                requires_python=requires_python,
                headers=headers,
                description=description,
            ).encode(),
        ),
        (
            f"{dist_info}/WHEEL",
            b"Wheel-Version: 1.0\nGenerator: dynopypi.fakedist\nRoot-Is-Purelib: true\n"
            b"Tag: py3-none-any\n\n",
        ),
    ]
    if payload:
        files.append((f"{module}/payload.bin", payload))
    record_lines = []
    for arcname, data in files:
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record_lines.append(f"{arcname},sha256={digest},{len(data)}")
    record_lines.append(f"{dist_info}/RECORD,,")
    files.append((f"{dist_info}/RECORD", ("\n".join(record_lines) + "\n").encode()))

    path = Path(directory) / f"{dist_name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        for arcname, data in files:
            info = zipfile.ZipInfo(arcname, date_time=_EPOCH)
            big = arcname.endswith("payload.bin")
            info.compress_type = zipfile.ZIP_STORED if big else zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, data)
    return path


def make_sdist(
    directory: Path,
    name: str,
    version: str,
    *,
    requires: Sequence[str] = (),
    requires_python: str | None = None,
    filename_name: str | None = None,
) -> Path:
    """Write ``{name}-{version}.tar.gz`` (PKG-INFO, pyproject.toml, a module) and return it."""
    module = _module_name(name)
    stem = f"{_module_name(filename_name if filename_name is not None else name)}-{version}"
    deps = ", ".join(f'"{r}"' for r in requires)
    rp = f'requires-python = "{requires_python}"\n' if requires_python else ""
    pyproject = (
        '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n\n'
        f'[project]\nname = "{name}"\nversion = "{version}"\ndependencies = [{deps}]\n{rp}'
    )
    members = [
        (
            f"{stem}/PKG-INFO",
            core_metadata(
                name, version, requires=requires, requires_python=requires_python
            ).encode(),
        ),
        (f"{stem}/pyproject.toml", pyproject.encode()),
        (f"{stem}/{module}/__init__.py", f'__version__ = "{version}"\n'.encode()),
    ]
    path = Path(directory) / f"{stem}.tar.gz"
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for arcname, data in members:
            info = tarfile.TarInfo(arcname)
            info.size = len(data)
            info.mtime = 315532800
            info.mode = 0o644
            tf.addfile(info, io.BytesIO(data))
    path.write_bytes(gzip.compress(raw.getvalue(), mtime=0))
    return path
