"""``dynopypi retention plan|apply`` and ``dynopypi usage`` on a bucket that a replica
serves (a real SeaweedFS): a corpus with pre-releases and yanked releases; ``apply``
removes exactly the plan (not a release changed since), and the replica shows it."""

from __future__ import annotations

import json
from pathlib import Path

from support.bucket_server import BucketServerFactory, dynopypi_command, fill_bucket
from support.fakedist import make_sdist, make_wheel
from support.helpers import poll_until
from support.seaweed import S3Place
from support.uploads import upload

OPEN = ("-P", ".", "-a", ".")
CORPUS = {  # project -> versions, a wheel each
    "acme": ["0.9", "1.0", "1.1", "1.10", "2.0rc1", "2.0", "2.1.dev1"],
    "tool": ["0.1a1", "0.1a2"],
}


def test_apply_removes_exactly_the_plan_and_a_replica_shows_it(
    replicas: BucketServerFactory, s3_place: S3Place, tmp_path: Path
) -> None:
    source, build = tmp_path / "source", tmp_path / "build"
    source.mkdir()
    build.mkdir()
    for name, versions in CORPUS.items():
        for version in versions:
            make_wheel(source, name, version)
    url = f"s3://{s3_place.bucket}/{s3_place.prefix.rstrip('/')}"
    fill_bucket(s3_place.store, source, url)
    replica = replicas.replica(url, *OPEN)

    def cli(*args: object) -> tuple[int, str, str]:
        done = dynopypi_command(s3_place.store, *args, "--storage", url,
                                "--s3-endpoint", s3_place.store.endpoint_url)  # fmt: skip
        return done.returncode, done.stdout, done.stderr

    assert cli("yank", "acme", "1.1", "--reason", "broken")[0] == 0
    plan = tmp_path / "plan.json"
    code, out, err = cli("retention", "plan", "--keep-last", "2", "--keep", "acme==0.9",
                         "--drop-prereleases-older-than", "0s", "--out", plan)  # fmt: skip
    assert code == 0, err
    document = json.loads(plan.read_text())
    chosen = [(r["project"], r["version"], r["rule"]) for r in document["releases"]]
    assert chosen == [
        ("acme", "2.0rc1", "drop-prereleases-older-than 0s"),
        ("acme", "1.1", "keep-last 2"),  # 1.10 > 1.1 (PEP 440); 0.9 kept by --keep
        ("acme", "1.0", "keep-last 2"),
        ("tool", "0.1a1", "drop-prereleases-older-than 0s"),  # 0.1a2, the newest, stays
    ]
    assert "acme 1.0: 1 files" in out and "4 releases" in err
    assert document["total"]["files"] == 4
    before = replica.listed_files("acme")
    assert before is not None and len(before) == 7  # the plan removed nothing

    # changed since the plan: acme 1.0 gets another file; apply must leave it alone
    late = make_sdist(build, "acme", "1.0")
    assert upload(replica, late).status_code == 200
    code, out, err = cli("retention", "apply", "--from-plan", plan)
    assert code == 0, err
    assert "skipped acme 1.0: files were added since the plan" in out
    assert "3 releases removed, 1 skipped" in err
    expected = {f"acme-{v}-py3-none-any.whl" for v in ("0.9", "1.0", "1.10", "2.0", "2.1.dev1")}
    expected.add(late.name)
    poll_until(
        lambda: set(replica.listed_files("acme") or ()) == expected,
        timeout=3.0,
        message=lambda: f"the replica lists {sorted(replica.listed_files('acme') or ())}",
    )
    assert set(replica.listed_files("tool") or ()) == {"tool-0.1a2-py3-none-any.whl"}

    shown = cli("audit", "show", "--json")[1].splitlines()
    removals = [json.loads(line) for line in shown if '"retention"' in line]
    assert [(r["project"], r["version"], r["retention"]) for r in removals] == [
        ("acme", "2.0rc1", "drop-prereleases-older-than 0s"),
        ("acme", "1.1", "keep-last 2"),
        ("tool", "0.1a1", "drop-prereleases-older-than 0s"),
    ]
    code, out, err = cli("usage", "--top", "1")
    assert code == 0 and out.startswith("acme ") and "2 projects" in err
