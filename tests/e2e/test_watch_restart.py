"""A restart with a warm cache: what changed on disk while the server was down shows up
(the watching itself is tested in process, in tests/app/test_watch.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from support.fakedist import make_wheel
from support.helpers import Helpers
from support.server import DynoServer, ServerFactory
from support.watching import Watched, digest_map, expect_listing, make_watched

JSON_V1 = "application/vnd.pypi.simple.v1+json"


@pytest.fixture
def watched(server_factory: ServerFactory, tmp_path: Path) -> Watched[DynoServer]:
    return make_watched(server_factory, tmp_path)


def test_restart_with_cache_sees_changes_made_while_down(
    watched: Watched[DynoServer], helpers: Helpers
) -> None:
    srv = watched.server
    target = watched.pkgdir / "base-1.0-py3-none-any.whl"
    extra = make_wheel(watched.pkgdir, "base", "1.1")
    expect_listing(watched, helpers, "base", digest_map(helpers, target, extra))
    srv.stop()
    # while it is down: one file rewritten (new content), one removed, one added
    replacement = make_wheel(watched.staging, "base", "1.0", payload=b"rebuilt" * 100)
    os.replace(replacement, target)
    extra.unlink()
    added = make_wheel(watched.pkgdir, "base", "1.2")
    srv.start()  # same cache directory
    # from the first answer on, nothing stale: the removed file and the old bytes are gone
    # (files added while it was down appear within the bound, as a dropped file does)
    expected = digest_map(helpers, target, added)
    first = srv.listed_files("base") or {}
    assert set(first.items()) <= set(expected.items()), first
    expect_listing(watched, helpers, "base", expected)
    r, page = srv.project_html("base")
    for a in page.anchors:
        d = srv.get(srv.file_url(r.url, a.href))
        assert helpers.sha256_bytes(d.content) == a.href.split("#sha256=")[1]
        m = srv.get(srv.file_url(r.url, a.href) + ".metadata")
        assert a.attrs["data-core-metadata"] == "sha256=" + helpers.sha256_bytes(m.content)
