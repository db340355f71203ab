"""A directory that cannot be reached (nothing listens at its URL), in process: a login that
needs it is 503 with ``Retry-After`` and a reason, never 401 and never allowed; requests that
need no account, and htpasswd accounts, are unaffected; ``/ready`` says why. The same
against a real slapd that stops and starts again is in tests/e2e/test_ldap.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.accounts import write_fast_accounts
from support.inproc import AppFactory, AppServer
from support.net import free_port

DEAD = f"ldap://127.0.0.1:{free_port()}"


@pytest.fixture
def server(server_factory: AppFactory, tmp_path: Path) -> AppServer:
    packages = tmp_path / "packages"
    packages.mkdir()
    htpasswd = write_fast_accounts(tmp_path / "htpasswd", {"ci-bot": "ci-secret"})
    (tmp_path / "htpasswd.rights").write_text("* list,download\nci-bot list,download,update\n")
    return server_factory(
        packages, "-P", str(htpasswd), "--ldap-url", DEAD, "--ldap-timeout", "2",
        "--ldap-user-dn", "uid={user},ou=people,dc=example,dc=org",
    )  # fmt: skip


def test_a_login_the_directory_must_check_is_503(server: AppServer) -> None:
    for password in ("right-or-wrong", "another"):
        response = server.request("POST", "/", auth=("alice", password), data={":action": "x"})
        assert response.status_code == 503, server.explain(response)
        assert response.headers["Retry-After"] == "2"
        assert "does not answer" in response.text and "directory" in response.reason
        assert "WWW-Authenticate" not in response.headers


def test_what_needs_no_directory_keeps_working(server: AppServer) -> None:
    assert server.get("/simple/").status_code == 200
    assert server.get("/simple/", auth=("ci-bot", "ci-secret")).status_code == 200
    assert server.request("POST", "/", auth=("ci-bot", "wrong")).status_code == 401  # local
    server.request("POST", "/", auth=("alice", "pw"), data={":action": "x"})
    warnings = server.get("/ready").json()["warnings"]
    assert len(warnings) == 1 and warnings[0].startswith("ldap: the directory does not answer")
