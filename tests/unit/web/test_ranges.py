from __future__ import annotations

from packaging.version import Version

from dynopypi.dists.names import DistFile, normalize
from dynopypi.web.ranges import content_type_for, etag_of, plan_download

DIST = DistFile(
    relpath="foo-1.0.tar.gz",
    root=0,
    filename="foo-1.0.tar.gz",
    project=normalize("foo"),
    display_name="foo",
    version=Version("1.0"),
    packagetype="sdist",
    python_tag="source",
    size=100,
    mtime_ns=1_700_000_000_000_000_000,
    hashes=bytes.fromhex("ab" * 80),
)


def test_full_download() -> None:
    plan = plan_download(DIST, {}, cache_control=None)
    assert (plan.status, plan.start, plan.length) == (200, 0, 100)
    assert plan.headers["Content-Length"] == "100"
    assert plan.headers["Content-Type"] == "application/gzip"
    assert "Cache-Control" not in plan.headers


def test_cache_control() -> None:
    plan = plan_download(DIST, {}, cache_control=600)
    assert plan.headers["Cache-Control"] == "public, max-age=600"


def test_if_none_match() -> None:
    assert plan_download(DIST, {"If-None-Match": etag_of(DIST)}, cache_control=None).status == 304
    assert plan_download(DIST, {"If-None-Match": '"other"'}, cache_control=None).status == 200


def test_if_modified_since() -> None:
    later = "Wed, 15 Nov 2023 00:00:00 GMT"
    earlier = "Mon, 01 Jan 2001 00:00:00 GMT"
    assert plan_download(DIST, {"If-Modified-Since": later}, cache_control=None).status == 304
    assert plan_download(DIST, {"If-Modified-Since": earlier}, cache_control=None).status == 200
    assert plan_download(DIST, {"If-Modified-Since": "junk"}, cache_control=None).status == 200


def test_ranges() -> None:
    cases = {
        "bytes=0-9": (206, 0, 10, "bytes 0-9/100"),
        "bytes=90-": (206, 90, 10, "bytes 90-99/100"),
        "bytes=-5": (206, 95, 5, "bytes 95-99/100"),
        "bytes=50-500": (206, 50, 50, "bytes 50-99/100"),
    }
    for header, (status, start, length, content_range) in cases.items():
        plan = plan_download(DIST, {"Range": header}, cache_control=None)
        assert (plan.status, plan.start, plan.length) == (status, start, length), header
        assert plan.headers["Content-Range"] == content_range


def test_unsatisfiable_and_ignored_ranges() -> None:
    plan = plan_download(DIST, {"Range": "bytes=100-"}, cache_control=None)
    assert plan.status == 416
    assert plan.headers["Content-Range"] == "bytes */100"
    for header in ("bytes=0-1,5-6", "items=0-1", "bytes=x-y", "bytes=5-1"):
        assert plan_download(DIST, {"Range": header}, cache_control=None).status == 200


def test_if_range_mismatch_sends_whole_file() -> None:
    headers = {"Range": "bytes=0-9", "If-Range": '"stale"'}
    assert plan_download(DIST, headers, cache_control=None).status == 200


def test_content_types() -> None:
    assert content_type_for("a-1-py3-none-any.whl") == "application/zip"
    assert content_type_for("a-1.tar.bz2") == "application/x-bzip2"
    assert content_type_for("a-1.weird") == "application/octet-stream"
