"""What nginx sends on its own (``--pages-dir``) is what the app would send, rule by rule.

The app publishes pages and hard links to package files for nginx (``dynopypi.site``);
the shipped ``nginx/dynopypi.conf`` sends them without asking the app, except an
account's check, which the app answers once per 10 s. Each access rule is asked twice,
through nginx and of the app directly, and must get the same answer; what nginx sent
itself never appears in the app's access log.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from support import nginx as nh
from support.accounts import add_account
from support.clients import PIP, check_ok, uv_command
from support.fakedist import make_wheel
from support.helpers import Helpers, poll_until
from support.server import ServerFactory
from support.uploads import MULTIPART, form_body, twine_fields

PIP_ACCEPT = (
    "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, "
    "text/html; q=0.01"
)
UV_ACCEPT = (
    "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, "
    "text/html;q=0.01"
)
ALICE = ("alice", "alice-secret-1")  # every right
READER = ("reader", "reader-secret-2")  # may list, not download
SECRET = b"must never be served"
REAL = "real-1.0-py3-none-any.whl"


class Stack(nh.Stack):
    def app_log(self) -> str:
        return self.app.stderr_path.read_text()

    def both(self, path: str, **kwargs: object) -> tuple[requests.Response, requests.Response]:
        """(through nginx, from the app directly) for the same request."""
        return get(self.url(path), **kwargs), get(self.app.url(path), **kwargs)

    def explain(self) -> str:
        return f"{self.nginx.logs()}\n{self.app.logs()}"


def get(url: str, **kwargs: object) -> requests.Response:
    return requests.get(url, timeout=30, allow_redirects=False, **kwargs)  # type: ignore[arg-type]


def fill(root: Path, outside: Path) -> None:
    """A real file, and the things the index ignores or refuses beside it."""
    make_wheel(root, "real", "1.0", payload=b"R" * 3000)
    make_wheel(root, "gone", "1.0")
    (root / ".hidden-1.0-py3-none-any.whl").write_bytes(SECRET)
    (root / ".upload-abc-1.0-py3-none-any.whl").write_bytes(SECRET)  # an upload in flight
    (root / "scratch.tmp").mkdir()
    make_wheel(root / "scratch.tmp", "temp", "1.0")
    (root / "dbdump.tar.gz").write_bytes(SECRET)
    outside.mkdir()
    (outside / "outside-1.0-py3-none-any.whl").write_bytes(SECRET)
    (root / "linked-1.0-py3-none-any.whl").symlink_to(outside / "outside-1.0-py3-none-any.whl")
    (root / "sub").mkdir()
    (root / "sub" / "inside-1.0-py3-none-any.whl").symlink_to(root / REAL)


def running(base: Path, factory: ServerFactory, *args: str) -> Iterator[Stack]:
    root, pages = base / "packages", base / "pages"
    root.mkdir()
    fill(root, base / "outside")
    htpasswd = base / "htpasswd"
    add_account(htpasswd, *ALICE)
    add_account(htpasswd, *READER)
    (base / "htpasswd.rights").write_text(f"{ALICE[0]} list,download,update *\n{READER[0]} list\n")
    app = factory(
        root, "-P", str(htpasswd), *args, "--trusted-proxies", "127.0.0.1",
        "--x-accel-redirect", "/_dynopypi_files/", "--pages-dir", str(pages),
    )  # fmt: skip
    with nh.nginx_in_front(base / "nginx", app.port, root, pages_dir=pages) as nginx:
        yield Stack(root, app, nginx)


@pytest.fixture(scope="module")
def open_stack(
    tmp_path_factory: pytest.TempPathFactory, module_server_factory: ServerFactory
) -> Iterator[Stack]:
    """Anyone may list and download; uploads need an account."""
    yield from running(tmp_path_factory.mktemp("open"), module_server_factory, "-a", "update")


@pytest.fixture(scope="module")
def closed_stack(
    tmp_path_factory: pytest.TempPathFactory, module_server_factory: ServerFactory
) -> Iterator[Stack]:
    """Everything needs an account (the shipped dynopypi.toml)."""
    base = tmp_path_factory.mktemp("closed")
    yield from running(base, module_server_factory, "-a", "update,download,list")


# --------------------------------------------------------------------------- sent by nginx


@pytest.mark.parametrize("accept", [PIP_ACCEPT, UV_ACCEPT, None])
def test_pages_are_sent_by_nginx_as_the_app_renders_them(
    open_stack: Stack, accept: str | None
) -> None:
    headers = {"Accept": accept} if accept else {}
    for path in ("/simple/", "/simple/real/"):
        before = len(open_stack.app_log())
        through, direct = open_stack.both(path, headers=headers)
        assert through.status_code == direct.status_code == 200, open_stack.explain()
        assert through.content == direct.content
        assert through.headers["Content-Type"] == direct.headers["Content-Type"]
        assert "Accept" in through.headers.get("Vary", "")
        log = open_stack.app_log()[before:]
        assert log.count(f"GET {path} ") == 1, log  # the direct one only


def test_gzip_copy_is_the_same_page(open_stack: Stack) -> None:
    through, direct = open_stack.both(
        "/simple/", headers={"Accept": PIP_ACCEPT, "Accept-Encoding": "gzip"}
    )
    assert through.status_code == 200, open_stack.explain()
    assert through.content == direct.content  # requests inflates both


def test_downloads_are_sent_by_nginx(open_stack: Stack) -> None:
    before = len(open_stack.app_log())
    with requests.Session() as session:
        for _ in range(3):
            r = session.get(open_stack.url(f"/packages/{REAL}"), timeout=30)
            assert r.status_code == 200, open_stack.explain()
            assert r.content == (open_stack.root / REAL).read_bytes()
            assert r.headers["Content-Type"] == "application/zip"
        metadata = session.get(open_stack.url(f"/packages/{REAL}.metadata"), timeout=30)
        assert metadata.status_code == 200 and b"Name: real" in metadata.content
        assert metadata.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert f"/packages/{REAL}" not in open_stack.app_log()[before:]
    ranged = get(open_stack.url(f"/packages/{REAL}"), headers={"Range": "bytes=10-19"})
    assert (
        ranged.status_code == 206 and ranged.content == (open_stack.root / REAL).read_bytes()[10:20]
    )


def test_other_formats_are_the_apps(open_stack: Stack) -> None:
    """An Accept nginx's map does not know, or a query, is negotiated by the app."""
    for path, headers in (
        ("/simple/real/", {"Accept": "application/vnd.pypi.simple.v1+html"}),
        ("/simple/real/?format=application/vnd.pypi.simple.v1+json", {}),
        ("/simple/real/", {"Accept": "image/png"}),
    ):
        through, direct = open_stack.both(path, headers=headers)
        assert through.status_code == direct.status_code, open_stack.explain()
        assert through.content == direct.content
        assert through.headers.get("Content-Type") == direct.headers.get("Content-Type")


@pytest.mark.parametrize("client", ["pip", "uv"])
def test_an_install_is_all_nginx(
    open_stack: Stack, client: str, tmp_path: Path, helpers: Helpers
) -> None:
    """pip and uv get pages, core metadata and wheels from nginx: the app sees none."""
    before = len(open_stack.app_log())
    index, target = open_stack.url("/simple/"), tmp_path / "target"
    if client == "pip":
        command = [*PIP, "install", "--no-cache-dir"]
    else:
        command = [*uv_command(), "pip", "install", "--no-config", "--no-cache",
                   "--python", sys.executable]  # fmt: skip
    command += ["--target", str(target), "--index-url", index]
    result = helpers.run_client(
        [*command, "real"], extra_env={"UV_PYTHON_DOWNLOADS": "never", "UV_NO_PROGRESS": "1"}
    )
    check_ok(result, open_stack.nginx, open_stack.app)
    assert (target / "real-1.0.dist-info").is_dir()
    log = open_stack.app_log()[before:]
    assert "GET /simple/" not in log and "GET /packages/" not in log, log


# --------------------------------------------------------------------------- access rules


@pytest.mark.parametrize(
    "path",
    [
        "/packages/.hidden-1.0-py3-none-any.whl",  # hidden
        "/packages/.upload-abc-1.0-py3-none-any.whl",  # an upload in flight
        "/packages/scratch.tmp/temp-1.0-py3-none-any.whl",  # temporary
        "/packages/dbdump.tar.gz",  # not a distribution
        "/packages/linked-1.0-py3-none-any.whl",  # a link out of the root
        "/packages/sub/inside-1.0-py3-none-any.whl",  # a link inside it: served
        "/packages/real-1.0-py3-none-any.whl.metadata",  # PEP 658
        "/packages/.hidden-1.0-py3-none-any.whl.metadata",
        "/packages/REAL-1.0-py3-none-any.whl",  # name variants
        "/packages/real-1.0-py3-none-any.whl/",
        "/packages/%2Ehidden-1.0-py3-none-any.whl",
        "/packages/sub/../real-1.0-py3-none-any.whl",
        "/simple/Real/",
        "/simple/real",
        "/simple/real/index.json",
        "/simple/real/index.html.gz",
        "/simple/nothing-here/",
        "/open/packages/real-1.0-py3-none-any.whl",
        "/packages/",
    ],
)
def test_nginx_answers_as_the_app(open_stack: Stack, path: str) -> None:
    through, direct = open_stack.both(path, headers={"Accept": PIP_ACCEPT})
    assert through.status_code == direct.status_code, (path, open_stack.explain())
    accel = direct.headers.get("X-Accel-Redirect")  # the app names the file nginx sends
    if accel is not None:
        assert through.content == (open_stack.root / accel.split("/", 3)[3]).read_bytes()
    elif direct.status_code == 200:
        assert through.content == direct.content
    else:
        assert through.headers.get("Location") == direct.headers.get("Location")
    assert SECRET not in through.content


def test_a_removed_file_is_gone_through_nginx_within_a_second(open_stack: Stack) -> None:
    path = "/packages/gone-1.0-py3-none-any.whl"
    assert get(open_stack.url(path)).status_code == 200, open_stack.explain()
    (open_stack.root / "gone-1.0-py3-none-any.whl").unlink()
    removed = time.monotonic()
    poll_until(lambda: get(open_stack.url(path)).status_code == 404, timeout=1.0, interval=0.02)
    took = time.monotonic() - removed
    assert get(open_stack.app.url(path)).status_code == 404
    page = get(open_stack.url("/simple/gone/"), headers={"Accept": PIP_ACCEPT})
    assert page.status_code == 404, (took, open_stack.explain())


def test_stranger_is_refused_as_the_app_refuses(closed_stack: Stack) -> None:
    for path in ("/simple/", "/simple/real/", f"/packages/{REAL}"):
        through, direct = closed_stack.both(path, headers={"Accept": PIP_ACCEPT})
        assert through.status_code == direct.status_code == 401, closed_stack.explain()
        assert through.content == direct.content
        assert through.headers["WWW-Authenticate"] == direct.headers["WWW-Authenticate"]


def test_reader_without_download_is_refused_as_the_app_refuses(closed_stack: Stack) -> None:
    headers = {"Accept": PIP_ACCEPT}
    page, direct_page = closed_stack.both("/simple/real/", auth=READER, headers=headers)
    assert page.status_code == direct_page.status_code == 200, closed_stack.explain()
    assert page.content == direct_page.content
    through, direct = closed_stack.both(f"/packages/{REAL}", auth=READER)
    assert through.status_code == direct.status_code == 403, closed_stack.explain()
    assert through.content == direct.content and b"may not download" in through.content
    assert through.reason == direct.reason


def test_wrong_password_is_refused_and_counted_once(closed_stack: Stack) -> None:
    before = len(closed_stack.app_log())
    through = get(closed_stack.url(f"/packages/{REAL}"), auth=(ALICE[0], "wrong"))
    assert through.status_code == 401, closed_stack.explain()
    assert b"wrong user name or password" in through.content
    assert closed_stack.app_log()[before:].count(f"failed login for {ALICE[0]!r}") == 1


def test_an_account_is_checked_once_then_sent_by_nginx(closed_stack: Stack) -> None:
    before = len(closed_stack.app_log())
    with requests.Session() as session:
        for _ in range(5):
            for path in (f"/packages/{REAL}", "/simple/real/"):
                r = session.get(closed_stack.url(path), auth=ALICE, timeout=30)
                assert r.status_code == 200, closed_stack.explain()
    log = closed_stack.app_log()[before:]
    assert "GET /packages/" not in log and "GET /simple/" not in log, log
    assert log.count("GET /_authorize/download ") <= 1, log
    assert log.count("GET /_authorize/list ") <= 1, log


# --------------------------------------------------------------------------- uploads


def test_an_upload_is_on_nginx_when_its_answer_arrives(open_stack: Stack) -> None:
    """No poll: the page nginx sends right after the upload's 200 already lists the file;
    and the page came from nginx (not in the app's log)."""
    waits = []
    for i in range(5):
        name = f"fresh{i}"
        wheel = make_wheel(open_stack.root.parent, name, "1.0")
        body = form_body(
            twine_fields(wheel.name, wheel.read_bytes()), (wheel.name, wheel.read_bytes())
        )
        started = time.monotonic()
        answer = requests.post(
            open_stack.url("/"), data=body, auth=ALICE, timeout=60,
            headers={"Content-Type": MULTIPART},
        )  # fmt: skip
        assert answer.status_code == 200, open_stack.explain()
        before = len(open_stack.app_log())
        page = get(open_stack.url(f"/simple/{name}/"), headers={"Accept": PIP_ACCEPT})
        waits.append(time.monotonic() - started)
        assert page.status_code == 200, open_stack.explain()
        assert wheel.name in page.text
        assert f"GET /simple/{name}/" not in open_stack.app_log()[before:]
        os.unlink(wheel)
    print(f"upload -> page through nginx: median {statistics.median(waits) * 1000:.1f} ms")
