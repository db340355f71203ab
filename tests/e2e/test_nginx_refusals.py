"""A refused upload through the shipped nginx sites says what the app says (issues 11, 12).

nginx asks the app before it reads an upload (``auth_request``) and used to answer a refusal
with its own error page: twine printed ``401 Unauthorized`` and nothing else, a throttled
client got 403 without ``Retry-After``, and any other status of the check became nginx's
500. Now the check's refusal reaches the client as the app gives it (status, reason phrase,
body, ``WWW-Authenticate``, ``Retry-After``), checked and counted once, for both sites
(HTTP and TLS) and for real clients (twine, uv). That the body is still not read is in
``tests/security/test_nginx_security.py``.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from support import nginx as nh
from support.accounts import add_account
from support.clients import client_env, run_client, twine_upload, uv_command
from support.fakedist import make_wheel
from support.server import DynoServer, ServerFactory

ACCEL = ("--trusted-proxies", "127.0.0.1", "--x-accel-redirect", "/_dynopypi_files/")
ALICE = ("alice", "alice-secret-1")  # may upload
READER = ("reader", "reader-secret-2")  # may not
WRONG_LOGIN = "wrong user name or password"


@dataclass
class Stack:
    """An app with accounts behind one shipped site; ``base`` is where clients go."""

    packages: Path
    app: DynoServer
    nginx: nh.Nginx
    ca: Path | None  # TLS: the CA clients trust

    @property
    def base(self) -> str:
        return self.nginx.https_base if self.ca else self.nginx.base

    @property
    def verify(self) -> str | bool:
        return str(self.ca) if self.ca else True

    def post(self, auth: tuple[str, str] | None, **kwargs: Any) -> requests.Response:
        """A small upload-like POST /, as clients send it."""
        kwargs.setdefault("data", {":action": "file_upload", "name": "x"})
        return requests.post(f"{self.base}/", auth=auth, verify=self.verify, timeout=60, **kwargs)

    def explain(self, response: requests.Response | None = None) -> str:
        head = ""
        if response is not None:
            head = (
                f"{response.status_code} {response.reason!r}\n{dict(response.headers)}\n"
                f"{response.text[:500]!r}\n"
            )
        return head + self.nginx.logs() + "\n" + self.app.logs()

    def failed_logins(self) -> int:
        return self.app.stderr_path.read_text().count("failed login for")


@pytest.fixture(params=["http", "tls"])
def stack(
    request: pytest.FixtureRequest, server_factory: ServerFactory, tmp_path: Path
) -> Iterator[Stack]:
    """A fresh app each test: the login throttle must start from nothing."""
    packages = tmp_path / "packages"
    packages.mkdir()
    htpasswd = tmp_path / "htpasswd"
    add_account(htpasswd, *ALICE)
    add_account(htpasswd, *READER)
    (tmp_path / "htpasswd.rights").write_text("alice list,download,update *\nreader list\n")
    app = server_factory(packages, "-P", str(htpasswd), *ACCEL)
    ca, cert, source = None, None, nh.HTTP_SITE
    if request.param == "tls":
        ca, *pair = nh.make_signed_certificate(tmp_path / "tls")
        cert, source = (pair[0], pair[1]), nh.TLS_SITE
    nginx = nh.site_nginx(
        tmp_path / "nginx", source, app_port=app.port, alias_dir=packages, cert=cert
    )
    nginx.start()
    try:
        yield Stack(packages, app, nginx, ca)
    finally:
        nginx.stop()


def twine(stack: Stack, auth: tuple[str, str], wheel: Path) -> str:
    """What twine prints for a refused upload, on one line (rich wraps long lines)."""
    pypirc = wheel.parent / "empty.pypirc"
    pypirc.write_text("")
    result: subprocess.CompletedProcess[str] = twine_upload(
        f"{stack.base}/", auth, [wheel], config_file=pypirc, cert=stack.ca
    )
    assert result.returncode != 0, result.stdout
    return " ".join((result.stdout + result.stderr).split())


def uv_publish(stack: Stack, auth: tuple[str, str], wheel: Path) -> str:
    extra = {"SSL_CERT_FILE": str(stack.ca)} if stack.ca else {}
    result = run_client(
        [*uv_command(), "publish", "--no-config", "--cache-dir", wheel.parent / "uv-cache",
         "--publish-url", f"{stack.base}/", "--username", auth[0], "--password", auth[1],
         wheel],
        env=client_env(extra),
    )  # fmt: skip
    assert result.returncode != 0, result.stdout
    return " ".join((result.stdout + result.stderr).split())


def test_twine_and_uv_see_why_a_login_is_refused(stack: Stack, tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path, "refused-login", "1.0")
    printed = twine(stack, (ALICE[0], "wrong-password"), wheel)
    assert "401" in printed and WRONG_LOGIN in printed, (printed, stack.explain())
    printed = uv_publish(stack, (ALICE[0], "wrong-password"), wheel)
    assert "401" in printed and WRONG_LOGIN in printed, (printed, stack.explain())
    assert not (stack.packages / wheel.name).exists()


def test_twine_and_uv_see_why_a_right_is_missing(stack: Stack, tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path, "refused-right", "1.0")
    for printed in (twine(stack, READER, wheel), uv_publish(stack, READER, wheel)):
        assert "403" in printed, (printed, stack.explain())
        assert "account reader may not update" in printed.replace("'", ""), printed
    assert not (stack.packages / wheel.name).exists()


def test_refusal_is_the_apps_own_answer(stack: Stack) -> None:
    """Status, reason phrase, body and challenge as the app sends them directly."""
    through = stack.post((ALICE[0], "wrong-password"))
    direct = requests.post(
        stack.app.url("/"), auth=(ALICE[0], "wrong-password"), data={"a": "b"}, timeout=60
    )
    assert (through.status_code, direct.status_code) == (401, 401), stack.explain(through)
    assert through.reason == direct.reason and WRONG_LOGIN in through.reason
    assert through.text == direct.text
    assert through.headers["Content-Type"] == "text/plain; charset=utf-8"
    challenges = [v for k, v in through.raw.headers.items() if k.lower() == "www-authenticate"]
    assert challenges == [direct.headers["WWW-Authenticate"]], stack.explain(through)
    stranger = stack.post(None)
    assert stranger.status_code == 401 and "needs an account" in stranger.reason
    assert stranger.headers["WWW-Authenticate"].lower().startswith("basic")
    denied = stack.post(READER)
    assert denied.status_code == 403, stack.explain(denied)
    assert "WWW-Authenticate" not in denied.headers and "may not update" in denied.text


def test_a_failed_login_is_counted_once(stack: Stack) -> None:
    """The check and the answer are two requests to the app, one login: three wrong
    passwords are three failures, each a 401 (counted twice, the second would be 429)."""
    for attempt in range(1, 4):
        response = stack.post((ALICE[0], f"wrong-{attempt}"))
        assert response.status_code == 401, stack.explain(response)
        assert stack.failed_logins() == attempt, stack.explain(response)


def fail_logins(stack: Stack, count: int) -> None:
    """``count`` more failed logins, waiting out the throttle's spacing as it asks."""
    failed = 0
    while failed < count:
        response = stack.post((ALICE[0], f"wrong-{failed}"))
        if response.status_code == 429:
            time.sleep(int(response.headers["Retry-After"]))
            continue
        assert response.status_code == 401, stack.explain(response)
        failed += 1


def test_a_throttled_client_gets_429_with_retry_after(stack: Stack, tmp_path: Path) -> None:
    fail_logins(stack, 3)
    throttled = stack.post((ALICE[0], "wrong-again"))
    assert throttled.status_code == 429, stack.explain(throttled)
    assert throttled.headers["Retry-After"].isdigit(), throttled.headers
    assert 1 <= int(throttled.headers["Retry-After"]) <= 60
    assert "failed logins" in throttled.reason and throttled.text.strip() == throttled.reason
    # even the right password waits its turn, and twine says so: three failures more
    # space the tries 4 s apart, time enough for twine to start
    fail_logins(stack, 3)
    wheel = make_wheel(tmp_path, "refused-throttled", "1.0")
    printed = twine(stack, ALICE, wheel)
    assert "429" in printed and "failed logins" in printed, (printed, stack.explain())
    assert "500" not in printed
    assert stack.failed_logins() == 6  # throttled tries are not checked, nor counted


def test_a_bad_request_to_the_check_is_not_a_server_error(stack: Stack) -> None:
    """Any refusal of the check, not only 401/403, reaches the client as itself (nginx
    makes every other status of an auth check its own 500)."""
    forged = stack.post(ALICE, headers={"Host": "evil.example:80@attacker.test"})
    assert forged.status_code == 400, stack.explain(forged)
    assert "Host header" in forged.text and "attacker.test" not in forged.text


@pytest.mark.parametrize(
    "forged",
    [None, "200 0 granted", "500 0 boom", "401 0 %0d%0aX-Injected:%201", "429 99999999 x",
     "403 0 " + "%E2%98%83" * 5000],
)  # fmt: skip
def test_the_refusal_answer_grants_nothing(
    server_factory: ServerFactory, tmp_path: Path, forged: str | None
) -> None:
    """Anyone may call /_refusal with any header: they get a bounded 4xx about themselves."""
    app = server_factory(tmp_path)
    headers = {"X-Dynopypi-Refusal": forged} if forged is not None else {}
    response = requests.get(app.url("/_refusal"), headers=headers, timeout=30)
    assert 400 <= response.status_code < 500, response.text
    assert "x-injected" not in {k.lower() for k in response.headers}
    assert len(response.reason) <= 200 and len(response.content) < 5000
    assert int(response.headers.get("Retry-After", "0")) <= 86400


@pytest.mark.parametrize("path", ["/", "/RPC2"])
def test_pip_search_through_nginx_is_told_xmlrpc_is_not_served(stack: Stack, path: str) -> None:
    """Issue 20 #12: ``pip search -i`` posts XML-RPC to the index URL; nginx's upload check
    (``auth_request``) answered it "update needs an account". The app's answer is a 410
    that says what it is, whatever the login."""
    answer = requests.post(
        f"{stack.base}{path}", data=b"<?xml version='1.0'?><methodCall/>",
        headers={"Content-Type": "text/xml"}, verify=stack.verify, timeout=60,
    )  # fmt: skip
    assert answer.status_code == 410, stack.explain(answer)
    assert "XML-RPC search (pip search) is not served" in answer.text
    assert "WWW-Authenticate" not in answer.headers
