"""Two dynopypi replicas over one S3 bucket (a real SeaweedFS) behind the shipped
``nginx/dynopypi-replicas.conf``, with real pip and twine (issue 9, "Several replicas").

The site is templated for the replicas' loopback ports (``tests/support/nginx.py``); a
replica killed with SIGKILL comes back as a new process on the same port, as a restarted
service would, so nginx's upstream block stays right. The replicas run as the shipped
dynopypi.toml would behind nginx (trusted proxy, ``--x-accel-redirect``, which a bucket
ignores: the replica sends files itself, and the replicas site has no file location).
"""

from __future__ import annotations

import concurrent.futures
import functools
import re
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from support import nginx as nh
from support.accounts import add_account
from support.bucket_server import BucketServer, BucketServerFactory
from support.clients import PIP, check_ok, client_env, run_client, twine_upload
from support.fakedist import make_wheel
from support.helpers import poll_until
from support.net import fetch
from support.seaweed import SeaweedFS
from support.uploads import file_upload_fields

USER, PASSWORD = "uploader", "replicas-Upload-pw1"
CHAIN = 20  # chain0 requires chain1 ... requires chain19
KILLS = 3  # times a replica is killed (SIGKILL) and restarted during the installs
DOWN = 1.0  # seconds a killed replica stays down before its restart begins
JSON_V1 = "application/vnd.pypi.simple.v1+json"


@dataclass
class Stack:
    """nginx in front of replicas ``a`` and ``b`` of one bucket."""

    a: BucketServer
    b: BucketServer
    proxy: nh.Nginx

    @property
    def index_url(self) -> str:
        return f"{self.proxy.base}/simple/"

    def logs(self) -> str:
        return "\n".join((self.a.logs(), self.b.logs(), self.proxy.logs()))


@pytest.fixture
def stack(tmp_path: Path, seaweed: SeaweedFS) -> Iterator[Stack]:
    htpasswd = tmp_path / "htpasswd"
    add_account(htpasswd, USER, PASSWORD)  # one accounts file for every replica
    flags = ("-P", str(htpasswd), "--trusted-proxies", "127.0.0.1",
             "--x-accel-redirect", "/_dynopypi_files/")  # fmt: skip
    factory = BucketServerFactory(tmp_path, seaweed)
    url = f"s3://{seaweed.new_bucket('replicas')}/packages"
    try:
        a = factory.replica(url, *flags)
        b = factory.replica(url, *flags)
        proxy = nh.replicas_nginx(tmp_path / "nginx", (a.port, b.port))
        proxy.start()
        try:
            yield Stack(a, b, proxy)
        finally:
            proxy.stop()
    finally:
        factory.close()


def listed(server: BucketServer, project: str) -> dict[str, dict[str, object]]:
    """The files ``server`` lists for ``project`` (PEP 691), by file name."""
    response = server.request("GET", f"/simple/{project}/", headers={"Accept": JSON_V1})
    if response.status_code != 200:
        return {}
    return {f["filename"]: f for f in response.json()["files"]}


def pip_install(index_url: str, target: Path, requirement: str) -> tuple[int, str]:
    """pip, seeing only ``index_url``, installing ``requirement`` and its dependencies."""
    result = run_client(
        [*PIP, "install", "--no-cache-dir", "--keyring-provider", "disabled",
         "--target", target, "--index-url", index_url, requirement],
        env=client_env(),
    )  # fmt: skip
    return result.returncode, result.stdout + result.stderr


def serving_since(server: BucketServer, offset: int) -> bool:
    """Whether ``server`` has logged a page or download (pip's, through nginx; not the
    start-up probe) after ``offset``."""
    with server.stderr_path.open("rb") as log:
        log.seek(offset)
        return re.search(rb"dynopypi\.access: \S+ GET /(simple|packages)/", log.read()) is not None


def installed_chain(target: Path) -> list[str]:
    return sorted(p.name for p in target.glob("chain*") if p.is_dir() and "-" not in p.name)


@pytest.mark.slow
def test_pip_installs_a_deep_chain_while_a_replica_is_killed_and_restarted(
    stack: Stack, tmp_path: Path
) -> None:
    dist = tmp_path / "dist"
    dist.mkdir()
    wheels = [
        make_wheel(dist, f"chain{i}", "1.0", requires=[f"chain{i + 1}>=1"] if i + 1 < CHAIN else [])
        for i in range(CHAIN)
    ]
    check_ok(twine_upload(f"{stack.proxy.base}/", (USER, PASSWORD), wheels), stack)
    everything = [f"chain{i}" for i in range(CHAIN)]

    # the chain is complete on both replicas before the killing starts
    for server in (stack.a, stack.b):
        for name in everything:

            def lists(s: BucketServer = server, n: str = name) -> bool:
                return bool(listed(s, n))

            poll_until(lists, timeout=5.0, message=f"{server.label} does not list {name}")

    victim = stack.b  # one replica, again and again; the other never fails
    done = threading.Event()
    restarts: list[float] = []

    def until_nginx_sends_it_installs() -> None:
        """After a failure nginx leaves the replica out for fail_timeout: wait until it
        is back in, so that every kill meets installs and the last process serves too."""
        offset = victim.stderr_path.stat().st_size
        poll_until(
            functools.partial(serving_since, victim, offset),
            timeout=30.0,
            message="nginx never sent the restarted replica a request",
        )

    def kill_and_restart() -> None:
        try:
            for _round in range(KILLS):
                until_nginx_sends_it_installs()
                time.sleep(0.3)  # some in flight
                victim.stop(signal.SIGKILL)
                time.sleep(DOWN)
                began = time.monotonic()
                victim.start(same_port=True)
                restarts.append(time.monotonic() - began)
            until_nginx_sends_it_installs()
        finally:
            done.set()

    failures: list[str] = []
    installs = 0
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        chaos = pool.submit(kill_and_restart)
        while not done.is_set():
            target = tmp_path / f"target{installs}"
            status, output = pip_install(stack.index_url, target, "chain0")
            installs += 1
            if status != 0 or installed_chain(target) != sorted(everything):
                failures.append(f"install {installs} ({status}):\n{output}")
        chaos.result()
    took = time.monotonic() - started
    print(
        f"\n{installs} installs of a {CHAIN}-deep chain in {took:.1f}s, {len(failures)} failed;"
        f" {KILLS} kills, restarts took {', '.join(f'{t:.1f}s' for t in restarts)}"
    )
    assert not failures, "\n".join(failures) + "\n" + stack.logs()
    assert len(restarts) == KILLS and installs >= KILLS
    # nginx did meet the dead replica (and moved the requests on): the loop tested something
    errors = stack.proxy.error_log.read_text()
    moved_on = errors.count("Connection refused") + errors.count("prematurely closed")
    print(f"nginx met the killed replica {moved_on} times and moved those requests on")
    assert moved_on >= KILLS, stack.proxy.logs()
    assert victim.running and listed(victim, "chain0")


def test_an_upload_through_one_replica_is_installable_through_the_other_within_a_second(
    stack: Stack, tmp_path: Path
) -> None:
    """Changes travel through the bucket's journal (no listing): measured here per upload,
    A to B and B to A, from the upload's answer to the other replica serving the file."""
    times: list[float] = []
    for round_ in range(6):
        source, other = (stack.a, stack.b) if round_ % 2 == 0 else (stack.b, stack.a)
        wheel = make_wheel(tmp_path, f"travel{round_}", "1.0")
        data = wheel.read_bytes()
        response = source.request(
            "POST",
            "/",
            auth=(USER, PASSWORD),
            data=file_upload_fields(wheel.name, data),
            files={"content": (wheel.name, data)},
        )
        assert response.status_code == 200, response.text
        answered = time.monotonic()

        def served(s: BucketServer = other, w: Path = wheel) -> bool:
            return w.name in listed(s, w.name.split("-")[0])

        poll_until(served, timeout=5.0, interval=0.01, message="the other replica never served it")
        times.append(time.monotonic() - answered)
        download = other.get(f"/packages/{wheel.name}")
        assert download.status_code == 200 and download.content == data
    print(f"\nreplica-to-replica visibility: {', '.join(f'{t * 1000:.0f}ms' for t in times)}")
    assert max(times) < 1.0, times
    target = tmp_path / "target"
    status, output = pip_install(stack.b.url("/simple/"), target, "travel0")  # A's upload, via B
    assert status == 0, output
    assert (target / "travel0" / "__init__.py").is_file()


def test_a_yank_on_one_replica_shows_on_the_other_and_through_nginx(
    stack: Stack, tmp_path: Path
) -> None:
    old, new = make_wheel(tmp_path, "yanked", "1.0"), make_wheel(tmp_path, "yanked", "2.0")
    check_ok(twine_upload(f"{stack.proxy.base}/", (USER, PASSWORD), [old, new]), stack)
    poll_until(lambda: new.name in listed(stack.a, "yanked"))
    yank = stack.b.request(
        "POST",
        "/",
        auth=(USER, PASSWORD),
        data={":action": "yank", "name": "yanked", "version": "2.0", "reason": "broken"},
    )
    assert yank.status_code == 200, yank.text
    answered = time.monotonic()
    poll_until(
        lambda: listed(stack.a, "yanked").get(new.name, {}).get("yanked") == "broken",
        timeout=5.0,
        interval=0.01,
    )
    assert time.monotonic() - answered < 1.0
    # pip skips the yanked release, whichever replica nginx asks
    for attempt in range(2):
        target = tmp_path / f"target{attempt}"
        status, output = pip_install(stack.index_url, target, "yanked")
        assert status == 0, output
        assert (target / "yanked" / "__init__.py").read_text() == '__version__ = "1.0"\n'
    # a refused upload gets the app's own answer through the replicas site too
    refused = twine_upload(f"{stack.proxy.base}/", (USER, "wrong-password"), [old])
    printed = " ".join((refused.stdout + refused.stderr).split())
    assert refused.returncode != 0 and "wrong user name or password" in printed, printed
    # a replica stopped as systemd stops it drains and exits cleanly (it once raised from
    # the directory watcher it never started)
    stack.a.stop()
    assert stack.a.proc is not None and stack.a.proc.returncode == 0, stack.a.logs()
    assert "Traceback" not in stack.a.stderr_path.read_text(), stack.a.logs()


def test_the_store_down_for_every_replica_leaves_pages_up_through_nginx(
    tmp_path: Path, seaweed_outage: SeaweedFS
) -> None:
    """Every download answers 503 and every replica is left out by nginx's passive
    health; the site's backup entries still let pages through, and a download gets the
    app's 503 with Retry-After, not nginx's "502 no live upstreams"."""
    factory = BucketServerFactory(tmp_path, seaweed_outage)
    url = f"s3://{seaweed_outage.new_bucket('outage')}/packages"
    proxy = None
    try:
        a = factory.replica(url, "-P", ".", "-a", ".", "--trusted-proxies", "127.0.0.1")
        b = factory.replica(url, "-P", ".", "-a", ".", "--trusted-proxies", "127.0.0.1")
        proxy = nh.replicas_nginx(tmp_path / "nginx", (a.port, b.port))
        proxy.start()
        wheel = make_wheel(tmp_path, "downtime", "1.0")
        data = wheel.read_bytes()
        stored = requests.post(
            f"{proxy.base}/",
            data=file_upload_fields(wheel.name, data),
            files={"content": (wheel.name, data)},
            timeout=60,
        )
        assert stored.status_code == 200, stored.text
        poll_until(lambda: listed(a, "downtime") and listed(b, "downtime"))
        seaweed_outage.kill()
        for _round in range(6):  # enough to leave both replicas out (max_fails=2)
            download = fetch(f"{proxy.base}/packages/{wheel.name}")
            assert download.status_code == 503, (download.status_code, download.text)
            assert download.headers.get("Retry-After") and "store" in download.text
            page = fetch(f"{proxy.base}/simple/downtime/")
            assert page.status_code == 200 and wheel.name in page.text, page.text
        seaweed_outage.start()
        back = proxy.base

        def downloads() -> bool:
            return fetch(f"{back}/packages/{wheel.name}").content == data

        poll_until(downloads, timeout=30.0, message="downloads did not come back")
    finally:
        if proxy is not None:
            proxy.stop()
        factory.close()
