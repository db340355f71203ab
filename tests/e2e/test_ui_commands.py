"""The install commands the web UI shows work as shown: real pip and uv, run with the
command copied from the page (plus flags that keep them off this machine's environment),
against a real server."""

from __future__ import annotations

import html
import re
import shlex
from pathlib import Path

import pytest
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
    return module_server_factory(root)


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
