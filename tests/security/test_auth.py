"""Attacks on authentication against a real server (``python -m dynopypi run``), direct and
through the shipped nginx site: timing, hostile credentials, the throttle, the rights
file, what strangers learn from /ready, and bad account files at start and on reload.

Issue 12 #7 #8 #9 #10 #12 and issue 11 #4 #5. Each test fails on the code before the fix.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.accounts import basic, passwd
from support.auth_attacks import (
    ACCEL,
    apache_bcrypt,
    failed_login_medians,
    raw_get,
    write_apache_htpasswd,
)
from support.fakedist import make_wheel
from support.helpers import Helpers
from support.net import fresh_address, request_from
from support.nginx import Nginx, nginx_in_front
from support.server import DynoServer, ServerFactory
from support.sites import Site

LONG = "correct horse battery staple, " * 3  # 90 bytes: Apache's htpasswd kept 72
ACCOUNTS = {
    "dear": ("bcrypt-10", "dear-pw-1"),  # first line: the old dummy's scheme
    "cheap": ("bcrypt-5", "cheap-pw-2"),  # htpasswd -B (Apache's default cost)
    "old": ("apr1", "old-pw-3"),  # htpasswd -m (Apache's default)
    "long": ("bcrypt-5", LONG),
    "writer": ("apr1", "writer-pw"),
    "reader": ("apr1", "reader-pw"),
    "target": ("apr1", "target-pw"),
}
RIGHTS = "writer list,download,update *\nreader list,download\n*  list,download,update\n"
EVERYTHING = ("-a", "update,list,download")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    site = Site(tmp_path_factory.mktemp("auth-site"), rights=RIGHTS)
    make_wheel(site.pkg, "lib", "1.0")
    write_apache_htpasswd(site.htpasswd, ACCOUNTS)
    return site


@pytest.fixture(scope="module")
def app(module_server_factory: ServerFactory, site: Site) -> DynoServer:
    """Every action needs an account; nginx (127.0.0.1) is a trusted proxy."""
    return module_server_factory(site.pkg, "-P", str(site.htpasswd), *EVERYTHING, *ACCEL)


@pytest.fixture(scope="module")
def proxy(app: DynoServer, site: Site, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Nginx]:
    with nginx_in_front(tmp_path_factory.mktemp("nginx"), app.port, site.pkg) as nginx:
        yield nginx


def wheel_path() -> str:
    return "/packages/lib-1.0-py3-none-any.whl"


# --------------------------------------------------------------------------- #7 timing


def test_unknown_names_cost_what_known_ones_cost(app: DynoServer) -> None:
    """A file as Apache writes it mixes bcrypt cost 10, cost 5 and apr1: a wrong password
    for any of them takes as long as a name that does not exist (was 4-250x faster).
    Loose bounds: the machine is shared, and the old gap was two orders of magnitude."""
    medians = failed_login_medians(app.port, "/simple/", ["dear", "cheap", "old", "ghost"], 9)
    ratios = {user: medians[user] / medians["ghost"] for user in ("dear", "cheap", "old")}
    assert all(0.5 < ratio < 2.0 for ratio in ratios.values()), (ratios, medians)


# --------------------------------------------------------------------------- #8 500s

HOSTILE: dict[str, tuple[str | bytes, int]] = {
    "latin-1 byte": (b"Basic \xe9", 401),
    "64 KiB": ("Basic " + "A" * 65536, 401),
    "80 bytes, bcrypt 5, wrong": (basic("cheap", "x" * 80), 401),
    "5000 bytes": (basic("cheap", "x" * 5000), 401),
    "5000 bytes, unknown user": (basic("ghost", "\u00e9" * 2500), 401),
    "long, as Apache truncated it": (basic("long", LONG), 200),
    "long, first 72 bytes right": (basic("long", LONG[:72] + "anything"), 200),
    "long, cut short": (basic("long", LONG[:71]), 401),
    "NUL in the password": (basic("old", "old-pw-3\0"), 401),
}


@pytest.mark.parametrize("case", HOSTILE, ids=list(HOSTILE))
@pytest.mark.parametrize("path", ["/simple/", wheel_path(), "/ready"])
def test_hostile_credentials_direct(app: DynoServer, case: str, path: str) -> None:
    header, expected = HOSTILE[case]
    answer = raw_get(app.port, path, {"Authorization": header})
    if path == "/ready":  # always answers; credentials only decide how much it says
        expected = 200
    assert answer.status == expected, (answer, app.logs())
    assert "a password check failed" not in app.logs()  # refused before any hashing


@pytest.mark.parametrize("case", HOSTILE, ids=list(HOSTILE))
@pytest.mark.parametrize("path", ["/simple/", wheel_path()])
def test_hostile_credentials_through_nginx(
    proxy: Nginx, app: DynoServer, case: str, path: str
) -> None:
    header, expected = HOSTILE[case]
    answer = raw_get(proxy.http_port, path, {"Authorization": header})
    if case == "64 KiB":
        expected = 400  # nginx refuses headers over its buffers before the app sees them
    assert answer.status == expected, (answer, app.logs(), proxy.logs())


def test_a_refused_upload_with_hostile_credentials_is_not_a_500(app: DynoServer) -> None:
    for header, _ in HOSTILE.values():
        answer = raw_get(app.port, "/", {"Authorization": header}, method="POST")
        assert answer.status < 500, answer


UNREADABLE = ("Accept", "Accept-Encoding", "If-None-Match", "If-Modified-Since", "Range",
              "If-Range", "X-Forwarded-Host", "Cookie")  # fmt: skip


@pytest.mark.parametrize("header", UNREADABLE)
def test_header_values_that_are_not_utf8_are_ignored(app: DynoServer, header: str) -> None:
    """The sibling of the Authorization 500: bottle decodes every header as UTF-8, so one
    such byte in Accept, If-None-Match or Range was a 500 on pages and downloads."""
    auth = basic("reader", "reader-pw")
    for path in ("/simple/", "/simple/lib/", wheel_path(), "/pypi/lib/json", "/packages/"):
        answer = raw_get(app.port, path, {header: b"\xe9\xff", "Authorization": auth})
        assert answer.status == 200, (header, path, answer)


# --------------------------------------------------------------------------- #10 throttle


def test_unreadable_credentials_count_toward_the_throttle(app: DynoServer) -> None:
    client = fresh_address()
    for _ in range(3):
        answer = raw_get(app.port, "/simple/", {"Authorization": b"Basic \xe9"}, source=client)
        assert answer.status == 401
        assert b"could not be read" in answer.body
    # the fourth, at once: refused without a check and without holding a thread
    answer = raw_get(app.port, "/simple/", {"Authorization": "Basic " + "A" * 65536}, source=client)
    assert answer.status == 429, answer
    assert answer.headers["retry-after"].isdigit()


def test_parallel_guesses_cannot_pass_the_cap(app: DynoServer) -> None:
    client, statuses = fresh_address(), []
    lock = threading.Lock()

    def guess(i: int) -> None:
        answer = raw_get(
            app.port, "/simple/", {"Authorization": basic(f"par{i}", "x")}, source=client
        )
        with lock:
            statuses.append(answer.status)

    threads = [threading.Thread(target=guess, args=(i,)) for i in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sorted(set(statuses)) == [401, 429], statuses
    assert statuses.count(401) <= 10, statuses  # the cap, however many are in flight


def test_rotating_forwarded_for_cannot_guess_one_account_without_bound(app: DynoServer) -> None:
    """A local process talking to the app port directly is a trusted proxy (127.0.0.1)
    and can claim any client address: the account's own count still stops it."""
    statuses = []
    for i in range(40):
        headers = {"Authorization": basic("target", f"guess-{i}")}
        headers["X-Forwarded-For"] = f"198.51.{i // 250}.{i % 250 + 1}"
        statuses.append(raw_get(app.port, "/simple/", headers, source="127.0.0.1"))
    assert [a.status for a in statuses[:30]] == [401] * 30
    assert {a.status for a in statuses[30:]} == {429}
    assert b"account 'target'" in statuses[-1].body
    # a name that does not exist is counted the same way: no hint that 'target' exists
    for i in range(31):
        headers = {"Authorization": basic("no-such", "x"), "X-Forwarded-For": f"203.0.113.{i}"}
        last = raw_get(app.port, "/simple/", headers, source="127.0.0.1")
    assert last.status == 429 and b"account 'no-such'" in last.body


def test_one_ipv6_64_is_one_client(app: DynoServer) -> None:
    statuses = []
    for i in range(6):
        headers = {"Authorization": basic(f"v6-{i}", "x")}
        headers["X-Forwarded-For"] = f"2001:db8:77:1:{i:x}::{i + 1:x}"
        statuses.append(raw_get(app.port, "/simple/", headers, source="127.0.0.1"))
    assert [a.status for a in statuses] == [401, 401, 401, 429, 429, 429]
    assert b"2001:db8:77:1::/64" in statuses[-1].body
    other = {"Authorization": basic("v6-x", "x"), "X-Forwarded-For": "2001:db8:77:2::1"}
    assert raw_get(app.port, "/simple/", other, source="127.0.0.1").status == 401


def test_a_forwarded_for_that_is_no_address_is_ignored(app: DynoServer) -> None:
    client = fresh_address()
    for i in range(4):
        headers = {"Authorization": basic(f"junk-{i}", "x"), "X-Forwarded-For": f"junk-{i}"}
        last = raw_get(app.port, "/simple/", headers, source=client)
    assert last.status == 429  # counted on the real peer, not on four made-up names


# --------------------------------------------------------------------------- #12 /ready


def test_ready_tells_strangers_only_whether_it_is_ready(app: DynoServer, site: Site) -> None:
    for header in ({}, {"Authorization": basic("ghost", "x")}, {"Authorization": b"Basic \xe9"}):
        answer = raw_get(app.port, "/ready", header)
        assert answer.status == 200
        assert json.loads(answer.body) == {"status": "ready"}, answer
        assert str(site).encode() not in answer.body
    answer = raw_get(app.port, "/ready", {"Authorization": basic("reader", "reader-pw")})
    state = json.loads(answer.body)
    assert (state["projects"], state["files"], state["warnings"]) == (1, 1, [])
    assert state["writable"] == {str(site.pkg): True}


def test_ready_details_stay_public_where_listing_is(
    server_factory: ServerFactory, tmp_path: Path
) -> None:
    (tmp_path / "pkgs").mkdir()
    server = server_factory(tmp_path / "pkgs")
    state = json.loads(raw_get(server.port, "/ready").body)
    assert state["projects"] == 0 and state["status"] == "ready"


# --------------------------------------------------------------------------- #9 rights file


def remove_release(server: DynoServer, auth: tuple[str, str]) -> int:
    fields = {":action": "remove_pkg", "name": "lib", "version": "1.0"}
    return request_from(fresh_address(), "POST", server.url("/"), data=fields, auth=auth,
                        timeout=60).status_code  # fmt: skip


def test_a_vanished_rights_file_keeps_the_rights(
    server_factory: ServerFactory, tmp_path: Path, helpers: Helpers
) -> None:
    (tmp_path / "pkgs").mkdir()
    wheel = make_wheel(tmp_path / "pkgs", "lib", "1.0")
    htpasswd = write_apache_htpasswd(tmp_path / "htpasswd", ACCOUNTS)
    rights = tmp_path / "htpasswd.rights"
    rights.write_text(RIGHTS)
    server = server_factory(tmp_path / "pkgs", "-P", str(htpasswd))
    assert remove_release(server, ("reader", "reader-pw")) == 403
    rights.unlink()
    helpers.poll_until(  # every try was 200 before: every right for every account
        lambda: (
            remove_release(server, ("reader", "reader-pw")) == 403
            and "keeping the previous rights" in server.logs()
        ),
        message="the vanished rights file was not noticed and logged",
    )
    assert wheel.exists()
    answer = raw_get(server.port, "/ready", {"Authorization": basic("writer", "writer-pw")})
    assert json.loads(answer.body)["warnings"] == [
        f"rights file: {rights} does not exist; keeping the previous rights"
    ]
    rights.write_text(RIGHTS.replace("reader list,download", "reader list,download,update"))
    helpers.poll_until(lambda: remove_release(server, ("reader", "reader-pw")) == 200)
    assert not wheel.exists()


# --------------------------------------------------------------------------- issue 11 #4 #5


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dynopypi", *args],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL, check=False,
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},
    )  # fmt: skip


BAD_FILES = {
    "no colon": (b"alice\n", "htpasswd:1: not an htpasswd file (expected 'user:hash')"),
    "bad bcrypt": (b"ok:$apr1$abcdefgh$0123456789012345678901\nbob:$2y$05$short\n",
                   "htpasswd:2: the hash of 'bob' is malformed"),
    "not utf-8": (b"\xff\xfe:x\n", "htpasswd:1: not UTF-8 text"),
    "directory": (None, "is a directory, not an htpasswd file"),
}  # fmt: skip


@pytest.mark.parametrize("case", BAD_FILES, ids=list(BAD_FILES))
@pytest.mark.parametrize("command", ["run", "check-config"])
def test_an_unusable_password_file_stops_the_server(
    tmp_path: Path, case: str, command: str
) -> None:
    content, message = BAD_FILES[case]
    htpasswd = tmp_path / "htpasswd"
    if content is None:
        htpasswd.mkdir()
    else:
        htpasswd.write_bytes(content)
    result = run_cli(command, "-p", "0", "-i", "127.0.0.1", "-P", str(htpasswd), str(tmp_path))
    assert result.returncode != 0, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "passwords:" in lines[0], result.stderr
    assert "does not exist" not in lines[0]


@pytest.mark.parametrize("command", ["run", "check-config"])
def test_an_unusable_rights_file_stops_the_server(tmp_path: Path, command: str) -> None:
    htpasswd = write_apache_htpasswd(tmp_path / "htpasswd", {"a": ("apr1", "pw")})
    Path(f"{htpasswd}.rights").write_text("a fly\n")
    result = run_cli(command, "-p", "0", "-P", str(htpasswd), str(tmp_path))
    assert result.returncode != 0
    assert result.stderr.strip() == (
        f"dynopypi: error: rights: {htpasswd}.rights:1: unknown action(s) fly; "
        "use list, download, update"
    )
    named = run_cli(
        command, "-p", "0", "-P", str(htpasswd), "--rights", str(tmp_path / "typo"), str(tmp_path)
    )
    assert named.returncode != 0 and "typo does not exist" in named.stderr


def test_a_broken_password_file_on_reload_keeps_the_accounts(
    server_factory: ServerFactory, tmp_path: Path, helpers: Helpers
) -> None:
    (tmp_path / "pkgs").mkdir()
    htpasswd = write_apache_htpasswd(tmp_path / "htpasswd", ACCOUNTS)
    server = server_factory(tmp_path / "pkgs", "-P", str(htpasswd), *EVERYTHING)
    writer = {"Authorization": basic("writer", "writer-pw")}
    htpasswd.write_text("writer:$2y$05$short\n")

    def warnings() -> list[str]:
        return list(json.loads(raw_get(server.port, "/ready", writer).body)["warnings"])

    found = helpers.poll_until(warnings, message="the broken file was not noticed")
    assert found == [
        f"password file: {htpasswd}:1: the hash of 'writer' is malformed (salt too small "
        f"(bcrypt requires exactly 22 chars)); serving the previous {len(ACCOUNTS)} accounts"
    ]
    assert (
        raw_get(server.port, "/simple/", {"Authorization": basic("old", "old-pw-3")}).status == 200
    )
    assert json.loads(raw_get(server.port, "/ready").body) == {"status": "ready"}
    write_apache_htpasswd(htpasswd, {"writer": ("apr1", "writer-pw")})
    helpers.poll_until(lambda: warnings() == [], message="the fixed file was not loaded")
    assert (
        raw_get(server.port, "/simple/", {"Authorization": basic("old", "old-pw-3")}).status == 401
    )


# --------------------------------------------------------------------------- passwd


def test_passwd_refuses_a_password_bcrypt_would_cut(tmp_path: Path) -> None:
    htpasswd = tmp_path / "htpasswd"
    result = passwd(htpasswd, "alice", "p" * 80)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        "dynopypi: error: the password is 80 bytes long; bcrypt uses only the first 72, so "
        "choose one of at most 72 bytes (UTF-8); nothing was changed"
    ]
    assert not htpasswd.exists()
    assert passwd(htpasswd, "alice", "p" * 72).returncode == 0
    assert htpasswd.read_text().startswith("alice:$2")


def test_passwd_on_a_malformed_file_says_so(tmp_path: Path) -> None:
    htpasswd = tmp_path / "htpasswd"
    htpasswd.write_text("alice:" + apache_bcrypt("pw", 5) + "\ngarbage\n")
    result = passwd(htpasswd, "bob", "bob-pw")
    assert result.returncode != 0
    assert (
        result.stderr.strip()
        == f"dynopypi: error: {htpasswd}:2: not an htpasswd file (expected 'user:hash')"
    )


# --------------------------------------------------------------------------- siblings


def test_a_vanished_welcome_file_is_not_a_500(
    server_factory: ServerFactory, tmp_path: Path
) -> None:
    """Another operator's file read while serving: gone or garbled, the built-in page
    stands in and the log says why."""
    (tmp_path / "pkgs").mkdir()
    welcome = tmp_path / "welcome.html"
    welcome.write_text("<p>Our index: {{URL}}</p>\n")
    server = server_factory(tmp_path / "pkgs", "--welcome", str(welcome))
    assert raw_get(server.port, "/").body.startswith(b"<p>Our index: http://")
    for damage in ("unlink", "latin-1"):
        if damage == "unlink":
            welcome.unlink()
        else:
            welcome.write_bytes(b"<p>caf\xe9</p>\n")
        answer = raw_get(server.port, "/")
        assert answer.status == 200 and b"pip install --index-url" in answer.body, answer
    assert "cannot read the welcome file" in server.logs()
