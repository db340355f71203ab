"""``dynopypi storage copy INDEX_URL s3://...``: an index imported into a bucket on a real
SeaweedFS lands as uploads do (facts, core metadata, journal), so a replica serving the
bucket answers ``compare`` as the source did, upload times and yanks included."""

from __future__ import annotations

import pytest
from support.bucket_server import BucketServerFactory
from support.indexes import dynopypi, fill, last_line
from support.seaweed import SeaweedFS
from support.server import DynoServer, ServerFactory


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
