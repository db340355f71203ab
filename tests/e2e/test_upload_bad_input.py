"""Uploads that must be refused: the right 4xx, a message saying what is wrong, never a 5xx,
and nothing left behind in the package directory (no new file, no ``.upload-*`` temp file).

The server is an open index (``-P . -a .``) with ``--max-upload-size 1M``, so every request
reaches the upload code. Bodies are built byte by byte here (not by a client library) so
that each defect is exactly the one under test; the few that no HTTP library will send
(a non-numeric Content-Length, say) go over a raw socket.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import socket
import tarfile
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from support.fakedist import core_metadata, make_sdist, make_wheel
from support.fs import leftovers, tree
from support.helpers import Helpers
from support.server import DynoServer
from support.sites import Site
from support.uploads import BOUNDARY, MULTIPART, closing, form_body, part, upload_fields

# --------------------------------------------------------------------------- helpers


def upload_body(filename: str, data: bytes, name: str, version: str, **overrides: Any) -> bytes:
    return form_body(upload_fields(name, version, data, **overrides), (filename, data))


def post(
    server: DynoServer, body: bytes, content_type: str | None = MULTIPART
) -> requests.Response:
    headers = {} if content_type is None else {"Content-Type": content_type}
    return server.request("POST", "/", data=body, headers=headers, timeout=60)


@dataclass
class Raw:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


def raw_post(server: DynoServer, head_lines: Sequence[bytes], body: bytes = b"") -> Raw:
    """Send exactly these header lines and body; read the answer up to the server's close."""
    request = b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
    request += b"".join(line + b"\r\n" for line in head_lines) + b"\r\n" + body
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    data = b"".join(chunks)
    head, _, payload = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        key, _, value = line.partition(":")
        headers[key.strip().lower()] = value.strip()
    return Raw(status, headers, payload)


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    site = Site(tmp_path_factory.mktemp("bad-input"))
    (site.root / "build").mkdir()
    return site


@pytest.fixture(scope="module")
def server(module_server_factory: Any, site: Site) -> Any:
    return module_server_factory(site.pkg, "-P", ".", "-a", ".", "--max-upload-size", "1M")


@pytest.fixture
def pkg(site: Site) -> Path:
    return site.pkg


@pytest.fixture
def build(tmp_path: Path) -> Path:
    return tmp_path


Refused = Callable[..., None]  # refused(response, status, *words)


@pytest.fixture
def refused(server: DynoServer, pkg: Path) -> Iterator[Refused]:
    """``refused(response, status, *words)``: the status, a message naming the problem, and
    the package directory exactly as it was before the test."""
    before = tree(pkg)
    projects_before = server.listed_projects()

    def check(response: requests.Response | Raw, status: int, *words: str) -> None:
        if isinstance(response, requests.Response):
            got, headers = response.status_code, dict(response.headers)
        else:
            got, headers = response.status, response.headers
        explain = f"-> {got}\nheaders: {headers}\nbody: {response.text[:1500]!r}\n{server.logs()}"
        assert got < 500, explain
        assert got == status, explain
        text = response.text.lower()
        assert text.strip(), explain
        for word in words:
            assert word.lower() in text, f"{word!r} not in the message\n{explain}"
        assert tree(pkg) == before, explain
        assert leftovers(pkg) == [], explain
        assert server.listed_projects() == projects_before

    yield check
    assert server.get("/health").status_code == 200


def evil_sdist(build: Path) -> bytes:
    return make_sdist(build, "evil", "1.0").read_bytes()


# --------------------------------------------------------------------------- a good one first


def test_a_well_formed_upload_is_accepted(
    server: DynoServer, pkg: Path, build: Path, helpers: Helpers
) -> None:
    """The control: the same bodies, without the defects, are stored."""
    data = evil_sdist(build)
    r = post(server, upload_body("evil-1.0.tar.gz", data, "evil", "1.0"))
    assert r.status_code == 200, server.explain(r)
    assert (pkg / "evil-1.0.tar.gz").read_bytes() == data
    assert server.listed_files("evil") == {"evil-1.0.tar.gz": helpers.sha256_bytes(data)}
    assert leftovers(pkg) == []


# --------------------------------------------------------------------------- digests


@pytest.mark.parametrize("field", ["sha256_digest", "md5_digest", "blake2_256_digest"])
def test_digest_mismatch(server: DynoServer, build: Path, refused: Refused, field: str) -> None:
    data = make_sdist(build, "digests", "1.0").read_bytes()
    wrong = hashlib.sha256(b"other bytes").hexdigest()
    wrong = wrong[:32] if field == "md5_digest" else wrong
    body = upload_body("digests-1.0.tar.gz", data, "digests", "1.0", **{field: wrong})
    refused(post(server, body), 400, field)


def test_digests_are_compared_case_insensitively(
    server: DynoServer, build: Path, helpers: Helpers
) -> None:
    data = make_sdist(build, "digest-case", "1.0").read_bytes()
    upper = {
        "sha256_digest": hashlib.sha256(data).hexdigest().upper(),
        "md5_digest": hashlib.md5(data).hexdigest().upper(),
    }
    r = post(server, upload_body("digest_case-1.0.tar.gz", data, "digest-case", "1.0", **upper))
    assert r.status_code == 200, server.explain(r)


# --------------------------------------------------------------------------- file names


@pytest.mark.parametrize(
    ("filename", "words"),
    [
        ("../evil-1.0.tar.gz", ["filename"]),
        ("sub/evil-1.0.tar.gz", ["filename"]),
        ("/etc/evil-1.0.tar.gz", ["filename"]),
        ("/tmp/../evil-1.0.tar.gz", ["filename"]),
        ("..\\evil-1.0.tar.gz", ["filename"]),
        ("evil\x00-1.0.tar.gz", ["control"]),
        ("evil-1.0.tar.gz\x00.txt", ["control"]),
        ("evil\x1b-1.0.tar.gz", ["control"]),
        ("..", ["filename"]),
        (".", ["filename"]),
        (".evil-1.0.tar.gz", ["dot"]),
        ("evil.txt", ["filename"]),
        ("evil-1.0.tar.gz.part", ["filename"]),
        ("", ["file"]),
        ("e" * 250 + "-1.0.tar.gz", ["255"]),
    ],
    ids=lambda v: repr(v)[:40] if isinstance(v, str) else None,
)
def test_bad_filenames(
    server: DynoServer, build: Path, refused: Refused, filename: str, words: str
) -> None:
    data = evil_sdist(build)
    refused(post(server, upload_body(filename, data, "evil", "1.0")), 400, *words)


@pytest.mark.parametrize(
    "filename", ["ctl-1.0%0A.tar.gz", "ctl-1.0%0D.tar.gz", "ctl-1.0\t.tar.gz"], ids=repr
)
def test_control_characters_in_filename(
    server: DynoServer, build: Path, refused: Refused, filename: str
) -> None:
    data = make_sdist(build, "ctl", "1.0").read_bytes()
    refused(post(server, upload_body(filename, data, "ctl", "1.0")), 400, "filename")


@pytest.mark.parametrize("project", ["ev il", "a<b>", "-dash", "na\u00efve"])
def test_invalid_project_name_in_sdist_filename(
    server: DynoServer, build: Path, refused: Refused, project: str
) -> None:
    """Such a file could never be reached: no project page exists for an invalid name."""
    data = make_sdist(build, project, "1.0").read_bytes()
    refused(post(server, upload_body(f"{project}-1.0.tar.gz", data, project, "1.0")), 400)


def test_name_longer_than_255_bytes_counts_bytes_not_characters(
    server: DynoServer, build: Path, refused: Refused
) -> None:
    # 136 characters, but 261 bytes in UTF-8
    name = "é" * 125 + "-1.0.tar.gz"
    assert len(name) < 255 < len(name.encode())
    refused(post(server, upload_body(name, evil_sdist(build), "evil", "1.0")), 400)


# --------------------------------------------------------------------------- form fields


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        ({"name": "other"}, ["name", "other"]),
        ({"version": "2.0"}, ["version", "2.0"]),
        ({"version": "not-a-version"}, ["version"]),
        ({"name": None}, ["name"]),
        ({"version": None}, ["version"]),
    ],
    ids=["other-name", "other-version", "bad-version", "no-name", "no-version"],
)
def test_form_does_not_match_the_file(
    server: DynoServer, build: Path, refused: Refused, overrides: dict[str, str | None], words: str
) -> None:
    data = evil_sdist(build)
    name = overrides.pop("name", "evil")
    version = overrides.pop("version", "1.0")
    fields = upload_fields(name or "", version or "", data)
    if name is None:
        del fields["name"]
    if version is None:
        del fields["version"]
    body = form_body(fields, ("evil-1.0.tar.gz", data))
    refused(post(server, body), 400, *words)


def test_metadata_naming_another_project(server: DynoServer, build: Path, refused: Refused) -> None:
    wheel = make_wheel(build, "other-project", "1.0", filename_name="meta-check")
    assert wheel.name == "meta_check-1.0-py3-none-any.whl"
    body = upload_body(wheel.name, wheel.read_bytes(), "meta-check", "1.0")
    refused(post(server, body), 400, "metadata", "other-project")


def test_metadata_with_another_version(server: DynoServer, build: Path, refused: Refused) -> None:
    built = make_wheel(build, "meta-version", "2.0")
    data = built.read_bytes()
    body = upload_body("meta_version-1.0-py3-none-any.whl", data, "meta-version", "1.0")
    refused(post(server, body), 400, "metadata", "2.0")


def test_sdist_metadata_naming_another_project(
    server: DynoServer, build: Path, refused: Refused
) -> None:
    sdist = make_sdist(build, "somebody-else", "1.0", filename_name="meta-sdist")
    assert sdist.name == "meta_sdist-1.0.tar.gz"
    body = upload_body(sdist.name, sdist.read_bytes(), "meta-sdist", "1.0")
    refused(post(server, body), 400, "metadata", "somebody-else")


# --------------------------------------------------------------------------- corrupt archives


def _truncated_sdist(build: Path) -> bytes:
    data = make_sdist(build, "corrupt", "1.0").read_bytes()
    return data[: len(data) // 2]


def _wheel_without_metadata() -> bytes:
    raw = io.BytesIO()
    with zipfile.ZipFile(raw, "w") as zf:
        zf.writestr("corrupt/__init__.py", "")
    return raw.getvalue()


@pytest.mark.parametrize(
    ("filename", "make"),
    [
        ("corrupt-1.0-py3-none-any.whl", lambda build: os.urandom(4000)),
        ("corrupt-1.0-py3-none-any.whl", lambda build: _wheel_without_metadata()),
        ("corrupt-1.0.tar.gz", lambda build: os.urandom(4000)),
        ("corrupt-1.0.tar.gz", _truncated_sdist),
        ("corrupt-1.0.tar.gz", lambda build: gzip.compress(b"not a tar archive" * 100)),
        ("corrupt-1.0.tar.bz2", lambda build: os.urandom(4000)),
        ("corrupt-1.0-py3.11.egg", lambda build: os.urandom(4000)),
    ],
    ids=["random-whl", "whl-without-metadata", "random-tgz", "truncated-tgz", "gzip-not-tar",
         "random-bz2", "random-egg"],
)  # fmt: skip
def test_corrupt_archives(
    server: DynoServer, build: Path, refused: Refused, filename: str, make: Callable[[Path], bytes]
) -> None:
    data = make(build)
    refused(post(server, upload_body(filename, data, "corrupt", "1.0")), 400, "corrupt-1.0")


def _xz_sdist_with_damage() -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:xz") as tf:
        text = b"".join(b"line %d of a long and compressible file\n" % i for i in range(100_000))
        for name, data in (("damaged-1.0/PKG-INFO", core_metadata("damaged", "1.0").encode()),
                           ("damaged-1.0/big.txt", text)):  # fmt: skip
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    damaged = bytearray(raw.getvalue())
    middle = len(damaged) // 2
    damaged[middle : middle + 64] = b"\xff" * 64
    return bytes(damaged)


def _zip_with_damaged_member(arcname: str, metadata: str, *, wheel: bool) -> bytes:
    raw = io.BytesIO()
    with zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(arcname, metadata)
        if wheel:
            zf.writestr("damaged-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\n")
    data = bytearray(raw.getvalue())
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as zf:
        info = zf.getinfo(arcname)
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    data[start : start + info.compress_size] = b"\xff" * info.compress_size
    return bytes(data)


@pytest.mark.parametrize(
    ("filename", "make"),
    [
        ("damaged-1.0.tar.xz", _xz_sdist_with_damage),
        (
            "damaged-1.0-py3-none-any.whl",
            lambda: _zip_with_damaged_member(
                "damaged-1.0.dist-info/METADATA", core_metadata("damaged", "1.0"), wheel=True
            ),
        ),
        (
            "damaged-1.0-py3.11.egg",
            lambda: _zip_with_damaged_member(
                "EGG-INFO/PKG-INFO", core_metadata("damaged", "1.0"), wheel=False
            ),
        ),
    ],
    ids=["tar.xz", "whl-metadata-deflate", "egg-deflate"],
)
def test_damaged_compressed_streams(
    server: DynoServer, refused: Refused, filename: str, make: Callable[[], bytes]
) -> None:
    data = make()
    refused(post(server, upload_body(filename, data, "damaged", "1.0")), 400, "damaged-1.0")


def test_empty_file(server: DynoServer, refused: Refused) -> None:
    refused(post(server, upload_body("empty-1.0.tar.gz", b"", "empty", "1.0")), 400, "empty")


# --------------------------------------------------------------------------- size


def test_body_larger_than_max_upload_size(
    server: DynoServer, build: Path, refused: Refused
) -> None:
    big = make_wheel(build, "toobig", "1.0", payload=os.urandom(1536 * 1024))
    body = upload_body(big.name, big.read_bytes(), "toobig", "1.0")
    assert len(body) > 2**20
    refused(post(server, body), 413, str(2**20))


def test_huge_content_length_is_refused_before_the_body(
    server: DynoServer, refused: Refused
) -> None:
    head = [f"Content-Type: {MULTIPART}".encode(), b"Content-Length: 10000000000"]
    refused(raw_post(server, head), 413)


# --------------------------------------------------------------------------- malformed multipart


def _good_body(build: Path, boundary: str = BOUNDARY) -> bytes:
    data = make_sdist(build, "malformed", "1.0").read_bytes()
    return form_body(
        upload_fields("malformed", "1.0", data), ("malformed-1.0.tar.gz", data), boundary
    )


def test_missing_boundary(server: DynoServer, build: Path, refused: Refused) -> None:
    refused(post(server, _good_body(build), "multipart/form-data"), 400, "boundary")


def test_wrong_boundary(server: DynoServer, build: Path, refused: Refused) -> None:
    body = _good_body(build)
    refused(post(server, body, "multipart/form-data; boundary=not-the-one"), 400, "multipart")


def test_truncated_body(server: DynoServer, build: Path, refused: Refused) -> None:
    body = _good_body(build)
    cut = body[: body.rindex(b"--" + BOUNDARY.encode()) + 10]  # into the closing boundary
    refused(post(server, cut), 400, "multipart")


def test_truncated_inside_the_file(server: DynoServer, build: Path, refused: Refused) -> None:
    body = _good_body(build)
    refused(post(server, body[: len(body) - 200]), 400, "multipart")


@pytest.mark.parametrize(
    "header",
    [b"X-Note: a\x01b", b"Content-Type: application/octet-stream\x7f\x0c", b"X-Bell: \x07"],
    ids=["soh", "form-feed", "bell"],
)
def test_control_characters_in_a_part_header(
    server: DynoServer, build: Path, refused: Refused, header: bytes
) -> None:
    data = make_sdist(build, "malformed", "1.0").read_bytes()
    fields = upload_fields("malformed", "1.0", data)
    body = b"".join(part(k, v.encode()) for k, v in fields.items())
    body += (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="content"; '
        'filename="malformed-1.0.tar.gz"\r\n'
    ).encode()
    body += header + b"\r\n\r\n" + data + b"\r\n" + closing()
    refused(post(server, body), 400)


@pytest.mark.parametrize("value", [b"12abc", b"-5", b"1e3", b""], ids=repr)
def test_bad_content_length(
    server: DynoServer, build: Path, refused: Refused, value: bytes
) -> None:
    body = _good_body(build)
    head = [f"Content-Type: {MULTIPART}".encode(), b"Content-Length: " + value]
    refused(raw_post(server, head, body), 400)


def test_no_content_length(server: DynoServer, build: Path, refused: Refused) -> None:
    refused(raw_post(server, [f"Content-Type: {MULTIPART}".encode()]), 400, "content-length")


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "text/plain", "multipart/mixed; boundary=" + BOUNDARY, None],
)
def test_wrong_content_type(
    server: DynoServer, build: Path, refused: Refused, content_type: str | None
) -> None:
    refused(post(server, _good_body(build), content_type), 400, "multipart/form-data")


def test_unknown_action(server: DynoServer, build: Path, refused: Refused) -> None:
    data = make_sdist(build, "malformed", "1.0").read_bytes()
    fields = upload_fields("malformed", "1.0", data)
    fields[":action"] = "frobnicate"
    body = form_body(fields, ("malformed-1.0.tar.gz", data))
    refused(post(server, body), 400, "frobnicate")


def test_missing_action(server: DynoServer, build: Path, refused: Refused) -> None:
    data = make_sdist(build, "malformed", "1.0").read_bytes()
    fields = upload_fields("malformed", "1.0", data)
    del fields[":action"]
    body = form_body(fields, ("malformed-1.0.tar.gz", data))
    refused(post(server, body), 400, ":action")


def test_unknown_action_urlencoded(server: DynoServer, refused: Refused) -> None:
    r = server.request("POST", "/", data={":action": "frobnicate", "name": "x"})
    refused(r, 400, "frobnicate")


def test_file_upload_without_a_file(server: DynoServer, build: Path, refused: Refused) -> None:
    data = make_sdist(build, "malformed", "1.0").read_bytes()
    refused(post(server, form_body(upload_fields("malformed", "1.0", data), None)), 400, "file")
    r = server.request("POST", "/", data=upload_fields("malformed", "1.0", data))  # urlencoded
    refused(r, 400, "file")


def test_content_part_without_filename(server: DynoServer, build: Path, refused: Refused) -> None:
    data = make_sdist(build, "malformed", "1.0").read_bytes()
    body = b"".join(part(k, v.encode()) for k, v in upload_fields("malformed", "1.0", data).items())
    body += part("content", data) + closing()
    refused(post(server, body), 400, "file")


def test_two_file_parts(server: DynoServer, build: Path, refused: Refused) -> None:
    data = make_sdist(build, "malformed", "1.0").read_bytes()
    body = b"".join(part(k, v.encode()) for k, v in upload_fields("malformed", "1.0", data).items())
    body += part("content", data, "malformed-1.0.tar.gz") * 2 + closing()
    refused(post(server, body), 400, "content")


def test_part_that_is_not_form_data(server: DynoServer, build: Path, refused: Refused) -> None:
    good = _good_body(build)
    body = good.replace(b"Content-Disposition: form-data", b"Content-Disposition: attachment", 1)
    assert body != good
    refused(post(server, body), 400, "multipart")


# --------------------------------------------------------------------------- case-insensitivity


def test_media_type_in_capitals(server: DynoServer, build: Path, helpers: Helpers) -> None:
    data = make_sdist(build, "caps-media", "1.0").read_bytes()
    body = upload_body("caps_media-1.0.tar.gz", data, "caps-media", "1.0")
    r = post(server, body, f"MULTIPART/FORM-DATA; boundary={BOUNDARY}")
    assert r.status_code == 200, server.explain(r)
    assert server.listed_files("caps-media") == {
        "caps_media-1.0.tar.gz": helpers.sha256_bytes(data)
    }


def test_parameter_name_in_capitals_and_quoted_boundary(
    server: DynoServer, build: Path, helpers: Helpers
) -> None:
    data = make_sdist(build, "caps-param", "1.0").read_bytes()
    body = upload_body("caps_param-1.0.tar.gz", data, "caps-param", "1.0")
    r = post(server, body, f'Multipart/Form-Data; BOUNDARY="{BOUNDARY}"')
    assert r.status_code == 200, server.explain(r)
    assert "caps_param-1.0.tar.gz" in (server.listed_files("caps-param") or {})


def test_header_names_in_any_case(server: DynoServer, build: Path, helpers: Helpers) -> None:
    data = make_sdist(build, "caps-headers", "1.0").read_bytes()
    body = upload_body("caps_headers-1.0.tar.gz", data, "caps-headers", "1.0")
    body = body.replace(b"Content-Disposition:", b"CONTENT-disposition:")
    body = body.replace(b"Content-Type:", b"content-TYPE:")
    head = [f"content-type: {MULTIPART}".encode(), f"CONTENT-LENGTH: {len(body)}".encode()]
    r = raw_post(server, head, body)
    assert r.status == 200, (r, server.logs())
    assert server.listed_files("caps-headers") == {
        "caps_headers-1.0.tar.gz": helpers.sha256_bytes(data)
    }


def test_chunked_request_body(server: DynoServer, build: Path, helpers: Helpers) -> None:
    data = make_sdist(build, "chunked-body", "1.0").read_bytes()
    body = upload_body("chunked_body-1.0.tar.gz", data, "chunked-body", "1.0")
    chunked = b""
    for i in range(0, len(body), 300):
        piece = body[i : i + 300]
        chunked += f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    chunked += b"0\r\n\r\n"
    head = [f"Content-Type: {MULTIPART}".encode(), b"Transfer-Encoding: chunked"]
    r = raw_post(server, head, chunked)
    assert r.status == 200, (r, server.logs())
    assert "chunked_body-1.0.tar.gz" in (server.listed_files("chunked-body") or {})
