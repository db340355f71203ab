"""Real clients against the real server: pip, uv and pypi_simple.

Every client subprocess runs with ``clean_env()`` (no PIP_*/UV_* variables, no pip config
files), ``pip --isolated`` and ``uv --no-config`` and a fresh cache, so the only index it
can see is the server under test. Installed files are checked to be the corpus' own.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name
from pypi_simple import ACCEPT_HTML_ONLY, ACCEPT_JSON_ONLY, PyPISimple
from support.clients import PIP, check_ok, uv_command
from support.corpus import Corpus
from support.helpers import Helpers
from support.server import DynoServer


def assert_installed(target: Path, versions: dict[str, str]) -> None:
    """The corpus' own wheels were installed (not some other index's)."""
    for module, version in versions.items():
        init = target / module / "__init__.py"
        assert init.is_file(), (
            f"{init} missing; target has {sorted(p.name for p in target.iterdir())}"
        )
        assert init.read_text() == f'__version__ = "{version}"\n'
        wheel_file = target / f"{module}-{version}.dist-info" / "WHEEL"
        assert "Generator: dynopypi.fakedist" in wheel_file.read_text()


# --------------------------------------------------------------------------- pip


def test_clean_env_hides_machine_config(helpers: Helpers) -> None:
    env = helpers.clean_env()
    assert not [k for k in env if k.startswith(("PIP_", "UV_")) and k != "PIP_CONFIG_FILE"]
    assert env["PIP_CONFIG_FILE"] == "/dev/null"
    result = helpers.run_client([*PIP, "config", "list"])
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", result.stdout


def test_pip_download_no_deps(
    server: DynoServer, corpus: Corpus, helpers: Helpers, tmp_path: Path
) -> None:
    dest = tmp_path / "dl"
    result = helpers.run_client(
        [*PIP, "download", "--no-deps", "--no-cache-dir", "--index-url", server.index_url,
         "-d", dest, "app"]
    )  # fmt: skip
    check_ok(result, server)
    assert sorted(p.name for p in dest.iterdir()) == ["app-1.0-py3-none-any.whl"]
    assert (dest / "app-1.0-py3-none-any.whl").read_bytes() == corpus.files[
        "app-1.0-py3-none-any.whl"
    ].read_bytes()


def test_pip_download_non_normalized_name_and_specifier(
    server: DynoServer, corpus: Corpus, tmp_path: Path, helpers: Helpers
) -> None:
    dest = tmp_path / "dl"
    result = helpers.run_client(
        [*PIP, "download", "--no-deps", "--no-cache-dir", "--only-binary", ":all:",
         "--index-url", server.index_url, "-d", dest, "Foo_Bar<1.1", "lib<2"]
    )  # fmt: skip
    check_ok(result, server)
    assert sorted(p.name for p in dest.iterdir()) == [
        "foo_bar-1.0-py3-none-any.whl",
        "lib-1.0-py3-none-any.whl",
    ]


def test_pip_install_with_dependency(server: DynoServer, tmp_path: Path, helpers: Helpers) -> None:
    target = tmp_path / "target"
    result = helpers.run_client(
        [*PIP, "install", "--no-cache-dir", "--target", target, "--index-url",
         server.index_url, "app"]
    )  # fmt: skip
    check_ok(result, server)
    assert_installed(target, {"app": "1.0", "lib": "2.0"})


def test_pip_install_from_subdirectory_project(
    server: DynoServer, tmp_path: Path, helpers: Helpers
) -> None:
    target = tmp_path / "target"
    result = helpers.run_client(
        [*PIP, "install", "--no-cache-dir", "--target", target, "--index-url",
         server.index_url, "zeta==0.1"]
    )  # fmt: skip
    check_ok(result, server)
    assert_installed(target, {"zeta": "0.1"})


def test_pip_install_require_hashes(
    server: DynoServer, corpus: Corpus, tmp_path: Path, helpers: Helpers
) -> None:
    digest = helpers.sha256_file(corpus.files["lib-1.0-py3-none-any.whl"])
    req = tmp_path / "req.txt"
    req.write_text(f"lib==1.0 --hash=sha256:{digest}\n")
    target = tmp_path / "target"
    result = helpers.run_client(
        [*PIP, "install", "--no-cache-dir", "--no-deps", "--require-hashes", "--target",
         target, "--index-url", server.index_url, "-r", req]
    )  # fmt: skip
    check_ok(result, server)
    assert_installed(target, {"lib": "1.0"})


def test_pip_install_unknown_project_fails(
    server: DynoServer, tmp_path: Path, helpers: Helpers
) -> None:
    result = helpers.run_client(
        [*PIP, "install", "--no-cache-dir", "--target", tmp_path / "t", "--index-url",
         server.index_url, "requests"]
    )  # fmt: skip
    assert result.returncode != 0
    assert "No matching distribution found for requests" in result.stderr, result.stderr


def test_pip_index_versions(server: DynoServer, helpers: Helpers) -> None:
    result = helpers.run_client([*PIP, "index", "versions", "lib", "--index-url", server.index_url])
    check_ok(result, server)
    assert re.search(r"^lib \(2\.0\)$", result.stdout, re.M), result.stdout
    assert re.search(r"Available versions: 2\.0, 1\.0\s*$", result.stdout, re.M), result.stdout


def test_pip_index_versions_prerelease(server: DynoServer, helpers: Helpers) -> None:
    result = helpers.run_client(
        [*PIP, "index", "versions", "--pre", "ver-sort", "--index-url", server.index_url]
    )
    check_ok(result, server)
    assert re.search(r"Available versions: 2\.0rc1, 1\.10, 1\.9\s*$", result.stdout, re.M), (
        result.stdout
    )


# --------------------------------------------------------------------------- uv


def test_uv_pip_install_target(server: DynoServer, tmp_path: Path, helpers: Helpers) -> None:
    target = tmp_path / "target"
    result = helpers.run_client(
        [*uv_command(), "pip", "install", "--no-config", "--cache-dir", tmp_path / "uvcache",
         "--python", sys.executable, "--target", target, "--index-url", server.index_url,
         "app"],
        extra_env={"UV_PYTHON_DOWNLOADS": "never", "UV_NO_PROGRESS": "1"},
    )  # fmt: skip
    check_ok(result, server)
    assert_installed(target, {"app": "1.0", "lib": "2.0"})


def test_uv_venv_install_and_import(server: DynoServer, tmp_path: Path, helpers: Helpers) -> None:
    env = {"UV_PYTHON_DOWNLOADS": "never", "UV_NO_PROGRESS": "1"}
    venv = tmp_path / "venv"
    cache = tmp_path / "uvcache"
    result = helpers.run_client(
        [*uv_command(), "venv", "--no-config", "--cache-dir", cache, "--python",
         sys.executable, venv],
        extra_env=env,
    )  # fmt: skip
    check_ok(result, server)
    python = venv / "bin" / "python"
    result = helpers.run_client(
        [*uv_command(), "pip", "install", "--no-config", "--cache-dir", cache, "--python",
         python, "--index-url", server.index_url, "app", "lib<2", "Foo.Bar"],
        extra_env=env,
    )  # fmt: skip
    check_ok(result, server)
    result = helpers.run_client(
        [python, "-c", "import app, lib, foo_bar; print(app.__version__, lib.__version__, "
         "foo_bar.__version__)"]
    )  # fmt: skip
    check_ok(result, server)
    assert result.stdout.split() == ["1.0", "1.0", "1.1"]


# --------------------------------------------------------------------------- pypi_simple


@pytest.mark.parametrize("accept", [ACCEPT_HTML_ONLY, ACCEPT_JSON_ONLY], ids=["html", "json"])
def test_pypi_simple_index_page(server: DynoServer, corpus: Corpus, accept: str) -> None:
    with PyPISimple(endpoint=server.index_url, accept=accept) as client:
        page = client.get_index_page()
    assert page.repository_version == "1.1"
    assert sorted(canonicalize_name(p) for p in page.projects) == sorted(corpus.projects)


@pytest.mark.parametrize("accept", [ACCEPT_HTML_ONLY, ACCEPT_JSON_ONLY], ids=["html", "json"])
def test_pypi_simple_project_page(
    server: DynoServer, corpus: Corpus, helpers: Helpers, accept: str
) -> None:
    with PyPISimple(endpoint=server.index_url, accept=accept) as client:
        page = client.get_project_page("Foo_Bar")
    assert page.repository_version == "1.1"
    if accept == ACCEPT_JSON_ONLY:
        assert sorted(page.versions or []) == ["1.0", "1.1"]
    pkgs = {p.filename: p for p in page.packages}
    assert sorted(pkgs) == sorted(corpus.projects["foo-bar"])
    for filename, pkg in pkgs.items():
        path = corpus.files[filename]
        assert canonicalize_name(pkg.project or "") == "foo-bar"
        assert pkg.digests == {"sha256": helpers.sha256_file(path)}
        assert pkg.url == f"{server.base}/packages/{corpus.relpath(filename)}"
        assert pkg.is_yanked is False
        if filename.endswith(".whl"):
            assert pkg.package_type == "wheel"
            assert pkg.has_metadata is True
            assert pkg.metadata_digests == {
                "sha256": helpers.sha256_bytes(helpers.wheel_metadata(path))
            }
        else:
            assert pkg.package_type == "sdist"
            assert not pkg.has_metadata
        if accept == ACCEPT_JSON_ONLY:
            assert pkg.size == path.stat().st_size
            assert pkg.upload_time is not None
    assert pkgs["foo_bar-1.1-py3-none-any.whl"].requires_python == ">=3.8"
    assert pkgs["foo_bar-1.0-py3-none-any.whl"].requires_python in (None, "")


@pytest.mark.parametrize("accept", [ACCEPT_HTML_ONLY, ACCEPT_JSON_ONLY], ids=["html", "json"])
def test_pypi_simple_download_and_metadata(
    server: DynoServer, corpus: Corpus, helpers: Helpers, tmp_path: Path, accept: str
) -> None:
    with PyPISimple(endpoint=server.index_url, accept=accept) as client:
        packages = [
            *client.get_project_page("zeta").packages,
            *client.get_project_page("foo-bar").packages,
        ]
        for pkg in packages:
            dest = tmp_path / pkg.filename
            client.download_package(pkg, dest, verify=True)
            assert dest.read_bytes() == corpus.files[pkg.filename].read_bytes()
            if pkg.has_metadata:
                assert client.get_package_metadata_bytes(pkg, verify=True) == (
                    helpers.wheel_metadata(corpus.files[pkg.filename])
                )


def test_pypi_simple_unknown_project(server: DynoServer) -> None:
    from pypi_simple import NoSuchProjectError

    with PyPISimple(endpoint=server.index_url) as client, pytest.raises(NoSuchProjectError):
        client.get_project_page("does-not-exist")


def test_pip_http_cache_revalidates(
    server: DynoServer, corpus: Corpus, helpers: Helpers, tmp_path: Path
) -> None:
    """With a (private) cache pip revalidates pages with If-None-Match; 304s must work.

    pip caches plain-http responses only for trusted hosts, hence --trusted-host."""
    cache = tmp_path / "pipcache"
    for run in (1, 2):
        dest = tmp_path / f"dl{run}"
        result = helpers.run_client(
            [*PIP, "download", "--no-deps", "--cache-dir", cache, "--index-url",
             server.index_url, "--trusted-host", "127.0.0.1", "-d", dest, "lib==1.0"]
        )  # fmt: skip
        check_ok(result, server)
        assert (dest / "lib-1.0-py3-none-any.whl").read_bytes() == corpus.files[
            "lib-1.0-py3-none-any.whl"
        ].read_bytes()
    log = server.stderr_path.read_text()
    assert "GET /simple/lib/ 304" in log, server.logs()
