"""Older pips that people really have: Debian 12's ``python3 -m venv`` gives pip 23.0.1.

pip 22.3 to 23.1 crash on a PEP 691 JSON page that has the ``dist-info-metadata`` key
(``TypeError: unhashable type: 'dict'``), which is why PEP 714 renamed it to
``core-metadata`` and told servers to keep the old name out of JSON (HTML keeps both).
These pips are installed from the same package index that built this venv, then see
only the server under test (``--isolated``, a clean environment).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from support.clients import check_ok, run_client
from support.installs import chain
from support.server import ServerFactory

OLD_PIPS = ("22.3.1", "23.0.1")  # the buggy range's first release, and Debian 12's


@pytest.fixture(scope="module", params=OLD_PIPS)
def old_pip(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv with that pip, fetched the way ``make venv`` fetches (this machine's config)."""
    venv = tmp_path_factory.mktemp(f"pip-{request.param}")
    subprocess.run([sys.executable, "-m", "venv", venv], check=True, timeout=300)
    python = venv / "bin" / "python"
    got = subprocess.run(
        [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         f"pip=={request.param}"],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert got.returncode == 0, f"could not install pip {request.param}:\n{got.stderr[-3000:]}"
    return python


def test_an_old_pip_installs_a_chain_with_core_metadata(
    old_pip: Path, server_factory: ServerFactory, tmp_path: Path
) -> None:
    packages = tmp_path / "packages"
    chain(packages)  # wheels: every file has core metadata (PEP 658)
    index = server_factory(packages)
    page = index.get("/simple/chain-a/", headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    assert page.headers["Content-Type"].startswith("application/vnd.pypi.simple.v1+json")
    files = page.json()["files"]
    assert files and all(f["core-metadata"] and "dist-info-metadata" not in f for f in files)
    target = tmp_path / "t"
    result = run_client(
        [old_pip, "-m", "pip", "--isolated", "--disable-pip-version-check", "--no-input",
         "install", "--no-cache-dir", "--target", target, "--index-url", index.index_url,
         "chain-a"]
    )  # fmt: skip
    check_ok(result, index)
    assert sorted(p.name for p in target.glob("chain_*-1.0.dist-info")) == [
        "chain_a-1.0.dist-info", "chain_b-1.0.dist-info", "chain_c-1.0.dist-info"
    ]  # fmt: skip
