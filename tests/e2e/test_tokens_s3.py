"""Tokens and trusted publishing shared by two replicas of one bucket (a real SeaweedFS):
a token created with ``dynopypi token create --storage`` works on both, its revocation is
refused on both within a second, and an identity token minted on one replica is a replay
on the other (the ``jti`` is recorded in the bucket with put-if-absent)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from support.accounts import write_fast_accounts
from support.bucket_server import BucketServerFactory, dynopypi_command
from support.oidc_issuer import REPOSITORY, IssuerServer
from support.seaweed import SeaweedFS

AUDIENCE = "dynopypi-replicas"


@pytest.fixture
def issuer() -> Iterator[IssuerServer]:
    server = IssuerServer()
    yield server
    server.stop()


def test_tokens_and_jti_are_shared_by_replicas(
    replicas: BucketServerFactory, seaweed: SeaweedFS, issuer: IssuerServer, tmp_path: Path
) -> None:
    url = f"s3://{seaweed.new_bucket('tokens')}/packages"
    where = ("--storage", url, "--s3-endpoint", seaweed.endpoint_url)
    htpasswd = write_fast_accounts(tmp_path / "htpasswd", {"alice": "secret"})
    created = dynopypi_command(seaweed, "token", "create", "--user", "alice", *where)
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    added = dynopypi_command(
        seaweed, "publisher", "add", "--project", "shared", "--issuer", issuer.issuer.url,
        "--claim", f"repository={REPOSITORY}", *where,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    flags = ("-P", str(htpasswd), "-a", "update,list", "--oidc-audience", AUDIENCE)
    a = replicas.replica(url, *flags)
    b = replicas.replica(url, *flags)
    for replica in (a, b):
        assert replica.get("/simple/", auth=("__token__", token)).status_code == 200

    revoked = dynopypi_command(seaweed, "token", "revoke", token.split("-")[1], *where)
    assert revoked.returncode == 0, revoked.stderr
    started = time.monotonic()
    for replica in (a, b):
        while replica.get("/simple/", auth=("__token__", token)).status_code == 200:
            assert time.monotonic() - started < 1.0, "revocation must show within 1 s"
            time.sleep(0.05)

    jwt_text = issuer.issuer.token(AUDIENCE)
    first = requests.post(f"{a.base}/_/oidc/mint-token", json={"token": jwt_text}, timeout=30)
    assert first.status_code == 200, first.text + a.logs()
    replay = requests.post(f"{b.base}/_/oidc/mint-token", json={"token": jwt_text}, timeout=30)
    assert replay.status_code == 422, replay.text
    assert replay.json()["errors"][0]["code"] == "invalid-reuse-token"
    minted = first.json()["token"]
    assert b.get("/simple/", auth=("__token__", minted)).status_code == 403  # update only
    listed = dynopypi_command(seaweed, "token", "list", "--json", *where)
    assert minted.split("-")[2] not in listed.stdout and token.split("-")[2] not in listed.stdout
    for replica in (a, b):
        assert token.split("-")[2] not in replica.logs()
