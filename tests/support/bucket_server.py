"""dynopypi serving an S3 bucket (``--storage s3://...``) on a real SeaweedFS: replicas.

Each server is a ``DynoServer`` whose package directory is replaced by the bucket; the
credentials reach it the way they reach a deployed server, through AWS's variables.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from support.processes import forbidden_in_unit_run
from support.seaweed import SeaweedFS
from support.server import DynoServer, Factory


@dataclass
class BucketServer(DynoServer):
    store: SeaweedFS | None = None
    storage: str = ""

    @property
    def label(self) -> str:
        return f"dynopypi on port {self.port} ({self.storage})"

    def command(self) -> list[str]:
        assert self.store is not None
        base = [arg for arg in super().command() if arg != str(self.package_dir)]
        return [*base, "--storage", self.storage, "--s3-endpoint", self.store.endpoint_url]

    def environment(self) -> dict[str, str]:
        assert self.store is not None
        return {
            "AWS_ACCESS_KEY_ID": self.store.access_key,
            "AWS_SECRET_ACCESS_KEY": self.store.secret_key,
            "AWS_DEFAULT_REGION": self.store.region,
        }


class BucketServerFactory(Factory[BucketServer]):
    """``factory(storage_url, *run_flags)`` for one SeaweedFS: replicas of one bucket."""

    kind = "replica"

    def __init__(self, tmp_root: Path, store: SeaweedFS) -> None:
        super().__init__(tmp_root)
        self.store = store
        self.storage = ""

    def replica(self, storage: str, *extra_args: str) -> BucketServer:
        self.storage = storage
        return self(self.tmp_root / "unused", *extra_args)

    def make(self, package_dir: Path, work: Path, extra_args: tuple[str, ...]) -> BucketServer:
        return BucketServer(
            package_dir=package_dir,
            work_dir=work,
            extra_args=extra_args,
            store=self.store,
            storage=self.storage,
        )


def dynopypi_command(store: SeaweedFS, *args: object) -> subprocess.CompletedProcess[str]:
    """``python -m dynopypi ARGS`` as an operator runs it on a replica's machine: the
    store's credentials in AWS's variables, no ``DYNOPYPI_*`` setting of the test runner's."""
    forbidden_in_unit_run("python -m dynopypi (a command against a bucket)")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DYNOPYPI_"))}
    return subprocess.run(
        [sys.executable, "-m", "dynopypi", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        stdin=subprocess.DEVNULL,
        env={**env, **store.aws_env()},
    )


def fill_bucket(store: SeaweedFS, directory: Path, url: str) -> None:
    """Put a package directory's files into the bucket at ``url`` with ``dynopypi storage
    copy`` (records, metadata and journal entries, as the replicas expect them)."""
    done = dynopypi_command(
        store, "storage", "copy", directory, url, "--s3-endpoint", store.endpoint_url, "-q"
    )
    assert done.returncode == 0, done.stdout + done.stderr
