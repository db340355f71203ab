"""Trusted publishing's routes in this process: the audience, PyPI's error shape for a
refused exchange, and PEP 807 discovery (the end-to-end exchange with uv, nginx and the
test issuer is ``tests/e2e/test_trusted_publishing.py``)."""

from __future__ import annotations

import hashlib

import pytest
from support.accounts import write_fast_accounts
from support.inproc import AppFactory, AppServer


@pytest.fixture(scope="module")
def app(module_server_factory: AppFactory, tmp_path_factory: pytest.TempPathFactory) -> AppServer:
    root = tmp_path_factory.mktemp("oidc")
    htpasswd = write_fast_accounts(root / "htpasswd", {"alice": "secret"})
    return module_server_factory(root / "packages", "-P", str(htpasswd))


def test_audience(app: AppServer) -> None:
    answer = app.get("/_/oidc/audience")
    assert answer.status_code == 200 and answer.json() == {"audience": "dynopypi"}
    assert answer.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    ("body", "code"),
    [(b"not json", "invalid-payload"), (b'{"token": "a.b.c"}', "invalid-token")],
)
def test_refusals_are_in_pypis_shape(app: AppServer, body: bytes, code: str) -> None:
    answer = app.request("POST", "/_/oidc/mint-token", data=body)
    assert answer.status_code == 422
    payload = answer.json()
    assert payload["message"] == "Token request failed"
    assert payload["errors"][0]["code"] == code and payload["errors"][0]["description"]


def test_pep_807_discovery(app: AppServer) -> None:
    key = hashlib.sha256(b"/").hexdigest()
    found = app.get(f"/.well-known/pytp/{key}")
    assert found.status_code == 200
    assert found.json()["audience-endpoint"].endswith("/_/oidc/audience")
    assert app.get("/.well-known/pytp/" + "0" * 64).status_code == 404


def test_nginx_upload_check_reads_bearer_tokens(app: AppServer) -> None:
    """nginx's auth_request for uploads asks the same gate: a bad token is a 401."""
    answer = app.get("/_authorize/update", headers={"Authorization": "Bearer nope"})
    assert answer.status_code == 401 and "not a dynopypi API token" in answer.text
