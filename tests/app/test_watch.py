"""The index follows the package directory (watchdog) without a rescan (--rescan-interval 0).

Each test gets its own server over its own directory. Changes must show up within a
generous bound (5 s, the machine is noisy); no tighter timing is asserted.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from support.fakedist import make_sdist, make_wheel
from support.helpers import Helpers
from support.inproc import AppFactory, AppServer
from support.watching import BOUND, Watched, digest_map, expect_listing, make_watched

JSON_V1 = "application/vnd.pypi.simple.v1+json"


@pytest.fixture
def watched(server_factory: AppFactory, tmp_path: Path) -> Watched[AppServer]:
    return make_watched(server_factory, tmp_path)


def test_initial_state(watched: Watched[AppServer], helpers: Helpers) -> None:
    expect_listing(
        watched, helpers, "base", digest_map(helpers, watched.pkgdir / "base-1.0-py3-none-any.whl")
    )
    assert watched.server.listed_projects() == {"base"}


def test_added_wheel_appears(watched: Watched[AppServer], helpers: Helpers) -> None:
    srv = watched.server
    built = make_wheel(watched.staging, "newpkg", "1.0", requires=["base"])
    dest = Path(shutil.copy2(built, watched.pkgdir))
    expect_listing(watched, helpers, "newpkg", digest_map(helpers, dest))
    helpers.poll_until(lambda: "newpkg" in srv.listed_projects(), timeout=BOUND)
    # the new file is fully usable: download, metadata, JSON API
    r, page = srv.project_html("newpkg")
    (a,) = page.anchors
    d = srv.get(srv.file_url(r.url, a.href))
    assert d.status_code == 200 and d.content == dest.read_bytes()
    m = srv.get(srv.file_url(r.url, a.href) + ".metadata")
    assert m.status_code == 200, srv.explain(m)
    assert a.attrs["data-core-metadata"] == "sha256=" + helpers.sha256_bytes(m.content)
    j = srv.get("/pypi/newpkg/json")
    assert j.status_code == 200, srv.explain(j)
    assert j.json()["info"]["requires_dist"] == ["base"]


def test_added_version_of_existing_project(watched: Watched[AppServer], helpers: Helpers) -> None:
    srv = watched.server
    new = make_wheel(watched.pkgdir, "base", "1.1")
    sdist = make_sdist(watched.pkgdir, "base", "1.1")
    old = watched.pkgdir / "base-1.0-py3-none-any.whl"
    expect_listing(watched, helpers, "base", digest_map(helpers, old, new, sdist))
    _, data = srv.project_json("base")
    assert sorted(data["versions"]) == ["1.0", "1.1"]
    j = srv.get("/pypi/base/json").json()
    assert j["info"]["version"] == "1.1"


def test_removed_file_disappears(watched: Watched[AppServer], helpers: Helpers) -> None:
    srv = watched.server
    extra = make_wheel(watched.pkgdir, "base", "1.1")
    old = watched.pkgdir / "base-1.0-py3-none-any.whl"
    expect_listing(watched, helpers, "base", digest_map(helpers, old, extra))
    extra.unlink()
    expect_listing(watched, helpers, "base", digest_map(helpers, old))
    assert srv.get("/packages/base-1.1-py3-none-any.whl").status_code == 404
    assert srv.get("/pypi/base/1.1/json").status_code == 404
    # removing the last file removes the project
    old.unlink()
    expect_listing(watched, helpers, "base", None)
    assert srv.listed_projects() == set()
    assert srv.get("/pypi/base/json").status_code == 404


def test_new_subdirectories(watched: Watched[AppServer], helpers: Helpers) -> None:
    srv = watched.server
    nested = watched.pkgdir / "team" / "nested"
    nested.mkdir(parents=True)
    wheel = make_wheel(nested, "deep", "2.0")
    expect_listing(watched, helpers, "deep", digest_map(helpers, wheel))
    _r, page = srv.project_html("deep")
    assert page.anchors[0].href.startswith("../../packages/team/nested/deep-2.0-py3-none-any.whl#")
    assert srv.get("/packages/team/nested/deep-2.0-py3-none-any.whl").content == wheel.read_bytes()
    # a second file into a directory created after start
    more = make_wheel(watched.pkgdir / "team", "deep", "2.1")
    expect_listing(watched, helpers, "deep", digest_map(helpers, wheel, more))


def test_rename_from_partial_name(watched: Watched[AppServer], helpers: Helpers) -> None:
    srv = watched.server
    built = make_wheel(watched.staging, "atomic", "1.0", payload=b"x" * 200_000)
    part = watched.pkgdir / (built.name + ".part")
    shutil.copyfile(built, part)
    final = watched.pkgdir / built.name
    os.rename(part, final)
    expect_listing(watched, helpers, "atomic", digest_map(helpers, final))
    assert ".part" not in srv.get("/packages/").text
    assert ".part" not in srv.get("/simple/atomic/").text


def test_partial_file_is_not_listed(watched: Watched[AppServer], helpers: Helpers) -> None:
    srv = watched.server
    built = make_wheel(watched.staging, "halfway", "1.0")
    shutil.copyfile(built, watched.pkgdir / (built.name + ".part"))
    # a sentinel added afterwards shows that the watcher has caught up
    sentinel = make_wheel(watched.pkgdir, "sentinel", "1.0")
    expect_listing(watched, helpers, "sentinel", digest_map(helpers, sentinel))
    assert srv.listed_projects() == {"base", "sentinel"}
    assert srv.get("/simple/halfway/").status_code == 404


def test_move_between_directories(watched: Watched[AppServer], helpers: Helpers) -> None:
    srv = watched.server
    (watched.pkgdir / "archive").mkdir()
    src = watched.pkgdir / "base-1.0-py3-none-any.whl"
    digest = helpers.sha256_file(src)
    dest = watched.pkgdir / "archive" / src.name
    os.rename(src, dest)

    def moved() -> list[str] | None:
        r = srv.get("/simple/base/", headers={"Accept": JSON_V1})
        if r.status_code != 200:
            return None
        return [f["url"] for f in r.json()["files"]]

    helpers.poll_until(
        lambda: (
            (urls := moved()) is not None
            and len(urls) == 1
            and urls[0].split("#")[0].endswith("packages/archive/base-1.0-py3-none-any.whl")
        ),
        timeout=BOUND,
        message=lambda: f"urls after move: {moved()}",
    )
    assert srv.get("/packages/archive/base-1.0-py3-none-any.whl").status_code == 200
    assert srv.get("/packages/base-1.0-py3-none-any.whl").status_code == 404
    assert srv.listed_files("base") == {src.name: digest}


def test_move_out_of_tree(watched: Watched[AppServer], helpers: Helpers) -> None:
    os.rename(watched.pkgdir / "base-1.0-py3-none-any.whl", watched.staging / "gone.whl")
    expect_listing(watched, helpers, "base", None)
    assert watched.server.get("/packages/base-1.0-py3-none-any.whl").status_code == 404


def test_overwrite_updates_hash(watched: Watched[AppServer], helpers: Helpers) -> None:
    srv = watched.server
    target = watched.pkgdir / "base-1.0-py3-none-any.whl"
    # atomic replacement (write elsewhere, os.replace over the old file)
    replacement = make_wheel(watched.staging, "base", "1.0", payload=b"second edition")
    os.replace(replacement, target)
    expect_listing(watched, helpers, "base", digest_map(helpers, target))
    assert srv.get(f"/packages/{target.name}").content == target.read_bytes()
    # in-place rewrite of the same file
    third = make_wheel(watched.staging, "base", "1.0", payload=b"third edition, longer" * 50)
    target.write_bytes(third.read_bytes())
    expect_listing(watched, helpers, "base", digest_map(helpers, target))
    d = srv.get(f"/packages/{target.name}")
    assert d.content == target.read_bytes()
    assert int(d.headers["Content-Length"]) == target.stat().st_size


def test_page_etag_changes_with_content(watched: Watched[AppServer], helpers: Helpers) -> None:
    srv = watched.server
    first = srv.get("/simple/base/", headers={"Accept": "text/html"})
    etag = first.headers["ETag"]
    root_etag = srv.get("/simple/", headers={"Accept": "text/html"}).headers["ETag"]
    make_wheel(watched.pkgdir, "base", "2.0")
    make_wheel(watched.pkgdir, "other", "1.0")
    expect_listing(
        watched,
        helpers,
        "base",
        digest_map(
            helpers,
            watched.pkgdir / "base-1.0-py3-none-any.whl",
            watched.pkgdir / "base-2.0-py3-none-any.whl",
        ),
    )
    helpers.poll_until(lambda: "other" in srv.listed_projects(), timeout=BOUND)
    r = srv.get("/simple/base/", headers={"Accept": "text/html", "If-None-Match": etag})
    assert r.status_code == 200, srv.explain(r)
    assert "base-2.0-py3-none-any.whl" in r.text
    assert r.headers["ETag"] != etag
    root = srv.get("/simple/", headers={"Accept": "text/html", "If-None-Match": root_etag})
    assert root.status_code == 200, srv.explain(root)
    assert 'href="other/"' in root.text


def test_directory_moved_in(watched: Watched[AppServer], helpers: Helpers) -> None:
    built = watched.staging / "batch"
    (built / "inner").mkdir(parents=True)
    a = make_wheel(built, "batched", "1.0")
    b = make_wheel(built / "inner", "batched", "1.1")
    os.rename(built, watched.pkgdir / "batch")
    expect_listing(
        watched,
        helpers,
        "batched",
        digest_map(
            helpers,
            watched.pkgdir / "batch" / a.name,
            watched.pkgdir / "batch" / "inner" / b.name,
        ),
    )


def test_directory_moved_out_and_removed(watched: Watched[AppServer], helpers: Helpers) -> None:
    srv = watched.server
    for name in ("one", "two"):
        (watched.pkgdir / name).mkdir()
        make_wheel(watched.pkgdir / name, f"proj-{name}", "1.0")
    helpers.poll_until(
        lambda: srv.listed_projects() == {"base", "proj-one", "proj-two"},
        timeout=BOUND,
        message=lambda: f"projects: {srv.listed_projects()}",
    )
    os.rename(watched.pkgdir / "one", watched.staging / "one")
    shutil.rmtree(watched.pkgdir / "two")
    helpers.poll_until(
        lambda: srv.listed_projects() == {"base"},
        timeout=BOUND,
        message=lambda: f"projects: {srv.listed_projects()}\n{srv.logs()}",
    )
    assert srv.get("/packages/one/proj_one-1.0-py3-none-any.whl").status_code == 404


def test_junk_files_are_ignored(watched: Watched[AppServer], helpers: Helpers) -> None:
    srv = watched.server
    (watched.pkgdir / "notapackage.txt").write_text("hello")
    (watched.pkgdir / "foo.whl").write_bytes(b"not a wheel")
    (watched.pkgdir / "broken-1.0-py3-none-any.whl").write_bytes(b"not a zip")
    sentinel = make_wheel(watched.pkgdir, "sentinel", "1.0")
    expect_listing(watched, helpers, "sentinel", digest_map(helpers, sentinel))
    projects = srv.listed_projects()
    assert {"base", "sentinel"} <= projects
    assert not projects & {"notapackage", "foo", "notapackage-txt"}
    assert srv.running
    assert srv.get("/health").status_code == 200


def test_directory_renamed_within_tree(watched: Watched[AppServer], helpers: Helpers) -> None:
    srv = watched.server
    (watched.pkgdir / "old").mkdir()
    wheel = make_wheel(watched.pkgdir / "old", "renamed", "1.0")
    expect_listing(watched, helpers, "renamed", digest_map(helpers, wheel))
    os.rename(watched.pkgdir / "old", watched.pkgdir / "new")

    def urls() -> list[str] | None:
        r = srv.get("/simple/renamed/", headers={"Accept": JSON_V1})
        return [f["url"] for f in r.json()["files"]] if r.status_code == 200 else None

    helpers.poll_until(
        lambda: urls() == ["../../packages/new/renamed-1.0-py3-none-any.whl"],
        timeout=BOUND,
        message=lambda: f"urls after directory rename: {urls()}\n{srv.logs()}",
    )
    assert srv.get("/packages/old/renamed-1.0-py3-none-any.whl").status_code == 404
    assert srv.get("/packages/new/renamed-1.0-py3-none-any.whl").status_code == 200


def test_symlinks_out_created_after_start(
    watched: Watched[AppServer], helpers: Helpers, tmp_path: Path
) -> None:
    srv = watched.server
    outside = tmp_path / "outside"
    outside.mkdir()
    secret_wheel = make_wheel(outside, "leak", "1.0", payload=b"SECRET-BYTES" * 10)
    os.symlink(secret_wheel, watched.pkgdir / secret_wheel.name)
    os.symlink(outside, watched.pkgdir / "linked")
    sentinel = make_wheel(watched.pkgdir, "sentinel", "1.0")
    expect_listing(watched, helpers, "sentinel", digest_map(helpers, sentinel))
    assert srv.get("/simple/leak/").status_code == 404
    for path in (f"/packages/{secret_wheel.name}", f"/packages/linked/{secret_wheel.name}"):
        r = srv.get(path)
        assert r.status_code in (400, 403, 404), srv.explain(r)
        assert b"SECRET-BYTES" not in r.content


def test_served_file_swapped_for_symlink_out(
    watched: Watched[AppServer], helpers: Helpers, tmp_path: Path
) -> None:
    """Replacing a served file with a link out of the directory must stop serving it,
    and the index must not keep advertising a file it will not serve."""
    srv = watched.server
    outside = tmp_path / "outside"
    outside.mkdir()
    target = watched.pkgdir / "base-1.0-py3-none-any.whl"
    leak = make_wheel(outside, "base", "1.0", payload=b"SECRET-BYTES" * 10)
    tmp_link = watched.pkgdir / ".swap"
    os.symlink(leak, tmp_link)
    os.replace(tmp_link, target)  # atomic swap, as a deploy script would do
    sentinel = make_wheel(watched.pkgdir, "sentinel", "1.0")
    expect_listing(watched, helpers, "sentinel", digest_map(helpers, sentinel))
    for path in (f"/packages/{target.name}", f"/packages/{target.name}.metadata"):
        r = srv.get(path)
        assert b"SECRET-BYTES" not in r.content, srv.explain(r)
    r = srv.get(f"/packages/{target.name}")
    assert r.status_code in (400, 403, 404), srv.explain(r)
    expect_listing(watched, helpers, "base", None)


def test_non_utf8_directory_after_start(watched: Watched[AppServer], helpers: Helpers) -> None:
    """An undecodable directory name appearing later must not break the watcher."""
    srv = watched.server
    bad_dir = os.path.join(os.fsencode(watched.pkgdir), b"bad-\xff")
    os.mkdir(bad_dir)
    inner = make_wheel(watched.staging, "inner", "1.0")
    os.rename(inner, os.path.join(bad_dir, b"inner-1.0-py3-none-any.whl"))
    sentinel = make_wheel(watched.pkgdir, "sentinel", "1.0")
    expect_listing(watched, helpers, "sentinel", digest_map(helpers, sentinel))
    for path in ("/simple/", "/packages/", "/simple/base/", "/"):
        r = srv.get(path)
        assert r.status_code == 200, srv.explain(r)
    # and the watcher keeps working afterwards
    later = make_wheel(watched.pkgdir, "later", "1.0")
    expect_listing(watched, helpers, "later", digest_map(helpers, later))


def test_broken_wheel_does_not_advertise_metadata(
    watched: Watched[AppServer], helpers: Helpers
) -> None:
    srv = watched.server
    broken = watched.pkgdir / "broken-1.0-py3-none-any.whl"
    broken.write_bytes(b"this is not a zip file")
    sentinel = make_wheel(watched.pkgdir, "sentinel", "1.0")
    expect_listing(watched, helpers, "sentinel", digest_map(helpers, sentinel))
    r = srv.get("/simple/broken/", headers={"Accept": JSON_V1})
    if r.status_code == 200:  # listed without metadata is fine; a bogus metadata hash is not
        (f,) = r.json()["files"]
        assert f.get("core-metadata", False) is False, srv.explain(r)
        assert srv.get(f"/packages/{broken.name}.metadata").status_code == 404
    else:
        assert r.status_code == 404, srv.explain(r)
