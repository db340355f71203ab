"""The web UI over HTTP (in process): project, version and search pages and the home page,
their redirects, refusals, caching headers, CSP, access rules and hostile descriptions."""

from __future__ import annotations

import gzip
import re
from html import unescape
from pathlib import Path
from urllib.parse import urljoin

import pytest
from support.accounts import write_fast_accounts
from support.fakedist import make_sdist, make_wheel
from support.inproc import AppFactory, AppServer

from dynopypi.render.layout import CSP

HOSTILE_README = (
    """# Hostile

<script>window.pwned = 1</script>

<img src="x" onerror="window.pwned = 1">

[click me](javascript:window.pwned=1)

<style>body { display: none }</style>


| a | b |
|---|---|
"""
    + "| cell | cell |\n" * 5_000
)


@pytest.fixture(scope="module")
def pkg(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ui")
    make_wheel(
        root,
        "Hello_World",
        "1.0",
        requires=["requests>=2"],
        requires_python=">=3.9",
        headers=[
            "Description-Content-Type: text/markdown",
            "Project-URL: Source, https://example.com/src",
            "Project-URL: Evil, javascript:alert(1)",
            "Classifier: Programming Language :: Python :: 3",
        ],
        description="# Hello\n\nSome **bold** text.\n",
    )
    make_sdist(root, "Hello_World", "1.0")
    make_wheel(root, "Hello_World", "2.0rc1")
    make_wheel(
        root,
        "hostile",
        "1.0",
        headers=["Description-Content-Type: text/markdown"],
        description=HOSTILE_README,
    )
    make_wheel(root, "big-readme", "1.0", description="word " * 700_000)  # 3.5 MB
    make_wheel(
        root,
        "loud",
        "1.0",
        requires=[f"dep-{i}" for i in range(3_000)],
        headers=[f"Classifier: Topic :: {i}" for i in range(5_000)]
        + ["Summary-Extra: x", "License: " + "L" * 100_000]
        + [f"Project-URL: {'label' * 1000}, https://example.com/{'p' * 5000}"],
    )
    make_wheel(root, "huge-readme", "1.0", description="word " * 2_200_000)  # 11 MB
    make_sdist(root, "other", "0.1")
    return root


@pytest.fixture(scope="module")
def ui(module_server_factory: AppFactory, pkg: Path) -> AppServer:
    return module_server_factory(pkg)


def text_of(html: str) -> str:
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)))


def test_project_page_shows_the_latest_release(ui: AppServer) -> None:
    r = ui.get("/project/hello-world/")
    assert r.status_code == 200, ui.explain(r)
    assert r.headers["Content-Type"] == "text/html; charset=utf-8"
    assert r.headers["Content-Security-Policy"] == CSP
    text = text_of(r.text)
    assert "Hello_World 1.0" in text  # 2.0rc1 is a pre-release: not the latest
    assert "Some bold text" in text and "<strong>bold</strong>" in r.text
    assert f"pip install --index-url {ui.base}/simple/ Hello_World" in text
    assert f"uv pip install --index-url {ui.base}/simple/ Hello_World" in text
    assert ">=3.9" in text and "requests>=2" in text
    assert 'href="https://example.com/src"' in r.text and "javascript:" not in r.text
    assert "Programming Language :: Python :: 3" in text
    assert "hello_world-1.0-py3-none-any.whl" in text and "hello_world-1.0.tar.gz" in text
    assert "2.0rc1" in text and "private" in text


def test_version_page_and_its_file_links(ui: AppServer) -> None:
    r = ui.get("/project/hello-world/2.0rc1/")
    assert r.status_code == 200, ui.explain(r)
    assert "Hello_World==2.0rc1" in r.text
    links = re.findall(r'href="([^"]*packages/[^"]*)"', r.text)
    assert links, r.text
    for link in links:
        download = ui.get(urljoin("/project/hello-world/2.0rc1/", link))
        assert download.status_code == 200 and download.content[:2] == b"PK", link


@pytest.mark.parametrize(
    ("path", "location"),
    [
        ("/project/Hello_World/", "../hello-world/"),
        ("/project/hello-world", "hello-world/"),
        ("/project/Hello.World/1.0/", "../../hello-world/1.0/"),
        ("/project/hello-world/1.00/", "../../hello-world/1.0/"),
        ("/project/hello-world/2.0-rc1/", "../../hello-world/2.0rc1/"),
        ("/project/hello-world/1.0", "1.0/"),
    ],
)
def test_names_and_versions_redirect_to_their_normal_form(
    ui: AppServer, path: str, location: str
) -> None:
    r = ui.get(path, allow_redirects=False)
    assert r.status_code == 301 and r.headers["Location"] == location, ui.explain(r)
    assert ui.get(path).status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/project/nothing-here/",
        "/project/hello-world/9.9/",
        "/project/hello-world/not-a-version/",
        "/project/-bad-/",
        "/project/" + "x" * 5000 + "/",
        "/project/hello-world/" + "9" * 5000 + "/",
        "/project/hello-world/1.0%00/",
        "/project/%ff/",
        "/_/static/nothing.css",
        "/_/static/../../etc/passwd",
    ],
)
def test_what_is_not_here_is_a_clear_404(ui: AppServer, path: str) -> None:
    r = ui.get(path, allow_redirects=False)
    assert r.status_code == 404, ui.explain(r)
    assert r.headers["Content-Type"].startswith("text/plain") and len(r.text) < 400


def test_pages_are_cached_with_etag_and_gzip(ui: AppServer) -> None:
    first = ui.raw("GET", "/project/hostile/", {"Accept-Encoding": "gzip"})
    assert first.status == 200 and first.headers["content-encoding"] == "gzip"
    assert b"hostile" in gzip.decompress(first.body).lower()
    again = ui.raw(
        "GET",
        "/project/hostile/",
        {"If-None-Match": first.headers["etag"], "Accept-Encoding": "gzip"},
    )
    assert again.status == 304


def test_hostile_description_is_sanitized(ui: AppServer) -> None:
    r = ui.get("/project/hostile/")
    assert r.status_code == 200, ui.explain(r)
    assert "<script>window" not in r.text and "<img" not in r.text and "<style" not in r.text
    assert "javascript:" not in r.text and "click me" in r.text
    assert len(r.content) < 2 * 1024 * 1024


def test_a_10_mb_readme_leaves_the_metadata_unread_and_says_so(ui: AppServer) -> None:
    """Core metadata over 4 MB is not read (``dists.metadata``): the page still answers."""
    r = ui.get("/project/huge-readme/")
    assert r.status_code == 200, ui.explain(r)
    assert "core metadata could not be read" in r.text and len(r.content) < 64 * 1024


def test_metadata_with_thousands_of_entries_is_bounded(ui: AppServer) -> None:
    r = ui.get("/project/loud/")
    assert r.status_code == 200, ui.explain(r)
    assert r.text.count("Topic ::") == 200 and r.text.count("dep-") == 200
    assert "L" * 201 not in r.text and "label" * 21 not in r.text
    assert len(r.content) < 512 * 1024


def test_a_huge_readme_is_cut_with_a_note(ui: AppServer) -> None:
    r = ui.get("/project/big-readme/")
    assert r.status_code == 200, ui.explain(r)
    assert "only the first" in r.text and len(r.content) < 1024 * 1024


def test_search(ui: AppServer) -> None:
    r = ui.get("/search", params={"q": "hello_world"})
    assert r.status_code == 200 and r.headers["Content-Security-Policy"] == CSP
    assert 'href="project/hello-world/"' in r.text
    assert 'value="hello_world"' in r.text  # the query stays in the box
    summary = ui.get("/search", params={"q": "test package"})  # fakedist's summaries
    assert summary.text.count('class="name"') >= 3, summary.text
    nothing = ui.get("/search", params={"q": '"><script>x</script>'})
    assert nothing.status_code == 200 and "<script>x" not in nothing.text
    assert "No project matches" in nothing.text


def test_home_page(ui: AppServer) -> None:
    r = ui.get("/")
    assert r.status_code == 200 and r.headers["Content-Security-Policy"] == CSP
    text = text_of(r.text)
    assert "Recently uploaded" in text and 'href="project/hello-world/2.0rc1/"' in r.text
    assert f'url = "{ui.base}/simple/"' in r.text.replace("&quot;", '"')  # uv.toml: TOML
    assert 'action="search"' in r.text and 'href="packages/"' in r.text


def test_static_files_are_served_for_a_year(ui: AppServer) -> None:
    home = ui.get("/").text
    for asset in re.findall(r'(?:href|src)="(_/static/[^"]+)"', home):
        r = ui.get("/" + asset)
        assert r.status_code == 200, asset
        assert r.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert r.headers["Content-Type"].startswith(("text/css", "text/javascript"))


def test_no_inline_script_or_style(ui: AppServer) -> None:
    for path in ("/", "/project/hello-world/", "/project/hostile/", "/search?q=h"):
        html = ui.get(path).text
        assert not re.search(r"<script(?![^>]*\bsrc=)", html), path
        assert "<style" not in html and " style=" not in html and " on" + "click" not in html


def test_pages_need_an_account_when_listing_does(
    server_factory: AppFactory, pkg: Path, tmp_path: Path
) -> None:
    htpasswd = write_fast_accounts(tmp_path / "htpasswd", {"alice": "pw"})
    server = server_factory(pkg, "-P", str(htpasswd), "-a", "list,update")
    for path in ("/project/hello-world/", "/project/hello-world/1.0/", "/search?q=x"):
        assert server.get(path).status_code == 401, path
        assert server.get(path, auth=("alice", "pw")).status_code == 200, path
    home = server.get("/")  # open to all, but without what the index holds
    assert home.status_code == 200 and "Recently uploaded" not in home.text
    assert "hello" not in home.text.lower()
