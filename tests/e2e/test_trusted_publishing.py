"""Trusted publishing end to end: a real ``uv publish --trusted-publishing always`` in a
simulated GitHub Actions job (its ID-token endpoint served by ``support.oidc_issuer`` on
loopback), through the shipped nginx TLS site with a test CA, against a real server; and
the exchange's refusals over HTTP in PyPI's error shape, each minting nothing.

uv asks for the audience and the token at ``https://<host>/_/oidc/...`` whatever the
publish URL's scheme, so TLS is not optional here: nginx terminates it as in production.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from support import nginx as nh
from support.accounts import write_fast_accounts
from support.clients import check_ok, client_env, run_client, twine_upload, uv_command
from support.fakedist import make_wheel
from support.helpers import poll_until
from support.oidc_issuer import REPOSITORY, IssuerServer
from support.server import DynoServer, ServerFactory

ACCEL = ("--trusted-proxies", "127.0.0.1", "--x-accel-redirect", "/_dynopypi_files/")
AUDIENCE = "dynopypi-e2e"


@dataclass
class Site:
    packages: Path
    app: DynoServer
    nginx: nh.Nginx
    ca: Path
    issuer: IssuerServer
    publisher: str

    def mint(self, token: str | int, base: str | None = None) -> requests.Response:
        return requests.post(
            f"{base or self.app.base}/_/oidc/mint-token", json={"token": token}, timeout=30
        )

    def tokens(self) -> list[dict[str, object]]:
        result = subprocess.run(
            [sys.executable, "-m", "dynopypi", "token", "list", "--json", "-d", self.packages],
            capture_output=True, text=True, timeout=60, check=True,
        )  # fmt: skip
        listed: list[dict[str, object]] = json.loads(result.stdout)
        return listed


@pytest.fixture(scope="module")
def site(
    module_server_factory: ServerFactory, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("tp")
    packages = root / "packages"
    packages.mkdir()
    issuer = IssuerServer()
    added = subprocess.run(
        [sys.executable, "-m", "dynopypi", "publisher", "add", "-d", packages,
         "--project", "tp-demo", "--issuer", issuer.issuer.url,
         "--claim", f"repository={REPOSITORY}", "--claim", "environment=release"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    htpasswd = write_fast_accounts(root / "htpasswd", {"alice": "secret"})
    app = module_server_factory(packages, "-P", str(htpasswd), "--oidc-audience", AUDIENCE, *ACCEL)
    ca, cert, key = nh.make_signed_certificate(root / "tls")
    nginx = nh.site_nginx(
        root / "nginx", nh.TLS_SITE, app_port=app.port, alias_dir=packages, cert=(cert, key)
    )
    nginx.start()
    try:
        yield Site(packages, app, nginx, ca, issuer, added.stdout.split()[2])
    finally:
        nginx.stop()
        issuer.stop()


def test_uv_publishes_from_a_github_actions_job_through_nginx_tls(
    site: Site, tmp_path: Path
) -> None:
    wheel = make_wheel(tmp_path, "tp-demo", "1.0")
    env = client_env({
        "SSL_CERT_FILE": str(site.ca),
        "GITHUB_ACTIONS": "true",
        "ACTIONS_ID_TOKEN_REQUEST_URL": site.issuer.request_url,
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN": site.issuer.issuer.request_token,
    })  # fmt: skip
    result = run_client(
        [*uv_command(), "publish", "--no-config", "--cache-dir", tmp_path / "uv-cache",
         "--trusted-publishing", "always", "--publish-url", f"{site.nginx.https_base}/", wheel],
        env=env,
    )  # fmt: skip
    check_ok(result, site.app, site.nginx)
    assert (site.packages / wheel.name).read_bytes() == wheel.read_bytes()
    assert site.issuer.issuer.audiences[-1] == AUDIENCE  # uv asked us, then the CI
    minted = [t for t in site.tokens() if t["publisher"] == site.publisher]
    assert minted and minted[-1]["projects"] == ["tp-demo"] and minted[-1]["actions"] == ["update"]


def test_refusals_are_in_pypis_shape_and_mint_nothing(site: Site) -> None:
    before = len(site.tokens())
    issuer = site.issuer.issuer
    cases: dict[str, str | int] = {
        "wrong aud": issuer.token("pypi"),
        "a claim differs": issuer.token(AUDIENCE, repository="acme/evil"),
        "expired": issuer.token(AUDIENCE, exp=1_600_000_000, iat=1_599_999_000, nbf=None),
        "not a string": 42,
    }
    for case, token in cases.items():
        answer = site.mint(token)
        assert answer.status_code == 422, (case, answer.text)
        body = answer.json()
        assert body["message"] == "Token request failed", case
        assert {"code", "description"} <= set(body["errors"][0]), case
    assert len(site.tokens()) == before


def test_a_replayed_token_and_another_project(site: Site, tmp_path: Path) -> None:
    jwt_text = site.issuer.issuer.token(AUDIENCE)
    first = site.mint(jwt_text)
    assert first.status_code == 200, first.text
    assert first.json()["success"] is True and first.json()["expires"] > 0
    again = site.mint(jwt_text)
    assert again.status_code == 422 and again.json()["errors"][0]["code"] == "invalid-reuse-token"
    other = make_wheel(tmp_path, "not-tp-demo", "1.0")
    refused = twine_upload(f"{site.app.base}/", ("__token__", first.json()["token"]), [other])
    said = " ".join((refused.stdout + refused.stderr).split())
    assert refused.returncode != 0 and "403" in said and "out of its scope" in said, said
    assert not (site.packages / other.name).exists()


def test_audience_discovery_and_body_bounds(site: Site) -> None:
    base = site.nginx.https_base
    audience = requests.get(f"{base}/_/oidc/audience", verify=str(site.ca), timeout=30)
    assert audience.json() == {"audience": AUDIENCE}
    key = hashlib.sha256(b"/").hexdigest()
    found = requests.get(f"{base}/.well-known/pytp/{key}", verify=str(site.ca), timeout=30)
    assert found.status_code == 200, found.text
    assert found.json()["mint-token-endpoint"] == f"{base}/_/oidc/mint-token"
    other = requests.get(f"{base}/.well-known/pytp/{'0' * 64}", verify=str(site.ca), timeout=30)
    assert other.status_code == 404
    huge = requests.post(f"{site.app.base}/_/oidc/mint-token", data=b"x" * 100_000, timeout=30)
    assert huge.status_code == 413


def test_a_minted_token_and_its_upload_are_audited(site: Site, tmp_path: Path) -> None:
    minted = site.mint(site.issuer.issuer.token(AUDIENCE))
    assert minted.status_code == 200, minted.text
    token = minted.json()["token"]
    wheel = make_wheel(tmp_path, "tp-demo", "7.0")
    check_ok(twine_upload(f"{site.app.base}/", ("__token__", token), [wheel]), site.app)

    def records() -> list[dict[str, Any]]:
        shown = subprocess.run(
            [sys.executable, "-m", "dynopypi", "audit", "show", "--json", "-d", site.packages],
            capture_output=True, text=True, timeout=60, check=True,
        ).stdout  # fmt: skip
        assert token not in shown  # the token itself is never recorded
        return [json.loads(line) for line in shown.splitlines()]

    def upload() -> dict[str, Any] | None:
        found = [r for r in records() if r["action"] == "upload" and r["version"] == "7.0"]
        return found[0] if found else None

    uploaded = poll_until(upload, message="no audit record of the upload")
    assert uploaded is not None
    assert uploaded["actor"]["publisher"] == site.publisher
    assert uploaded["actor"]["issuer"] == site.issuer.issuer.url
    mints = [r for r in records() if r["action"] == "token-mint"]
    assert mints and mints[-1]["token"] == uploaded["actor"]["token"]
    assert mints[-1]["actor"]["publisher"] == site.publisher
    assert mints[-1]["project"] == "tp-demo"
