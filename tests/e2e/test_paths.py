"""Nothing outside the package directory can be read through the server.

Requests go through http.client so that dot segments and percent escapes reach the server
exactly as written (requests/urllib3 would normalize some of them away).
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote

import pytest
from support.fakedist import make_wheel
from support.helpers import Helpers
from support.server import DynoServer, ServerFactory

SECRET = b"TOP-SECRET-CONTENT-0123456789"


@pytest.fixture(scope="module")
def layout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """root/{secret, outside/evil-1.0-py3-none-any.whl, pkgs/ (with symlinks out)}."""
    root = tmp_path_factory.mktemp("paths")
    pkgdir = root / "pkgs"
    (pkgdir / "sub").mkdir(parents=True)
    make_wheel(pkgdir, "good", "1.0")
    make_wheel(pkgdir / "sub", "good", "1.1")
    (root / "secret").write_bytes(SECRET + b"\n")
    outside = root / "outside"
    outside.mkdir()
    evil = make_wheel(outside, "evil", "1.0", payload=SECRET)
    make_wheel(root, "rootevil", "1.0", payload=SECRET)
    # symlinks inside the package directory that point out of it
    os.symlink(evil, pkgdir / "evil-1.0-py3-none-any.whl")
    os.symlink(outside, pkgdir / "linkdir")
    os.symlink(root / "secret", pkgdir / "secretlink")
    os.symlink(root / "secret", pkgdir / "sub" / "secret")
    return root


@pytest.fixture(scope="module")
def srv(module_server_factory: ServerFactory, layout: Path) -> DynoServer:
    return module_server_factory(layout / "pkgs")


def _abs(p: Path) -> str:
    return str(p)


ESCAPES = [
    "/packages/../secret",
    "/packages/%2e%2e/secret",
    "/packages/%2E%2E/secret",
    "/packages/.%2e/secret",
    "/packages/..%2fsecret",
    "/packages/..%2Fsecret",
    "/packages/%2e%2e%2fsecret",
    "/packages/sub/../../secret",
    "/packages/sub%2f..%2f..%2fsecret",
    "/packages/sub/..%2f..%2fsecret",
    "/packages/sub/%2e%2e/%2e%2e/secret",
    "/packages/./../secret",
    "/packages/%252e%252e/secret",
    "/packages/..%5csecret",
    "/packages/....//secret",
    "/packages/../outside/evil-1.0-py3-none-any.whl",
    "/packages/..%2foutside%2fevil-1.0-py3-none-any.whl",
    "/packages/..%2frootevil-1.0-py3-none-any.whl",
    "/packages/..%2frootevil-1.0-py3-none-any.whl.metadata",
    "/packages/sub%2f..%2f..%2frootevil-1.0-py3-none-any.whl.metadata",
    # symlinks that point out of the package directory
    "/packages/evil-1.0-py3-none-any.whl",
    "/packages/evil-1.0-py3-none-any.whl.metadata",
    "/packages/linkdir/evil-1.0-py3-none-any.whl",
    "/packages/linkdir%2fevil-1.0-py3-none-any.whl",
    "/packages/secretlink",
    "/packages/sub/secret",
    # other routes
    "/simple/..%2f..%2fsecret/",
    "/simple/%2e%2e/",
    "/pypi/..%2f..%2fsecret/json",
    "/pypi/evil/json",
    "/../secret",
    "/%2e%2e/secret",
]


@pytest.mark.parametrize("path", ESCAPES)
def test_escape_is_refused(srv: DynoServer, path: str) -> None:
    r = srv.raw("GET", path)
    assert SECRET not in r.body, srv.explain(r)
    # a name that is not normalized may be redirected on the simple API; never to elsewhere
    allowed = (400, 403, 404) if path.startswith("/packages/") else (301, 400, 403, 404)
    assert r.status in allowed, srv.explain(r)
    if r.status == 301:
        assert not r.headers["location"].startswith(("http:", "https:", "//")), srv.explain(r)


@pytest.mark.parametrize(
    "template",
    [
        "/packages/{abs}",
        "/packages/{quoted}",
        "/packages//{abs}",
        "/packages/%2F{quoted_noslash}",
    ],
)
@pytest.mark.parametrize("target", ["secret", "outside/evil-1.0-py3-none-any.whl"])
def test_absolute_paths_are_refused(
    srv: DynoServer, layout: Path, template: str, target: str
) -> None:
    absolute = _abs(layout / target)
    path = template.format(
        abs=absolute,
        quoted=quote(absolute, safe=""),
        quoted_noslash=quote(absolute.lstrip("/"), safe=""),
    )
    r = srv.raw("GET", path)
    assert SECRET not in r.body, srv.explain(r)
    assert r.status in (400, 403, 404), srv.explain(r)


@pytest.mark.parametrize("path", ["/packages/%00", "/packages/good%00.whl", "/simple/a%00b/"])
def test_nul_bytes_are_client_errors(srv: DynoServer, path: str) -> None:
    r = srv.raw("GET", path)
    assert r.status in (400, 404), srv.explain(r)


def test_out_of_tree_symlinks_not_advertised(srv: DynoServer) -> None:
    assert srv.get("/simple/evil/").status_code == 404
    listing = srv.get("/packages/")
    assert "evil-1.0" not in listing.text
    assert "secret" not in listing.text
    r = srv.get("/simple/", headers={"Accept": "text/html"})
    assert 'href="evil/"' not in r.text
    assert "rootevil" not in r.text


def test_legitimate_files_still_served(srv: DynoServer, layout: Path, helpers: Helpers) -> None:
    r, page = srv.project_html("good")
    assert sorted(a.text.strip() for a in page.anchors) == [
        "good-1.0-py3-none-any.whl",
        "good-1.1-py3-none-any.whl",
    ]
    for a in page.anchors:
        d = srv.get(srv.file_url(r.url, a.href))
        assert d.status_code == 200
        assert helpers.sha256_bytes(d.content) == a.href.split("#sha256=")[1]


def test_server_survives(srv: DynoServer) -> None:
    for path in ESCAPES:
        srv.raw("GET", path)
    assert srv.running
    assert srv.get("/health").status_code == 200


def test_host_header_is_escaped_on_welcome_page(srv: DynoServer) -> None:
    r = srv.raw("GET", "/", headers={"Host": 'x"><script>alert(1)</script>'})
    assert r.status in (200, 400), srv.explain(r)
    assert b"<script>alert(1)</script>" not in r.body
