"""Metrics and quotas as an operator runs them: ``--metrics-listen`` scraped over HTTP and
parsed by prometheus-client's parser, the shipped alert rules checked by ``promtool`` (and
every metric they and the dashboard name served), and a quota refusal through real twine."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import requests
from prometheus_client.parser import text_string_to_metric_families
from support.accounts import add_account
from support.clients import twine_upload
from support.fakedist import make_sdist, make_wheel
from support.net import free_port
from support.server import ServerFactory

ALICE = ("alice", "alice-metrics-pw1")
MONITORING = Path(__file__).resolve().parents[2] / "deploy" / "monitoring"
# what only a bucket replica or an --upstream server serves
CONDITIONAL = {
    "dynopypi_journal_entry", "dynopypi_journal_contact_age_seconds", "dynopypi_blob_cache_bytes",
    "dynopypi_upstream_page_hits_total", "dynopypi_upstream_page_fetches_total",
    "dynopypi_upstream_fetch_errors_total", "dynopypi_upstream_fetch_seconds_total",
    "dynopypi_upstream_cache_bytes", "dynopypi_upstream_pages_held",
    "dynopypi_pages_behind", "dynopypi_pages_broken",  # with --pages-dir (tests/app/test_metrics)
}  # fmt: skip


def test_alert_rules_pass_promtool() -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool is needed (apt-get install prometheus; .ci/run does)"
    done = subprocess.run(
        [promtool, "check", "rules", str(MONITORING / "alerts.yml")],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 9 rules found" in done.stdout


def test_metrics_listen_quota_refusal_and_what_monitoring_names(
    server_factory: ServerFactory, tmp_path: Path
) -> None:
    pkg, build = tmp_path / "packages", tmp_path / "build"
    pkg.mkdir()
    build.mkdir()
    htpasswd = tmp_path / "htpasswd"
    add_account(htpasswd, *ALICE)
    first = make_wheel(build, "acme", "1.0")
    port = free_port()
    srv = server_factory(
        pkg, "-P", str(htpasswd), "--metrics-listen", f"127.0.0.1:{port}",
        "--quota-project", str(first.stat().st_size + 10), "--quota-total", "1G",
    )  # fmt: skip
    assert twine_upload(f"{srv.base}/", ALICE, [first]).returncode == 0
    refused = twine_upload(f"{srv.base}/", ALICE, [make_sdist(build, "acme", "2.0")])
    assert refused.returncode != 0
    assert "507" in refused.stdout + refused.stderr
    assert "quota exceeded: project 'acme' holds" in refused.stdout + refused.stderr

    assert requests.get(f"{srv.base}/metrics", timeout=30).status_code == 401  # strangers
    listener = f"http://127.0.0.1:{port}"
    assert requests.get(f"{listener}/simple/", timeout=30).status_code == 404  # only metrics
    r = requests.get(f"{listener}/metrics", timeout=30)
    assert r.status_code == 200
    families = {f.name: f for f in text_string_to_metric_families(r.text)}
    samples = {s.name: s for f in families.values() for s in f.samples}
    assert samples["dynopypi_index_bytes"].value == first.stat().st_size
    assert samples["dynopypi_quota_total_bytes"].value == 1024**3
    refusals = {s.labels["kind"]: s.value for s in families["dynopypi_refusals"].samples}
    assert refusals["NeedsAccount"] == 1  # the stranger above
    assert refusals["OverQuota"] >= 1  # twine retries a 5xx

    named = set(re.findall(r"dynopypi_[a-z_]+", (MONITORING / "alerts.yml").read_text()))
    dashboard = json.loads((MONITORING / "dashboard.json").read_text())
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            named |= set(re.findall(r"dynopypi_[a-z_]+", target["expr"]))
    served = set(samples) | CONDITIONAL
    assert named - served == set()
