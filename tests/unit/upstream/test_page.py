"""Reading upstream pages: PEP 691 JSON and PEP 503 HTML in, checked records out (pure)."""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path
from typing import Any

import pytest

from dynopypi.dists.names import normalize
from dynopypi.upstream.http import FetchFailed, read_bounded
from dynopypi.upstream.origin import origin_of
from dynopypi.upstream.page import BadPage, UpstreamFile, parse_page
from dynopypi.upstream.store import CachedPage, not_before, upstream_dir

SHA = "ab" * 32
PAGE = "https://up.example/simple/demo/"


def json_page(*files: dict[str, Any]) -> bytes:
    return json.dumps({"meta": {"api-version": "1.1"}, "name": "demo", "files": files}).encode()


def entry(filename: str, **extra: Any) -> dict[str, Any]:
    return {"filename": filename, "url": f"../../files/{filename}", "hashes": {"sha256": SHA},
            **extra}  # fmt: skip


def test_json_page_carries_everything_upstream_says() -> None:
    body = json_page(
        entry(
            "demo-1.0-py3-none-any.whl",
            **{"requires-python": ">=3.9", "yanked": "broken", "size": 12,
               "upload-time": "2026-01-02T03:04:05.123456Z", "core-metadata": {"sha256": SHA}}
        )
    )  # fmt: skip
    files, skipped = parse_page(
        body, "application/vnd.pypi.simple.v1+json", PAGE, normalize("demo")
    )
    assert skipped == []
    (f,) = files
    assert f.url == "https://up.example/files/demo-1.0-py3-none-any.whl"
    assert (f.sha256, f.requires_python, f.yanked, f.size) == (SHA, ">=3.9", "broken", 12)
    assert f.upload_ns == 1767323045123456000
    assert f.metadata_sha256 == SHA


def test_html_page_is_understood() -> None:
    body = (
        f'<html><body><a href="/f/demo-1.0.tar.gz#sha256={SHA}" data-requires-python="&gt;=3.8"'
        f' data-yanked="" data-dist-info-metadata="sha256={SHA}">demo-1.0.tar.gz</a></body></html>'
    ).encode()
    files, skipped = parse_page(body, "text/html; charset=utf-8", PAGE, normalize("demo"))
    assert skipped == []
    (f,) = files
    assert f.url == "https://up.example/f/demo-1.0.tar.gz"
    assert (f.requires_python, f.yanked, f.upload_ns, f.metadata_sha256) == (">=3.8", "", None, SHA)


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        (entry("other-1.0-py3-none-any.whl"), "belongs to"),
        (entry("../../etc/passwd"), "plain file name"),
        (entry("demo-1.0-py3-none-any.whl", url="file:///etc/passwd"), "not http"),
        (entry("demo-1.0-py3-none-any.whl", hashes={"md5": "00"}), "no sha256"),
        (entry("demo-1.0-py3-none-any.whl", hashes={"sha256": "zz"}), "no sha256"),
        (entry("not a dist"), ""),
        ({"filename": 3}, "usable name"),
    ],
)
def test_bad_files_are_skipped_with_a_reason(bad: dict[str, Any], why: str) -> None:
    good = entry("demo-2.0-py3-none-any.whl")
    files, skipped = parse_page(json_page(bad, good), "application/json", PAGE, normalize("demo"))
    assert [f.filename for f in files] == ["demo-2.0-py3-none-any.whl"]
    assert len(skipped) == 1 and why in skipped[0]


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"{not json", "application/vnd.pypi.simple.v1+json"),
        (b'{"files": 3}', "application/vnd.pypi.simple.v1+json"),
        (b"[" * 100_000, "application/vnd.pypi.simple.v1+json"),
        (b"\x00\x01", "application/octet-stream"),
    ],
)
def test_unreadable_pages_are_refused(body: bytes, content_type: str) -> None:
    with pytest.raises(BadPage):
        parse_page(body, content_type, PAGE, normalize("demo"))


def test_odd_values_become_unknown_not_errors() -> None:
    odd = entry(
        "demo-1.0-py3-none-any.whl",
        size=-5,
        **{"upload-time": "yesterday", "requires-python": 3, "yanked": 1},
    )
    (f,), _ = parse_page(json_page(odd), "application/json", PAGE, normalize("demo"))
    assert (f.size, f.upload_ns, f.requires_python, f.yanked) == (None, None, None, None)


def test_a_page_over_the_limit_is_refused() -> None:
    class Body(io.BytesIO):
        pass

    with pytest.raises(FetchFailed, match="over 10 bytes"):
        read_bounded(Body(b"x" * 100), 10, "u")


def test_credentials_come_out_of_the_url() -> None:
    origin = origin_of("https://me:s%40cret@idx.example:8443/simple")
    assert origin.url == "https://idx.example:8443/simple/"
    assert origin.auth == "Basic bWU6c0BjcmV0"


def test_gzipped_pages_are_inflated_and_a_gzip_bomb_is_refused() -> None:
    page = gzip.compress(b"x" * 1000)
    assert read_bounded(io.BytesIO(page), 1000, "u", gzipped=True) == (b"x" * 1000)
    bomb = gzip.compress(b"\0" * 10_000_000)  # 10 kB that inflate to 10 MB
    with pytest.raises(FetchFailed, match="over 1000 bytes"):
        read_bounded(io.BytesIO(bomb), 1000, "u", gzipped=True)
    with pytest.raises(FetchFailed, match="broken gzip"):
        read_bounded(io.BytesIO(b"not gzip"), 1000, "u", gzipped=True)


def test_the_cache_is_keyed_without_credentials(tmp_path: Path) -> None:
    plain = upstream_dir(tmp_path, ["https://idx.example/simple"])
    assert upstream_dir(tmp_path, ["https://me:token@idx.example/simple/"]) == plain
    assert upstream_dir(tmp_path, ["https://other.example/simple/"]) != plain


def test_files_new_on_a_page_are_no_older_than_the_fetch_that_missed_them() -> None:
    def page(fetched: float, *names: str, known: dict[str, int] | None = None) -> CachedPage:
        files = [UpstreamFile(n, f"{PAGE}{n}", SHA, upload_ns=0) for n in names]
        return CachedPage(normalize("demo"), PAGE, PAGE, None, None, fetched, files,
                          not_before=known or {})  # fmt: skip

    now = page(300.0, "a", "b", "c").files
    assert not_before(None, now) == {}  # a first fetch: nothing known, upstream believed
    assert not_before(page(100.0, "a"), now) == {"b": 100 * 10**9, "c": 100 * 10**9}
    assert not_before(page(200.0, "a", "b", known={"b": 100, "gone": 5}), now) == {
        "b": 100, "c": 200 * 10**9
    }  # fmt: skip
    saved = page(200.0, "a", known={"a": 7})
    assert CachedPage.from_json(json.loads(json.dumps(saved.to_json()))) == saved
    older = saved.to_json()
    del older["not_before"]  # a cache file written before not_before existed
    assert CachedPage.from_json(older).not_before == {}
