"""pip downloads files whose names and directories need care in URLs (the HTTP side of
the same corpus is tested in process, in tests/app/test_downloads.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from support.corpus import build_odd_corpus
from support.helpers import Helpers
from support.server import DynoServer, ServerFactory


@pytest.fixture(scope="module")
def odd(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Path]]:
    return build_odd_corpus(tmp_path_factory.mktemp("odd"))


@pytest.fixture(scope="module")
def odd_server(
    module_server_factory: ServerFactory, odd: tuple[Path, dict[str, Path]]
) -> DynoServer:
    return module_server_factory(odd[0])


def test_pip_download_odd_names(
    odd_server: DynoServer, odd: tuple[Path, dict[str, Path]], helpers: Helpers, tmp_path: Path
) -> None:
    dest = tmp_path / "dl"
    result = helpers.run_client(
        [sys.executable, "-m", "pip", "--isolated", "--disable-pip-version-check", "download",
         "--no-deps", "--no-cache-dir", "--index-url", odd_server.index_url, "-d", dest,
         "uni", "odd", "tagged"]
    )  # fmt: skip
    assert result.returncode == 0, result.stderr + odd_server.logs()
    assert sorted(p.name for p in dest.iterdir()) == [
        "odd-1!0.5-py3-none-any.whl",
        "tagged-1.0-1-py3-none-any.whl",
        "uni-1.2-py3-none-any.whl",
    ]
    for p in dest.iterdir():
        assert p.read_bytes() == odd[1][p.name].read_bytes()
