"""Legacy upload API (``POST /`` with ``:action``) bodies built byte by byte, so that a test
controls every byte the server sees (and can make exactly one thing wrong); and ``upload``,
which sends one as twine would."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from pathlib import Path

import requests
from packaging.utils import parse_sdist_filename, parse_wheel_filename

from support.clients import IndexClient

BOUNDARY = "dynopypi-upload-test-2f9c"
MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"  # Content-Type of these bodies


def part(name: str, value: bytes, filename: str | None = None, boundary: str = BOUNDARY) -> bytes:
    """One multipart/form-data part; with ``filename`` it is a file part."""
    disposition = f'form-data; name="{name}"'
    if filename is not None:
        disposition += f'; filename="{filename}"'
    head = f"--{boundary}\r\nContent-Disposition: {disposition}\r\n"
    if filename is not None:
        head += "Content-Type: application/octet-stream\r\n"
    return head.encode("utf-8", "surrogateescape") + b"\r\n" + value + b"\r\n"


def closing(boundary: str = BOUNDARY) -> bytes:
    """The delimiter that ends a multipart body."""
    return f"--{boundary}--\r\n".encode()


def form_body(
    fields: Mapping[str, str] | Iterable[tuple[str, str]],
    file: tuple[str, bytes] | None = None,
    boundary: str = BOUNDARY,
) -> bytes:
    """A multipart body: the text fields in order, then ``file`` (filename, bytes) as the
    ``content`` part, as twine sends it."""
    items = fields.items() if isinstance(fields, Mapping) else fields
    body = b"".join(part(k, v.encode(), None, boundary) for k, v in items)
    if file is not None:
        body += part("content", file[1], file[0], boundary)
    return body + closing(boundary)


def name_version(filename: str) -> tuple[str, str]:
    """(project name, version) as written in a wheel or sdist file name."""
    if filename.endswith(".whl"):
        name, version, _build, _tags = parse_wheel_filename(filename)
    else:
        name, version = parse_sdist_filename(filename)
    return str(name), str(version)


def upload_fields(
    name: str,
    version: str,
    data: bytes,
    *,
    wheel: bool = False,
    digests: bool = True,
    **overrides: str | None,
) -> dict[str, str]:
    """The form fields twine sends with ``data``; an override of ``None`` drops a field."""
    fields: dict[str, str | None] = {
        ":action": "file_upload",
        "protocol_version": "1",
        "name": name,
        "version": version,
        "filetype": "bdist_wheel" if wheel else "sdist",
        "pyversion": "py3" if wheel else "source",
        "metadata_version": "2.1",
    }
    if digests:
        fields["sha256_digest"] = hashlib.sha256(data).hexdigest()
        fields["md5_digest"] = hashlib.md5(data).hexdigest()
        fields["blake2_256_digest"] = hashlib.blake2b(data, digest_size=32).hexdigest()
    return _overridden(fields, overrides)


def file_upload_fields(filename: str, data: bytes, **overrides: str | None) -> dict[str, str]:
    """``upload_fields`` with the name, version and file type taken from ``filename``."""
    name, version = name_version(filename)
    fields = upload_fields(name, version, data, wheel=filename.endswith(".whl"))
    return _overridden(fields, overrides)


def _overridden(
    fields: Mapping[str, str | None], overrides: Mapping[str, str | None]
) -> dict[str, str]:
    """``fields`` updated by ``overrides`` (in place, order kept), fields set to None dropped."""
    merged = {**fields, **overrides}
    return {k: v for k, v in merged.items() if v is not None}


SUFFIXES = (".tar.gz", ".tar.bz2", ".tar.xz", ".tgz", ".tar", ".zip", ".whl", ".egg")


def twine_fields(filename: str, data: bytes, **fields: str | None) -> dict[str, str]:
    """Twine's fields for a file of any suffix (the name and version read off the file name
    as written, not normalized), ``fields`` overriding them (None leaves one as it was)."""
    stem = next(filename[: -len(s)] for s in SUFFIXES if filename.endswith(s))
    name, version = stem.split("-")[:2]
    base = upload_fields(name, version, data, wheel=filename.endswith(".whl"))
    base.update({k: v for k, v in fields.items() if v is not None})
    return base


def upload(
    server: IndexClient,
    file: Path | tuple[str, bytes],
    auth: tuple[str, str] | None = None,
    *,
    timeout: float = 120.0,
    **fields: str | None,
) -> requests.Response:
    """``POST /`` of ``file`` (a path, or a file name and its bytes) as ``auth``, with the
    fields twine sends (``twine_fields``) in a body built byte by byte (``form_body``)."""
    filename, data = (file.name, file.read_bytes()) if isinstance(file, Path) else file
    body = form_body(twine_fields(filename, data, **fields), (filename, data))
    headers = {"Content-Type": MULTIPART}
    return server.request("POST", "/", data=body, headers=headers, auth=auth, timeout=timeout)
