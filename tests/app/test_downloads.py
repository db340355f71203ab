"""/packages/: file downloads with HTTP caching and range semantics, the listing, metadata."""

from __future__ import annotations

import hashlib
from email.utils import parsedate_to_datetime
from pathlib import Path
from urllib.parse import urljoin

import pytest
from support.corpus import Corpus, build_odd_corpus
from support.helpers import Helpers
from support.inproc import AppFactory, AppServer

WHEEL = "big-1.0-py3-none-any.whl"
SDIST = "foo_bar-1.0.tar.gz"


def test_download_headers(server: AppServer, corpus: Corpus) -> None:
    path = corpus.files[WHEEL]
    r = server.get(f"/packages/{WHEEL}")
    assert r.status_code == 200, server.explain(r)
    assert r.content == path.read_bytes()
    assert int(r.headers["Content-Length"]) == path.stat().st_size
    ctype = r.headers.get("Content-Type", "")
    assert ctype and not ctype.startswith("text/"), ctype
    assert r.headers.get("ETag"), server.explain(r)
    last_modified = parsedate_to_datetime(r.headers["Last-Modified"])
    assert int(last_modified.timestamp()) == int(path.stat().st_mtime)


@pytest.mark.parametrize("filename", ["foo_bar-1.0.tar.gz", "zeta-0.2-py3-none-any.whl"])
def test_download_other_files(server: AppServer, corpus: Corpus, filename: str) -> None:
    relpath = corpus.relpath(filename)
    r = server.get(f"/packages/{relpath}")
    assert r.status_code == 200, server.explain(r)
    assert r.content == corpus.files[filename].read_bytes()
    assert r.headers.get("Content-Type") and not r.headers["Content-Type"].startswith("text/")


def test_head(server: AppServer, corpus: Corpus) -> None:
    get = server.get(f"/packages/{WHEEL}")
    head = server.head(f"/packages/{WHEEL}")
    assert head.status_code == 200, server.explain(head)
    assert head.content == b""
    for header in ("Content-Length", "Content-Type", "ETag", "Last-Modified"):
        assert head.headers.get(header) == get.headers.get(header), header


def test_conditional_get_etag(server: AppServer, corpus: Corpus) -> None:
    r = server.get(f"/packages/{WHEEL}")
    etag = r.headers["ETag"]
    r304 = server.get(f"/packages/{WHEEL}", headers={"If-None-Match": etag})
    assert r304.status_code == 304, server.explain(r304)
    assert r304.content == b""
    listed = server.get(f"/packages/{WHEEL}", headers={"If-None-Match": f'"x", {etag}'})
    assert listed.status_code == 304, server.explain(listed)
    star = server.get(f"/packages/{WHEEL}", headers={"If-None-Match": "*"})
    assert star.status_code == 304, server.explain(star)
    miss = server.get(f"/packages/{WHEEL}", headers={"If-None-Match": '"not-the-etag"'})
    assert miss.status_code == 200
    assert miss.content == corpus.files[WHEEL].read_bytes()


def test_etags_differ_between_files(server: AppServer, corpus: Corpus) -> None:
    a = server.head("/packages/lib-1.0-py3-none-any.whl").headers["ETag"]
    b = server.head("/packages/lib-2.0-py3-none-any.whl").headers["ETag"]
    assert a != b


def test_conditional_get_if_modified_since(server: AppServer, corpus: Corpus) -> None:
    r = server.get(f"/packages/{WHEEL}")
    r304 = server.get(
        f"/packages/{WHEEL}", headers={"If-Modified-Since": r.headers["Last-Modified"]}
    )
    assert r304.status_code == 304, server.explain(r304)
    old = server.get(
        f"/packages/{WHEEL}", headers={"If-Modified-Since": "Mon, 01 Jan 2001 00:00:00 GMT"}
    )
    assert old.status_code == 200


def test_range_prefix(server: AppServer, corpus: Corpus) -> None:
    data = corpus.files[WHEEL].read_bytes()
    r = server.get(f"/packages/{WHEEL}", headers={"Range": "bytes=0-9"})
    assert r.status_code == 206, server.explain(r)
    assert r.content == data[:10]
    assert r.headers["Content-Range"] == f"bytes 0-9/{len(data)}"
    assert int(r.headers["Content-Length"]) == 10


def test_range_middle_and_suffix(server: AppServer, corpus: Corpus) -> None:
    data = corpus.files[WHEEL].read_bytes()
    r = server.get(f"/packages/{WHEEL}", headers={"Range": "bytes=1000-1999"})
    assert r.status_code == 206, server.explain(r)
    assert r.content == data[1000:2000]
    assert r.headers["Content-Range"] == f"bytes 1000-1999/{len(data)}"
    tail = server.get(f"/packages/{WHEEL}", headers={"Range": "bytes=-22"})
    assert tail.status_code == 206, server.explain(tail)
    assert tail.content == data[-22:]  # the zip end-of-central-directory record
    assert tail.headers["Content-Range"] == f"bytes {len(data) - 22}-{len(data) - 1}/{len(data)}"
    rest = server.get(f"/packages/{WHEEL}", headers={"Range": f"bytes={len(data) - 5}-"})
    assert rest.status_code == 206
    assert rest.content == data[-5:]


def test_range_unsatisfiable(server: AppServer, corpus: Corpus) -> None:
    size = corpus.files[WHEEL].stat().st_size
    r = server.get(f"/packages/{WHEEL}", headers={"Range": f"bytes={size + 10}-{size + 20}"})
    assert r.status_code == 416, server.explain(r)


def test_missing_file_404(server: AppServer) -> None:
    for path in (
        "/packages/nope-1.0-py3-none-any.whl",
        "/packages/sub/nope-1.0-py3-none-any.whl",
        "/packages/nope-1.0-py3-none-any.whl.metadata",
    ):
        r = server.get(path)
        assert r.status_code == 404, server.explain(r)


def test_directory_is_not_a_download(server: AppServer) -> None:
    r = server.get("/packages/sub/", allow_redirects=False)
    assert r.status_code in (200, 301, 302, 403, 404), server.explain(r)
    assert b"hello" not in r.content


def test_packages_listing(server: AppServer, corpus: Corpus) -> None:
    r = server.get("/packages/")
    assert r.status_code == 200, server.explain(r)
    for filename in corpus.files:
        assert filename in r.text, f"{filename} not in listing\n{server.explain(r)}"
    assert "notapackage.txt" not in r.text


def test_wheel_metadata_download(server: AppServer, corpus: Corpus, helpers: Helpers) -> None:
    for filename, path in corpus.files.items():
        if not filename.endswith(".whl"):
            continue
        r = server.get(f"/packages/{corpus.relpath(filename)}.metadata")
        assert r.status_code == 200, server.explain(r)
        assert r.content == helpers.wheel_metadata(path)


def test_metadata_not_for_sdist(server: AppServer, corpus: Corpus) -> None:
    r = server.get(f"/packages/{SDIST}.metadata")
    assert r.status_code == 404, server.explain(r)


def test_metadata_conditional_get(server: AppServer, corpus: Corpus) -> None:
    url = f"/packages/{WHEEL}.metadata"
    r = server.get(url)
    assert r.status_code == 200
    etag = r.headers.get("ETag")
    if etag is not None:  # optional for metadata, but if given it must work
        again = server.get(url, headers={"If-None-Match": etag})
        assert again.status_code == 304, server.explain(again)


def test_concurrent_downloads(server: AppServer, corpus: Corpus) -> None:
    from concurrent.futures import ThreadPoolExecutor

    expected = hashlib.sha256(corpus.files[WHEEL].read_bytes()).hexdigest()

    def fetch(_: int) -> str:
        r = server.get(f"/packages/{WHEEL}")
        assert r.status_code == 200
        return hashlib.sha256(r.content).hexdigest()

    with ThreadPoolExecutor(8) as pool:
        digests = list(pool.map(fetch, range(24)))
    assert set(digests) == {expected}


# --------------------------------------------------------------------------- odd names


@pytest.fixture(scope="module")
def odd(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Path]]:
    """File and directory names that need care in URLs."""
    return build_odd_corpus(tmp_path_factory.mktemp("odd"))


@pytest.fixture(scope="module")
def odd_server(module_server_factory: AppFactory, odd: tuple[Path, dict[str, Path]]) -> AppServer:
    return module_server_factory(odd[0])


def test_odd_projects_listed(odd_server: AppServer, odd: tuple[Path, dict[str, Path]]) -> None:
    assert odd_server.listed_projects() == {"uni", "odd", "my-proj", "tagged"}


@pytest.mark.parametrize("project", ["uni", "odd", "my-proj", "tagged"])
def test_odd_links_download(
    odd_server: AppServer, odd: tuple[Path, dict[str, Path]], helpers: Helpers, project: str
) -> None:
    _, files = odd
    r, page = odd_server.project_html(project)
    assert page.anchors, odd_server.explain(r)
    for a in page.anchors:
        expected = files[a.text.strip()]
        d = odd_server.get(odd_server.file_url(r.url, a.href))
        assert d.status_code == 200, odd_server.explain(d)
        assert d.content == expected.read_bytes()
        assert a.href.split("#sha256=")[1] == helpers.sha256_bytes(d.content)
        if expected.name.endswith(".whl"):
            m = odd_server.get(odd_server.file_url(r.url, a.href) + ".metadata")
            assert m.status_code == 200, odd_server.explain(m)
            assert m.content == helpers.wheel_metadata(expected)
    rj, data = odd_server.project_json(project)
    assert sorted(f["filename"] for f in data["files"]) == sorted(a.text for a in page.anchors)
    for f in data["files"]:
        d = odd_server.get(urljoin(rj.url, f["url"]))
        assert d.status_code == 200, odd_server.explain(d)
        assert helpers.sha256_bytes(d.content) == f["hashes"]["sha256"]
    pj = odd_server.get(f"/pypi/{project}/json")
    assert pj.status_code == 200, odd_server.explain(pj)
    for entries in pj.json()["releases"].values():
        for entry in entries:
            d = odd_server.get(urljoin(pj.url, entry["url"]))
            assert d.status_code == 200, odd_server.explain(d)
            assert d.content == files[entry["filename"]].read_bytes()


def test_odd_versions(odd_server: AppServer) -> None:
    _, data = odd_server.project_json("odd")
    assert sorted(data["versions"]) == sorted(["1.0+local.1", "1!0.5"])
    pj = odd_server.get("/pypi/odd/json").json()
    assert pj["info"]["version"] == "1!0.5"  # the epoch wins
    one = odd_server.get("/pypi/odd/1.0+local.1/json")
    assert one.status_code == 200, odd_server.explain(one)
    assert [f["filename"] for f in one.json()["urls"]] == ["odd-1.0+local.1-py3-none-any.whl"]
    _, legacy = odd_server.project_json("my-proj")
    assert legacy["versions"] == ["2.0"]


def test_odd_listing_links(
    odd_server: AppServer, odd: tuple[Path, dict[str, Path]], helpers: Helpers
) -> None:
    _, files = odd
    r = odd_server.get("/packages/")
    resolved = set()
    for href in (a.href for a in helpers.parse_html(r.text).anchors):
        d = odd_server.get(urljoin(r.url, href))
        assert d.status_code == 200, f"{href}: {odd_server.explain(d)}"
        resolved.add(hashlib.sha256(d.content).hexdigest())
    assert resolved == {hashlib.sha256(p.read_bytes()).hexdigest() for p in files.values()}
