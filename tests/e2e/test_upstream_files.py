"""Upstream files through dynopypi: fetched once, verified, stored, then sent from the cache.

First downloads are streamed while they are fetched and verified (a tampered file is cut
short and never cached; 32 clients at once cause one fetch; a client leaving does not stop the
fetch); a Range request waits for the verified file; the cache is bounded (core metadata
counted with its file) and purgeable; behind the shipped nginx site, cached files are sent
by nginx. The upstream is ``FakeUpstream`` (or a second dynopypi).
"""

from __future__ import annotations

import concurrent.futures
import os
import stat
import sys
import time
from pathlib import Path

import requests
import support.nginx as nh
from support.clients import check_ok, run_client
from support.fakedist import make_wheel
from support.helpers import poll_until
from support.installs import chain, installed, pip_install, uv_install
from support.server import ServerFactory
from support.upstream import FakeUpstream

from dynopypi.upstream.store import upstream_dir


def test_a_tampered_upstream_file_is_refused_and_not_cached(
    server_factory: ServerFactory, fake: FakeUpstream, tmp_path: Path
) -> None:
    made = tmp_path / "made"
    made.mkdir()
    small = make_wheel(made, "liar", "1.0")
    big = make_wheel(made, "liar", "2.0", payload=os.urandom(3_000_000))
    longer = make_wheel(made, "liar", "3.0")
    fake.publish("liar", [
        (small, small.read_bytes()[:-1] + b"!", "2020-01-01T00:00:00Z"),
        (big, big.read_bytes()[:-1] + b"!", "2020-01-01T00:00:00Z"),
        (longer, longer.read_bytes() + b"more", "2020-01-01T00:00:00Z"),
    ])  # fmt: skip
    index = server_factory(tmp_path / "local", "--upstream", fake.index_url)
    small_url = "/packages/.upstream/liar/liar-1.0-py3-none-any.whl"
    assert index.get(small_url).status_code == 502  # verified before a byte was sent
    big_url = "/packages/.upstream/liar/liar-2.0-py3-none-any.whl"
    try:  # the last chunk is held back: the body is cut short
        short = len(index.get(big_url).content) < big.stat().st_size
    except requests.exceptions.RequestException:
        short = True
    assert short
    assert index.get(small_url).status_code == 502
    assert fake.hits["/files/liar-1.0-py3-none-any.whl"] == 2  # nothing was cached
    longer_url = f"/packages/.upstream/liar/{longer.name}"
    assert index.get(longer_url).status_code == 502  # more bytes than the page promised
    assert not list((index.work_dir / "cache").rglob("liar-*.whl"))
    assert "does not verify" in index.logs()
    result = pip_install(index.index_url, tmp_path / "t", "liar")
    assert result.returncode != 0 and not installed(tmp_path / "t")


def test_32_concurrent_first_downloads_fetch_once(
    server_factory: ServerFactory, fake: FakeUpstream, tmp_path: Path
) -> None:
    made = tmp_path / "made"
    made.mkdir()
    wheel = make_wheel(made, "crowd", "1.0", payload=os.urandom(2_000_000))
    fake.publish("crowd", [(wheel, None, "2020-01-01T00:00:00Z")], trickle=0.01)
    index = server_factory(tmp_path / "local", "--upstream", fake.index_url, "--threads", "40")
    url = index.url("/packages/.upstream/crowd/crowd-1.0-py3-none-any.whl")
    assert index.get("/simple/crowd/").status_code == 200
    expected = wheel.read_bytes()

    def fetch(_: int) -> bytes:
        response = requests.get(url, timeout=60)
        assert response.status_code == 200
        return response.content

    with concurrent.futures.ThreadPoolExecutor(32) as pool:
        bodies = list(pool.map(fetch, range(32)))
    assert all(body == expected for body in bodies)
    assert fake.hits["/files/crowd-1.0-py3-none-any.whl"] == 1


def test_the_cache_is_bounded_and_purgeable(
    server_factory: ServerFactory, fake: FakeUpstream, tmp_path: Path
) -> None:
    made = tmp_path / "made"
    made.mkdir()
    wheels = [make_wheel(made, "lru", f"{v}.0", payload=os.urandom(300_000)) for v in (1, 2, 3)]
    fake.publish("lru", [(w, None, "2020-01-01T00:00:00Z") for w in wheels])
    index = server_factory(tmp_path / "local", "--upstream", fake.index_url,
                           "--upstream-cache-max", "700K")  # fmt: skip
    cached = index.work_dir / "cache"
    for wheel in wheels:
        got = index.get(f"/packages/.upstream/lru/{wheel.name}")
        assert got.content == wheel.read_bytes()
        time.sleep(2.5)  # out of the "just used" window
    assert sorted(p.name for p in cached.rglob("lru-*.whl")) == [wheels[1].name, wheels[2].name]
    assert index.get("/ready").json()["upstream"]["cache_bytes"] <= 700 * 1024

    result = run_client(
        [sys.executable, "-m", "dynopypi", "upstream", "purge", "lru", "--cache-dir", cached,
         "--upstream", fake.index_url]
    )  # fmt: skip
    check_ok(result, index)
    assert not list(cached.rglob("lru-*.whl"))
    got = index.get(f"/packages/.upstream/lru/{wheels[2].name}")  # fetched again
    assert got.content == wheels[2].read_bytes()
    assert fake.hits[f"/files/{wheels[2].name}"] == 2


def test_the_cache_age_and_size_rules_with_a_dry_run(
    server_factory: ServerFactory, fake: FakeUpstream, tmp_path: Path
) -> None:
    made = tmp_path / "made"
    made.mkdir()
    wheels = [make_wheel(made, "aged", f"{v}.0", payload=os.urandom(200_000)) for v in (1, 2, 3)]
    fake.publish("aged", [(w, None, "2020-01-01T00:00:00Z") for w in wheels])
    index = server_factory(tmp_path / "local", "--upstream", fake.index_url)
    cached = index.work_dir / "cache"
    for wheel in wheels:
        assert index.get(f"/packages/.upstream/aged/{wheel.name}").ok
        time.sleep(0.05)  # an order of last use

    def purge(*rules: str) -> str:
        result = run_client([sys.executable, "-m", "dynopypi", "upstream", "purge", *rules,
                             "--cache-dir", cached, "--upstream", fake.index_url])  # fmt: skip
        check_ok(result, index)
        return result.stdout

    def left() -> list[str]:
        return sorted(p.name for p in cached.rglob("aged-*.whl"))

    said = purge("--down-to", "450K", "--dry-run")
    assert said.startswith(f"would remove .upstream/aged/{wheels[0].name}")
    assert len(left()) == 3
    assert f"removed .upstream/aged/{wheels[0].name}" in purge("--down-to", "450K")
    assert left() == [wheels[1].name, wheels[2].name]
    assert purge("--unused-for", "1h") == ""  # all used moments ago
    purge("--unused-for", "0s")
    assert left() == []
    got = index.get(f"/packages/.upstream/aged/{wheels[2].name}")  # fetched again
    assert got.content == wheels[2].read_bytes()


def test_a_file_purged_right_after_a_download_is_fetched_again(
    server_factory: ServerFactory, fake: FakeUpstream, tmp_path: Path
) -> None:
    """The server trusts a file it saw on disk for a second without looking again: a
    purge inside that second must still not turn the next download into a 404."""
    made = tmp_path / "made"
    made.mkdir()
    wheel = make_wheel(made, "fleeting", "1.0", payload=os.urandom(600_000))  # not in memory
    fake.publish("fleeting", [(wheel, None, "2020-01-01T00:00:00Z")])
    index = server_factory(tmp_path / "local", "--upstream", fake.index_url)
    url = f"/packages/.upstream/fleeting/{wheel.name}"
    for expected_hits in (1, 2, 3):
        for _served_from_upstream_then_from_disk in range(2):
            assert index.get(url).content == wheel.read_bytes()
            assert fake.hits[f"/files/{wheel.name}"] == expected_hits
        cached = list((index.work_dir / "cache").rglob(wheel.name))
        assert len(cached) == 1
        cached[0].unlink()  # what `dynopypi upstream purge` does, at once
    assert index.get(url).content == wheel.read_bytes()
    assert fake.hits[f"/files/{wheel.name}"] == 4


def test_cached_core_metadata_counts_in_the_cache_and_goes_with_its_file(
    server_factory: ServerFactory, fake: FakeUpstream, tmp_path: Path
) -> None:
    made = tmp_path / "made"
    made.mkdir()
    wheels = [make_wheel(made, "meta", f"{v}.0", payload=os.urandom(300_000)) for v in (1, 2)]
    metadata = {  # long descriptions: big enough to matter to the bound
        w.name: f"Metadata-Version: 2.1\nName: meta\nVersion: {v}.0\n\n".encode() + b"x" * 250_000
        for v, w in enumerate(wheels, 1)
    }
    fake.publish("meta", [(w, None, "2020-01-01T00:00:00Z") for w in wheels], metadata=metadata)
    args = ("--upstream", fake.index_url, "--upstream-cache-max", "600K")
    index = server_factory(tmp_path / "local", *args)
    files = upstream_dir(index.work_dir / "cache", [fake.index_url]) / "files/.upstream/meta"
    for wheel in reversed(wheels):  # 2.0's metadata is the least recently used
        got = index.get(f"/packages/.upstream/meta/{wheel.name}.metadata")
        assert got.content == metadata[wheel.name], index.logs()
    both = sum(len(m) for m in metadata.values())
    assert index.get("/ready").json()["upstream"]["cache_bytes"] == both
    time.sleep(2.1)  # out of the "just used" window
    assert index.get(f"/packages/.upstream/meta/{wheels[0].name}").status_code == 200
    kept = wheels[0].stat().st_size + len(metadata[wheels[0].name])
    assert sorted(p.name for p in files.iterdir()) == [wheels[0].name, wheels[0].name + ".metadata"]
    assert index.get("/ready").json()["upstream"]["cache_bytes"] == kept

    index.stop()  # counted the same way after a restart: a file and its metadata as one
    index.start()
    assert index.get("/ready").json()["upstream"]["cache_bytes"] == kept


def test_the_shipped_nginx_site_sends_cached_upstream_files(
    server_factory: ServerFactory, fake: FakeUpstream, tmp_path: Path
) -> None:
    """The shipped site, as installed (only ports and paths templated): pip installs a
    package that exists only upstream through nginx; the first download is streamed by
    the app while it is fetched, every later one is sent by nginx from the cache."""
    made = tmp_path / "made"
    chain(made)
    wheels = {p.name.split("-")[0]: p for p in made.glob("*.whl")}
    for name, wheel in wheels.items():
        fake.publish(name.replace("_", "-"), [(wheel, None, "2020-01-01T00:00:00Z")])
    local = tmp_path / "local"
    local.mkdir()
    index = server_factory(local, "--upstream", fake.index_url, "--trusted-proxies",
                           "127.0.0.1", "--x-accel-redirect", "/_dynopypi_files/")  # fmt: skip
    proxy = nh.site_nginx(tmp_path / "nginx", nh.HTTP_SITE, app_port=index.port,
                          alias_dir=local, cache_dir=index.work_dir / "cache")  # fmt: skip
    proxy.start()
    try:
        check_ok(pip_install(proxy.base + "/simple/", tmp_path / "t", "chain-a"), index, proxy)
        assert installed(tmp_path / "t") == {"chain_a": "1.0", "chain_b": "1.0", "chain_c": "1.0"}
        path = f"/packages/.upstream/chain-c/{wheels['chain_c'].name}"
        direct = index.get(path)  # the app only decides, naming the cached file
        cache = upstream_dir(index.work_dir / "cache", [fake.index_url])
        assert direct.headers["X-Accel-Redirect"] == f"/_dynopypi_files/{cache.name}/{path[10:]}"
        assert direct.content == b""
        again = requests.get(proxy.base + path, timeout=30)
        assert again.status_code == 200, proxy.logs()
        assert again.content == wheels["chain_c"].read_bytes()
        assert "X-Accel-Redirect" not in again.headers
        stored = (cache / "files" / path[10:]).stat()  # nginx's own validator, not the app's
        umask = os.umask(0o022)
        os.umask(umask)
        assert stat.S_IMODE(stored.st_mode) == 0o644 & ~umask  # nginx runs as another user
        assert again.headers["ETag"] == f'"{int(stored.st_mtime):x}-{stored.st_size:x}"'
        part = requests.get(proxy.base + path, headers={"Range": "bytes=0-9"}, timeout=30)
        assert part.status_code == 206 and part.content == again.content[:10]
        assert fake.hits[f"/files/{wheels['chain_c'].name}"] == 1
        check_ok(pip_install(proxy.base + "/simple/", tmp_path / "t2", "chain-a"), index, proxy)
        assert all(fake.hits[f"/files/{w.name}"] == 1 for w in wheels.values())
        assert requests.get(proxy.base + path, timeout=30).status_code == 200  # seen on disk
        (cache / "files" / path[10:]).unlink()  # and purged within the second it is trusted
        purged = requests.get(proxy.base + path, timeout=30)
        assert purged.status_code == 200, proxy.logs()  # fetched again, not nginx's 404
        assert purged.content == wheels["chain_c"].read_bytes()
        assert fake.hits[f"/files/{wheels['chain_c'].name}"] == 2
    finally:
        proxy.stop()


def test_a_range_on_a_first_download_gets_verified_bytes_only(
    server_factory: ServerFactory, fake: FakeUpstream, tmp_path: Path
) -> None:
    """A Range request for a file not cached yet (pip resuming, uv reading a wheel's
    metadata) waits for the whole file to be fetched and verified, then gets exactly
    its range; a file that does not verify gets a 502 and no byte of it."""
    made = tmp_path / "made"
    made.mkdir()
    wheel = make_wheel(made, "ranged", "1.0", payload=os.urandom(3 * 1024 * 1024))
    fake.publish("ranged", [(wheel, None, "2020-01-01T00:00:00Z")])
    bad = make_wheel(made, "crooked", "1.0", payload=b"x" * 300_000)
    fake.publish("crooked", [(bad, bad.read_bytes()[:-1] + b"!", "2020-01-01T00:00:00Z")])
    index = server_factory(tmp_path / "local", "--upstream", fake.index_url)
    path = f"/packages/.upstream/ranged/{wheel.name}"
    head = index.head(path)
    assert head.headers["Accept-Ranges"] == "bytes"
    data = wheel.read_bytes()
    tail = index.get(path, headers={"Range": "bytes=-100"})
    assert tail.status_code == 206, index.logs()
    assert tail.content == data[-100:]
    assert tail.headers["Content-Range"] == f"bytes {len(data) - 100}-{len(data) - 1}/{len(data)}"
    middle = index.get(path, headers={"Range": "bytes=1000-1999"})
    assert middle.status_code == 206 and middle.content == data[1000:2000]
    assert fake.hits[f"/files/{wheel.name}"] == 1  # fetched once, then from the cache
    refused = index.get(f"/packages/.upstream/crooked/{bad.name}", headers={"Range": "bytes=0-9"})
    assert refused.status_code == 502 and b"does not match its sha256" in refused.content
    assert not list((index.work_dir / "cache").rglob("crooked-*.whl"))

    # uv reads a wheel without PEP 658 metadata through ranges when it is offered
    uv_wheel = make_wheel(made, "lazy", "1.0", payload=os.urandom(2 * 1024 * 1024))
    fake.publish("lazy", [(uv_wheel, None, "2020-01-01T00:00:00Z")])
    check_ok(uv_install(index.index_url, tmp_path / "t", tmp_path / "uvc", "lazy"), index)
    assert installed(tmp_path / "t") == {"lazy": "1.0"}
    assert fake.hits[f"/files/{uv_wheel.name}"] == 1
    assert f"GET /packages/.upstream/lazy/{uv_wheel.name} 206" in index.logs(20000)


def test_a_client_leaving_a_first_download_still_gets_the_file_cached(
    server_factory: ServerFactory, fake: FakeUpstream, tmp_path: Path
) -> None:
    """The fetch belongs to the file, not to its first client: one that leaves early
    costs no second fetch, and nothing partial stays in tmp/."""
    made = tmp_path / "made"
    made.mkdir()
    wheel = make_wheel(made, "left", "1.0", payload=os.urandom(3_000_000))
    fake.publish("left", [(wheel, None, "2020-01-01T00:00:00Z")], trickle=0.01)
    index = server_factory(tmp_path / "local", "--upstream", fake.index_url)
    url = index.url(f"/packages/.upstream/left/{wheel.name}")
    with requests.get(url, stream=True, timeout=30) as response:
        assert response.status_code == 200
        assert len(response.raw.read(65536)) == 65536
    cached = index.work_dir / "cache"
    poll_until(lambda: list(cached.rglob("left-*.whl")), timeout=30, message="not cached")
    staging = upstream_dir(cached, [fake.index_url]) / "tmp"
    assert not list(staging.iterdir())
    assert requests.get(url, timeout=60).content == wheel.read_bytes()  # from the cache
    assert fake.hits[f"/files/{wheel.name}"] == 1
