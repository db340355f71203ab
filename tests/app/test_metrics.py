"""``/metrics`` on the index's own port: for accounts only, parsed by prometheus-client's
own parser; requests, writes, refusals and sizes counted; ``--no-metrics``; quotas (507)."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from support.accounts import write_fast_accounts
from support.fakedist import make_sdist, make_wheel
from support.inproc import AppFactory, AppServer
from support.uploads import upload

ALICE = ("alice", "alice-secret-1")


def scrape(server: AppServer) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics, by (name, sorted labels)."""
    r = server.get("/metrics", auth=ALICE)
    assert r.status_code == 200, server.explain(r)
    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(r.text)
        for s in family.samples
    }


@pytest.fixture
def site(tmp_path: Path) -> tuple[Path, Path, Path]:
    pkg, build = tmp_path / "pkgs", tmp_path / "build"
    for folder in (pkg, build):
        folder.mkdir()
    return pkg, build, write_fast_accounts(tmp_path / "htpasswd", dict([ALICE]))


def test_metrics_count_requests_writes_refusals_and_sizes(
    server_factory: AppFactory, site: tuple[Path, Path, Path]
) -> None:
    pkg, build, htpasswd = site
    srv = server_factory(pkg, "-P", str(htpasswd))
    wheel = make_wheel(build, "acme", "1.0")
    assert upload(srv, wheel, ALICE).status_code == 200
    (build / "other").mkdir()
    clash = make_wheel(build / "other", "acme", "1.0", requires=["x"])
    assert upload(srv, clash, ALICE).status_code == 409
    for _ in range(3):
        assert srv.get("/simple/acme/").status_code == 200
    assert srv.get("/simple/nothing-here/").status_code == 404
    assert upload(srv, wheel, ("alice", "wrong")).status_code == 401
    found = scrape(srv)
    assert found[("dynopypi_http_requests_total", (("route", "page"), ("status", "200")))] == 3
    assert found[("dynopypi_http_requests_total", (("route", "page"), ("status", "404")))] == 1
    assert found[("dynopypi_http_request_duration_seconds_count", (("route", "page"),))] == 4
    assert found[("dynopypi_writes_total", (("action", "upload"), ("outcome", "ok")))] == 1
    assert found[("dynopypi_writes_total", (("action", "upload"), ("outcome", "refused")))] == 1
    assert found[("dynopypi_refusals_total", (("kind", "AlreadyExists"),))] == 1
    assert found[("dynopypi_login_failures_total", ())] == 1
    assert found[("dynopypi_index_files", ())] == 1
    assert found[("dynopypi_index_bytes", ())] == wheel.stat().st_size
    assert found[("dynopypi_index_projects", ())] == 1
    assert found[("dynopypi_http_response_bytes_total", (("route", "page"),))] > 0
    assert ("dynopypi_watcher_paths_refreshed_total", ()) in found


def test_metrics_are_never_open_to_strangers(
    server_factory: AppFactory, site: tuple[Path, Path, Path]
) -> None:
    pkg, _, htpasswd = site
    srv = server_factory(pkg, "-P", str(htpasswd), "-a", ".")  # an index open to all
    stranger = srv.get("/metrics")
    assert stranger.status_code == 401 and "WWW-Authenticate" in stranger.headers
    assert "/metrics needs an account" in stranger.text
    assert srv.get("/metrics", auth=("alice", "wrong")).status_code == 401
    no_accounts = server_factory(pkg, "-P", ".", "-a", ".").get("/metrics")
    assert no_accounts.status_code == 403 and "--metrics-listen" in no_accounts.text
    off = server_factory(pkg, "-P", str(htpasswd), "--no-metrics").get("/metrics", auth=ALICE)
    assert off.status_code == 404 and "--no-metrics" in off.text


def test_quotas_refuse_with_507_saying_used_and_allowed(
    server_factory: AppFactory, site: tuple[Path, Path, Path]
) -> None:
    pkg, build, htpasswd = site
    first = make_wheel(build, "big", "1.0")
    limit = first.stat().st_size + 100
    srv = server_factory(pkg, "-P", str(htpasswd), "--quota-project", str(limit))
    assert upload(srv, first, ALICE).status_code == 200
    assert upload(srv, first, ALICE).status_code == 200  # identical again: adds nothing
    over = upload(srv, make_sdist(build, "big", "2.0"), ALICE)
    assert over.status_code == 507, srv.explain(over)
    assert over.reason.startswith("quota exceeded: project 'big' holds")
    assert "quota and this file adds" in over.text
    assert upload(srv, make_sdist(build, "small", "1.0"), ALICE).status_code == 200
    total = server_factory(pkg, "-P", str(htpasswd), "--quota-total", "1K")
    refused = upload(total, make_sdist(build, "more", "1.0"), ALICE)
    assert refused.status_code == 507 and "the index holds" in refused.text


def test_publishing_for_nginx_is_metered(
    server_factory: AppFactory, site: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    """What nginx cannot send yet, and whether publishing stopped (then nginx asks the app
    for everything, correctly but at the app's speed: an operator must see it)."""
    pkg, build, htpasswd = site
    pages = tmp_path / "pages"
    srv = server_factory(pkg, "-P", str(htpasswd), "--pages-dir", str(pages))
    assert upload(srv, make_wheel(build, "acme", "1.0"), ALICE).status_code == 200
    found = scrape(srv)
    assert found[("dynopypi_pages_behind", ())] == 0  # an upload's pages come before its answer
    assert found[("dynopypi_pages_broken", ())] == 0
    temp = pages / ".tmp"
    for entry in temp.iterdir():
        entry.unlink()
    temp.rmdir()
    temp.write_text("not a directory: every write of a page fails")
    assert upload(srv, make_wheel(build, "acme", "2.0"), ALICE).status_code == 200
    assert scrape(srv)[("dynopypi_pages_broken", ())] == 1
