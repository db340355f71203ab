"""The install commands the web UI shows work as shown: real pip and uv, run with the
command copied from the page (plus flags that keep them off this machine's environment),
against a real server, and through the shipped nginx site serving the index under /pypi/
(relative links: the pages, their stylesheet and the commands all name /pypi/)."""

from __future__ import annotations

import html
import re
import shlex
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urljoin

import pytest
import requests
from support import nginx as nh
from support.clients import PIP, check_ok, run_client, uv_command
from support.fakedist import make_wheel
from support.server import DynoServer, ServerFactory


@pytest.fixture(scope="module")
def site(
    module_server_factory: ServerFactory, tmp_path_factory: pytest.TempPathFactory
) -> DynoServer:
    root = tmp_path_factory.mktemp("commands")
    make_wheel(root, "Copy_Me", "1.0")
    make_wheel(root, "Copy_Me", "2.0")
    # nginx (on loopback) is trusted to say the prefix it serves the index under
    return module_server_factory(root, "--trusted-proxies", "127.0.0.1")


def shown_command(site: DynoServer, path: str, ident: str) -> list[str]:
    page = site.get(path)
    assert page.status_code == 200, site.explain(page)
    found = re.search(rf'<pre id="{ident}"><code>([^<]*)</code></pre>', page.text)
    assert found, page.text
    return shlex.split(html.unescape(found.group(1)))


@pytest.mark.parametrize(
    ("path", "version"), [("/project/copy-me/", "2.0"), ("/project/copy-me/1.0/", "1.0")]
)
def test_pip_command_from_the_page_installs(
    site: DynoServer, tmp_path: Path, path: str, version: str
) -> None:
    command = shown_command(site, path, "pip")
    assert command[:2] == ["pip", "install"], command
    result = run_client([*PIP, *command[1:], "--no-deps", "--target", tmp_path / "t"])
    check_ok(result, site)
    assert (tmp_path / "t" / f"copy_me-{version}.dist-info").is_dir()


def test_uv_command_from_the_page_installs(site: DynoServer, tmp_path: Path) -> None:
    command = shown_command(site, "/project/copy-me/1.0/", "uv")
    assert command[:3] == ["uv", "pip", "install"], command
    target = tmp_path / "t"
    result = run_client(
        [*uv_command(), "--no-config", *command[1:], "--no-deps", "--target", target,
         "--cache-dir", tmp_path / "uv-cache"]
    )  # fmt: skip
    check_ok(result, site)
    assert (target / "copy_me-1.0.dist-info").is_dir()


@pytest.fixture(scope="module")
def under_pypi(site: DynoServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[nh.Nginx]:
    proxy = nh.site_nginx(
        tmp_path_factory.mktemp("nginx"),
        nh.HTTP_SITE,
        app_port=site.port,
        alias_dir=site.package_dir,
        sub_path="/pypi",
    )
    proxy.start()
    yield proxy
    proxy.stop()


def test_pages_under_a_sub_path_behind_nginx(under_pypi: nh.Nginx, tmp_path: Path) -> None:
    base = f"{under_pypi.base}/pypi/"
    home = requests.get(base, timeout=30)
    assert home.status_code == 200 and home.headers["Content-Security-Policy"]
    page_url = urljoin(base, "project/copy-me/")
    page = requests.get(page_url, timeout=30)
    assert page.status_code == 200, page.text
    for asset in re.findall(r'(?:href|src)="([^"]*_/static/[^"]+)"', page.text):
        url = urljoin(page_url, asset)
        assert url.startswith(base) and requests.get(url, timeout=30).status_code == 200, url
    found = re.search(r'<pre id="pip"><code>([^<]*)</code></pre>', page.text)
    assert found, page.text
    command = shlex.split(html.unescape(found.group(1)))
    assert f"{base}simple/" in command, command
    result = run_client([*PIP, *command[1:], "--no-deps", "--target", tmp_path / "t"])
    assert result.returncode == 0, result.stderr
    search = requests.get(urljoin(base, "search"), params={"q": "copy"}, timeout=30)
    assert 'href="project/copy-me/"' in search.text
