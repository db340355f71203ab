"""``--overwrite`` (``-o``): an upload replaces a file or a symlink at its name, never
writes through the symlink, and refuses cleanly when a directory is in the way."""

from __future__ import annotations

from pathlib import Path

import requests
from support.accounts import add_account
from support.fakedist import make_sdist, make_wheel
from support.fs import leftovers
from support.helpers import Helpers
from support.inproc import AppFactory, AppServer
from support.uploads import MULTIPART, file_upload_fields, form_body

ALICE = ("alice", "alice-secret-1")


def post_upload(
    server: AppServer, filename: str, data: bytes, auth: tuple[str, str] | None = ALICE
) -> requests.Response:
    body = form_body(file_upload_fields(filename, data), (filename, data))
    headers = {"Content-Type": MULTIPART}
    return server.request("POST", "/", data=body, headers=headers, auth=auth, timeout=120)


def test_overwrite_flag_replaces_files_and_symlinks(
    server_factory: AppFactory, helpers: Helpers, tmp_path: Path
) -> None:
    root = tmp_path / "site"
    pkg, build, outside = root / "pkgs", root / "build", root / "outside"
    for d in (pkg, build / "a", build / "b", outside):
        d.mkdir(parents=True)
    add_account(root / "htpasswd", *ALICE)
    srv = server_factory(pkg, "-P", str(root / "htpasswd"), "-o")
    first = make_wheel(build / "a", "replaceable", "1.0").read_bytes()
    second_path = make_wheel(build / "b", "replaceable", "1.0", requires=["lib>=2"])
    second = second_path.read_bytes()
    name = "replaceable-1.0-py3-none-any.whl"
    assert post_upload(srv, name, first).status_code == 200
    r = post_upload(srv, name, second)
    assert r.status_code == 200, srv.explain(r)
    assert (pkg / name).read_bytes() == second
    assert srv.listed_files("replaceable") == {name: helpers.sha256_bytes(second)}
    got = srv.get(f"/packages/{name}")
    assert got.content == second
    metadata = srv.get(f"/packages/{name}.metadata")
    assert metadata.content == helpers.wheel_metadata(second_path)
    assert b"Requires-Dist: lib>=2" in metadata.content
    # a symlink at the target is replaced by the upload, never written through
    target = outside / "elsewhere"
    target.write_bytes(b"PRECIOUS\n")
    sdist = make_sdist(build / "a", "linked", "1.0")
    (pkg / sdist.name).symlink_to(target)
    r = post_upload(srv, sdist.name, sdist.read_bytes())
    assert r.status_code == 200, srv.explain(r)
    assert not (pkg / sdist.name).is_symlink()
    assert (pkg / sdist.name).read_bytes() == sdist.read_bytes()
    assert target.read_bytes() == b"PRECIOUS\n"
    assert srv.listed_files("linked") == {sdist.name: helpers.sha256_file(sdist)}
    assert leftovers(pkg) == []


def test_overwrite_onto_a_directory_is_refused_cleanly(
    server_factory: AppFactory, tmp_path: Path
) -> None:
    pkg = tmp_path / "pkgs"
    pkg.mkdir()
    add_account(tmp_path / "htpasswd", *ALICE)
    srv = server_factory(pkg, "-P", str(tmp_path / "htpasswd"), "-o")
    sdist = make_sdist(tmp_path, "dir-clash", "1.0")
    (pkg / sdist.name).mkdir()
    r = post_upload(srv, sdist.name, sdist.read_bytes())
    assert r.status_code == 409, srv.explain(r)
    assert (pkg / sdist.name).is_dir()
    assert leftovers(pkg) == []
