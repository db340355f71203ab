"""Uploads through the legacy API (POST / with ``:action``) with real clients: twine, uv
publish, requests; then pip installs the uploads back through the index.

One module server runs with an htpasswd file and a rights file::

    alice   list,download,update   *        (full rights)
    acme    list,download,update   acme-*   (may update only acme-* projects)
    reader  list,download                   (read-only)

Every test uploads its own projects, so the tests share that server without interfering.
Tests that need other flags (``-o``, ``-a update,download,list``) start their own.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import requests
from support.accounts import add_account
from support.clients import check_ok, client_env, pip_install, run_client, twine_upload, uv_command
from support.fakedist import core_metadata, make_sdist, make_wheel
from support.fs import leftovers, tree
from support.helpers import Helpers
from support.net import fresh_address, request_from
from support.server import DynoServer, ServerFactory
from support.sites import Site
from support.uploads import MULTIPART, file_upload_fields, form_body

ALICE = ("alice", "alice-secret-1")
ACME = ("acme", "acme-secret-2")
READER = ("reader", "reader-secret-3")
RIGHTS = """\
# user  actions               projects
alice   list,download,update  *
acme    list,download,update  acme-*
reader  list,download
"""


# --------------------------------------------------------------------------- helpers


def twine(
    server: DynoServer, files: Sequence[Path], auth: tuple[str, str], tmp_path: Path
) -> subprocess.CompletedProcess[str]:
    """``twine upload`` with an empty config file, so no ~/.pypirc can interfere."""
    pypirc = tmp_path / "empty.pypirc"
    pypirc.write_text("")
    return twine_upload(f"{server.base}/", auth, files, config_file=pypirc)


def send(
    server: DynoServer, method: str, path: str, *, source: str | None = None, **kwargs: Any
) -> requests.Response:
    kwargs.setdefault("timeout", 120)
    if source is None:
        return server.request(method, path, **kwargs)
    return request_from(source, method, server.url(path), **kwargs)


def post_upload(
    server: DynoServer,
    filename: str,
    data: bytes,
    auth: tuple[str, str] | None = ALICE,
    *,
    source: str | None = None,
    **overrides: str,
) -> requests.Response:
    body = form_body(file_upload_fields(filename, data, **overrides), (filename, data))
    headers = {"Content-Type": MULTIPART}
    return send(server, "POST", "/", data=body, headers=headers, auth=auth, source=source)


def post_form(
    server: DynoServer,
    fields: dict[str, str],
    auth: tuple[str, str] | None = ALICE,
    *,
    multipart: bool,
    source: str | None = None,
) -> requests.Response:
    if multipart:
        body = form_body(fields)
        headers = {"Content-Type": MULTIPART}
        return send(server, "POST", "/", data=body, headers=headers, auth=auth, source=source)
    return send(server, "POST", "/", data=fields, auth=auth, source=source)  # urlencoded


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    """Accounts with rights, a second package directory (more-pkgs) and a place outside."""
    site = Site(tmp_path_factory.mktemp("upload-site"), [ALICE, ACME, READER], RIGHTS)
    for name in ("more-pkgs", "outside"):
        (site.root / name).mkdir()
    return site


@pytest.fixture(scope="module")
def server(module_server_factory: Any, site: Site) -> Any:
    """Two package directories (uploads go to the first), accounts with rights."""
    return module_server_factory(site.pkg, str(site.root / "more-pkgs"), "-P", str(site.htpasswd))


# --------------------------------------------------------------------------- real clients


def test_twine_uploads_are_listed_at_once_and_pip_installs_them(
    server: DynoServer, site: Site, helpers: Helpers, tmp_path: Path
) -> None:
    wheel = make_wheel(tmp_path, "Twine.Pkg", "1.0")
    sdist = make_sdist(tmp_path, "Twine.Pkg", "1.0")
    result = twine(server, [wheel, sdist], ALICE, tmp_path)
    check_ok(result, server)
    # no polling: the upload's response is only sent once the file is in the index
    listed = server.listed_files("twine-pkg")
    assert listed == {
        wheel.name: helpers.sha256_file(wheel),
        sdist.name: helpers.sha256_file(sdist),
    }, server.explain()
    # stored flat in the first package directory, byte for byte, nothing else left there
    for dist in (wheel, sdist):
        stored = site.pkg / dist.name
        assert stored.is_file() and not stored.is_symlink()
        assert stored.read_bytes() == dist.read_bytes()
        assert not ((site.root / "more-pkgs") / dist.name).exists()
    assert leftovers(site.pkg) == []
    # the wheel's core metadata (PEP 658) is served at once too
    r = server.get(f"/packages/{wheel.name}.metadata")
    assert r.status_code == 200, server.explain(r)
    assert r.content == helpers.wheel_metadata(wheel)
    # and back out through the index
    target = tmp_path / "target"
    result = pip_install(server.index_url, target, "twine-pkg==1.0")
    check_ok(result, server)
    assert (target / "twine_pkg" / "__init__.py").read_text() == '__version__ = "1.0"\n'
    assert (target / "twine_pkg-1.0.dist-info" / "WHEEL").is_file()


def test_uv_publish_then_pip_installs(
    server: DynoServer, site: Site, helpers: Helpers, tmp_path: Path
) -> None:
    wheel = make_wheel(tmp_path, "uv-pub", "2.1")
    sdist = make_sdist(tmp_path, "uv-pub", "2.1")
    result = run_client(
        [*uv_command(), "publish", "--no-config", "--cache-dir", tmp_path / "uv-cache",
         "--publish-url", f"{server.base}/", "--username", ALICE[0],
         "--password", ALICE[1], wheel, sdist],
        env=client_env(),
    )  # fmt: skip
    check_ok(result, server)
    assert server.listed_files("uv-pub") == {
        wheel.name: helpers.sha256_file(wheel),
        sdist.name: helpers.sha256_file(sdist),
    }
    assert (site.pkg / wheel.name).read_bytes() == wheel.read_bytes()
    target = tmp_path / "target"
    check_ok(pip_install(server.index_url, target, "uv_pub"), server)
    assert (target / "uv_pub" / "__init__.py").read_text() == '__version__ = "2.1"\n'


def test_uv_publish_with_wrong_password_fails(
    server: DynoServer, site: Site, helpers: Helpers, tmp_path: Path
) -> None:
    wheel = make_wheel(tmp_path, "uv-denied", "1.0")
    result = run_client(
        [*uv_command(), "publish", "--no-config", "--cache-dir", tmp_path / "uv-cache",
         "--publish-url", f"{server.base}/", "--username", ALICE[0], "--password", "nope",
         wheel],
        env=client_env(),
    )  # fmt: skip
    assert result.returncode != 0, result.stdout + result.stderr
    assert "401" in result.stdout + result.stderr
    assert server.listed_files("uv-denied") is None
    assert not (site.pkg / wheel.name).exists()


# --------------------------------------------------------------------------- same filename twice


def test_identical_reupload_succeeds_and_leaves_the_file_alone(
    server: DynoServer, site: Site, helpers: Helpers, tmp_path: Path
) -> None:
    wheel = make_wheel(tmp_path, "same-again", "1.0")
    data = wheel.read_bytes()
    first = post_upload(server, wheel.name, data)
    assert first.status_code == 200, server.explain(first)
    stored = site.pkg / wheel.name
    before = stored.stat()
    again = post_upload(server, wheel.name, data)
    assert again.status_code == 200, server.explain(again)
    after = stored.stat()
    assert (after.st_ino, after.st_mtime_ns, after.st_size) == (
        before.st_ino,
        before.st_mtime_ns,
        before.st_size,
    )
    assert server.listed_files("same-again") == {wheel.name: helpers.sha256_bytes(data)}
    # twine's answer to an identical file is also a success
    check_ok(twine(server, [wheel], ALICE, tmp_path), server)
    assert stored.stat().st_ino == before.st_ino


def test_different_bytes_under_a_stored_filename_conflict(
    server: DynoServer, site: Site, helpers: Helpers, tmp_path: Path
) -> None:
    original = make_wheel(tmp_path, "clash", "1.0").read_bytes()
    other_dir = tmp_path / "other"
    other_dir.mkdir()
    changed = make_wheel(other_dir, "clash", "1.0", payload=b"different bytes").read_bytes()
    name = "clash-1.0-py3-none-any.whl"
    assert post_upload(server, name, original).status_code == 200
    snapshot = tree(site.pkg)
    r = post_upload(server, name, changed)
    assert r.status_code == 409, server.explain(r)
    assert r.text.startswith("File already exists"), r.text
    assert (site.pkg / name).read_bytes() == original
    assert tree(site.pkg) == snapshot
    assert server.listed_files("clash") == {name: helpers.sha256_bytes(original)}
    # twine reports the conflict as a failure
    (other_dir / "dist").mkdir()
    twin = other_dir / "dist" / name
    twin.write_bytes(changed)
    result = twine(server, [twin], ALICE, tmp_path)
    assert result.returncode != 0
    assert "409" in result.stdout + result.stderr
    assert (site.pkg / name).read_bytes() == original


# --------------------------------------------------------------------------- accounts and rights


def test_read_only_account_may_not_upload(server: DynoServer, site: Site, tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path, "ro-pkg", "1.0")
    snapshot = tree(site.pkg)
    r = post_upload(server, wheel.name, wheel.read_bytes(), auth=READER)
    assert r.status_code == 403, server.explain(r)
    assert "reader" in r.text
    assert tree(site.pkg) == snapshot
    assert server.listed_files("ro-pkg") is None


def test_account_limited_to_acme_projects(
    server: DynoServer, site: Site, helpers: Helpers, tmp_path: Path
) -> None:
    allowed = make_wheel(tmp_path, "acme-tools", "1.0")
    refused = make_wheel(tmp_path, "widgets", "1.0")
    snapshot = tree(site.pkg)
    r = post_upload(server, refused.name, refused.read_bytes(), auth=ACME)
    assert r.status_code == 403, server.explain(r)
    assert "widgets" in r.text
    assert tree(site.pkg) == snapshot
    # claiming an allowed name in the form does not smuggle another project's file in
    r = post_upload(server, refused.name, refused.read_bytes(), auth=ACME, name="acme-tools")
    assert r.status_code in (400, 403), server.explain(r)
    assert tree(site.pkg) == snapshot
    r = post_upload(server, allowed.name, allowed.read_bytes(), auth=ACME)
    assert r.status_code == 200, server.explain(r)
    assert server.listed_files("acme-tools") == {allowed.name: helpers.sha256_file(allowed)}
    assert server.listed_files("widgets") is None
    # twine, with the same account
    sdist = make_sdist(tmp_path, "acme-tools", "1.0")
    check_ok(twine(server, [sdist], ACME, tmp_path), server)
    assert sdist.name in (server.listed_files("acme-tools") or {})


@pytest.mark.parametrize(
    "auth", [None, (ALICE[0], "wrong-password"), ("nobody", "whatever")], ids=str
)
def test_missing_or_wrong_credentials_are_401_and_store_nothing(
    server: DynoServer, site: Site, auth: tuple[str, str] | None, tmp_path: Path
) -> None:
    wheel = make_wheel(tmp_path, "needs-login", "1.0")
    snapshot = tree(site.pkg)
    r = post_upload(server, wheel.name, wheel.read_bytes(), auth=auth, source=fresh_address())
    assert r.status_code == 401, server.explain(r)
    challenge = r.headers.get("WWW-Authenticate", "")
    assert challenge.lower().startswith("basic "), challenge
    assert 'realm="dynopypi"' in challenge, challenge
    assert tree(site.pkg) == snapshot
    assert leftovers(site.pkg) == []
    assert server.listed_files("needs-login") is None


# --------------------------------------------------------------------------- concurrency


def _race(server: DynoServer, uploads: list[tuple[str, bytes]]) -> list[requests.Response]:
    barrier = threading.Barrier(len(uploads))
    results: list[Any] = [None] * len(uploads)

    def worker(i: int, filename: str, data: bytes) -> None:
        try:
            barrier.wait(timeout=30)
            results[i] = post_upload(server, filename, data)
        except Exception as exc:  # reported below, not lost in the thread
            results[i] = exc

    threads = [threading.Thread(target=worker, args=(i, f, d)) for i, (f, d) in enumerate(uploads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    for r in results:
        assert isinstance(r, requests.Response), r
    return results


@pytest.mark.parametrize("round_", range(4))
def test_concurrent_uploads_of_different_bytes_one_wins(
    server: DynoServer, site: Site, helpers: Helpers, tmp_path: Path, round_: int
) -> None:
    project = f"race{round_}"
    a_dir, b_dir = tmp_path / "a", tmp_path / "b"
    a_dir.mkdir()
    b_dir.mkdir()
    a = make_wheel(a_dir, project, "1.0", payload=b"A" * 4096).read_bytes()
    b = make_wheel(b_dir, project, "1.0", payload=b"B" * 4096).read_bytes()
    name = f"{project}-1.0-py3-none-any.whl"
    results = _race(server, [(name, a), (name, b)])
    statuses = sorted(r.status_code for r in results)
    assert statuses == [200, 409], [(r.status_code, r.text) for r in results]
    winner = a if results[0].status_code == 200 else b
    assert results[[r.status_code for r in results].index(409)].text.startswith(
        "File already exists"
    )
    assert (site.pkg / name).read_bytes() == winner
    assert server.listed_files(project) == {name: helpers.sha256_bytes(winner)}
    assert leftovers(site.pkg) == []


def test_concurrent_uploads_of_the_same_bytes_both_succeed(
    server: DynoServer, site: Site, helpers: Helpers, tmp_path: Path
) -> None:
    wheel = make_wheel(tmp_path, "twins", "1.0", payload=os.urandom(200_000))
    data = wheel.read_bytes()
    results = _race(server, [(wheel.name, data)] * 3)
    assert [r.status_code for r in results] == [200, 200, 200], [r.text for r in results]
    assert (site.pkg / wheel.name).read_bytes() == data
    assert server.listed_files("twins") == {wheel.name: helpers.sha256_bytes(data)}
    assert leftovers(site.pkg) == []


# --------------------------------------------------------------------------- big uploads


def test_fifty_megabyte_upload_with_twine(
    server: DynoServer, site: Site, helpers: Helpers, tmp_path: Path
) -> None:
    wheel = make_wheel(tmp_path, "bigupload", "1.0", payload=os.urandom(50 * 2**20))
    digest = helpers.sha256_file(wheel)
    check_ok(twine(server, [wheel], ALICE, tmp_path), server)
    assert server.listed_files("bigupload") == {wheel.name: digest}
    hasher = hashlib.sha256()
    size = 0
    with server.get(f"/packages/{wheel.name}", stream=True) as r:
        assert r.status_code == 200, server.explain(r)
        for chunk in r.iter_content(1 << 20):
            hasher.update(chunk)
            size += len(chunk)
    assert size == wheel.stat().st_size
    assert hasher.hexdigest() == digest
    assert leftovers(site.pkg) == []


# --------------------------------------------------------------------------- symlinks


@pytest.mark.parametrize("dangling", [False, True], ids=["to-a-file", "dangling"])
def test_upload_does_not_write_through_a_symlink(
    server: DynoServer, site: Site, dangling: bool, tmp_path: Path
) -> None:
    project = "victim-dangling" if dangling else "victim"
    sdist = make_sdist(tmp_path, project, "1.0")
    outside = (site.root / "outside") / f"{project}-target"
    if not dangling:
        outside.write_bytes(b"PRECIOUS, MUST NOT CHANGE\n")
    link = site.pkg / sdist.name
    link.symlink_to(outside)
    r = post_upload(server, sdist.name, sdist.read_bytes())
    assert r.status_code == 409, server.explain(r)
    assert link.is_symlink() and os.readlink(link) == str(outside)
    if dangling:
        assert not outside.exists()
    else:
        assert outside.read_bytes() == b"PRECIOUS, MUST NOT CHANGE\n"
    assert leftovers(site.pkg) == []


# --------------------------------------------------------------------------- remove_pkg


@pytest.mark.parametrize("multipart", [False, True], ids=["urlencoded", "multipart"])
def test_remove_pkg_removes_one_release(
    server: DynoServer, site: Site, helpers: Helpers, tmp_path: Path, multipart: bool
) -> None:
    project = f"removable-{'mp' if multipart else 'ue'}"
    old = [make_wheel(tmp_path, project, "1.0"), make_sdist(tmp_path, project, "1.0")]
    new = make_wheel(tmp_path, project, "2.0")
    for dist in [*old, new]:
        r = post_upload(server, dist.name, dist.read_bytes())
        assert r.status_code == 200, server.explain(r)
    fields = {":action": "remove_pkg", "name": project, "version": "1.0"}
    r = post_form(server, fields, multipart=multipart)
    assert r.status_code == 200, server.explain(r)
    for dist in old:
        assert not (site.pkg / dist.name).exists()
    assert (site.pkg / new.name).exists()
    assert server.listed_files(project) == {new.name: helpers.sha256_file(new)}
    download = server.get(f"/packages/{old[0].name}")
    assert download.status_code == 404
    # the release is gone: removing it again, or a release never uploaded, is 404
    for version in ("1.0", "9.9"):
        fields = {":action": "remove_pkg", "name": project, "version": version}
        r = post_form(server, fields, multipart=multipart)
        assert r.status_code == 404, server.explain(r)
    r = post_form(
        server, {":action": "remove_pkg", "name": "never-uploaded", "version": "1.0"},
        multipart=multipart,
    )  # fmt: skip
    assert r.status_code == 404, server.explain(r)
    assert (site.pkg / new.name).exists()


def test_remove_pkg_needs_the_update_right(
    server: DynoServer, site: Site, helpers: Helpers, tmp_path: Path
) -> None:
    wheel = make_wheel(tmp_path, "keepme", "1.0")
    assert post_upload(server, wheel.name, wheel.read_bytes()).status_code == 200
    fields = {":action": "remove_pkg", "name": "keepme", "version": "1.0"}
    for auth, status in ((None, 401), (("alice", "bad"), 401), (READER, 403), (ACME, 403)):
        for multipart in (False, True):
            r = post_form(server, fields, auth, multipart=multipart, source=fresh_address())
            assert r.status_code == status, (auth, server.explain(r))
    assert (site.pkg / wheel.name).read_bytes() == wheel.read_bytes()
    assert server.listed_files("keepme") == {wheel.name: helpers.sha256_file(wheel)}


def test_remove_pkg_removes_the_release_from_every_package_dir(
    server: DynoServer, site: Site, helpers: Helpers, tmp_path: Path
) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    wheel = make_wheel(tmp_path / "a", "shadowed", "1.0")
    other = make_wheel(tmp_path / "b", "shadowed", "1.0", payload=b"second directory's copy")
    # the second directory's copy first, then the first's, which shadows it once indexed
    for root, dist in (((site.root / "more-pkgs"), other), (site.pkg, wheel)):
        (root / dist.name).write_bytes(dist.read_bytes())
        expected = {dist.name: helpers.sha256_file(dist)}

        def listed(e: dict[str, str] = expected) -> bool:
            return server.listed_files("shadowed") == e

        helpers.poll_until(listed)
    fields = {":action": "remove_pkg", "name": "shadowed", "version": "1.0"}
    r = post_form(server, fields, multipart=False)
    assert r.status_code == 200, server.explain(r)
    assert server.listed_files("shadowed") is None
    assert server.get(f"/packages/{wheel.name}").status_code == 404


def test_a_directory_at_the_target_name_is_a_conflict(
    server: DynoServer, site: Site, tmp_path: Path
) -> None:
    sdist = make_sdist(tmp_path, "dir-clash", "1.0")
    (site.pkg / sdist.name).mkdir()
    r = post_upload(server, sdist.name, sdist.read_bytes())
    assert r.status_code == 409, server.explain(r)
    assert (site.pkg / sdist.name).is_dir()
    assert leftovers(site.pkg) == []


# --------------------------------------------------------------------------- sdist formats


def test_zip_sdist_upload(server: DynoServer, site: Site, helpers: Helpers, tmp_path: Path) -> None:
    import zipfile

    path = tmp_path / "zipped_sdist-1.0.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("zipped_sdist-1.0/PKG-INFO", core_metadata("zipped-sdist", "1.0"))
        zf.writestr(
            "zipped_sdist-1.0/pyproject.toml", '[project]\nname = "zipped-sdist"\nversion = "1.0"\n'
        )
    r = post_upload(server, path.name, path.read_bytes())
    assert r.status_code == 200, server.explain(r)
    assert server.listed_files("zipped-sdist") == {path.name: helpers.sha256_file(path)}


# --------------------------------------------------------------------------- servers of their own


def test_pip_through_an_index_that_needs_accounts_for_everything(
    server_factory: ServerFactory, helpers: Helpers, tmp_path: Path
) -> None:
    root = tmp_path / "site"
    pkg = root / "pkgs"
    pkg.mkdir(parents=True)
    add_account(root / "htpasswd", *ALICE)
    srv = server_factory(pkg, "-P", str(root / "htpasswd"), "-a", "update,download,list")
    wheel = make_wheel(tmp_path, "private-lib", "3.0")
    check_ok(twine(srv, [wheel], ALICE, tmp_path), srv)

    denied = pip_install(srv.index_url, tmp_path / "t1", "private-lib")
    assert denied.returncode != 0, denied.stdout
    # pip reports a refused page as "no matching distribution"; the server said 401
    assert "GET /simple/private-lib/ 401" in srv.logs(), srv.logs()
    assert not (tmp_path / "t1" / "private_lib").exists()

    url = f"http://{ALICE[0]}:{ALICE[1]}@127.0.0.1:{srv.port}/simple/"
    result = pip_install(url, tmp_path / "t2", "private-lib")
    check_ok(result, srv)
    assert (tmp_path / "t2" / "private_lib" / "__init__.py").read_text() == (
        '__version__ = "3.0"\n'
    )
    # the download itself needs an account too, not just the page
    r = srv.get(f"/packages/{wheel.name}")
    assert r.status_code == 401
    r = srv.get(f"/packages/{wheel.name}", auth=ALICE)
    assert r.status_code == 200 and r.content == wheel.read_bytes()
