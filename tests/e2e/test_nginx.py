"""dynopypi behind a real nginx running the repository's own site files.

``nginx/dynopypi.conf`` and ``nginx/dynopypi-tls.conf`` are templated into a temporary
prefix (loopback ports, the app's port, temporary package directory and certificate; see
``tests/support/nginx.py``) and run by ``nginx -c ... -p ...`` in the foreground. The app runs as
the shipped dynopypi.toml configures it: ``--trusted-proxies 127.0.0.1 --x-accel-redirect
/_dynopypi_files/``. Real clients (pip, twine) talk to nginx only.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import http.client
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import pytest
import requests
from support import nginx as nh
from support.accounts import add_account
from support.clients import PIP, check_ok, twine_upload
from support.fakedist import make_wheel
from support.helpers import Helpers
from support.net import fetch
from support.server import DynoServer, ServerFactory

TIMEOUT = 60.0
ACCEL = ("--trusted-proxies", "127.0.0.1", "--x-accel-redirect", "/_dynopypi_files/")
JSON_V1 = "application/vnd.pypi.simple.v1+json"
MANY = 300  # projects, so that /simple/ is well above gzip_min_length
USER, PASSWORD = "uploader", "s3cret-Upload-pw"


# --------------------------------------------------------------------------- helpers


def get(url: str, **kwargs: Any) -> requests.Response:
    """A fully read response whose connection is closed; redirects are not followed."""
    kwargs.setdefault("timeout", TIMEOUT)
    kwargs.setdefault("allow_redirects", False)
    return fetch(url, **kwargs)


def explain(response: requests.Response | None, *servers: Any) -> str:
    head = ""
    if response is not None:
        head = (
            f"{response.request.method} {response.url} -> {response.status_code}\n"
            f"headers: {dict(response.headers)}\nbody: {response.content[:1000]!r}\n"
        )
    return head + "\n".join(s.logs() for s in servers)


def stream_sha256(url: str, **kwargs: Any) -> tuple[int, str, int]:
    """(status, sha256, size) of a body read in chunks, never held in memory whole."""
    digest = hashlib.sha256()
    size = 0
    with requests.get(url, stream=True, timeout=TIMEOUT, **kwargs) as response:
        for chunk in response.iter_content(1024 * 1024):
            digest.update(chunk)
            size += len(chunk)
        return response.status_code, digest.hexdigest(), size


def pip_install(
    index_url: str, target: Path, helpers: Any, *extra: str, env: dict[str, str] | None = None
) -> Any:
    return helpers.run_client(
        [*PIP, "install", "--no-cache-dir", "--target", target, "--index-url", index_url,
         *extra, "app"],
        extra_env=env,
    )  # fmt: skip


def assert_app_installed(target: Path) -> None:
    for module in ("app", "lib"):
        init = target / module / "__init__.py"
        assert init.read_text() == '__version__ = "1.0"\n', sorted(os.listdir(target))
        wheel = target / f"{module}-1.0.dist-info" / "WHEEL"
        assert "Generator: dynopypi.fakedist" in wheel.read_text()


NginxStarter = Callable[..., Any]


def _nginx_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NginxStarter]:
    """Yields ``start(source, app, alias_dir, ...)``; stops what it started when resumed."""
    started: list[Any] = []

    def start(
        source: Path,
        app: Any,
        alias_dir: Path,
        *,
        cert: tuple[Path, Path] | None = None,
        sub_path: str | None = None,
    ) -> Any:
        server = nh.site_nginx(
            tmp_path_factory.mktemp("nginx"),
            source,
            app_port=app.port,
            alias_dir=alias_dir,
            cert=cert,
            sub_path=sub_path,
        )
        started.append(server)
        server.start()
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def nginx_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NginxStarter]:
    yield from _nginx_servers(tmp_path_factory)


@pytest.fixture(scope="module")
def module_nginx_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NginxStarter]:
    yield from _nginx_servers(tmp_path_factory)


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def pkgdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("nginx-pkgs")
    make_wheel(root, "lib", "1.0")
    make_wheel(root, "app", "1.0", requires=["lib>=1"])
    make_wheel(root, "Foo.Bar", "1.0")
    many = root / "many"
    many.mkdir()
    for i in range(MANY):
        make_wheel(many, f"many-project-{i:03d}", "1.0")
    return root


@pytest.fixture(scope="module")
def app(module_server_factory: Any, pkgdir: Path) -> Any:
    """The app as the shipped dynopypi.toml runs it behind nginx."""
    return module_server_factory(pkgdir, *ACCEL)


@pytest.fixture(scope="module")
def proxy(module_nginx_factory: NginxStarter, app: Any, pkgdir: Path) -> Any:
    """nginx/dynopypi.conf in front of ``app``."""
    return module_nginx_factory(nh.HTTP_SITE, app, pkgdir)


@pytest.fixture(scope="module")
def sub_proxy(module_nginx_factory: NginxStarter, app: Any, pkgdir: Path) -> Any:
    """nginx/dynopypi.conf changed as its comment says to serve the index under /pypi/."""
    return module_nginx_factory(nh.HTTP_SITE, app, pkgdir, sub_path="/pypi")


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return nh.make_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def tls_proxy(
    module_nginx_factory: NginxStarter, app: Any, pkgdir: Path, cert: tuple[Path, Path]
) -> Any:
    """nginx/dynopypi-tls.conf with a self-signed certificate for 127.0.0.1."""
    return module_nginx_factory(nh.TLS_SITE, app, pkgdir, cert=cert)


# --------------------------------------------------------------------------- plain HTTP


def test_pip_install_with_dependency_through_nginx(
    proxy: nh.Nginx, app: DynoServer, tmp_path: Path, helpers: Helpers
) -> None:
    target = tmp_path / "target"
    result = pip_install(f"{proxy.base}/simple/", target, helpers)
    check_ok(result, proxy, app)
    assert_app_installed(target)
    # the requests really went through nginx: its access log has the pages and the files
    access = (proxy.prefix / "access.log").read_text()
    assert "GET /simple/app/ " in access and "GET /packages/app-1.0-py3-none-any.whl " in access


def upload_stack(tmp_path: Path, server_factory: Any, nginx_factory: NginxStarter) -> Any:
    """(packages, app, proxy): an app that takes uploads from USER, behind nginx."""
    packages = tmp_path / "packages"
    packages.mkdir()
    htpasswd = tmp_path / "htpasswd"
    add_account(htpasswd, USER, PASSWORD)
    app = server_factory(packages, "-P", str(htpasswd), *ACCEL)
    return packages, app, nginx_factory(nh.HTTP_SITE, app, packages)


def test_twine_upload_50mb_through_nginx_then_download(
    server_factory: ServerFactory, nginx_factory: NginxStarter, tmp_path: Path, helpers: Helpers
) -> None:
    packages, app, proxy = upload_stack(tmp_path, server_factory, nginx_factory)
    dist = tmp_path / "dist"
    dist.mkdir()
    wheel = make_wheel(dist, "bigupload", "1.0", payload=os.urandom(50 * 2**20))
    expected = helpers.sha256_file(wheel)

    result = twine_upload(f"{proxy.base}/", (USER, PASSWORD), [wheel])
    check_ok(result, proxy, app)
    stored = packages / wheel.name
    assert stored.is_file(), explain(None, proxy, app)
    assert helpers.sha256_file(stored) == expected

    status, digest, size = stream_sha256(f"{proxy.base}/packages/{wheel.name}")
    assert status == 200, explain(None, proxy, app)
    assert (digest, size) == (expected, wheel.stat().st_size)


def test_upload_with_wrong_password_refused_through_nginx(
    server_factory: ServerFactory, nginx_factory: NginxStarter, tmp_path: Path, helpers: Helpers
) -> None:
    packages, _app, proxy = upload_stack(tmp_path, server_factory, nginx_factory)
    wheel = make_wheel(tmp_path, "sneaky", "1.0")
    result = twine_upload(f"{proxy.base}/", (USER, "wrong-password"), [wheel])
    printed = " ".join((result.stdout + result.stderr).split())  # rich wraps long lines
    assert result.returncode != 0, printed
    # nginx's auth_request refuses before the body is read, and the answer is the app's
    # own: twine prints the reason phrase (more in test_nginx_refusals.py)
    assert "401" in printed and "wrong user name or password" in printed, printed
    assert not (packages / wheel.name).exists()


# --------------------------------------------------------------------------- X-Accel-Redirect


class AccelStack:
    """An app that requires accounts to download, behind nginx whose files location
    points at a DIFFERENT directory: a file with the same name but other bytes.

    Whatever arrives through nginx with nginx's bytes was sent by nginx, not by the app.
    """

    FILENAME = "proof-1.0-py3-none-any.whl"

    def __init__(self, root: Path, server_factory: Any, nginx_factory: NginxStarter) -> None:
        self.app_dir = root / "app-packages"
        self.nginx_dir = root / "nginx-packages"
        self.app_dir.mkdir()
        self.nginx_dir.mkdir()
        self.app_copy = make_wheel(self.app_dir, "proof", "1.0", payload=b"A" * 300_000)
        self.nginx_copy = make_wheel(self.nginx_dir, "proof", "1.0", payload=b"N" * 300_000)
        assert self.app_copy.name == self.nginx_copy.name == self.FILENAME
        self.app_bytes = self.app_copy.read_bytes()
        self.nginx_bytes = self.nginx_copy.read_bytes()
        assert self.app_bytes != self.nginx_bytes
        htpasswd = root / "htpasswd"
        add_account(htpasswd, USER, PASSWORD)
        self.app = server_factory(self.app_dir, "-P", str(htpasswd), "-a", "download", *ACCEL)
        self.nginx = nginx_factory(nh.HTTP_SITE, self.app, self.nginx_dir)
        self.auth = (USER, PASSWORD)

    def explain(self, response: requests.Response | None = None) -> str:
        return explain(response, self.nginx, self.app)


@pytest.fixture(scope="module")
def accel(
    tmp_path_factory: pytest.TempPathFactory,
    module_server_factory: ServerFactory,
    module_nginx_factory: NginxStarter,
) -> AccelStack:
    return AccelStack(tmp_path_factory.mktemp("accel"), module_server_factory, module_nginx_factory)


def test_downloads_are_sent_by_nginx(accel: AccelStack, helpers: Helpers) -> None:
    url = f"{accel.nginx.base}/packages/{accel.FILENAME}"
    r = get(url, auth=accel.auth)
    assert r.status_code == 200, accel.explain(r)
    assert r.content == accel.nginx_bytes, "the bytes did not come from nginx's directory"
    assert "X-Accel-Redirect" not in r.headers  # nginx consumes it
    # the app itself only answers with the redirect header and sends no bytes
    direct = get(accel.app.url(f"/packages/{accel.FILENAME}"), auth=accel.auth)
    assert direct.status_code == 200, accel.explain(direct)
    assert direct.headers.get("X-Accel-Redirect") == f"/_dynopypi_files/0/{accel.FILENAME}"
    assert direct.content == b""
    # ... and its index describes its own copy
    page = get(
        accel.app.url("/simple/proof/"), auth=accel.auth, headers={"Accept": helpers.JSON_V1}
    )
    assert page.status_code == 200, accel.explain(page)
    (entry,) = page.json()["files"]
    assert entry["hashes"]["sha256"] == helpers.sha256_bytes(accel.app_bytes)


def test_every_download_is_decided_by_the_app(accel: AccelStack) -> None:
    """nginx has no path to the package directory of its own (issue 12 #11): each
    download asks the app, which names the file, and nginx only sends the bytes."""
    url = f"{accel.nginx.base}/packages/{accel.FILENAME}"
    before = len(accel.app.stderr_path.read_text())
    with requests.Session() as session:
        for _ in range(5):
            r = session.get(url, auth=accel.auth, timeout=30)
            assert r.status_code == 200, accel.explain(r)
            assert r.content == accel.nginx_bytes
    log = accel.app.stderr_path.read_text()[before:]  # the access log of these downloads
    assert log.count(f"GET /packages/{accel.FILENAME} 200") == 5, log


def test_nginx_never_sends_hidden_or_foreign_files(accel: AccelStack, tmp_path: Path) -> None:
    """Only distribution files are sent from disk: yank state, uploads in flight, other
    files and links are left to the app, which serves only what it indexed."""
    secret = b"must not be served by nginx"
    state = accel.nginx_dir / ".dynopypi"
    state.mkdir(exist_ok=True)
    (state / "yanked.json").write_bytes(secret)
    (accel.nginx_dir / ".upload-abc-1.0-py3-none-any.whl").write_bytes(secret)
    (accel.nginx_dir / "notes.txt").write_bytes(secret)
    outside = tmp_path / "outside-1.0-py3-none-any.whl"
    outside.write_bytes(secret)
    (accel.nginx_dir / "linked-1.0-py3-none-any.whl").symlink_to(outside)
    for path in (
        ".dynopypi/yanked.json",
        ".upload-abc-1.0-py3-none-any.whl",
        "notes.txt",
        "linked-1.0-py3-none-any.whl",
        "%2Edynopypi/yanked.json",
    ):
        r = get(f"{accel.nginx.base}/packages/{path}", auth=accel.auth)
        assert r.status_code == 404, accel.explain(r)
        assert secret not in r.content


def test_range_request_through_nginx(accel: AccelStack) -> None:
    url = f"{accel.nginx.base}/packages/{accel.FILENAME}"
    r = get(url, auth=accel.auth, headers={"Range": "bytes=100-1099"})
    assert r.status_code == 206, accel.explain(r)
    assert r.headers["Content-Range"] == f"bytes 100-1099/{len(accel.nginx_bytes)}"
    assert r.content == accel.nginx_bytes[100:1100]
    tail = get(url, auth=accel.auth, headers={"Range": "bytes=-10"})
    assert tail.status_code == 206, accel.explain(tail)
    assert tail.content == accel.nginx_bytes[-10:]


def test_download_without_credentials_refused_through_nginx(accel: AccelStack) -> None:
    url = f"{accel.nginx.base}/packages/{accel.FILENAME}"
    r = get(url)
    assert r.status_code == 401, accel.explain(r)
    assert r.headers.get("WWW-Authenticate", "").lower().startswith("basic"), accel.explain(r)
    assert accel.nginx_bytes not in r.content and accel.app_bytes not in r.content
    wrong = get(url, auth=(USER, "not-the-password"))
    assert wrong.status_code in (401, 403), accel.explain(wrong)
    assert len(wrong.content) < 10_000


def test_client_address_reaches_app_through_nginx(accel: AccelStack) -> None:
    """nginx sends X-Forwarded-For; the app must see the client's address (its login
    throttle counts failures per address). The client connects from 127.0.0.2."""
    conn = http.client.HTTPConnection(
        "127.0.0.1", accel.nginx.http_port, timeout=TIMEOUT, source_address=("127.0.0.2", 0)
    )
    try:
        token = base64.b64encode(f"{USER}:wrong-password".encode()).decode()
        conn.request(
            "GET", f"/packages/{accel.FILENAME}", headers={"Authorization": f"Basic {token}"}
        )
        response = conn.getresponse()
        response.read()
    finally:
        conn.close()
    assert response.status == 401, accel.explain()
    failures = [
        line
        for line in accel.app.stderr_path.read_text().splitlines()
        if f"failed login for {USER!r}" in line
    ]
    assert failures, accel.explain()
    assert failures[-1].endswith("from 127.0.0.2"), failures[-1]


def test_files_location_is_internal(accel: AccelStack) -> None:
    """The X-Accel-Redirect target is not a way around the app's decision."""
    for path in (f"/_dynopypi_files/0/{accel.FILENAME}", "/_dynopypi_files/0/"):
        r = get(f"{accel.nginx.base}{path}")
        assert r.status_code == 404, accel.explain(r)
        assert accel.nginx_bytes not in r.content


# --------------------------------------------------------------------------- sub-path


def test_sub_path_pip_install(
    sub_proxy: nh.Nginx, app: DynoServer, tmp_path: Path, helpers: Helpers
) -> None:
    target = tmp_path / "target"
    check_ok(pip_install(f"{sub_proxy.base}/pypi/simple/", target, helpers), sub_proxy, app)
    assert_app_installed(target)


def test_sub_path_redirects_stay_under_prefix(
    sub_proxy: nh.Nginx, app: DynoServer, pkgdir: Path, helpers: Helpers
) -> None:
    base = f"{sub_proxy.base}/pypi"
    for path in ("/simple/Foo_Bar/", "/simple/Foo_Bar", "/simple/foo-bar"):
        r = get(base + path)
        assert r.status_code == 301, explain(r, sub_proxy, app)
        assert urljoin(r.url, r.headers["Location"]) == f"{base}/simple/foo-bar/", r.headers
    r = get(base + "/simple")
    assert r.status_code == 301, explain(r, sub_proxy, app)
    assert urljoin(r.url, r.headers["Location"]) == f"{base}/simple/"
    # the page the redirect leads to links files under the prefix, and they download
    page = get(f"{base}/simple/foo-bar/", headers={"Accept": "text/html"})
    assert page.status_code == 200, explain(page, sub_proxy, app)
    links = [urljoin(page.url, a.href).split("#")[0] for a in helpers.parse_html(page.text).anchors]
    assert links == [f"{base}/packages/foo_bar-1.0-py3-none-any.whl"]
    wheel = get(links[0])
    assert wheel.status_code == 200, explain(wheel, sub_proxy, app)
    assert wheel.content == (pkgdir / "foo_bar-1.0-py3-none-any.whl").read_bytes()


def test_sub_path_json_api_urls(sub_proxy: nh.Nginx, app: DynoServer, pkgdir: Path) -> None:
    r = get(f"{sub_proxy.base}/pypi/pypi/app/json")
    assert r.status_code == 200, explain(r, sub_proxy, app)
    urls = [u["url"] for u in r.json()["urls"]]
    assert urls == [f"{sub_proxy.base}/pypi/packages/app-1.0-py3-none-any.whl"]
    wheel = get(urls[0])
    assert wheel.status_code == 200, explain(wheel, sub_proxy, app)
    assert wheel.content == (pkgdir / "app-1.0-py3-none-any.whl").read_bytes()


def test_sub_path_welcome_page(sub_proxy: nh.Nginx, app: DynoServer) -> None:
    r = get(f"{sub_proxy.base}/pypi/")
    assert r.status_code == 200, explain(r, sub_proxy, app)
    assert f"{sub_proxy.base}/pypi/simple/" in r.text
    assert f"{sub_proxy.base}/simple/" not in r.text


# --------------------------------------------------------------------------- forwarded headers


def json_urls(response: requests.Response) -> list[str]:
    return [entry["url"] for entry in response.json()["urls"]]


def test_urls_use_nginx_address(proxy: nh.Nginx, app: DynoServer) -> None:
    r = get(f"{proxy.base}/pypi/app/json")
    assert r.status_code == 200, explain(r, proxy, app)
    assert json_urls(r) == [f"{proxy.base}/packages/app-1.0-py3-none-any.whl"]
    welcome = get(f"{proxy.base}/")
    assert f"{proxy.base}/simple/" in welcome.text, explain(welcome, proxy, app)


def test_client_forwarded_host_and_proto_replaced_by_nginx(
    proxy: nh.Nginx, app: DynoServer
) -> None:
    """nginx sets X-Forwarded-Host/-Proto itself: a client cannot choose them."""
    spoofed = {"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https"}
    r = get(f"{proxy.base}/pypi/app/json", headers=spoofed)
    assert r.status_code == 200, explain(r, proxy, app)
    assert json_urls(r) == [f"{proxy.base}/packages/app-1.0-py3-none-any.whl"]


def test_client_forwarded_prefix_not_honoured_through_nginx(
    proxy: nh.Nginx, app: DynoServer
) -> None:
    r = get(f"{proxy.base}/pypi/app/json", headers={"X-Forwarded-Prefix": "/evil"})
    assert r.status_code == 200, explain(r, proxy, app)
    assert json_urls(r) == [f"{proxy.base}/packages/app-1.0-py3-none-any.whl"]


def test_spoofed_forwarded_headers_ignored_without_trusted_proxies(
    module_server_factory: ServerFactory, pkgdir: Path
) -> None:
    """Direct requests from an untrusted peer: every X-Forwarded-* header is dropped."""
    plain = module_server_factory(pkgdir)
    spoofed = {
        "X-Forwarded-Host": "evil.example",
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Prefix": "/evil",
        "X-Forwarded-For": "10.1.2.3",
    }
    r = get(plain.url("/pypi/app/json"), headers=spoofed)
    assert r.status_code == 200, plain.explain(r)
    assert json_urls(r) == [f"{plain.base}/packages/app-1.0-py3-none-any.whl"]
    welcome = get(plain.url("/"), headers=spoofed)
    assert "evil" not in welcome.text and f"{plain.base}/simple/" in welcome.text
    # and such an app sends the bytes itself (no X-Accel-Redirect without the setting)
    wheel = get(plain.url("/packages/app-1.0-py3-none-any.whl"))
    assert "X-Accel-Redirect" not in wheel.headers
    assert wheel.content == (pkgdir / "app-1.0-py3-none-any.whl").read_bytes()


# --------------------------------------------------------------------------- TLS


def test_tls_pip_install_with_certificate(
    tls_proxy: nh.Nginx, app: DynoServer, cert: tuple[Path, Path], tmp_path: Path, helpers: Helpers
) -> None:
    target = tmp_path / "target"
    # requests lets REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE (set on this machine) win over --cert
    no_bundle = {"REQUESTS_CA_BUNDLE": "", "CURL_CA_BUNDLE": ""}
    result = pip_install(
        f"{tls_proxy.https_base}/simple/", target, helpers, "--cert", str(cert[0]), env=no_bundle
    )
    check_ok(result, tls_proxy, app)
    assert_app_installed(target)


def test_tls_untrusted_without_certificate(tls_proxy: nh.Nginx) -> None:
    with pytest.raises(requests.exceptions.SSLError):
        get(f"{tls_proxy.https_base}/simple/", verify=True)


def test_tls_http_redirects_to_https(tls_proxy: nh.Nginx, app: DynoServer) -> None:
    for path in ("/simple/", "/packages/app-1.0-py3-none-any.whl"):
        r = get(f"{tls_proxy.base}{path}")
        assert r.status_code == 301, explain(r, tls_proxy, app)
        assert r.headers["Location"].startswith("https://"), r.headers
        assert r.headers["Location"].endswith(path), r.headers


def test_tls_hsts(tls_proxy: nh.Nginx, app: DynoServer, cert: tuple[Path, Path]) -> None:
    r = get(f"{tls_proxy.https_base}/simple/app/", verify=str(cert[0]))
    assert r.status_code == 200, explain(r, tls_proxy, app)
    assert r.headers.get("Strict-Transport-Security") == "max-age=63072000"
    missing = get(f"{tls_proxy.https_base}/simple/no-such-project/", verify=str(cert[0]))
    assert missing.status_code == 404
    assert missing.headers.get("Strict-Transport-Security") == "max-age=63072000"
    wheel = get(f"{tls_proxy.https_base}/packages/lib-1.0-py3-none-any.whl", verify=str(cert[0]))
    assert wheel.status_code == 200, explain(wheel, tls_proxy, app)
    assert wheel.headers.get("Strict-Transport-Security") == "max-age=63072000"


def test_tls_absolute_urls_use_https(
    tls_proxy: nh.Nginx, app: DynoServer, cert: tuple[Path, Path]
) -> None:
    r = get(f"{tls_proxy.https_base}/pypi/app/json", verify=str(cert[0]))
    assert r.status_code == 200, explain(r, tls_proxy, app)
    assert json_urls(r) == [f"{tls_proxy.https_base}/packages/app-1.0-py3-none-any.whl"]
    welcome = get(f"{tls_proxy.https_base}/", verify=str(cert[0]))
    assert f"{tls_proxy.https_base}/simple/" in welcome.text


# --------------------------------------------------------------------------- gzip


@pytest.mark.parametrize(
    "accept",
    ["text/html", "application/vnd.pypi.simple.v1+html", JSON_V1],
)
def test_gzip_large_simple_index(proxy: nh.Nginx, app: DynoServer, accept: str) -> None:
    headers = {"Accept": accept, "Accept-Encoding": "gzip"}
    with requests.get(f"{proxy.base}/simple/", headers=headers, stream=True, timeout=TIMEOUT) as r:
        raw = r.raw.read(decode_content=False)
        assert r.status_code == 200, explain(r, proxy, app)
        assert r.headers.get("Content-Encoding") == "gzip", explain(r, proxy, app)
        assert "accept-encoding" in r.headers.get("Vary", "").lower(), r.headers
        content_type = r.headers["Content-Type"]
    body = gzip.decompress(raw)
    assert len(raw) < len(body) / 3
    direct = get(app.url("/simple/"), headers={"Accept": accept, "Accept-Encoding": "identity"})
    assert direct.headers.get("Content-Encoding") is None
    assert body == direct.content
    assert content_type == direct.headers["Content-Type"]
    if accept == JSON_V1:
        assert len(json.loads(body)["projects"]) == MANY + 3
    else:
        assert body.count(b"<a ") == MANY + 3


def test_no_gzip_without_accept_encoding(proxy: nh.Nginx, app: DynoServer) -> None:
    r = get(f"{proxy.base}/simple/", headers={"Accept": JSON_V1, "Accept-Encoding": "identity"})
    assert r.status_code == 200, explain(r, proxy, app)
    assert r.headers.get("Content-Encoding") is None
    assert len(r.json()["projects"]) == MANY + 3
