"""``FormParser`` driven push-style, as the server drives it from the socket: any split of
the body gives the same form, errors wait for ``finish``, and nothing is left on disk
unless the form was handed over; the bounds on form fields, multipart and urlencoded."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import pytest
from support.uploads import MULTIPART, file_upload_fields, form_body, part

from dynopypi.edge.multipart import FormParser, read_form, read_urlencoded
from dynopypi.edge.parts import MAX_FORM_BYTES
from dynopypi.errors import InvalidInput, TooLarge

DATA = os.urandom(300_000)
BODY = form_body(file_upload_fields("acme-1.0.tar.gz", DATA), ("acme-1.0.tar.gz", DATA))


def parser(tmp_path: Path, length: int = len(BODY), max_size: int = 10**9) -> FormParser:
    return FormParser(MULTIPART, length, tmp_path, max_size=max_size)


@pytest.mark.parametrize("piece", [1, 7, 8192, 65536, 1 << 20])
@pytest.mark.parametrize("chunked", [False, True])
def test_any_split_gives_the_same_form(tmp_path: Path, piece: int, chunked: bool) -> None:
    small = form_body(
        file_upload_fields("acme-1.0.tar.gz", b"x" * 9000), ("acme-1.0.tar.gz", b"x" * 9000)
    )
    body = BODY if piece > 1 else small  # 1-byte pieces of the whole body: slow for nothing
    p = parser(tmp_path, -1 if chunked else len(body))
    for i in range(0, len(body), piece):
        p.feed(body[i : i + piece])
    form = p.finish()
    assert form.temp_path is not None and form.temp_path.parent == tmp_path
    data = form.temp_path.read_bytes()
    assert form.size == len(data) and form.digests["sha256"] == hashlib.sha256(data).hexdigest()
    assert form.filename == "acme-1.0.tar.gz" and form.fields["name"] == "acme"
    p.abort()  # waitress closes the request after the app: the form is the app's now
    assert form.temp_path.exists()
    form.discard()
    assert list(tmp_path.iterdir()) == []


def test_the_pull_path_reads_the_same_form(tmp_path: Path) -> None:
    form = read_form(io.BytesIO(BODY), MULTIPART, str(len(BODY)), tmp_path, max_size=10**9)
    assert form.temp_path is not None and form.temp_path.read_bytes() == DATA
    form.discard()


def test_a_chunked_body_over_the_limit_fails_and_leaves_nothing(tmp_path: Path) -> None:
    p = parser(tmp_path, -1, max_size=100_000)
    for i in range(0, len(BODY), 8192):
        p.feed(BODY[i : i + 8192])  # never raises: the event loop calls it
    assert list(tmp_path.iterdir()) == []  # removed as soon as the limit was passed
    with pytest.raises(TooLarge, match="at most 100000 bytes"):
        p.finish()


def test_a_declared_length_over_the_limit_is_refused_at_once(tmp_path: Path) -> None:
    with pytest.raises(TooLarge):
        parser(tmp_path, 200_000, max_size=100_000)


@pytest.mark.parametrize(
    "content_type", ["multipart/mixed; boundary=x", "multipart/form-data", "text/plain"]
)
def test_a_head_that_cannot_be_an_upload_is_refused_at_once(
    tmp_path: Path, content_type: str
) -> None:
    with pytest.raises(InvalidInput):
        FormParser(content_type, 10, tmp_path, max_size=100)


def test_an_error_midway_removes_the_file_at_once_and_waits_for_finish(tmp_path: Path) -> None:
    body = part("content", DATA, "acme-1.0.tar.gz") + part("content", b"again", "acme.whl")
    p = parser(tmp_path, -1)
    p.feed(body)
    assert list(tmp_path.iterdir()) == []
    p.feed(b"more bytes are dropped, not parsed")
    with pytest.raises(InvalidInput, match="more than one 'content' file part"):
        p.finish()


def test_a_body_that_ends_early_is_malformed(tmp_path: Path) -> None:
    p = parser(tmp_path, -1)
    p.feed(BODY[: len(BODY) // 2])
    with pytest.raises(InvalidInput, match="malformed multipart body"):
        p.finish()
    assert list(tmp_path.iterdir()) == []


def test_abort_midway_removes_the_staged_file_and_finish_then_refuses(tmp_path: Path) -> None:
    p = parser(tmp_path)
    p.feed(BODY[: len(BODY) // 2])
    assert len(list(tmp_path.iterdir())) == 1
    p.abort()
    p.abort()
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(InvalidInput, match="interrupted"):
        p.finish()


def _read(body: bytes, tmp_path: Path) -> object:
    """Read a form (the tests only look at what it refuses)."""
    return read_form(io.BytesIO(body), MULTIPART, str(len(body)), tmp_path, max_size=10**9)


def test_form_fields_total_is_bounded_and_unknown_fields_are_not_kept(tmp_path: Path) -> None:
    body = form_body({"description": "x" * 1000, "name": "acme"})
    form = read_form(io.BytesIO(body), MULTIPART, str(len(body)), tmp_path, max_size=10**9)
    assert form.fields == {"name": "acme"} and form.form_bytes == 1004
    big = b"".join(part(f"f{i}", b"\xff" * (MAX_FORM_BYTES // 3)) for i in range(4))
    with pytest.raises(TooLarge, match="form fields"):
        _read(big + form_body({}), tmp_path)
    with pytest.raises(TooLarge, match="'name'"):
        _read(form_body({"name": "a" * 70_000}), tmp_path)
    with pytest.raises(InvalidInput, match="UTF-8"):
        _read(part("version", b"\xff") + form_body({}), tmp_path)


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"name=%ff", "UTF-8"),
        (b"name=\xff", "UTF-8"),
        (b"&".join([b"a=b"] * 600), "fields"),
    ],
)
def test_urlencoded_refusals(body: bytes, problem: str) -> None:
    with pytest.raises(InvalidInput, match=problem):
        read_urlencoded(io.BytesIO(body), str(len(body)))


def test_urlencoded_keeps_known_fields() -> None:
    body = b":action=yank&name=acme&version=1.0&reason=bad+build&other=x"
    form = read_urlencoded(io.BytesIO(body), str(len(body)))
    assert form.fields == {
        ":action": "yank",
        "name": "acme",
        "version": "1.0",
        "reason": "bad build",
    }
    with pytest.raises(TooLarge):
        read_urlencoded(io.BytesIO(b""), str(1024 * 1024))
