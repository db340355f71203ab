"""The upstream cache beside an S3 bucket: cached public files live on local disk (the
cache directory), whatever stores the private packages, and are served from there."""

from __future__ import annotations

from pathlib import Path

import requests
from support.bucket_server import BucketServerFactory
from support.clients import check_ok
from support.installs import chain, installed, pip_install
from support.seaweed import SeaweedFS
from support.upstream import FakeUpstream


def test_cached_upstream_files_are_served_beside_a_bucket(
    tmp_path: Path, seaweed: SeaweedFS, fake: FakeUpstream
) -> None:
    made = tmp_path / "made"
    chain(made)
    for wheel in made.glob("*.whl"):
        name = wheel.name.split("-")[0].replace("_", "-")
        fake.publish(name, [(wheel, None, "2020-01-01T00:00:00Z")])
    factory = BucketServerFactory(tmp_path / "replicas", seaweed)
    try:
        for presigned in ((), ("--s3-presigned-downloads",)):
            replica = factory.replica(
                f"s3://{seaweed.new_bucket('up')}/packages", "-P", ".", "-a", ".",
                "--upstream", fake.index_url, *presigned,
            )  # fmt: skip
            for attempt in ("first", "cached"):
                target = tmp_path / f"t-{len(presigned)}-{attempt}"
                check_ok(pip_install(replica.url("/simple/"), target, "chain-a"), replica)
                assert installed(target) == {"chain_a": "1.0", "chain_b": "1.0", "chain_c": "1.0"}
            path = f"/packages/.upstream/chain-c/{next(made.glob('chain_c-*')).name}"
            again = requests.get(replica.url(path), timeout=30, allow_redirects=False)
            assert again.status_code == 200, replica.logs()
    finally:
        factory.close()
    assert all(count == 2 for path, count in fake.hits.items() if path.startswith("/files/"))
