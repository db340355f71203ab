"""One index URL for everything: dynopypi in front of an upstream index, with real clients.

The upstream is a second dynopypi started by the test (honest), or ``FakeUpstream`` when
the test needs an upstream that lies, stalls or breaks. No network is used.
"""

from __future__ import annotations

import concurrent.futures
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import support.nginx as nh
from support.accounts import add_account
from support.clients import PIP, check_ok, run_client, uv_command
from support.fakedist import make_wheel
from support.helpers import poll_until
from support.server import ServerFactory
from support.upstream import Answer, FakeUpstream

from dynopypi.upstream_store import upstream_dir

UV_ENV = {"UV_PYTHON_DOWNLOADS": "never", "UV_NO_PROGRESS": "1"}
DAY = 86400


@pytest.fixture
def fake() -> Iterator[FakeUpstream]:
    upstream = FakeUpstream().start()
    yield upstream
    upstream.stop()


def pip_install(index_url: str, target: Path, *reqs: str) -> subprocess.CompletedProcess[str]:
    return run_client(
        [*PIP, "install", "--no-cache-dir", "--target", target, "--index-url", index_url, *reqs]
    )


def uv_install(
    index_url: str, target: Path, cache: Path, *reqs: str
) -> subprocess.CompletedProcess[str]:
    return run_client(
        [*uv_command(), "pip", "install", "--no-config", "--cache-dir", cache,
         "--python", sys.executable, "--target", target, "--index-url", index_url, *reqs],
        extra_env=UV_ENV,
    )  # fmt: skip


def installed(target: Path) -> dict[str, str]:
    """module -> version of what a --target install put there."""
    out = {}
    for init in target.glob("*/__init__.py"):
        out[init.parent.name] = init.read_text().split('"')[1]
    return out


def chain(directory: Path) -> None:
    """chain-a -> chain-b -> chain-c, public only."""
    directory.mkdir(parents=True, exist_ok=True)
    make_wheel(directory, "chain-a", "1.0", requires=["chain-b"])
    make_wheel(directory, "chain-b", "1.0", requires=["chain-c>=1"])
    make_wheel(directory, "chain-c", "1.0")


def test_pip_and_uv_install_a_public_chain_and_keep_working_when_upstream_stops(
    server_factory: ServerFactory, tmp_path: Path
) -> None:
    chain(tmp_path / "public")
    upstream = server_factory(tmp_path / "public")
    index = server_factory(tmp_path / "local", "--upstream", upstream.index_url,
                           "--upstream-ttl", "0")  # fmt: skip
    fresh = index.get("/pypi/chain-b/json").json()  # before any download: no md5 invented
    assert fresh["info"]["requires_dist"] == ["chain-c>=1"]
    assert "md5" not in fresh["urls"][0]["digests"] and fresh["urls"][0]["md5_digest"] is None
    expected = {"chain_a": "1.0", "chain_b": "1.0", "chain_c": "1.0"}
    check_ok(pip_install(index.index_url, tmp_path / "t1", "chain-a"), index)
    assert installed(tmp_path / "t1") == expected
    check_ok(uv_install(index.index_url, tmp_path / "t2", tmp_path / "uvc", "chain-a"), index)
    assert installed(tmp_path / "t2") == expected
    page = index.get("/simple/chain-a/")
    assert f"127.0.0.1:{upstream.port}" not in page.text  # links point here, not upstream
    assert "chain-a/" in index.get("/simple/").text  # cached projects are listed
    assert "GET /simple/chain-a/ 304" in upstream.logs()  # revalidated, not fetched again

    upstream.stop()
    check_ok(pip_install(index.index_url, tmp_path / "t3", "chain-a"), index)
    assert installed(tmp_path / "t3") == expected
    stale = index.get("/simple/chain-b/")
    assert stale.status_code == 200
    assert "unreachable" in stale.headers["X-Dynopypi-Upstream"]
    assert index.get("/simple/never-seen/").status_code == 502
    document = index.get("/pypi/chain-c/json").json()
    assert document["info"]["version"] == "1.0"
    assert document["info"]["requires_dist"] is None  # read from the cached .metadata
    (entry,) = document["urls"]
    assert len(entry["digests"]["md5"]) == 32  # computed once the file was fetched

    index.stop()  # a restart with upstream still down serves from the disk cache
    index.start()
    check_ok(pip_install(index.index_url, tmp_path / "t4", "chain-a"), index)
    assert installed(tmp_path / "t4") == expected


def test_credentials_from_the_upstream_url(server_factory: ServerFactory, tmp_path: Path) -> None:
    chain(tmp_path / "public")
    htpasswd = tmp_path / "htpasswd"
    add_account(htpasswd, "reader", "s3cret:/@")
    upstream = server_factory(tmp_path / "public", "-P", str(htpasswd), "-a", "list,download")
    assert upstream.get("/simple/chain-c/").status_code == 401
    with_auth = upstream.index_url.replace("http://", "http://reader:s3cret%3A%2F%40@")
    index = server_factory(tmp_path / "local", "--upstream", with_auth)
    check_ok(pip_install(index.index_url, tmp_path / "t", "chain-c"), index)
    assert installed(tmp_path / "t") == {"chain_c": "1.0"}
    assert "s3cret" not in index.get("/ready").text


def test_dependency_confusion_is_never_served(
    server_factory: ServerFactory, tmp_path: Path
) -> None:
    public, local = tmp_path / "public", tmp_path / "local"
    public.mkdir()
    local.mkdir()
    make_wheel(public, "acme-tool", "99.0")
    make_wheel(public, "acme-secret", "5.0")
    make_wheel(public, "late", "3.0")
    make_wheel(local, "acme-tool", "1.0")
    upstream = server_factory(public)
    index = server_factory(local, "--upstream", upstream.index_url, "--private", "acme-secret*")
    assert index.listed_files("acme-tool") is not None
    assert set(index.listed_files("acme-tool") or {}) == {"acme_tool-1.0-py3-none-any.whl"}
    assert index.get("/simple/acme-secret/").status_code == 404
    check_ok(pip_install(index.index_url, tmp_path / "t", "acme-tool"), index)
    assert installed(tmp_path / "t") == {"acme_tool": "1.0"}
    for path in (
        "/packages/.upstream/acme-tool/acme_tool-99.0-py3-none-any.whl",
        "/packages/.upstream/acme-secret/acme_secret-5.0-py3-none-any.whl",
    ):
        assert index.get(path).status_code == 404, path
    assert "/simple/acme-secret/" not in upstream.logs()  # a --private name never leaves

    # a public name is public until a local file appears: then only local files count
    assert set(index.listed_files("late") or {}) == {"late-3.0-py3-none-any.whl"}
    make_wheel(local, "late", "0.1")
    poll_until(
        lambda: set(index.listed_files("late") or {}) == {"late-0.1-py3-none-any.whl"},
        timeout=20,
    )

    def evidence() -> str:
        result = run_client(
            [sys.executable, "-m", "dynopypi", "upstream", "shadowed", "--cache-dir",
             index.work_dir / "cache", "--upstream", upstream.index_url]
        )  # fmt: skip
        return result.stdout

    poll_until(lambda: "acme-tool 99.0" in evidence(), timeout=20)
    assert "acme-tool 99.0 " + upstream.url("/packages/acme_tool-99.0-py3-none-any.whl") in (
        evidence()
    )


def test_private_check_records_evidence_and_serves_nothing(
    server_factory: ServerFactory, fake: FakeUpstream, tmp_path: Path
) -> None:
    """--private-check: names matching --private are looked up in the background, for
    ``upstream shadowed`` only; their clients get the local files (or 404) at once."""
    made, local = tmp_path / "made", tmp_path / "local"
    made.mkdir()
    local.mkdir()
    squat = make_wheel(made, "acme-secret", "5.0")
    fake.publish("acme-secret", [(squat, None, "2020-01-01T00:00:00Z")], delay=0.5)
    fake.publish("acme-tool", [(make_wheel(made, "acme-tool", "7.0"), None, None)])
    make_wheel(local, "acme-tool", "1.0")
    index = server_factory(local, "--upstream", fake.index_url, "--private", "acme-*",
                           "--private-check")  # fmt: skip
    started = time.monotonic()
    assert index.get("/simple/acme-secret/").status_code == 404
    assert time.monotonic() - started < 0.5  # the upstream's 0.5 s are not waited for
    assert set(index.listed_files("acme-tool") or {}) == {"acme_tool-1.0-py3-none-any.whl"}

    def evidence() -> str:
        result = run_client(
            [sys.executable, "-m", "dynopypi", "upstream", "shadowed", "--cache-dir",
             index.work_dir / "cache", "--upstream", fake.index_url]
        )  # fmt: skip
        return result.stdout

    poll_until(lambda: "acme-secret 5.0" in evidence() and "acme-tool 7.0" in evidence(),
               timeout=20, message=lambda: evidence() + index.logs())  # fmt: skip
    for path in ("/simple/acme-secret/", "/pypi/acme-secret/json",
                 f"/packages/.upstream/acme-secret/{squat.name}"):  # fmt: skip
        assert index.get(path).status_code == 404, path
    assert "acme-secret" not in index.get("/simple/").text
    assert fake.hits["/simple/acme-secret/"] == 1  # once per --upstream-ttl, not per request
    assert fake.hits[f"/files/{squat.name}"] == 0


def _aged(directory: Path, name: str, version: str, days_ago: float) -> None:
    path = make_wheel(directory, name, version)
    when = time.time() - days_ago * DAY
    os.utime(path, (when, when))


def test_cooldown_with_pip_and_uv_and_the_exempt_spec(
    server_factory: ServerFactory, tmp_path: Path
) -> None:
    public = tmp_path / "public"
    public.mkdir()
    _aged(public, "cool", "1.0", 30)
    _aged(public, "cool", "2.0", 1)
    upstream = server_factory(public)
    cooled = server_factory(tmp_path / "l1", "--upstream", upstream.index_url, "--min-age", "7d")
    check_ok(pip_install(cooled.index_url, tmp_path / "p", "cool"), cooled)
    assert installed(tmp_path / "p") == {"cool": "1.0"}
    check_ok(uv_install(cooled.index_url, tmp_path / "u", tmp_path / "uvc", "cool"), cooled)
    assert installed(tmp_path / "u") == {"cool": "1.0"}
    assert cooled.get("/packages/.upstream/cool/cool-2.0-py3-none-any.whl").status_code == 404

    exempt = server_factory(tmp_path / "l2", "--upstream", upstream.index_url,
                            "--min-age", "P7D", "--min-age-exempt", "cool==2.0")  # fmt: skip
    check_ok(pip_install(exempt.index_url, tmp_path / "p2", "cool"), exempt)
    assert installed(tmp_path / "p2") == {"cool": "2.0"}

    # "as of" 10 days ago, as pip's index URL: the index as it stood then
    plain = server_factory(tmp_path / "l3", "--upstream", upstream.index_url)
    as_of = plain.url("/as-of/P10D/simple/")
    check_ok(pip_install(as_of, tmp_path / "p3", "cool"), plain)
    assert installed(tmp_path / "p3") == {"cool": "1.0"}
    moment = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 40 * DAY))
    assert plain.get(f"/as-of/{moment}/simple/cool/").status_code == 404
    assert plain.get("/as-of/yesterday/simple/cool/").status_code == 400


def test_unknown_upload_times_are_left_out_unless_included(
    server_factory: ServerFactory, fake: FakeUpstream, tmp_path: Path
) -> None:
    made = tmp_path / "made"
    made.mkdir()
    fake.publish("vague", [(make_wheel(made, "vague", "1.0"), None, None)], html=True)
    strict = server_factory(tmp_path / "l1", "--upstream", fake.index_url, "--min-age", "1d")
    assert strict.get("/simple/vague/").status_code == 404
    lenient = server_factory(tmp_path / "l2", "--upstream", fake.index_url, "--min-age", "1d",
                             "--min-age-unknown", "include")  # fmt: skip
    assert set(lenient.listed_files("vague") or {}) == {"vague-1.0-py3-none-any.whl"}


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


def test_upstream_timeouts_and_failures_never_hang_or_touch_local_names(
    server_factory: ServerFactory, fake: FakeUpstream, tmp_path: Path
) -> None:
    made, local = tmp_path / "made", tmp_path / "local"
    made.mkdir()
    local.mkdir()
    make_wheel(local, "mine", "1.0")
    fake.publish("slow", [(make_wheel(made, "slow", "1.0"), None, None)], delay=6)
    fake.answers["/simple/broken/"] = Answer(b"{not json", "application/vnd.pypi.simple.v1+json")
    fake.answers["/simple/down/"] = Answer(b"oops", "text/plain", status=503)
    fake.answers["/simple/mine/"] = Answer(b"", "text/html", delay=6)  # slow for local names too
    fake.answers["/simple/loop/"] = Answer(
        b"", "text/html", 302, headers={"Location": "/simple/loop/"}
    )
    index = server_factory(local, "--upstream", fake.index_url, "--upstream-timeout", "1")
    started = time.monotonic()
    assert index.get("/simple/slow/").status_code == 504
    assert time.monotonic() - started < 5
    assert index.get("/simple/broken/").status_code == 502
    assert index.get("/simple/down/").status_code == 502
    assert index.get("/simple/loop/").status_code == 502
    started = time.monotonic()
    assert index.get("/simple/mine/").status_code == 200
    assert time.monotonic() - started < 1
    assert fake.hits["/simple/mine/"] <= 1  # only the background evidence check


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


def test_credentials_never_follow_to_another_host(
    server_factory: ServerFactory, tmp_path: Path
) -> None:
    files_host = FakeUpstream().start()
    upstream = FakeUpstream(file_host=files_host).start()
    try:
        made = tmp_path / "made"
        made.mkdir()
        upstream.publish("leak", [(make_wheel(made, "leak", "1.0"), None, "2020-01-01T00:00:00Z")])
        files_host.publish("hop", [(make_wheel(made, "hop", "1.0"), None, "2020-01-01T00:00:00Z")])
        elsewhere = f"http://127.0.0.1:{files_host.port}/simple/hop/"
        upstream.answers["/simple/hop/"] = Answer(
            b"", "text/html", 302, headers={"Location": elsewhere}
        )
        url = upstream.index_url.replace("http://", "http://me:secret@")
        index = server_factory(tmp_path / "local", "--upstream", url)
        assert index.get("/packages/.upstream/leak/leak-1.0-py3-none-any.whl").status_code == 200
        assert upstream.auth["/simple/leak/"] == "Basic bWU6c2VjcmV0"
        assert files_host.auth["/files/leak-1.0-py3-none-any.whl"] is None
        assert set(index.listed_files("hop") or {}) == {"hop-1.0-py3-none-any.whl"}
        assert files_host.auth["/simple/hop/"] is None  # not carried over the redirect
    finally:
        upstream.stop()
        files_host.stop()


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
        assert again.headers["ETag"] == f'"{int(stored.st_mtime):x}-{stored.st_size:x}"'
        part = requests.get(proxy.base + path, headers={"Range": "bytes=0-9"}, timeout=30)
        assert part.status_code == 206 and part.content == again.content[:10]
        assert fake.hits[f"/files/{wheels['chain_c'].name}"] == 1
        check_ok(pip_install(proxy.base + "/simple/", tmp_path / "t2", "chain-a"), index, proxy)
        assert all(fake.hits[f"/files/{w.name}"] == 1 for w in wheels.values())
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


def test_a_client_leaving_a_first_download_leaves_nothing_behind(
    server_factory: ServerFactory, fake: FakeUpstream, tmp_path: Path
) -> None:
    made = tmp_path / "made"
    made.mkdir()
    wheel = make_wheel(made, "left", "1.0", payload=os.urandom(3_000_000))
    fake.publish("left", [(wheel, None, "2020-01-01T00:00:00Z")], trickle=0.01)
    index = server_factory(tmp_path / "local", "--upstream", fake.index_url)
    url = index.url(f"/packages/.upstream/left/{wheel.name}")
    with requests.get(url, stream=True, timeout=30) as response:
        assert response.status_code == 200
        assert len(response.raw.read(65536)) == 65536
    staging = upstream_dir(index.work_dir / "cache", [fake.index_url]) / "tmp"
    poll_until(lambda: not list(staging.iterdir()), timeout=30, message="the partial file stays")
    assert not list((index.work_dir / "cache").rglob("left-*.whl"))
    assert requests.get(url, timeout=60).content == wheel.read_bytes()  # fetched again
    assert fake.hits[f"/files/{wheel.name}"] == 2
