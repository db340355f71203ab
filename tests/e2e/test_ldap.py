"""Sign-in with directory accounts against a real OpenLDAP slapd (``support.slapd``), with
real clients: twine uploads as a group member, pip installs with directory credentials.

The module's server runs in bind mode (``--ldap-user-dn``) with groups from ``memberOf``,
beside an htpasswd file that has a service account and a local ``bob`` (who shadows the
directory's bob), and this rights file::

    ci-bot          list,download,update   *
    *               list,download
    @py-publishers  update                 acme-*

Directory users (``support.slapd``): alice (py-publishers, readers), bob (readers), carol
(no group); every password is ``<uid>-pw``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
import requests
from support.accounts import add_account
from support.clients import check_ok, pip_install, run_client, twine_upload
from support.fakedist import make_wheel
from support.net import fresh_address, request_from
from support.server import DynoServer, ServerFactory
from support.slapd import GROUPS, PEOPLE, Slapd, password_of, user_dn

RIGHTS = """\
ci-bot          list,download,update   *
*               list,download
@py-publishers  update                 acme-*
"""
USER_DN = f"uid={{user}},{PEOPLE}"
ALICE = ("alice", password_of("alice"))
CAROL = ("carol", password_of("carol"))


def accounts(tmp: Path) -> Path:
    """An htpasswd file (ci-bot, and a local bob) with the rights file beside it."""
    htpasswd = tmp / "htpasswd"
    add_account(htpasswd, "ci-bot", "ci-secret")
    add_account(htpasswd, "bob", "local-bob")
    (tmp / "htpasswd.rights").write_text(RIGHTS)
    return htpasswd


def ldap_args(slapd: Slapd, *more: str) -> tuple[str, ...]:
    return ("--ldap-url", slapd.url, "--ldap-user-dn", USER_DN, "--ldap-timeout", "1", *more)


@pytest.fixture(scope="module")
def index(
    module_server_factory: ServerFactory, slapd: Slapd, tmp_path_factory: pytest.TempPathFactory
) -> DynoServer:
    tmp = tmp_path_factory.mktemp("ldap-index")
    htpasswd = accounts(tmp)
    return module_server_factory(
        tmp / "packages", "-P", str(htpasswd), "-a", "update,list,download",
        *ldap_args(slapd, "--ldap-cache-ttl", "1"),
    )  # fmt: skip


def upload(server: DynoServer, auth: tuple[str, str], wheel: Path) -> requests.Response:
    name, version = wheel.name.split("-")[:2]
    fields = {":action": "file_upload", "protocol_version": "1", "name": name, "version": version}
    with wheel.open("rb") as fh:
        files = {"content": (wheel.name, fh)}
        return server.request("POST", "/", data=fields, files=files, auth=auth)


def test_group_member_uploads_with_twine_and_installs_with_pip(
    index: DynoServer, tmp_path: Path
) -> None:
    wheel = make_wheel(tmp_path, "acme-ldap", "1.0")
    check_ok(twine_upload(index.url("/"), ALICE, [wheel]), index)
    url = index.index_url.replace("http://", f"http://{ALICE[0]}:{ALICE[1]}@")
    check_ok(pip_install(url, tmp_path / "target", "acme-ldap==1.0"), index)
    assert (tmp_path / "target" / "acme_ldap").is_dir()


def test_a_non_member_may_read_but_not_upload(index: DynoServer, tmp_path: Path) -> None:
    assert index.get("/simple/", auth=CAROL).status_code == 200  # the * line
    result = twine_upload(index.url("/"), CAROL, [make_wheel(tmp_path, "acme-carol", "1.0")])
    assert result.returncode != 0
    assert "403" in result.stdout + result.stderr
    assert "carol" in result.stdout + result.stderr  # the refusal names the account


def test_a_group_line_only_covers_its_projects(index: DynoServer, tmp_path: Path) -> None:
    result = twine_upload(index.url("/"), ALICE, [make_wheel(tmp_path, "other-thing", "1.0")])
    assert result.returncode != 0 and "403" in result.stdout + result.stderr


def test_wrong_directory_password_is_401(index: DynoServer) -> None:
    auth = ("alice", "not-her-password")
    response = request_from(fresh_address(), "GET", index.url("/simple/"), auth=auth)
    assert response.status_code == 401
    assert "wrong user name or password" in response.text


def test_a_local_account_is_not_shadowed_by_the_directory(index: DynoServer) -> None:
    assert index.get("/simple/", auth=("bob", "local-bob")).status_code == 200
    directory_bob = ("bob", password_of("bob"))
    response = request_from(fresh_address(), "GET", index.url("/simple/"), auth=directory_bob)
    assert response.status_code == 401


@pytest.mark.parametrize(
    "name",
    ["*", "alice)(uid=*", "*)(|(uid=*", "alice\x00", "al*", "alice,ou=people", "uid=alice",
     "alïce", "#alice", "alice+cn=x", "alice\\", "a\u202elice"],
)  # fmt: skip
def test_injection_names_are_refused(index: DynoServer, name: str) -> None:
    for password in (password_of("alice"), "*"):
        auth = (name.encode(), password.encode())
        response = request_from(fresh_address(), "GET", index.url("/simple/"), auth=auth)
        assert response.status_code == 401, index.explain(response)


@pytest.mark.parametrize("name", ["ALICE", " alice", "alice "])
def test_a_name_the_directory_reads_as_alice_signs_in_as_alice(
    index: DynoServer, name: str
) -> None:
    """The directory compares names loosely: the identity (rights, log) is its spelling."""
    response = index.get("/simple/", auth=(name, ALICE[1]))
    assert response.status_code == 200
    last = index.stderr_path.read_text().splitlines()[-1]
    assert last.endswith(" alice"), last


def test_a_disabled_account_stops_working_after_the_cache_time(
    index: DynoServer, slapd: Slapd
) -> None:
    assert index.get("/simple/", auth=CAROL).status_code == 200
    slapd.set_password("carol", "changed-by-the-admin")  # as good as disabled for us
    try:
        time.sleep(1.5)  # --ldap-cache-ttl 1
        assert index.get("/simple/", auth=CAROL).status_code == 401
    finally:
        slapd.set_password("carol", CAROL[1])


def test_directory_down_is_503_and_back_works_without_restart(
    server_factory: ServerFactory, slapd: Slapd, tmp_path: Path
) -> None:
    htpasswd = accounts(tmp_path)
    server = server_factory(tmp_path / "packages", "-P", str(htpasswd), *ldap_args(slapd))
    wheel = make_wheel(tmp_path, "acme-outage", "1.0")
    slapd.stop()
    try:
        started = time.monotonic()
        response = upload(server, ALICE, wheel)
        assert response.status_code == 503, server.explain(response)
        assert time.monotonic() - started < 5
        assert response.headers["Retry-After"] == "1"
        assert "directory" in response.reason and "try again" in response.text
        assert upload(server, ("alice", "wrong"), wheel).status_code == 503  # never 401
        assert server.get("/simple/").status_code == 200  # no account needed: unaffected
        assert upload(server, ("ci-bot", "ci-secret"), wheel).status_code == 200  # local
        ready = server.get("/ready").json()
        assert any("ldap" in warning for warning in ready["warnings"]), ready
    finally:
        slapd.start()
    time.sleep(1.2)  # the Retry-After
    wheel2 = make_wheel(tmp_path, "acme-outage", "2.0")
    response = upload(server, ALICE, wheel2)
    assert response.status_code == 200, server.explain(response)
    assert server.get("/ready").json()["warnings"] == []


def test_check_config_explains_where_each_right_comes_from(slapd: Slapd, tmp_path: Path) -> None:
    htpasswd = accounts(tmp_path)
    password_file = tmp_path / "bind-password"
    password_file.write_text(password_of("svc-search") + "\n")
    (tmp_path / "packages").mkdir()
    base = [sys.executable, "-m", "dynopypi", "check-config", str(tmp_path / "packages"),
            "-P", str(htpasswd), "--ldap-url", slapd.url, "--ldap-search-base", PEOPLE,
            "--ldap-bind-dn", user_dn("svc-search"),
            "--ldap-bind-password-file", str(password_file)]  # fmt: skip
    result = run_client([*base, "--explain", "Alice"])
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "user 'alice': directory account; groups: py-publishers, readers",
        f"rights from {tmp_path / 'htpasswd.rights'}:",
        "  list      yes (from the * line)",
        "  download  yes (from the * line)",
        "  update    acme-* (from the @py-publishers line)",
    ]
    local = run_client([*base, "--explain", "ci-bot"]).stdout
    assert "account in" in local and "update    * (from the ci-bot line)" in local
    shown = run_client(base)
    assert shown.returncode == 0 and "svc-search-pw" not in shown.stdout + shown.stderr


def test_search_mode_over_ldaps_with_a_group_search(
    server_factory: ServerFactory, slapd: Slapd, tmp_path: Path
) -> None:
    """Active Directory's shape: a service account searches, groups from a group search,
    TLS with the test CA, the password from its file and never in the log (even -vv)."""
    (tmp_path / "rights").write_text("* list,download\n@posix-publishers update acme-*\n")
    (tmp_path / "bind-password").write_text(password_of("svc-search") + "\n")
    server = server_factory(
        tmp_path / "packages", "-P", ".", "--rights", str(tmp_path / "rights"),
        "--ldap-url", slapd.ldaps_url, "--ldap-ca-file", str(slapd.ca),
        "--ldap-search-base", PEOPLE, "--ldap-search-filter", "(&(objectClass=person)(uid={user}))",
        "--ldap-bind-dn", user_dn("svc-search"),
        "--ldap-bind-password-file", str(tmp_path / "bind-password"),
        "--ldap-group-base", GROUPS, "--ldap-group-filter", "(memberUid={user})", "-vv",
    )  # fmt: skip
    wheel = make_wheel(tmp_path, "acme-search", "1.0")
    assert upload(server, ALICE, wheel).status_code == 200, server.logs()
    assert upload(server, CAROL, wheel).status_code == 403
    logs = server.logs(limit=10**6)
    assert password_of("svc-search") not in logs and ALICE[1] not in logs


def test_failed_directory_logins_count_toward_the_throttle(index: DynoServer) -> None:
    address = fresh_address()
    codes = [
        request_from(
            address, "GET", index.url("/simple/"), auth=("carol", f"guess-{n}")
        ).status_code
        for n in range(4)
    ]
    assert codes[:3] == [401, 401, 401] and codes[3] == 429, codes
