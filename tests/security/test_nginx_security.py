"""Attacks through the shipped nginx site file (issue 12 #2 #3 #11 #16).

The app runs as the shipped dynopypi.toml configures it behind nginx (trusted proxy,
X-Accel-Redirect); nginx runs ``nginx/dynopypi.conf`` templated by ``support.nginx``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from support import nginx as nh
from support.accounts import add_account, basic
from support.attackers import attackers, health_seconds, push_body
from support.fakedist import make_wheel
from support.nginx import Stack
from support.server import ServerFactory

ACCEL = ("--trusted-proxies", "127.0.0.1", "--x-accel-redirect", "/_dynopypi_files/")
USER, PASSWORD = "uploader", "s3cret-Upload-pw"
READER = ("reader", "reader-secret-2")  # an account without the right to upload
HUGE = 64 * 1024 * 1024


def running_stack(base: Path, server_factory: ServerFactory) -> Iterator[Stack]:
    """The app with USER (may upload) and READER (may not) behind the shipped HTTP site."""
    root = base / "packages"
    root.mkdir()
    make_wheel(root, "real", "1.0", payload=b"R" * 900)
    for odd in ("scratch.tmp", "old~"):
        (root / odd).mkdir()
        make_wheel(root / odd, "hidden", "1.0")
    (root / "dbdump.tar.gz").write_bytes(b"secret database dump")
    linked = root / "sub"
    linked.mkdir()
    (linked / "inside-1.0-py3-none-any.whl").symlink_to(root / "real-1.0-py3-none-any.whl")
    htpasswd = base / "htpasswd"
    add_account(htpasswd, USER, PASSWORD)
    add_account(htpasswd, *READER)
    (base / "htpasswd.rights").write_text(f"{USER} list,download,update *\n{READER[0]} list\n")
    app = server_factory(root, "-P", str(htpasswd), "-a", "update", *ACCEL)
    with nh.nginx_in_front(base / "nginx", app.port, root) as nginx:
        yield Stack(root, app, nginx)


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory, module_server_factory: ServerFactory
) -> Iterator[Stack]:
    """Shared: its tests fail at most two logins (the throttle spaces out the 4th)."""
    yield from running_stack(tmp_path_factory.mktemp("nginx-security"), module_server_factory)


@pytest.fixture
def fresh_stack(tmp_path: Path, server_factory: ServerFactory) -> Iterator[Stack]:
    """A stack whose login throttle starts from nothing."""
    yield from running_stack(tmp_path, server_factory)


def get(url: str, **kwargs: object) -> requests.Response:
    return requests.get(url, timeout=30, allow_redirects=False, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "path",
    [
        "dbdump.tar.gz",
        "scratch.tmp/hidden-1.0-py3-none-any.whl",
        "old~/hidden-1.0-py3-none-any.whl",
    ],
)
def test_nginx_serves_nothing_the_index_ignores(stack: Stack, path: str) -> None:
    """#11: nginx had its own path to the package directory."""
    assert get(stack.app.url(f"/packages/{path}")).status_code == 404
    through = get(stack.url(f"/packages/{path}"))
    assert through.status_code == 404, stack.nginx.logs()
    assert b"secret" not in through.content


def test_link_inside_the_root_agrees(stack: Stack) -> None:
    """#11: a link inside the root was 200 from the app and 403 through nginx."""
    path = "/packages/sub/inside-1.0-py3-none-any.whl"
    direct = get(stack.app.url(path))
    through = get(stack.url(path))
    assert direct.status_code == 200 and through.status_code == 200, stack.nginx.logs()
    assert through.content == (stack.root / "real-1.0-py3-none-any.whl").read_bytes()


def test_many_ranges_are_one_response(stack: Stack) -> None:
    """#16: 900 one-byte ranges returned 92 KB from a 928-byte file."""
    size = (stack.root / "real-1.0-py3-none-any.whl").stat().st_size
    ranges = ",".join(f"{i}-{i}" for i in range(0, 1800, 2))
    response = get(
        stack.url("/packages/real-1.0-py3-none-any.whl"), headers={"Range": f"bytes={ranges}"}
    )
    assert response.status_code == 200, response.headers
    assert len(response.content) == size


def test_forged_host_never_reaches_urls(stack: Stack) -> None:
    """#16: Host ``evil.example:80@attacker.test`` ended in JSON API URLs."""
    stack.app.request("GET", "/health")
    for target in (stack.url("/pypi/real/json"), stack.app.url("/pypi/real/json")):
        response = get(target, headers={"Host": "evil.example:80@attacker.test"})
        assert b"attacker.test" not in response.content, response.content[:300]
        assert response.status_code == 400
    through = get(stack.url("/pypi/real/json"), headers={"X-Forwarded-Host": "attacker.test"})
    assert through.status_code == 200 and b"attacker.test" not in through.content


REFUSALS = [
    (None, b"401 update on this index needs an account"),
    (basic(USER, "wrong"), b"401 wrong user name or password"),
    (basic(*READER), b"403 account 'reader' may not update"),
]


@pytest.mark.parametrize(("credentials", "status_line"), REFUSALS)
def test_stranger_upload_through_nginx_is_refused_before_its_body(
    stack: Stack, credentials: str | None, status_line: bytes
) -> None:
    """#2: 800 MiB went through nginx before the 401; now nginx asks the app first. The
    refusal is the app's own (issue 11: it was nginx's error page, without a reason)."""
    headers = {"Authorization": credentials} if credentials else {}
    for wait in (False, True):
        attempt = push_body(stack.nginx.http_port, "/", headers, HUGE, wait_continue=wait)
        assert attempt.reply.startswith(b"HTTP/1.1 " + status_line), (attempt, stack.nginx.logs())
        assert b"100 Continue" not in attempt.reply
        assert attempt.sent < HUGE // 8, attempt.sent
        challenges = attempt.reply.lower().count(b"\r\nwww-authenticate: basic")
        assert challenges == (1 if status_line.startswith(b"401") else 0), attempt.reply


@pytest.mark.parametrize(("credentials", "status_line"), [REFUSALS[0], REFUSALS[2]])
def test_chunked_stranger_upload_is_refused_before_its_body(
    stack: Stack, credentials: str | None, status_line: bytes
) -> None:
    """A chunked body has no length to refuse by: at most its first chunk is read, and
    nginx never invites the rest with ``100 Continue``."""
    headers = {"Authorization": credentials} if credentials else {}
    for wait in (False, True):
        attempt = push_body(
            stack.nginx.http_port, "/", headers, HUGE, wait_continue=wait, chunked=True
        )
        assert attempt.reply.startswith(b"HTTP/1.1 " + status_line), (attempt, stack.nginx.logs())
        assert b"100 Continue" not in attempt.reply
        assert attempt.sent < HUGE // 8, attempt.sent


def test_throttled_upload_through_nginx_is_429_before_its_body(fresh_stack: Stack) -> None:
    """The login throttle's 429 used to be nginx's 403 (auth_request passes on only 401
    and 403; anything else is its 500): now 429 with Retry-After, body unread."""
    for attempt_number in range(3):
        refused = requests.post(
            fresh_stack.url("/"), auth=(USER, f"wrong-{attempt_number}"), timeout=30
        )
        assert refused.status_code == 401, fresh_stack.nginx.logs()
    for credentials in (basic(USER, "wrong"), basic(USER, PASSWORD)):
        attempt = push_body(fresh_stack.nginx.http_port, "/", {"Authorization": credentials}, HUGE)
        assert attempt.status == 429, (attempt, fresh_stack.nginx.logs())
        assert b"failed logins" in attempt.reply.split(b"\r\n", 1)[0]
        assert b"\r\nRetry-After: " in attempt.reply, attempt.reply
        assert attempt.sent < HUGE // 8, attempt.sent
    failures = fresh_stack.app.stderr_path.read_text().count("failed login for")
    assert failures == 3, fresh_stack.app.logs()  # the throttled tries were not checked


def test_slow_bodies_through_nginx_leave_health_reachable(stack: Stack) -> None:
    """#3: slow upload bodies held one app connection each until none was left. nginx
    streams at most 64 bodies at once; the rest are turned away with 429."""
    auth = basic(USER, PASSWORD)
    with attackers(stack.nginx.http_port) as group:
        statuses = group.slow_bodies("/", auth, 90)
        assert statuses.count(429) >= 90 - 64, statuses
        # the 64 held bodies each had their credentials checked (bcrypt) first: /health
        # waits behind those checks (~9 s on 2 cores), never behind the bodies themselves
        assert health_seconds(stack.nginx.http_port, timeout=60) < 60, stack.nginx.logs()
        assert health_seconds(stack.app.port) < 10
    time.sleep(0.5)
    assert health_seconds(stack.nginx.http_port) < 10


def test_welcome_page_stays_open_through_the_upload_gate(stack: Stack) -> None:
    """``location = /`` asks the app before every request; a GET is not an upload."""
    for method in ("GET", "HEAD"):
        response = requests.request(method, stack.url("/"), timeout=30)
        assert response.status_code == 200, stack.nginx.logs()
    assert requests.post(stack.url("/"), timeout=30).status_code == 401
    allowed = requests.post(
        stack.url("/"), auth=(USER, PASSWORD), data={":action": "submit"}, timeout=30
    )
    assert allowed.status_code == 200, (allowed.text, stack.nginx.logs())
