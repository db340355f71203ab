"""Accounts and rights over HTTP: ``-P``/``-a``, the rights file, live reloading of both
files, 401/403/429 answers, throttling of failed logins and its timing.

Failed logins are throttled per client address, so every request here that is meant to
fail (or to probe an account that may not exist yet) comes from a client address of its
own (127.0.x.y, as REMOTE_ADDR of the in-process app), except in the throttling test,
which is about exactly that.
"""

from __future__ import annotations

import base64
import os
import statistics
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from support.accounts import add_account, passwd
from support.fakedist import make_wheel
from support.helpers import Helpers
from support.inproc import AppFactory, AppServer
from support.net import fresh_address
from support.sites import Site
from support.uploads import upload

ALICE = ("alice", "alice-pw-0001")
BOB = ("bob", "bob-pw-0002")
CAROL = ("carol", "carol-pw-0003")


# --------------------------------------------------------------------------- helpers


def send(
    server: AppServer, method: str, path: str, *, source: str | None = None, **kwargs: Any
) -> requests.Response:
    """A request from ``source`` (default: a fresh loopback address)."""
    kwargs.setdefault("timeout", 60)
    return server.from_address(source or fresh_address()).request(method, path, **kwargs)


def may_update(server: AppServer, auth: Any, project: str = "probe-nothing") -> int:
    """Ask for an update without changing anything: removing a release that does not exist
    is 404 when allowed, 401/403 when not."""
    fields = {":action": "remove_pkg", "name": project, "version": "0.0.1"}
    return send(server, "POST", "/", data=fields, auth=auth).status_code


def write_atomically(path: Path, text: str) -> None:
    temp = path.with_name(path.name + ".new")
    temp.write_text(text)
    os.replace(temp, path)


def assert_challenge(response: requests.Response) -> None:
    assert response.status_code == 401, (response.status_code, response.text)
    challenge = response.headers.get("WWW-Authenticate", "")
    assert challenge.lower().startswith("basic "), challenge
    assert 'realm="dynopypi"' in challenge, challenge


@pytest.fixture
def site(tmp_path: Path) -> Site:
    return Site(tmp_path, [ALICE])


# --------------------------------------------------------------------------- -P and -a


def test_without_accounts_uploads_are_disabled(
    server_factory: AppFactory, site: Site, tmp_path: Path
) -> None:
    server = server_factory(site.pkg)  # no -P: default -a update, nobody may update
    wheel = make_wheel(tmp_path, "nope", "1.0")
    for auth in (None, ALICE):
        r = upload(server.from_address(fresh_address()), wheel, auth)
        assert r.status_code == 403, server.explain(r)
        assert "uploads are disabled" in r.text
    assert list((site.pkg).iterdir()) == []
    assert server.get("/simple/").status_code == 200


def test_open_index_takes_anonymous_uploads(
    server_factory: AppFactory, site: Site, helpers: Helpers, tmp_path: Path
) -> None:
    server = server_factory(site.pkg, "-P", ".", "-a", ".")
    wheel = make_wheel(tmp_path, "anon", "1.0")
    r = upload(server.from_address(fresh_address()), wheel)
    assert r.status_code == 200, server.explain(r)
    assert server.listed_files("anon") == {wheel.name: helpers.sha256_file(wheel)}


def test_default_is_accounts_for_updates_only(
    server_factory: AppFactory, site: Site, tmp_path: Path
) -> None:
    wheel = make_wheel(site.pkg, "readable", "1.0")
    server = server_factory(site.pkg, "-P", str(site.htpasswd))
    assert server.get("/simple/").status_code == 200
    assert server.get("/simple/readable/").status_code == 200
    assert server.get(f"/packages/{wheel.name}").status_code == 200
    assert_challenge(
        upload(server.from_address(fresh_address()), make_wheel(tmp_path, "anon", "1.0"))
    )
    assert may_update(server, None) == 401
    assert may_update(server, ALICE) == 404  # allowed; there is just no such release


def test_malformed_credentials_get_a_challenge(server_factory: AppFactory, site: Site) -> None:
    server = server_factory(site.pkg, "-P", str(site.htpasswd), "-a", "list,update")
    assert_challenge(send(server, "GET", "/simple/"))
    for header in (
        "Basic !!!not-base64!!!",
        "Basic " + base64.b64encode(b"no-colon").decode(),
        "Basic " + base64.b64encode(b":empty-user").decode(),
        "Basic " + base64.b64encode(b"\xff\xfe:binary").decode(),
        "Bearer some-token",
        "Basic",
        "alice:alice-pw-0001",
    ):
        r = send(server, "GET", "/simple/", headers={"Authorization": header})
        assert_challenge(r)
    good = "Basic " + base64.b64encode(f"{ALICE[0]}:{ALICE[1]}".encode()).decode()
    assert send(server, "GET", "/simple/", headers={"Authorization": good}).status_code == 200
    lower = "basic " + base64.b64encode(f"{ALICE[0]}:{ALICE[1]}".encode()).decode()
    assert send(server, "GET", "/simple/", headers={"authorization": lower}).status_code == 200


def test_non_ascii_credentials_in_utf8(server_factory: AppFactory, site: Site) -> None:
    add_account(site.htpasswd, "jürgen", "pässwörd-\u2603")
    server = server_factory(site.pkg, "-P", str(site.htpasswd))
    utf8 = ("jürgen".encode(), "pässwörd-\u2603".encode())  # as RFC 7617's charset="UTF-8"
    assert may_update(server, utf8) == 404
    assert may_update(server, ("jürgen".encode(), b"p\xc3\xa4ssw\xc3\xb6rd")) == 401


# --------------------------------------------------------------------------- live reloading


def test_accounts_are_reloaded_live(
    server_factory: AppFactory, site: Site, helpers: Helpers
) -> None:
    htpasswd = site.htpasswd
    server = server_factory(site.pkg, "-P", str(htpasswd))
    assert may_update(server, BOB) == 401

    add_account(htpasswd, *BOB)
    helpers.poll_until(lambda: may_update(server, BOB) == 404, message="new account unused")

    add_account(htpasswd, "bob", "bob-changed-password")
    helpers.poll_until(lambda: may_update(server, BOB) == 401, message="old password works")
    assert may_update(server, ("bob", "bob-changed-password")) == 404

    assert passwd(htpasswd, "bob", delete=True).returncode == 0
    helpers.poll_until(
        lambda: may_update(server, ("bob", "bob-changed-password")) == 401,
        message="deleted account still works",
    )
    assert may_update(server, ALICE) == 404


def test_rights_file_is_applied_and_reloaded_live(
    server_factory: AppFactory, site: Site, helpers: Helpers, tmp_path: Path
) -> None:
    htpasswd = site.htpasswd
    for account in (BOB, CAROL):
        add_account(htpasswd, *account)
    rights = Path(f"{htpasswd}.rights")
    wheel = make_wheel(site.pkg, "shared", "1.0")
    server = server_factory(site.pkg, "-P", str(htpasswd), "-a", "update,list,download")

    # no rights file: every account may do everything
    for account in (ALICE, BOB, CAROL):
        assert may_update(server, account, "anything") == 404

    write_atomically(
        rights,
        "# user  actions               projects\n"
        "alice   list,download,update  *\n"
        "bob     list                         # may look, not download\n"
        "carol   update,list,download  team-* tools\n",
    )
    helpers.poll_until(lambda: may_update(server, BOB) == 403, message="rights not applied")
    assert may_update(server, ALICE, "anything") == 404
    assert may_update(server, CAROL, "team-x") == 404
    assert may_update(server, CAROL, "Team_X") == 404  # globs match normalized names
    assert may_update(server, CAROL, "tools") == 404
    assert may_update(server, CAROL, "toolsmith") == 403
    r = send(server, "POST", "/", data={":action": "remove_pkg", "name": "x", "version": "1"},
             auth=CAROL)  # fmt: skip
    assert r.status_code == 403 and "carol" in r.text and "'x'" in r.text, r.text
    assert send(server, "GET", "/simple/", auth=BOB).status_code == 200
    assert send(server, "GET", f"/packages/{wheel.name}", auth=BOB).status_code == 403
    assert send(server, "GET", f"/packages/{wheel.name}", auth=CAROL).status_code == 200
    # an upload by an account without the right leaves nothing behind
    denied = make_wheel(tmp_path, "bobs", "1.0")
    r = upload(server.from_address(fresh_address()), denied, BOB)
    assert r.status_code == 403, server.explain(r)
    assert not (site.pkg / denied.name).exists()

    # accounts the file does not name: read-only, unless a '*' line says otherwise
    add_account(htpasswd, "dave", "dave-pw")
    dave = ("dave", "dave-pw")
    helpers.poll_until(lambda: may_update(server, dave) == 403, message="dave unknown")
    assert send(server, "GET", f"/packages/{wheel.name}", auth=dave).status_code == 200
    write_atomically(rights, rights.read_text() + "*  list,download,update  team-*\n")
    helpers.poll_until(
        lambda: may_update(server, dave, "team-y") == 404, message="'*' line not applied"
    )
    assert may_update(server, dave, "other") == 403
    assert may_update(server, BOB) == 403  # named accounts keep their own line

    # the rights file disappears: the rights stay as they were (fail closed), the log
    # and /ready say why; it never turns into every right for every account
    rights.unlink()

    def warnings() -> list[str]:
        r = send(server, "GET", "/ready", auth=ALICE)
        return list(r.json().get("warnings", []))

    helpers.poll_until(lambda: warnings() != [], message="vanished rights file not noticed")
    assert warnings() == [f"rights file: {rights} does not exist; keeping the previous rights"]
    assert may_update(server, BOB) == 403
    assert send(server, "GET", f"/packages/{wheel.name}", auth=BOB).status_code == 403
    assert "keeping the previous rights" in server.logs()


# --------------------------------------------------------------------------- failed logins


def test_failed_logins_are_spaced_out_then_block_the_address(
    server_factory: AppFactory, site: Site
) -> None:
    server = server_factory(site.pkg, "-P", str(site.htpasswd))
    attacker = fresh_address()
    wrong = (ALICE[0], "guess")

    def fail_concurrently(count: int) -> None:
        statuses: list[int] = []

        def one() -> None:
            statuses.append(may_update_from(attacker, wrong))

        threads = [threading.Thread(target=one) for _ in range(count)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert statuses == [401] * count, statuses

    def may_update_from(source: str, auth: Any) -> int:
        fields = {":action": "remove_pkg", "name": "probe", "version": "0.1"}
        return send(server, "POST", "/", data=fields, auth=auth, source=source).status_code

    fail_concurrently(3)
    # after 3 failures, tries must be spaced out: one that comes too soon is answered at
    # once with 429 and Retry-After (no worker thread sleeps for it)...
    r = send(server, "POST", "/", data={":action": "remove_pkg", "name": "p", "version": "1"},
             auth=ALICE, source=attacker)  # fmt: skip
    assert r.status_code == 429, server.explain(r)
    assert r.headers["Retry-After"] == "1" and "wait 1 second before" in r.text, r.headers
    time.sleep(1.1)
    # ...and one that waited works
    assert may_update_from(attacker, ALICE) == 404
    time.sleep(1.1)
    fail_concurrently(7)  # in flight together: they all get their (slow) check

    # 10 failures within a minute: this address is refused, right password or not
    for auth in (wrong, ALICE, ("nobody", "x")):
        r = send(server, "POST", "/", data={":action": "remove_pkg", "name": "p", "version": "1"},
                 auth=auth, source=attacker)  # fmt: skip
        assert r.status_code == 429, server.explain(r)
        retry = r.headers.get("Retry-After", "")
        assert retry.isdigit() and 1 <= int(retry) <= 61, r.headers
    # a forwarded-for header from an untrusted peer does not get around it
    r = send(server, "GET", "/simple/", source=attacker)
    assert r.status_code == 200  # reading needs no account, so it is not blocked
    fields = {":action": "remove_pkg", "name": "p", "version": "1"}
    r = send(server, "POST", "/", data=fields, auth=ALICE, source=attacker,
             headers={"X-Forwarded-For": "10.1.2.3"})  # fmt: skip
    assert r.status_code == 429, server.explain(r)
    # other addresses are not affected
    assert may_update_from(fresh_address(), ALICE) == 404


def test_unknown_user_costs_about_as_much_as_a_wrong_password(
    server_factory: AppFactory, site: Site
) -> None:
    server = server_factory(site.pkg, "-P", str(site.htpasswd))

    def timed(auth: Any) -> float:
        started = time.perf_counter()
        assert may_update(server, auth) == 401
        return time.perf_counter() - started

    timed(("nobody", "warm-up"))
    timed((ALICE[0], "warm-up"))
    wrong_password: list[float] = []
    unknown_user: list[float] = []
    for i in range(5):
        wrong_password.append(timed((ALICE[0], f"wrong-{i}")))
        unknown_user.append(timed((f"nobody-{i}", f"wrong-{i}")))
    ratio = statistics.median(unknown_user) / statistics.median(wrong_password)
    assert 0.3 < ratio < 3, (
        f"unknown user {unknown_user} vs wrong password {wrong_password}: ratio {ratio:.2f}"
    )
