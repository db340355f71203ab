"""A package directory whose name is not UTF-8 must not take the index down."""

from __future__ import annotations

import os
from pathlib import Path

from support.fakedist import make_wheel
from support.helpers import Helpers
from support.inproc import AppFactory


def test_non_utf8_directory_name(
    server_factory: AppFactory, tmp_path: Path, helpers: Helpers
) -> None:
    """A directory whose name is not UTF-8 (possible on Linux, e.g. from an old archive)
    must not take the index down: the server starts and every page still works."""
    pkgdir = tmp_path / "pkgs"
    pkgdir.mkdir()
    good = make_wheel(pkgdir, "good", "1.0")
    bad_dir = os.path.join(os.fsencode(pkgdir), b"caf\xe9-\xff")
    os.mkdir(bad_dir)
    inner = make_wheel(tmp_path, "inner", "1.0")
    os.rename(inner, os.path.join(bad_dir, b"inner-1.0-py3-none-any.whl"))

    srv = server_factory(pkgdir)
    for path in ("/simple/", "/packages/", "/simple/good/", "/pypi/good/json", "/"):
        r = srv.get(path)
        assert r.status_code == 200, srv.explain(r)
    assert helpers.sha256_bytes(srv.get(f"/packages/{good.name}").content) == (
        helpers.sha256_file(good)
    )
    # the file in the odd directory is either left out or served correctly
    files = srv.listed_files("inner")
    if files is not None:
        r, page = srv.project_html("inner")
        for a in page.anchors:
            d = srv.get(srv.file_url(r.url, a.href))
            assert d.status_code == 200, srv.explain(d)
            assert helpers.sha256_bytes(d.content) == a.href.split("#sha256=")[1]
