"""``dynopypi storage copy INDEX_URL s3://...``: an index imported into a bucket on a real
SeaweedFS lands as uploads do (facts, core metadata, journal), so a replica serving the
bucket answers ``compare`` as the source did, upload times and yanks included."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from support.bucket_server import BucketServerFactory
from support.fakedist import make_wheel
from support.helpers import poll_until
from support.indexes import dynopypi, fill, last_line
from support.seaweed import SeaweedFS
from support.server import DynoServer, ServerFactory
from support.upstream import Answer, FakeUpstream

from dynopypi.store.bucket.s3 import S3Storage


@pytest.fixture(scope="module")
def source(
    module_server_factory: ServerFactory, tmp_path_factory: pytest.TempPathFactory
) -> DynoServer:
    return module_server_factory(fill(tmp_path_factory.mktemp("source") / "pkgs"))


def test_an_index_imported_into_a_bucket_is_served_alike_and_a_rerun_copies_nothing(
    source: DynoServer, seaweed: SeaweedFS, replicas: BucketServerFactory
) -> None:
    url = f"s3://{seaweed.new_bucket('import')}/pkgs"
    env = seaweed.aws_env()
    args = ("storage", "copy", source.index_url, url, "--s3-endpoint", seaweed.endpoint_url)
    done = dynopypi(*args, env=env)
    assert done.returncode == 0, done.stderr
    assert last_line(done).startswith("copied 4 (") and "yanks carried 2" in last_line(done)

    replica = replicas.replica(url)
    compared = dynopypi("compare", source.index_url, replica.index_url, "--tolerance", "0")
    assert compared.returncode == 0, compared.stdout + compared.stderr
    assert last_line(compared).endswith("the two indexes answer alike")

    again = dynopypi(*args, env=env)
    assert again.returncode == 0, again.stderr
    assert last_line(again).startswith("copied 0 (0 B), skipped 4 (already there)")


def stored_wheels(storage: S3Storage) -> list[str]:
    return [st.key for st in storage.list() if st.key.endswith(".whl")]


def test_an_import_into_a_bucket_killed_midway_is_finished_by_the_next_run(
    seaweed: SeaweedFS, replicas: BucketServerFactory, fake: FakeUpstream, tmp_path: Path
) -> None:
    wheels = [
        make_wheel(tmp_path, "slow", f"1.{n}", payload=bytes([n]) * 300_000) for n in range(5)
    ]
    fake.publish("slow", [(w, None, "2025-05-05T05:05:05Z") for w in wheels], trickle=0.15)
    fake.answers["/simple/"] = Answer(b'<a href="slow/">slow</a>', "text/html")
    bucket = seaweed.new_bucket("killed")
    url = f"s3://{bucket}/pkgs"
    storage = S3Storage(bucket, "pkgs", client=seaweed.client())
    command = [sys.executable, "-m", "dynopypi", "storage", "copy", fake.index_url, url,
               "--s3-endpoint", seaweed.endpoint_url, "-j", "1"]  # fmt: skip
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, **seaweed.aws_env()})  # fmt: skip
    try:
        poll_until(lambda: len(stored_wheels(storage)) >= 2, timeout=60, message="objects arriving")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert 2 <= len(stored_wheels(storage)) < len(wheels)
    args = ("storage", "copy", fake.index_url, url, "--s3-endpoint", seaweed.endpoint_url)
    done = dynopypi(*args, env=seaweed.aws_env())
    assert done.returncode == 0, done.stderr
    # objects journaled by the killed run are skipped; those it put but had not journaled
    # yet are verified again and completed: never a conflict, never a second object
    counts = re.match(r"copied (\d+) \(.*\), skipped (\d+) \(already there\), conflicts 0, "
                      r"failed 0", last_line(done))  # fmt: skip
    assert counts is not None and int(counts[1]) + int(counts[2]) == len(wheels), last_line(done)
    assert len(stored_wheels(storage)) == len(wheels)
    replica = replicas.replica(url)
    page = replica.get("/simple/slow/", headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    served = {f["filename"]: f["upload-time"] for f in page.json()["files"]}
    assert served == {w.name: "2025-05-05T05:05:05.000000Z" for w in wheels}
    for wheel in wheels:
        assert replica.get(f"/packages/{wheel.name}").content == wheel.read_bytes()
