"""``dynopypi yank``/``unyank`` on a bucket (``--storage s3://...``, a real SeaweedFS).

The command runs as an operator runs it on any machine that reaches the store (a
subprocess with AWS credentials in its environment), with replicas serving the bucket:
what it did is checked on their pages (PEP 592 ``data-yanked``, PEP 691 ``yanked``), with
pip, and in the bucket's journal, where it must be one entry, as the web yank writes it,
or nothing when the command refused.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from support.bucket_server import (
    BucketServer,
    BucketServerFactory,
    dynopypi_command,
    fill_bucket,
)
from support.clients import check_ok, pip_install
from support.fakedist import make_sdist, make_wheel
from support.helpers import poll_until
from support.net import free_port
from support.seaweed import S3Place, SeaweedFS

from dynopypi.store.bucket.journal import Journal
from dynopypi.store.bucket.records import Change, Yanked, decode_entry, log_key
from dynopypi.store.bucket.s3 import S3Storage

OPEN = ("-P", ".", "-a", ".")
SHOWN_WITHIN = 3.0  # seconds: replicas follow the journal five times a second


class Bucket:
    """A place in a bucket holding ``lib`` 1.0 (a wheel) and 2.0 (a wheel and an sdist)."""

    def __init__(self, place: S3Place, tmp: Path) -> None:
        self.store = place.store
        self.url = f"s3://{place.bucket}/{place.prefix.rstrip('/')}"
        self.storage = S3Storage(place.bucket, place.prefix, client=place.client())
        source = tmp / "source"
        source.mkdir()
        self.old = make_wheel(source, "lib", "1.0").name
        self.release = sorted(
            [make_wheel(source, "lib", "2.0").name, make_sdist(source, "lib", "2.0").name]
        )
        fill_bucket(self.store, source, self.url)

    def cli(self, *args: object) -> Any:
        flags = ("--storage", self.url, "--s3-endpoint", self.store.endpoint_url)
        return dynopypi_command(self.store, *args, *flags)

    def said(self, verb: str) -> list[str]:
        """What the command prints for the 2.0 release: a line per object, by its URL."""
        return [f"{verb} {self.url}/{n}" for n in self.release]

    def seq(self) -> int:
        """The number of the journal's last entry."""
        return Journal(self.storage, lambda changes: None).load().seq

    def entries_after(self, seq: int) -> list[list[Change]]:
        """The journal's entries after ``seq``, each as its list of changes."""
        entries = []
        for n in range(seq + 1, self.seq() + 1):
            found = self.storage.read(log_key(n), 1 << 20)
            assert found is not None
            entries.append(decode_entry(found[0]))
        return entries


@pytest.fixture
def bucket(s3_place: S3Place, tmp_path: Path) -> Bucket:
    return Bucket(s3_place, tmp_path)


def yank_state(server: BucketServer, project: str) -> dict[str, tuple[Any, Any]]:
    """filename -> (PEP 691 'yanked' value, HTML data-yanked attribute or None)."""
    _r, doc = server.project_json(project)
    _r, page = server.project_html(project)
    html = {a.text.strip(): a.attrs.get("data-yanked") for a in page.anchors}
    return {f["filename"]: (f.get("yanked", False), html[f["filename"]]) for f in doc["files"]}


def shows(server: BucketServer, expected: dict[str, tuple[Any, Any]]) -> None:
    poll_until(
        lambda: yank_state(server, "lib") == expected,
        timeout=SHOWN_WITHIN,
        message=lambda: f"{server.label} shows {yank_state(server, 'lib')}, not {expected}",
    )


def one_line_error(result: Any) -> str:
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dynopypi: error: "), result.stderr
    assert result.stdout == ""
    return str(lines[0])


def test_a_yank_from_the_command_line_reaches_running_and_new_replicas(
    replicas: BucketServerFactory, bucket: Bucket, tmp_path: Path
) -> None:
    a = replicas.replica(bucket.url, *OPEN)
    before = bucket.seq()
    result = bucket.cli("yank", "Lib", "2.0", "--reason", "regression")
    assert result.returncode == 0, result.stdout + result.stderr
    assert sorted(result.stdout.splitlines()) == bucket.said("yanked")
    # one entry, as the web yank writes it: every replica shows the whole release at once
    assert bucket.entries_after(before) == [[Yanked(n, "regression") for n in bucket.release]]
    yanked = {n: ("regression", "regression") for n in bucket.release}
    shows(a, {bucket.old: (False, None), **yanked})
    check_ok(pip_install(a.index_url, tmp_path / "latest", "lib"), a)
    assert (tmp_path / "latest" / "lib" / "__init__.py").read_text() == '__version__ = "1.0"\n'

    b = replicas.replica(bucket.url, *OPEN)  # starts from the bucket: no waiting
    assert yank_state(b, "lib") == {bucket.old: (False, None), **yanked}

    before = bucket.seq()
    result = bucket.cli("unyank", "lib", "2.0")
    assert result.returncode == 0, result.stdout + result.stderr
    assert sorted(result.stdout.splitlines()) == bucket.said("unyanked")
    assert bucket.entries_after(before) == [[Yanked(n, None) for n in bucket.release]]
    for server in (a, b):
        shows(server, dict.fromkeys([bucket.old, *bucket.release], (False, None)))
    check_ok(pip_install(b.index_url, tmp_path / "again", "lib"), b)
    assert (tmp_path / "again" / "lib" / "__init__.py").read_text() == '__version__ = "2.0"\n'


def test_one_file_and_an_unyank_of_nothing(replicas: BucketServerFactory, bucket: Bucket) -> None:
    wheel, sdist = sorted(bucket.release, key=lambda n: not n.endswith(".whl"))
    a = replicas.replica(bucket.url, *OPEN)
    before = bucket.seq()
    result = bucket.cli("yank", "lib", "2.0", "--file", sdist)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == f"yanked {bucket.url}/{sdist}\n"
    assert bucket.entries_after(before) == [[Yanked(sdist, "")]]
    # yanked without a reason: JSON true, HTML an empty data-yanked attribute
    shows(a, {bucket.old: (False, None), wheel: (False, None), sdist: (True, "")})

    before = bucket.seq()
    result = bucket.cli("unyank", "lib", "1.0")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == "lib 1.0: nothing is yanked; nothing changed\n"
    assert bucket.seq() == before


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        (["yank", "no-such-project", "1.0"], 1, "no files of no-such-project 1.0 in s3://"),
        (["yank", "lib", "9.9"], 1, "no files of lib 9.9 in s3://"),
        (["unyank", "lib", "9.9"], 1, "no files of lib 9.9 in s3://"),
        (["yank", "lib", "2.0", "--file", "lib-2.0-py2-none-any.whl"], 1,
         "lib 2.0 has no file 'lib-2.0-py2-none-any.whl'; its files: lib-2.0"),
        (["yank", "lib", "not a version"], 2, "'not a version' is not a valid version"),
        (["yank", "lib", "2.0", "-d", "."], 2, "give either package directories or --storage"),
    ],
    ids=["unknown-project", "unknown-version", "unyank-unknown", "unknown-file",
         "invalid-version", "directory-and-bucket"],
)  # fmt: skip
def test_a_refusal_is_one_line_and_appends_nothing(
    bucket: Bucket, args: list[str], code: int, says: str
) -> None:
    before = bucket.seq()
    result = bucket.cli(*args)
    assert result.returncode == code, result.stdout + result.stderr
    assert says in one_line_error(result)
    assert bucket.seq() == before


def test_a_missing_bucket_is_one_line(seaweed: SeaweedFS) -> None:
    url = "s3://no-such-bucket-here/pypi"
    result = dynopypi_command(
        seaweed, "yank", "lib", "1.0", "--storage", url, "--s3-endpoint", seaweed.endpoint_url
    )
    assert result.returncode == 1, result.stdout + result.stderr
    line = one_line_error(result)
    assert "s3://no-such-bucket-here/pypi/" in line and "NoSuchBucket" in line, line


def test_the_store_down_is_one_line_and_a_retry_works(
    seaweed_outage: SeaweedFS, tmp_path: Path
) -> None:
    bucket = Bucket(seaweed_outage.place(seaweed_outage.new_bucket("down")), tmp_path)
    seaweed_outage.kill()
    try:
        started = time.monotonic()
        result = bucket.cli("yank", "lib", "2.0", "--reason", "down")
        assert result.returncode == 1, result.stdout + result.stderr
        line = one_line_error(result)
        assert f"the package store {bucket.url}/" in line, line
        assert time.monotonic() - started < 60
    finally:
        seaweed_outage.start()
    before = bucket.seq()
    result = bucket.cli("yank", "lib", "2.0", "--reason", "up again")
    assert result.returncode == 0, result.stdout + result.stderr
    assert bucket.entries_after(before) == [[Yanked(n, "up again") for n in bucket.release]]


def test_without_boto3_it_is_one_line(tmp_path: Path) -> None:
    """As ``run`` says it (the ``s3`` extra not installed): boto3 hidden by a module that
    refuses to import, ahead of the real one on the path."""
    hidden = tmp_path / "hidden"
    hidden.mkdir()
    (hidden / "boto3.py").write_text("raise ImportError('boto3 is not installed here')\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DYNOPYPI_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(hidden), *filter(None, [env.get("PYTHONPATH")])])
    result = subprocess.run(
        [sys.executable, "-m", "dynopypi", "yank", "lib", "1.0", "--storage", "s3://b-b/p",
         "--s3-endpoint", f"http://127.0.0.1:{free_port()}"],
        capture_output=True, text=True, timeout=60, check=False, env=env,
    )  # fmt: skip
    assert result.returncode == 2, result.stdout + result.stderr
    line = one_line_error(result)
    assert "needs boto3" in line and "pip install 'dynopypi[s3]'" in line, line


def test_the_bucket_can_come_from_the_replicas_config_file(bucket: Bucket, tmp_path: Path) -> None:
    """``--config`` with the TOML file the replicas run with (as ``run`` reads it)."""
    config = tmp_path / "dynopypi.toml"
    config.write_text(
        f'storage = "{bucket.url}"\ns3_endpoint = "{bucket.store.endpoint_url}"\n'
        'host = "0.0.0.0"\nauthenticate = ["update"]\n'
    )
    before = bucket.seq()
    result = dynopypi_command(bucket.store, "yank", "lib", "2.0", "--config", config)
    assert result.returncode == 0, result.stdout + result.stderr
    assert sorted(result.stdout.splitlines()) == bucket.said("yanked")
    assert bucket.entries_after(before) == [[Yanked(n, "") for n in bucket.release]]
