"""One index URL for everything: dynopypi in front of an upstream index, with real clients.

The upstream is a second dynopypi started by the test (honest), or ``FakeUpstream`` when
the test needs an upstream that lies, stalls or breaks. No network is used.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from support.accounts import add_account
from support.clients import check_ok, run_client
from support.fakedist import make_wheel
from support.helpers import poll_until
from support.installs import chain, installed, pip_install, uv_install
from support.server import DynoServer, ServerFactory
from support.upstream import Answer, FakeUpstream

DAY = 86400


def shadowed(index: DynoServer, upstream_url: str) -> str:
    """What ``dynopypi upstream shadowed --files`` prints for this index's cache."""
    result = run_client(
        [sys.executable, "-m", "dynopypi", "upstream", "shadowed", "--cache-dir",
         index.work_dir / "cache", "--upstream", upstream_url, "--files"]
    )  # fmt: skip
    return result.stdout


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
    assert "/simple/acme-tool/" not in upstream.logs()  # nor a local one (no --private-check)

    # a public name is public until a local file appears: then only local files count
    assert set(index.listed_files("late") or {}) == {"late-3.0-py3-none-any.whl"}
    make_wheel(local, "late", "0.1")
    poll_until(
        lambda: set(index.listed_files("late") or {}) == {"late-0.1-py3-none-any.whl"},
        timeout=20,
    )

    # --private-check: the local name is looked up in the background, for the evidence
    checking = server_factory(local, "--upstream", upstream.index_url, "--private-check")
    assert set(checking.listed_files("acme-tool") or {}) == {"acme_tool-1.0-py3-none-any.whl"}

    def evidence() -> str:
        return shadowed(checking, upstream.index_url)

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
        return shadowed(index, fake.index_url)

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
    assert fake.hits["/simple/mine/"] == 0  # a local name never leaves (no --private-check)
