"""PEP 503 / 629 / 658 / 691 / 700 / 714 simple API, over HTTP against the real server."""

from __future__ import annotations

import gzip
import re
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
import requests
from support.corpus import Corpus
from support.fakedist import make_wheel
from support.helpers import Helpers
from support.inproc import AppFactory, AppServer

JSON_V1 = "application/vnd.pypi.simple.v1+json"
JSON_LATEST = "application/vnd.pypi.simple.latest+json"
HTML_V1 = "application/vnd.pypi.simple.v1+html"
HTML_LATEST = "application/vnd.pypi.simple.latest+html"
HTML_TYPES = {"text/html", HTML_V1}
UPLOAD_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")


def vary_tokens(response: requests.Response) -> set[str]:
    return {t.strip().lower() for t in response.headers.get("Vary", "").split(",") if t.strip()}


# --------------------------------------------------------------------------- root index


def test_health(server: AppServer) -> None:
    r = server.get("/health")
    assert r.status_code == 200, server.explain(r)


def test_root_html_lists_exactly_the_projects(
    server: AppServer, corpus: Corpus, helpers: Helpers
) -> None:
    r = server.get("/simple/", headers={"Accept": "text/html"})
    assert r.status_code == 200, server.explain(r)
    assert helpers.media_type(r) == "text/html"
    page = helpers.parse_html(r.text)
    assert page.meta("pypi:repository-version") == "1.1"
    hrefs = sorted(a.href for a in page.anchors)
    assert hrefs == sorted(f"{p}/" for p in corpus.projects), server.explain(r)
    # links are relative and resolve below /simple/
    for a in page.anchors:
        assert not urlsplit(a.href).netloc and not a.href.startswith("/")
        assert urljoin(r.url, a.href) == f"{server.base}/simple/{a.href}"


def test_root_has_no_junk(server: AppServer) -> None:
    r = server.get("/simple/")
    assert r.status_code == 200
    for junk in ("notapackage", "README", 'href="foo/"'):
        assert junk not in r.text, server.explain(r)


def test_root_json(server: AppServer, corpus: Corpus, helpers: Helpers) -> None:
    r = server.get("/simple/", headers={"Accept": JSON_V1})
    assert r.status_code == 200, server.explain(r)
    assert helpers.media_type(r) == JSON_V1
    data = r.json()
    assert data["meta"]["api-version"] == "1.1"
    names = [p["name"] for p in data["projects"]]
    assert len(names) == len(set(names))
    from packaging.utils import canonicalize_name

    assert sorted(canonicalize_name(n) for n in names) == sorted(corpus.projects)


# --------------------------------------------------------------------------- project page HTML


def test_project_html_links(server: AppServer, corpus: Corpus, helpers: Helpers) -> None:
    r, page = server.project_html("foo-bar")
    assert helpers.media_type(r) == "text/html"
    assert page.meta("pypi:repository-version") == "1.1"
    anchors = page.by_text()
    assert sorted(anchors) == sorted(corpus.projects["foo-bar"]), server.explain(r)
    for filename, a in anchors.items():
        relpath = corpus.relpath(filename)
        digest = helpers.sha256_file(corpus.files[filename])
        assert a.href == f"../../packages/{relpath}#sha256={digest}", server.explain(r)
        assert server.file_url(r.url, a.href) == f"{server.base}/packages/{relpath}"
        assert "data-yanked" not in a.attrs


def test_project_html_requires_python_escaped(server: AppServer, corpus: Corpus) -> None:
    r, page = server.project_html("foo-bar")
    anchors = page.by_text()
    assert anchors["foo_bar-1.1-py3-none-any.whl"].attrs.get("data-requires-python") == ">=3.8"
    assert 'data-requires-python="&gt;=3.8"' in r.text, server.explain(r)
    assert ">=3.8" not in r.text.replace("&gt;=3.8", "")
    for name in ("foo_bar-1.0-py3-none-any.whl", "foo_bar-1.0.tar.gz"):
        assert anchors[name].attrs.get("data-requires-python") in (None, ""), server.explain(r)


def test_project_html_core_metadata(server: AppServer, corpus: Corpus, helpers: Helpers) -> None:
    r, page = server.project_html("foo-bar")
    for filename, a in page.by_text().items():
        if filename.endswith(".whl"):
            expected = "sha256=" + helpers.sha256_bytes(
                helpers.wheel_metadata(corpus.files[filename])
            )
            assert a.attrs.get("data-core-metadata") == expected, server.explain(r)
            assert a.attrs.get("data-dist-info-metadata") == expected, server.explain(r)
        else:
            assert "data-core-metadata" not in a.attrs, server.explain(r)
            assert "data-dist-info-metadata" not in a.attrs, server.explain(r)


def test_project_in_subdirectories(server: AppServer, corpus: Corpus, helpers: Helpers) -> None:
    _r, page = server.project_html("zeta")
    anchors = page.by_text()
    assert sorted(anchors) == ["zeta-0.1-py3-none-any.whl", "zeta-0.2-py3-none-any.whl"]
    assert anchors["zeta-0.1-py3-none-any.whl"].href.startswith(
        "../../packages/sub/zeta-0.1-py3-none-any.whl#sha256="
    )
    assert anchors["zeta-0.2-py3-none-any.whl"].href.startswith(
        "../../packages/sub/deeper/zeta-0.2-py3-none-any.whl#sha256="
    )


def test_links_hash_matches_downloaded_bytes(
    server: AppServer, corpus: Corpus, helpers: Helpers
) -> None:
    for project in corpus.projects:
        r, page = server.project_html(project)
        for a in page.anchors:
            url = server.file_url(r.url, a.href)
            advertised = a.href.split("#sha256=", 1)[1]
            d = server.get(url)
            assert d.status_code == 200, server.explain(d)
            assert helpers.sha256_bytes(d.content) == advertised
            assert d.content == corpus.files[a.text.strip()].read_bytes()


def test_metadata_file_matches_advertised_hash(
    server: AppServer, corpus: Corpus, helpers: Helpers
) -> None:
    r, page = server.project_html("app")
    (a,) = page.anchors
    url = server.file_url(r.url, a.href) + ".metadata"
    m = server.get(url)
    assert m.status_code == 200, server.explain(m)
    assert m.content == helpers.wheel_metadata(corpus.files["app-1.0-py3-none-any.whl"])
    assert a.attrs["data-core-metadata"] == "sha256=" + helpers.sha256_bytes(m.content)
    assert b"Requires-Dist: lib>=1" in m.content


def test_no_metadata_file_for_sdist(server: AppServer, corpus: Corpus) -> None:
    r = server.get(f"/packages/{corpus.relpath('foo_bar-1.0.tar.gz')}.metadata")
    assert r.status_code == 404, server.explain(r)


# --------------------------------------------------------------------------- project page JSON


def test_project_json(server: AppServer, corpus: Corpus, helpers: Helpers) -> None:
    r, data = server.project_json("foo-bar")
    assert helpers.media_type(r) == JSON_V1
    assert data["meta"]["api-version"] == "1.1"
    assert data["name"] == "foo-bar"
    assert sorted(data["versions"]) == ["1.0", "1.1"]
    files = {f["filename"]: f for f in data["files"]}
    assert sorted(files) == sorted(corpus.projects["foo-bar"])
    for filename, f in files.items():
        path = corpus.files[filename]
        assert f["hashes"]["sha256"] == helpers.sha256_file(path)
        assert f["size"] == path.stat().st_size
        assert f["yanked"] is False
        assert UPLOAD_TIME.match(f["upload-time"]), f["upload-time"]
        url = urljoin(r.url, f["url"]).split("#", 1)[0]
        assert url == f"{server.base}/packages/{corpus.relpath(filename)}"
        if filename.endswith(".whl"):
            meta = {"sha256": helpers.sha256_bytes(helpers.wheel_metadata(path))}
            assert f["core-metadata"] == meta
        else:
            assert f.get("core-metadata", False) is False
        assert "dist-info-metadata" not in f  # PEP 714: it crashes pip 22.3-23.1 in JSON
    assert files["foo_bar-1.1-py3-none-any.whl"]["requires-python"] == ">=3.8"
    assert files["foo_bar-1.0-py3-none-any.whl"].get("requires-python") in (None, "")


def test_project_json_urls_download(server: AppServer, corpus: Corpus, helpers: Helpers) -> None:
    r, data = server.project_json("zeta")
    for f in data["files"]:
        d = server.get(urljoin(r.url, f["url"]))
        assert d.status_code == 200, server.explain(d)
        assert helpers.sha256_bytes(d.content) == f["hashes"]["sha256"]
        assert len(d.content) == f["size"]


def test_project_json_versions_pep700(server: AppServer) -> None:
    _, data = server.project_json("ver-sort")
    assert sorted(data["versions"]) == sorted(["1.9", "1.10", "2.0rc1"])


# --------------------------------------------------------------------------- negotiation


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        ("text/html", "text/html"),
        (HTML_V1, HTML_V1),
        (HTML_LATEST, HTML_V1),
        (JSON_V1, JSON_V1),
        (JSON_LATEST, JSON_V1),
        (f"{JSON_V1};q=0.2, text/html;q=0.9", "text/html"),
        (f"text/html;q=0.1, {JSON_V1}", JSON_V1),
        (f"{HTML_V1};q=0.5, {JSON_V1};q=0.6", JSON_V1),
        (f"application/xml, {HTML_V1};q=0.3", HTML_V1),
        (f"text/html, {JSON_V1};q=0", "text/html"),
    ],
)
@pytest.mark.parametrize("path", ["/simple/", "/simple/foo-bar/"])
def test_negotiation(
    server: AppServer, helpers: Helpers, path: str, accept: str, expected: str
) -> None:
    r = server.get(path, headers={"Accept": accept})
    assert r.status_code == 200, server.explain(r)
    assert helpers.media_type(r) == expected, server.explain(r)
    assert "accept" in vary_tokens(r), server.explain(r)
    if expected == JSON_V1:
        assert r.json()["meta"]["api-version"] == "1.1"
    else:
        assert "<a " in r.text and "pypi:repository-version" in r.text


@pytest.mark.parametrize("accept", [None, "*/*", "text/*", "text/html, */*;q=0.1"])
@pytest.mark.parametrize("path", ["/simple/", "/simple/foo-bar/"])
def test_negotiation_defaults_to_html(
    server: AppServer, helpers: Helpers, path: str, accept: str
) -> None:
    headers = {"Accept": accept} if accept is not None else {}
    r = server.raw("GET", path, headers=headers)  # http.client sends no Accept by default
    assert r.status == 200, server.explain(r)
    ctype = r.headers.get("content-type", "").split(";")[0].strip()
    assert ctype in HTML_TYPES, server.explain(r)
    assert b"<a " in r.body
    assert "accept" in r.headers.get("vary", "").lower()


@pytest.mark.parametrize(
    "accept",
    [
        "application/xml",
        "application/json",
        "application/vnd.pypi.simple.v2+json",
        "text/html;q=0",
        f"{JSON_V1};q=0",
        f"{JSON_V1};q=0, text/html;q=0, {HTML_V1};q=0",
    ],
)
@pytest.mark.parametrize("path", ["/simple/", "/simple/foo-bar/"])
def test_not_acceptable(server: AppServer, path: str, accept: str) -> None:
    r = server.get(path, headers={"Accept": accept})
    assert r.status_code == 406, server.explain(r)


@pytest.mark.parametrize("path", ["/simple/", "/simple/foo-bar/"])
def test_format_query_parameter(server: AppServer, helpers: Helpers, path: str) -> None:
    r = server.get(path, params={"format": JSON_V1}, headers={"Accept": "text/html"})
    assert r.status_code == 200, server.explain(r)
    assert helpers.media_type(r) == JSON_V1
    assert r.json()["meta"]["api-version"] == "1.1"


@pytest.mark.parametrize("path", ["/simple/", "/simple/foo-bar/"])
def test_page_etag_conditional_get(server: AppServer, path: str) -> None:
    r = server.get(path, headers={"Accept": "text/html"})
    assert r.status_code == 200
    etag = r.headers.get("ETag")
    assert etag, server.explain(r)
    again = server.get(path, headers={"Accept": "text/html", "If-None-Match": etag})
    assert again.status_code == 304, server.explain(again)
    assert again.content == b""
    other = server.get(path, headers={"Accept": "text/html", "If-None-Match": '"nope"'})
    assert other.status_code == 200
    assert other.content == r.content


@pytest.mark.parametrize("path", ["/simple/", "/simple/foo-bar/"])
def test_page_etag_differs_per_representation(server: AppServer, path: str) -> None:
    """A 304 for JSON must not be answered with the validator of the HTML variant."""
    html = server.get(path, headers={"Accept": "text/html"})
    js = server.get(path, headers={"Accept": JSON_V1})
    assert html.headers.get("ETag") and js.headers.get("ETag")
    assert html.headers["ETag"] != js.headers["ETag"], server.explain(js)
    cross = server.get(path, headers={"Accept": JSON_V1, "If-None-Match": html.headers["ETag"]})
    assert cross.status_code == 200, server.explain(cross)
    assert cross.json()["meta"]["api-version"] == "1.1"


# --------------------------------------------------------------------------- redirects / 404


@pytest.mark.parametrize(
    "path",
    [
        "/simple/Foo_Bar/",
        "/simple/foo.bar/",
        "/simple/FOO-BAR/",
        "/simple/Foo__Bar/",
        "/simple/foo-bar",
        "/simple/Foo_Bar",
    ],
)
def test_redirect_to_normalized(server: AppServer, path: str) -> None:
    r = server.get(path, allow_redirects=False)
    assert r.status_code == 301, server.explain(r)
    location = r.headers["Location"]
    parts = urlsplit(location)
    assert not parts.scheme and not parts.netloc, f"Location is not relative: {location!r}"
    assert not location.startswith("/"), f"Location is not path-relative: {location!r}"
    assert urljoin(server.base + path, location) == f"{server.base}/simple/foo-bar/"
    # following it ends on the page
    followed = server.get(path)
    assert followed.status_code == 200
    assert followed.url == f"{server.base}/simple/foo-bar/"


def test_redirect_keeps_query_string(server: AppServer, helpers: Helpers) -> None:
    path = "/simple/Foo_Bar/?format=application/vnd.pypi.simple.v1%2Bjson"
    r = server.raw("GET", path)
    assert r.status == 301, server.explain(r)
    target = urljoin(server.base + path, r.headers["location"])
    assert urlsplit(target).path == "/simple/foo-bar/"
    assert parse_qs(urlsplit(target).query) == {"format": [JSON_V1]}
    followed = server.get("/simple/Foo_Bar/", params={"format": JSON_V1})
    assert followed.status_code == 200
    assert helpers.media_type(followed) == JSON_V1
    assert followed.json()["name"] == "foo-bar"


@pytest.mark.parametrize("path", ["/simple/does-not-exist/", "/simple/does-not-exist"])
def test_unknown_project_404(server: AppServer, path: str) -> None:
    r = server.get(path, headers={"Accept": "text/html"})
    assert r.status_code == 404, server.explain(r)
    assert len(r.content) < 4096
    assert r.headers.get("Content-Type", "").startswith("text/plain"), server.explain(r)


def test_unknown_project_404_json(server: AppServer) -> None:
    r = server.get("/simple/does-not-exist/", headers={"Accept": JSON_V1})
    assert r.status_code == 404, server.explain(r)


def test_junk_names_are_not_projects(server: AppServer) -> None:
    for name in ("notapackage", "notapackage-txt", "foo", "readme"):
        r = server.get(f"/simple/{name}/")
        assert r.status_code == 404, server.explain(r)


# --------------------------------------------------------------------------- welcome page


def test_welcome_page(server: AppServer, helpers: Helpers) -> None:
    r = server.get("/")
    assert r.status_code == 200, server.explain(r)
    assert helpers.media_type(r) == "text/html"
    assert "pip install" in r.text
    assert f"{server.base}/simple/" in r.text, server.explain(r)


# --------------------------------------------------------------------------- fallback


@pytest.fixture(scope="module")
def fallback_server(module_server_factory: AppFactory, corpus: Corpus) -> AppServer:
    return module_server_factory(corpus.pkgdir, "--fallback-url", "https://pypi.org/simple/")


def test_fallback_redirects_unknown_project(fallback_server: AppServer) -> None:
    r = fallback_server.get("/simple/requests/", allow_redirects=False)
    assert r.status_code in (302, 303), fallback_server.explain(r)
    assert r.headers["Location"] == "https://pypi.org/simple/requests/"


def test_fallback_redirect_uses_normalized_name(fallback_server: AppServer) -> None:
    r = fallback_server.get("/simple/Some_Thing/", allow_redirects=False)
    assert r.status_code in (301, 302, 303), fallback_server.explain(r)
    target = urljoin(fallback_server.base + "/simple/Some_Thing/", r.headers["Location"])
    if r.status_code == 301:  # normalized locally first, then redirected
        r = fallback_server.get(target, allow_redirects=False)
        assert r.status_code in (302, 303), fallback_server.explain(r)
        target = r.headers["Location"]
    assert target == "https://pypi.org/simple/some-thing/"


def test_fallback_keeps_local_projects(fallback_server: AppServer, corpus: Corpus) -> None:
    _, data = fallback_server.project_json("foo-bar")
    assert sorted(f["filename"] for f in data["files"]) == sorted(corpus.projects["foo-bar"])


# --------------------------------------------------------------------------- more negotiation


@pytest.mark.parametrize(
    ("accept", "excluded"),
    [
        ("text/html;q=0, */*", "text/html"),
        (f"{JSON_V1};q=0, application/*", JSON_V1),
        (f"*/*;q=0.5, {JSON_V1};q=0", JSON_V1),
    ],
)
def test_negotiation_explicit_exclusion_beats_wildcard(
    server: AppServer, helpers: Helpers, accept: str, excluded: str
) -> None:
    """RFC 9110 12.5.1: a type given q=0 is not acceptable even if a wildcard matches it."""
    r = server.get("/simple/foo-bar/", headers={"Accept": accept})
    assert r.status_code in (200, 406), server.explain(r)
    if r.status_code == 200:
        assert helpers.media_type(r) != excluded, server.explain(r)


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        ("Application/Vnd.Pypi.Simple.V1+JSON", JSON_V1),
        ("TEXT/HTML", "text/html"),
        (f"{JSON_V1} ; q=0.5 , text/html ; q=0.4", JSON_V1),
    ],
)
def test_negotiation_is_case_and_space_insensitive(
    server: AppServer, helpers: Helpers, accept: str, expected: str
) -> None:
    r = server.get("/simple/foo-bar/", headers={"Accept": accept})
    assert r.status_code == 200, server.explain(r)
    assert helpers.media_type(r) == expected


@pytest.mark.parametrize("path", ["/simple/", "/simple/foo-bar/"])
@pytest.mark.parametrize("accept", ["text/html", JSON_V1])
def test_head_on_pages(server: AppServer, path: str, accept: str) -> None:
    get = server.get(path, headers={"Accept": accept})
    head = server.head(path, headers={"Accept": accept})
    assert head.status_code == 200, server.explain(head)
    assert head.content == b""
    assert head.headers.get("Content-Type") == get.headers.get("Content-Type")
    assert head.headers.get("ETag") == get.headers.get("ETag")


def test_simple_without_slash(server: AppServer) -> None:
    r = server.get("/simple", allow_redirects=False)
    if r.status_code == 200:
        assert "pypi:repository-version" in r.text
    else:
        assert r.status_code in (301, 308), server.explain(r)
        location = r.headers["Location"]
        assert urljoin(server.base + "/simple", location) == f"{server.base}/simple/"


def test_304_keeps_validators(server: AppServer) -> None:
    r = server.get("/simple/foo-bar/", headers={"Accept": JSON_V1})
    again = server.get(
        "/simple/foo-bar/", headers={"Accept": JSON_V1, "If-None-Match": r.headers["ETag"]}
    )
    assert again.status_code == 304
    assert again.headers.get("ETag") == r.headers["ETag"]  # RFC 9110 15.4.5
    assert "accept" in vary_tokens(again)


# --------------------------------------------------------------------------- hostile names


@pytest.mark.parametrize(
    "path",
    [
        "/simple/Foo%0D%0AX-Injected:%20yes/",
        "/simple/Foo%0D%0AX-Injected:%20yes",
        "/simple/foo%0Abar/",
        "/simple/%CE%A9/",
        "/simple/%CE%A9",
        "/simple/Foo%20Bar/",
        "/simple/%C3%9Cml/",
        "/simple/a%22b%3Cscript%3E/",
        "/pypi/Foo%0D%0AX-Injected:%20yes/json",
    ],
)
def test_hostile_project_names(server: AppServer, path: str) -> None:
    """Odd names get a clean 301/400/404: no 500, no header injection, no raw bytes in
    Location (a Location header must be an ASCII URI reference)."""
    r = server.raw("GET", path)
    assert "x-injected" not in r.headers, server.explain(r)
    assert r.status in (301, 400, 404), server.explain(r)
    if r.status == 301:
        location = r.headers["location"]
        assert location.isascii() and location.isprintable() and " " not in location, (
            f"invalid Location {location!r}"
        )
    if b"<script>" in r.body:  # an echoed name is harmless only in plain text
        assert r.headers.get("content-type", "").startswith("text/plain"), server.explain(r)


def test_welcome_page_counts(server: AppServer, corpus: Corpus) -> None:
    r = server.get("/")
    text = re.sub(r"<[^>]+>", "", r.text)
    text = re.sub(r"\s+", " ", text)
    assert f"{len(corpus.projects)} projects" in text, text
    assert f"{len(corpus.files)} files" in text, text


@pytest.fixture(scope="module")
def big_index(
    module_server_factory: AppFactory, tmp_path_factory: pytest.TempPathFactory
) -> AppServer:
    """Enough projects that /simple/ is big enough to be sent compressed."""
    root = tmp_path_factory.mktemp("big")
    for i in range(400):
        make_wheel(root, f"project-number-{i:04d}", "1.0")
    return module_server_factory(root)


@pytest.mark.parametrize("accept", ["text/html", "application/vnd.pypi.simple.v1+json"])
def test_big_pages_are_sent_gzipped_when_asked(big_index: AppServer, accept: str) -> None:
    plain = big_index.raw("GET", "/simple/", {"Accept": accept})
    packed = big_index.raw("GET", "/simple/", {"Accept": accept, "Accept-Encoding": "gzip"})
    assert plain.status == packed.status == 200
    assert "content-encoding" not in plain.headers
    assert packed.headers["content-encoding"] == "gzip"
    assert "Accept-Encoding" in packed.headers["vary"] and "Accept" in packed.headers["vary"]
    assert gzip.decompress(packed.body) == plain.body
    assert len(packed.body) * 3 < len(plain.body)
    assert packed.headers["etag"] != plain.headers["etag"]
    again = big_index.raw(
        "GET",
        "/simple/",
        {"Accept": accept, "Accept-Encoding": "gzip", "If-None-Match": packed.headers["etag"]},
    )
    assert again.status == 304
    refused = big_index.raw("GET", "/simple/", {"Accept": accept, "Accept-Encoding": "gzip;q=0"})
    assert "content-encoding" not in refused.headers and refused.body == plain.body
