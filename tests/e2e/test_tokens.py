"""API tokens end to end: ``dynopypi token create|list|revoke`` as an operator runs them,
and real clients using the tokens against a real server: twine and ``uv publish --token``
(Basic ``__token__``), pip with ``https://__token__:TOKEN@host/simple/``, and Bearer.

The server needs accounts for everything (``-a update,list,download``), so each client
proves that its token was taken. No token secret may end up in the storage, the cache
directory or the logs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.accounts import write_fast_accounts
from support.clients import check_ok, client_env, pip_install, run_client, twine_upload, uv_command
from support.fakedist import make_wheel
from support.server import DynoServer, ServerFactory


def dynopypi(*args: str | Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dynopypi", *map(str, args)],
        capture_output=True, text=True, timeout=60, check=False, stdin=subprocess.DEVNULL,
        env={**os.environ, **env},
    )  # fmt: skip


def create(pkg: Path, *args: str) -> str:
    result = dynopypi("token", "create", "-d", pkg, *args)
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    assert result.stdout == token + "\n" and token.startswith("dynopypi-")  # nothing else
    return token


@pytest.fixture(scope="module")
def site(
    module_server_factory: ServerFactory, tmp_path_factory: pytest.TempPathFactory
) -> tuple[DynoServer, Path]:
    root = tmp_path_factory.mktemp("tokens")
    pkg = root / "packages"
    pkg.mkdir()
    htpasswd = write_fast_accounts(root / "htpasswd", {"alice": "secret", "bob": "other"})
    (root / "htpasswd.rights").write_text("alice list,download,update *\nbob list,download\n")
    server = module_server_factory(pkg, "-P", str(htpasswd), "-a", "update,list,download")
    return server, pkg


def test_twine_uv_and_pip_with_tokens(site: tuple[DynoServer, Path], tmp_path: Path) -> None:
    server, pkg = site
    token = create(pkg, "--user", "alice", "--project", "tok-*", "--description", "ci")
    wheel = make_wheel(tmp_path, "tok-twine", "1.0")
    check_ok(twine_upload(f"{server.base}/", ("__token__", token), [wheel]), server)
    uv_wheel = make_wheel(tmp_path, "tok-uv", "1.0")
    result = run_client(
        [*uv_command(), "publish", "--no-config", "--cache-dir", tmp_path / "uv-cache",
         "--publish-url", f"{server.base}/", "--token", token, uv_wheel],
        env=client_env(),
    )  # fmt: skip
    check_ok(result, server)
    assert (pkg / wheel.name).is_file() and (pkg / uv_wheel.name).is_file()
    index = f"http://__token__:{token}@127.0.0.1:{server.port}/simple/"
    check_ok(pip_install(index, tmp_path / "target", "tok-uv"), server)
    assert (tmp_path / "target" / "tok_uv" / "__init__.py").is_file()
    bearer = server.get("/simple/", headers={"Authorization": f"Bearer {token}"})
    assert bearer.status_code == 200
    listed = json.loads(dynopypi("token", "list", "-d", pkg, "--json").stdout)
    mine = next(t for t in listed if t["description"] == "ci")
    assert mine["user"] == "alice" and mine["projects"] == ["tok-*"]
    assert mine["last_used"] is not None and "digest" not in mine
    assert not any(token.split("-")[2] in str(t) for t in listed)
    for folder in (pkg, server.work_dir):  # the storage, the cache directory, the logs
        for path in folder.rglob("*"):
            if path.is_file():
                assert token.split("-")[2].encode() not in path.read_bytes(), path


def test_poetry_publishes_with_a_token(site: tuple[DynoServer, Path], tmp_path: Path) -> None:
    server, pkg = site
    token = create(pkg, "--user", "alice", "--project", "tok-poetry", "--action", "update")
    project = tmp_path / "project"
    (project / "dist").mkdir(parents=True)
    (project / "pyproject.toml").write_text('[project]\nname = "tok-poetry"\nversion = "1.0"\n')
    wheel = make_wheel(project / "dist", "tok-poetry", "1.0")
    env = client_env({
        "POETRY_CONFIG_DIR": str(tmp_path / "poetry-config"),
        "POETRY_CACHE_DIR": str(tmp_path / "poetry-cache"),
        "POETRY_REPOSITORIES_DYNOPYPI_URL": f"{server.base}/",
        "POETRY_HTTP_BASIC_DYNOPYPI_USERNAME": "__token__",
        "POETRY_HTTP_BASIC_DYNOPYPI_PASSWORD": token,
    })  # fmt: skip
    poetry = Path(sys.executable).parent / "poetry"
    result = run_client(
        [poetry, "publish", "-r", "dynopypi", "--no-interaction"], cwd=project, env=env
    )
    check_ok(result, server)
    assert (pkg / wheel.name).read_bytes() == wheel.read_bytes()


def test_scope_and_the_users_rights_bound_a_token(
    site: tuple[DynoServer, Path], tmp_path: Path
) -> None:
    server, pkg = site
    narrow = create(pkg, "--user", "alice", "--project", "only-this")
    result = twine_upload(
        f"{server.base}/", ("__token__", narrow), [make_wheel(tmp_path, "not-this", "1.0")]
    )
    said = " ".join((result.stdout + result.stderr).split())
    assert result.returncode != 0 and "out of its scope" in said, said
    reader = create(pkg, "--user", "bob")  # bob may not upload: neither may his token
    result = twine_upload(
        f"{server.base}/", ("__token__", reader), [make_wheel(tmp_path, "bobs", "1.0")]
    )
    assert result.returncode != 0 and "403" in result.stdout + result.stderr
    listing = create(pkg, "--user", "alice", "--action", "update")
    assert server.get("/simple/", auth=("__token__", listing)).status_code == 403


def test_revoked_and_expired_tokens_are_refused(site: tuple[DynoServer, Path]) -> None:
    server, pkg = site
    token = create(pkg, "--user", "alice")
    assert server.get("/simple/", auth=("__token__", token)).status_code == 200
    token_id = token.split("-")[1]
    assert dynopypi("token", "revoke", token_id, "-d", pkg).returncode == 0
    started = time.monotonic()
    while server.get("/simple/", auth=("__token__", token)).status_code == 200:
        assert time.monotonic() - started < 1.0, "a revocation must show within 1 s"
        time.sleep(0.05)
    refused = server.get("/simple/", auth=("__token__", token))
    assert refused.status_code == 401 and "revoked" in refused.text
    short = create(pkg, "--user", "alice", "--expires", "1s")
    time.sleep(1.1)
    expired = server.get("/simple/", headers={"Authorization": f"Bearer {short}"})
    assert expired.status_code == 401 and "expired" in expired.text
    assert "dynopypi-" not in server.logs()
    missing = dynopypi("token", "revoke", "0123456789abcdef", "-d", pkg)
    assert missing.returncode == 1 and "no token" in missing.stderr


def test_create_refuses_what_it_cannot_mean(site: tuple[DynoServer, Path]) -> None:
    _server, pkg = site
    for args in (("--expires", "soon"), ("--action", "delete")):
        result = dynopypi("token", "create", "-d", pkg, "--user", "alice", *args)
        assert result.returncode == 2 and result.stdout == ""
        assert result.stderr.strip().splitlines()[-1].startswith("dynopypi"), result.stderr
    htpasswd = str(pkg.parent / "htpasswd")
    typo = dynopypi("token", "create", "-d", pkg, "--user", "alcie", DYNOPYPI_PASSWORDS=htpasswd)
    assert typo.returncode == 2 and "no account 'alcie'" in typo.stderr and typo.stdout == ""


def test_guessing_tokens_is_throttled(server_factory: ServerFactory, tmp_path: Path) -> None:
    """Its own server: the throttle it fills must not refuse the other tests' logins."""
    pkg = tmp_path / "packages"
    htpasswd = write_fast_accounts(tmp_path / "htpasswd", {"alice": "secret"})
    server = server_factory(pkg, "-P", str(htpasswd), "-a", "update,list")
    guesses = [f"dynopypi-{i:016x}-{'0' * 64}" for i in range(12)]
    statuses = [server.get("/simple/", auth=("__token__", g)).status_code for g in guesses]
    assert 401 in statuses and statuses[-1] == 429, statuses
    last = server.get("/simple/", headers={"Authorization": f"Bearer {guesses[0]}"})
    assert last.status_code == 429 and int(last.headers["Retry-After"]) >= 1
