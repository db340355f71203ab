"""``dynopypi audit verify|show`` as an operator runs them, on a package directory and on a
bucket that two replicas write at once (a real SeaweedFS): one chain, no fork, and any
edited, removed or reordered record found and named."""

from __future__ import annotations

import concurrent.futures
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from support.accounts import add_account, write_fast_accounts
from support.bucket_server import BucketServerFactory, dynopypi_command
from support.clients import check_ok, twine_upload
from support.fakedist import make_wheel
from support.helpers import poll_until
from support.seaweed import S3Place
from support.server import ServerFactory
from support.uploads import upload

ALICE = ("alice", "alice-audit-pw1")
WRITES = 12  # uploads, half through each replica, all at once


def dynopypi(*args: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dynopypi", *map(str, args)],
        capture_output=True, text=True, timeout=60, check=False, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def test_cli_yank_is_recorded_and_tampering_found_in_a_directory(tmp_path: Path) -> None:
    pkg = tmp_path / "packages"
    pkg.mkdir()
    make_wheel(pkg, "acme", "1.0")
    for verb in ("yank", "unyank", "yank"):
        done = dynopypi(verb, "acme", "1.0", "-d", pkg)
        assert done.returncode == 0, done.stderr
    shown = dynopypi("audit", "show", "-d", pkg, "--json", "--since", "1h")
    records = [json.loads(line) for line in shown.stdout.splitlines()]
    assert [r["action"] for r in records] == ["yank", "unyank", "yank"]
    assert all(r["actor"]["via"] == "cli" and r["actor"]["user"] for r in records)
    assert records[0]["files"] == [{"name": "acme-1.0-py3-none-any.whl", "sha256": ""}]
    assert dynopypi("audit", "show", "-d", pkg, "--project", "other*").stdout == ""
    lines = dynopypi("audit", "show", "-d", pkg).stdout.splitlines()
    assert len(lines) == 3 and " yank acme 1.0 [acme-1.0-py3-none-any.whl] ok" in lines[0]
    ok = dynopypi("audit", "verify", "-d", pkg)
    assert ok.returncode == 0 and ok.stdout.startswith("audit: 3 records, the chain is intact")

    second = pkg / ".dynopypi" / "audit" / "000000000002.json"
    second.write_text(second.read_text().replace('"unyank"', '"yank"'))
    broken = dynopypi("audit", "verify", "-d", pkg)
    assert broken.returncode == 1
    assert "record 3 does not follow record 2" in broken.stderr
    second.unlink()
    assert "record 2 missing (removed)" in dynopypi("audit", "verify", "-d", pkg).stderr


def test_two_replicas_writing_at_once_make_one_chain(
    replicas: BucketServerFactory, s3_place: S3Place, tmp_path: Path
) -> None:
    htpasswd = tmp_path / "htpasswd"
    add_account(htpasswd, *ALICE)
    url = f"s3://{s3_place.bucket}/{s3_place.prefix.rstrip('/')}"
    a = replicas.replica(url, "-P", str(htpasswd))
    b = replicas.replica(url, "-P", str(htpasswd))
    (tmp_path / "build").mkdir()
    wheels = [make_wheel(tmp_path / "build", "busy", f"1.{n}") for n in range(WRITES)]
    with concurrent.futures.ThreadPoolExecutor(WRITES) as pool:
        done = list(pool.map(lambda n: upload((a, b)[n % 2], wheels[n], ALICE), range(WRITES)))
    assert all(r.status_code == 200 for r in done), [r.text for r in done]

    def cli(*args: object) -> subprocess.CompletedProcess[str]:
        return dynopypi_command(s3_place.store, "audit", *args, "--storage", url,
                                "--s3-endpoint", s3_place.store.endpoint_url)  # fmt: skip

    # each replica writes its records on its own thread, moments after answering
    poll_until(
        lambda: cli("verify").stdout.startswith(f"audit: {WRITES} records"),
        timeout=10.0,
        message=lambda: cli("verify").stdout + cli("verify").stderr,
    )
    ok = cli("verify")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith(f"audit: {WRITES} records, the chain is intact")
    records = [
        json.loads(line) for line in cli("show", "--json", "--actor", "alice").stdout.split()
    ]
    assert sorted(r["version"] for r in records) == sorted(f"1.{n}" for n in range(WRITES))
    assert [r["seq"] for r in records] == list(range(1, WRITES + 1))

    client = s3_place.client()
    prefix = f"{s3_place.prefix}.dynopypi/audit/"

    def key(n: int) -> str:
        return f"{prefix}{n:012d}.json"

    def body(n: int) -> bytes:
        data: bytes = client.get_object(Bucket=s3_place.bucket, Key=key(n))["Body"].read()
        return data

    def put(n: int, data: bytes) -> None:
        client.put_object(Bucket=s3_place.bucket, Key=key(n), Body=data)

    three, four = body(3), body(4)
    put(3, three.replace(b'"alice"', b'"mallory"'))
    assert "record 4 does not follow record 3" in cli("verify").stderr
    put(3, four)
    put(4, three)
    reordered = cli("verify").stderr
    assert "record 3 says it is record 4: moved" in reordered
    put(3, three)
    put(4, four)
    assert cli("verify").returncode == 0
    client.delete_object(Bucket=s3_place.bucket, Key=key(5))
    removed = cli("verify")
    assert removed.returncode == 1 and "record 5 missing (removed)" in removed.stderr


def test_token_and_publisher_changes_are_recorded(tmp_path: Path) -> None:
    pkg = tmp_path / "packages"
    pkg.mkdir()
    made = dynopypi("token", "create", "--user", "ci", "--project", "acme", "-d", pkg)
    assert made.returncode == 0, made.stderr
    token_id = made.stderr.split("created token ")[1].split()[0]
    assert dynopypi("token", "revoke", token_id, "-d", pkg).returncode == 0
    added = dynopypi("publisher", "add", "--project", "acme", "--issuer",
                     "https://token.actions.githubusercontent.com",
                     "--claim", "repository=org/acme", "-d", pkg)  # fmt: skip
    assert added.returncode == 0, added.stderr
    shown = dynopypi("audit", "show", "-d", pkg, "--json").stdout.splitlines()
    records = [json.loads(line) for line in shown]
    assert [r["action"] for r in records] == ["token-create", "token-revoke", "publisher-add"]
    assert records[0]["token"] == records[1]["token"] == token_id
    assert records[0]["for_user"] == "ci" and records[0]["projects"] == ["acme"]
    assert records[2]["project"] == "acme"
    assert records[2]["claims"] == {"repository": "org/acme"}
    assert all(r["actor"]["via"] == "cli" for r in records)
    assert dynopypi("audit", "verify", "-d", pkg).returncode == 0


def test_an_upload_with_a_token_names_the_token(
    server_factory: ServerFactory, tmp_path: Path
) -> None:
    pkg, build = tmp_path / "packages", tmp_path / "build"
    pkg.mkdir()
    build.mkdir()
    htpasswd = write_fast_accounts(tmp_path / "htpasswd", {"alice": "alice-pw"})
    server = server_factory(pkg, "-P", str(htpasswd))
    made = dynopypi("token", "create", "--user", "alice", "-d", pkg)
    token, token_id = made.stdout.strip(), made.stderr.split("created token ")[1].split()[0]
    wheel = make_wheel(build, "tokened", "1.0")
    check_ok(twine_upload(f"{server.base}/", ("__token__", token), [wheel]), server)

    def uploads() -> list[dict[str, Any]]:
        shown = dynopypi("audit", "show", "-d", pkg, "--json").stdout.splitlines()
        return [r for r in map(json.loads, shown) if r["action"] == "upload"]

    poll_until(uploads, message="no upload record")
    actor = uploads()[0]["actor"]
    assert actor["user"] == "alice" and actor["token"] == token_id
    assert token not in (pkg / ".dynopypi" / "audit").joinpath("000000000002.json").read_text()


def test_uploads_refused_before_their_body_are_recorded(
    server_factory: ServerFactory, tmp_path: Path
) -> None:
    pkg = tmp_path / "packages"
    pkg.mkdir()
    htpasswd = write_fast_accounts(tmp_path / "htpasswd", {"alice": "alice-pw"})
    server = server_factory(pkg, "-P", str(htpasswd))
    wheel = make_wheel(tmp_path, "early", "1.0")
    assert upload(server, wheel).status_code == 401  # a stranger
    assert upload(server, wheel, ("mallory", "guess")).status_code == 401

    def refused() -> list[dict[str, Any]]:
        shown = dynopypi("audit", "show", "-d", pkg, "--json").stdout.splitlines()
        return [r for r in map(json.loads, shown) if r["outcome"] == "refused"]

    poll_until(lambda: len(refused()) == 2, message=lambda: f"{refused()}")
    stranger, guesser = refused()
    assert stranger["actor"] == {} and guesser["actor"] == {"tried": "mallory"}
    assert stranger["address"] == guesser["address"] == "127.0.0.1"
    assert "account" in stranger["reason"]
    assert guesser["reason"] == "wrong user name or password"
    assert "guess" not in (pkg / ".dynopypi" / "audit" / "000000000002.json").read_text()
