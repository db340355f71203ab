"""Every refusal's message travels in the status line's reason phrase, as PyPI does
(``400 File already exists ...``), because that is what twine prints: without it a twine
user sees only ``409 Conflict`` and must rerun with ``--verbose`` to learn why.

The body stays the full message; the reason phrase is the same text made safe for a status
line (latin-1, one line, bounded), so client input echoed in a message cannot split it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from support.accounts import add_account
from support.clients import run_client, twine_upload
from support.fakedist import make_wheel
from support.server import DynoServer, ServerFactory

ALICE = ("alice", "alice-secret-1")
READER = ("reader", "reader-secret-2")


@pytest.fixture(scope="module")
def server(
    module_server_factory: ServerFactory, tmp_path_factory: pytest.TempPathFactory
) -> DynoServer:
    root = tmp_path_factory.mktemp("reasons")
    htpasswd = root / "htpasswd"
    add_account(htpasswd, *ALICE)
    add_account(htpasswd, *READER)
    (root / "htpasswd.rights").write_text("alice list,download,update *\nreader list,download\n")
    packages = root / "packages"
    packages.mkdir()
    return module_server_factory(packages, "-P", str(htpasswd))


def twine(server: DynoServer, wheel: Path, auth: tuple[str, str], tmp: Path) -> str:
    pypirc = tmp / "empty.pypirc"
    pypirc.write_text("")
    result: subprocess.CompletedProcess[str] = twine_upload(
        f"{server.base}/", auth, [wheel], config_file=pypirc
    )
    assert result.returncode != 0, result.stdout
    return " ".join((result.stdout + result.stderr).split())  # rich wraps long lines


def test_twine_prints_why_an_upload_conflicts(server: DynoServer, tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    make_wheel(first, "reason-conflict", "1.0")
    wheel = make_wheel(second, "reason-conflict", "1.0", payload=b"other bytes")
    pypirc = tmp_path / "empty.pypirc"
    pypirc.write_text("")
    ok = twine_upload(f"{server.base}/", ALICE, [first / wheel.name], config_file=pypirc)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    printed = twine(server, wheel, ALICE, tmp_path)
    assert "409" in printed and "File already exists" in printed, printed


def test_twine_prints_why_a_login_or_right_is_refused(server: DynoServer, tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path, "reason-denied", "1.0")
    denied = twine(server, wheel, READER, tmp_path)
    assert "403" in denied and "may not update" in denied.lower().replace("'", ""), denied
    wrong = twine(server, wheel, ("alice", "wrong"), tmp_path)
    assert "401" in wrong and "wrong user name or password" in wrong, wrong


@pytest.mark.parametrize("action", ["remove_pkg", "yank", "unyank"])
def test_release_actions_carry_the_message_in_the_reason(server: DynoServer, action: str) -> None:
    fields = {":action": action, "name": "never-uploaded", "version": "1.0"}
    response = server.request("POST", "/", data=fields, auth=ALICE)
    assert response.status_code == 404, response.text
    assert response.reason == response.text.strip(), (response.reason, response.text)
    assert "never-uploaded" in response.reason


def test_hostile_text_in_a_message_cannot_break_the_status_line(server: DynoServer) -> None:
    name = "evil\r\nX-Injected: 1 \u2603 " + "x" * 500
    fields = {":action": "yank", "name": name, "version": "1.0"}
    response = server.request("POST", "/", data=fields, auth=ALICE)
    assert 400 <= response.status_code < 500, response.text
    assert "x-injected" not in {k.lower() for k in response.headers}
    assert "\u2603" in response.text or "evil" in response.text  # the body keeps the message
    assert len(response.reason) <= 200 and "\r" not in response.reason
    response.reason.encode("latin-1")


@pytest.mark.parametrize("path", ["/RPC2", "/", "/simple/"])
def test_pip_search_is_told_xmlrpc_is_not_served(server: DynoServer, path: str) -> None:
    """Issue 20 #12: ``pip search`` (XML-RPC) got "update needs an account": it is not an
    upload, and the answer says what it is and what to use instead, before any login."""
    result = run_client(
        [sys.executable, "-m", "pip", "search", "--isolated", "--index", server.url(path), "foo"]
    )
    printed = " ".join((result.stdout + result.stderr).split())
    assert result.returncode != 0
    assert "410" in printed and "XML-RPC search (pip search) is not served" in printed, printed
    assert "needs an account" not in printed
    raw = server.request(
        "POST", "/RPC2", data=b"<methodCall/>", headers={"Content-Type": "text/xml"}
    )
    assert raw.status_code == 410 and "/pypi/NAME/json" in raw.text
    assert "WWW-Authenticate" not in raw.headers
