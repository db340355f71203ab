"""Yanking (PEP 592): ``dynopypi yank``/``unyank`` on the package directory, ``:action=yank``
/``unyank`` over HTTP, how the pages show it, that it survives a restart, and what pip does
with a yanked release.

The state lives in ``PKGDIR/.dynopypi/yanked.json``. A change made over HTTP is in the
pages when the response arrives; one made by the CLI reaches a running server through the
file watcher, so those assertions poll (within ``POLL_BOUND``).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests
from support import net
from support.accounts import add_account
from support.clients import pip_install
from support.fakedist import make_sdist, make_wheel
from support.helpers import Helpers
from support.server import DynoServer, ServerFactory
from support.sites import Site

ALICE = ("alice", "alice-yank-pw")
READER = ("reader", "reader-yank-pw")


# --------------------------------------------------------------------------- helpers


def dynopypi(*args: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dynopypi", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def post_action(
    server: DynoServer,
    fields: dict[str, str],
    auth: Any = ALICE,
    *,
    multipart: bool = False,
    fresh_address: bool = False,
) -> requests.Response:
    """POST / as twine-era tools do; ``fresh_address`` for requests meant to fail login."""
    kwargs: dict[str, Any] = {"auth": auth, "timeout": 60}
    if multipart:
        kwargs["files"] = {k: (None, v) for k, v in fields.items()}
    else:
        kwargs["data"] = fields
    if not fresh_address:
        return server.request("POST", "/", **kwargs)
    return net.request_from(net.fresh_address(), "POST", server.url("/"), **kwargs)


def yank_state(server: DynoServer, project: str) -> dict[str, tuple[Any, Any]]:
    """filename -> (JSON 'yanked' value, HTML data-yanked attribute or None)."""
    _r, doc = server.project_json(project)
    _r, page = server.project_html(project)
    html = {a.text.strip(): a.attrs.get("data-yanked") for a in page.anchors}
    return {f["filename"]: (f.get("yanked", False), html[f["filename"]]) for f in doc["files"]}


def yanked_json(pkg: Path) -> dict[str, str]:
    path = pkg / ".dynopypi" / "yanked.json"
    return json.loads(path.read_text()) if path.exists() else {}


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    rights = "alice  list,download,update\nreader list,download\n"
    return Site(tmp_path_factory.mktemp("yank"), [ALICE, READER], rights)


@pytest.fixture(scope="module", autouse=True)
def releases(site: Site) -> dict[str, list[str]]:
    """The releases in the package directory (there for every test of the module, as the
    server starts over them): ``project==version`` -> its file names."""
    files: dict[str, list[str]] = {}
    for project, version in [
        ("cli-yank", "1.0"), ("cli-yank", "2.0"), ("one-file", "1.0"),
        ("http-yank", "1.0"), ("http-yank", "1.1"), ("no-reason", "1.0"),
        ("escaped", "1.0"), ("guarded", "1.0"), ("lib", "1.0"), ("lib", "2.0"),
    ]:  # fmt: skip
        names = [make_wheel(site.pkg, project, version).name]
        if project != "lib":
            names.append(make_sdist(site.pkg, project, version).name)
        files.setdefault(f"{project}=={version}", []).extend(names)
    return files


@pytest.fixture(scope="module")
def server(module_server_factory: Any, site: Site, releases: dict[str, list[str]]) -> Any:
    return module_server_factory(site.pkg, "-P", str(site.htpasswd))


# --------------------------------------------------------------------------- the CLI


def test_cli_yank_and_unyank_reach_the_running_server(
    server: DynoServer, site: Site, releases: dict[str, list[str]], helpers: Helpers
) -> None:
    yanked = releases["cli-yank==1.0"]
    kept = releases["cli-yank==2.0"]
    assert not (site.pkg / ".dynopypi").exists()  # the first yank creates the state dir
    result = dynopypi("yank", "cli-yank", "1.0", "--reason", "broken build", "-d", site.pkg)
    assert result.returncode == 0, result.stderr
    for name in yanked:
        assert name in result.stdout
    assert yanked_json(site.pkg) == dict.fromkeys(yanked, "broken build")

    expected: dict[str, tuple[str | bool, str | None]]
    expected = {n: ("broken build", "broken build") for n in yanked}
    expected.update({n: (False, None) for n in kept})
    helpers.poll_until(
        lambda: yank_state(server, "cli-yank") == expected,
        message=lambda: f"CLI yank not shown: {yank_state(server, 'cli-yank')}",
    )

    result = dynopypi("unyank", "Cli_Yank", "1.0", "-d", site.pkg)
    assert result.returncode == 0, result.stderr
    assert yanked_json(site.pkg) == {}
    helpers.poll_until(
        lambda: yank_state(server, "cli-yank") == {n: (False, None) for n in yanked + kept},
        message=lambda: f"CLI unyank not shown: {yank_state(server, 'cli-yank')}",
    )


def test_cli_yank_one_file(
    server: DynoServer, site: Site, releases: dict[str, list[str]], helpers: Helpers
) -> None:
    wheel, sdist = releases["one-file==1.0"]
    result = dynopypi("yank", "one-file", "1.0", "--file", sdist, "-d", site.pkg)
    assert result.returncode == 0, result.stderr
    helpers.poll_until(
        lambda: yank_state(server, "one-file") == {wheel: (False, None), sdist: (True, "")},
        message=lambda: f"not shown: {yank_state(server, 'one-file')}",
    )
    assert dynopypi("unyank", "one-file", "1.0", "-d", site.pkg).returncode == 0


@pytest.mark.parametrize(
    ("args", "code"),
    [(["no-such-project", "1.0"], 1), (["cli-yank", "9.9"], 1), (["cli-yank", "not a version"], 2)],
    ids=["unknown-project", "unknown-version", "invalid-version"],
)
def test_cli_yank_errors(site: Site, args: list[str], code: int) -> None:
    before = yanked_json(site.pkg)
    result = dynopypi("yank", *args, "--reason", "x", "-d", site.pkg)
    assert result.returncode == code, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "error" in lines[0], result.stderr
    assert yanked_json(site.pkg) == before


# --------------------------------------------------------------------------- over HTTP


@pytest.mark.parametrize("multipart", [False, True], ids=["urlencoded", "multipart"])
def test_http_yank_and_unyank_show_at_once(
    server: DynoServer, site: Site, releases: dict[str, list[str]], multipart: bool
) -> None:
    release = releases["http-yank==1.0"]
    other = releases["http-yank==1.1"]
    fields = {":action": "yank", "name": "HTTP.Yank", "version": "1.0", "reason": "CVE-0000-1"}
    r = post_action(server, fields, multipart=multipart)
    assert r.status_code == 200, server.explain(r)
    expected: dict[str, tuple[str | bool, str | None]]
    expected = {n: ("CVE-0000-1", "CVE-0000-1") for n in release}
    expected.update({n: (False, None) for n in other})
    assert yank_state(server, "http-yank") == expected  # no polling
    assert yanked_json(site.pkg).items() >= dict.fromkeys(release, "CVE-0000-1").items()

    r = post_action(server, {":action": "unyank", "name": "http-yank", "version": "1.0"},
                    multipart=multipart)  # fmt: skip
    assert r.status_code == 200, server.explain(r)
    assert yank_state(server, "http-yank") == {n: (False, None) for n in release + other}
    assert not set(release) & set(yanked_json(site.pkg))


def test_http_yank_one_file_without_a_reason(
    server: DynoServer, releases: dict[str, list[str]]
) -> None:
    wheel, sdist = releases["no-reason==1.0"]
    fields = {":action": "yank", "name": "no-reason", "version": "1.0", "filename": wheel}
    r = post_action(server, fields)
    assert r.status_code == 200, server.explain(r)
    # yanked without a reason: JSON true, HTML an empty data-yanked attribute
    assert yank_state(server, "no-reason") == {wheel: (True, ""), sdist: (False, None)}
    r = post_action(server, {**fields, "filename": "no_reason-1.0-py2-none-any.whl"})
    assert r.status_code == 404, server.explain(r)


def test_http_yank_reason_is_escaped(server: DynoServer, site: Site) -> None:
    reason = """<script>alert("x")</script> & 'quotes' \u2603"""
    r = post_action(server, {":action": "yank", "name": "escaped", "version": "1.0",
                             "reason": reason}, multipart=True)  # fmt: skip
    assert r.status_code == 200, server.explain(r)
    state = yank_state(server, "escaped")
    assert set(state.values()) == {(reason, reason)}, state
    _r, html = server.project_html("escaped")
    raw = server.get("/simple/escaped/", headers={"Accept": "text/html"}).text
    assert "<script>" not in raw
    assert len(html.anchors) == 2


def test_http_yank_needs_the_update_right(
    server: DynoServer, site: Site, releases: dict[str, list[str]]
) -> None:
    fields = {":action": "yank", "name": "guarded", "version": "1.0", "reason": "no"}
    before = yanked_json(site.pkg)
    for auth, status in ((None, 401), ((ALICE[0], "wrong"), 401), (READER, 403)):
        for action in ("yank", "unyank"):
            r = post_action(server, {**fields, ":action": action}, auth, fresh_address=True)
            assert r.status_code == status, (auth, server.explain(r))
    assert yank_state(server, "guarded") == {n: (False, None) for n in releases["guarded==1.0"]}
    for version, status in (("9.9", 404), ("not a version", 400)):
        r = post_action(server, {**fields, "version": version})
        assert r.status_code == status, server.explain(r)
    r = post_action(server, {**fields, "name": "no-such-project"})
    assert r.status_code == 404, server.explain(r)
    assert yanked_json(site.pkg) == before


def test_a_removed_and_reuploaded_file_is_not_yanked(
    server: DynoServer, site: Site, tmp_path: Path
) -> None:
    first = make_wheel(tmp_path, "reborn", "1.0")
    (tmp_path / "new").mkdir()
    second = make_wheel(tmp_path / "new", "reborn", "1.0", payload=b"fixed")
    upload = {":action": "file_upload", "name": "reborn", "version": "1.0"}

    def put(path: Path) -> None:
        with path.open("rb") as fh:
            r = server.request("POST", "/", data=upload, files={"content": (path.name, fh)},
                               auth=ALICE)  # fmt: skip
        assert r.status_code == 200, server.explain(r)

    put(first)
    release = {"name": "reborn", "version": "1.0"}
    assert post_action(server, {":action": "yank", **release, "reason": "bad"}).status_code == 200
    assert post_action(server, {":action": "remove_pkg", **release}).status_code == 200
    put(second)
    assert yank_state(server, "reborn") == {second.name: (False, None)}
    assert second.name not in yanked_json(site.pkg)


# --------------------------------------------------------------------------- persistence


def test_yanks_survive_a_restart(
    server_factory: ServerFactory, tmp_path: Path, helpers: Helpers
) -> None:
    pkg = tmp_path / "pkgs"
    pkg.mkdir()
    htpasswd = tmp_path / "htpasswd"
    add_account(htpasswd, *ALICE)
    wheels = [make_wheel(pkg, "durable", v).name for v in ("1.0", "2.0", "3.0")]
    first = server_factory(pkg, "-P", str(htpasswd))
    r = post_action(first, {":action": "yank", "name": "durable", "version": "1.0",
                            "reason": "old"})  # fmt: skip
    assert r.status_code == 200, first.explain(r)
    first.stop()
    # changed while no server runs
    assert dynopypi("yank", "durable", "2.0", "--reason", "offline", "-d", pkg).returncode == 0

    second = server_factory(pkg, "-P", str(htpasswd))
    assert yank_state(second, "durable") == {
        wheels[0]: ("old", "old"),
        wheels[1]: ("offline", "offline"),
        wheels[2]: (False, None),
    }


# --------------------------------------------------------------------------- pip


def test_pip_skips_a_yanked_release_unless_pinned(
    server: DynoServer, site: Site, helpers: Helpers, tmp_path: Path
) -> None:
    r = post_action(server, {":action": "yank", "name": "lib", "version": "2.0",
                             "reason": "regression"})  # fmt: skip
    assert r.status_code == 200, server.explain(r)

    def install(requirement: str, target: Path) -> str:
        result = pip_install(server.index_url, target, requirement)
        assert result.returncode == 0, f"{result.stdout}\n{result.stderr}\n{server.logs()}"
        return (target / "lib" / "__init__.py").read_text()

    assert install("lib", tmp_path / "latest") == '__version__ = "1.0"\n'
    pinned = install("lib==2.0", tmp_path / "pinned")
    assert pinned == '__version__ = "2.0"\n'
