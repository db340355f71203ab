"""Benchmark the S3 storage (a real SeaweedFS on loopback) against the package directory.

    make bench BENCH_ARGS=--s3        (or: .venv/bin/python bench/s3.py [--files 60000])

On the same generated corpus (bench/corpus.py, 60,000 files by default), loaded into a
bucket the way ``dynopypi storage copy`` leaves it (objects, then one manifest), it prints:

- start: seconds from spawning ``dynopypi run --storage s3://...`` to the first 200 on a
  project page (target <= 5 s at 60,000 objects), beside the directory server's warm start;
- pages: wrk requests/s on one project page and spread over every project, S3 vs directory
  (target: within 10%; pages come from memory either way);
- downloads: wrk requests/s of one 1 MiB wheel through dynopypi vs straight from SeaweedFS
  with a pre-signed URL (target >= 80%): from the local copy (the default) and streamed from
  the store every time (``--s3-cache-max 0``);
- visibility: seconds from an upload's 200 on replica A until replica B lists it, p50 and
  p99 over ``--uploads`` uploads (target p99 <= 1 s).

Machines here are shared and noisy: each wrk figure is the best of ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import hashlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))
sys.path.append(str(REPO / "tests"))
sys.path.append(str(REPO / "src"))

import corpus  # noqa: E402
from run_common import (  # noqa: E402
    FILES_PER_PROJECT,
    HOST,
    OUT,
    Proc,
    free_port,
    http_post,
    log,
    multipart,
    wait_first_200,
    wait_visible,
)
from run_servers import dynopypi_exe, ensure_wrk, start  # noqa: E402
from run_target import make_target  # noqa: E402
from run_wrk import best_wrk  # noqa: E402
from support.fakedist import make_wheel  # noqa: E402
from support.seaweed import SeaweedFS  # noqa: E402

from dynopypi.core.describe import Describer  # noqa: E402
from dynopypi.dists.facts import read_facts  # noqa: E402
from dynopypi.dists.names import parse_filename  # noqa: E402
from dynopypi.store.bucket.records import MANIFEST, Record, State, encode_manifest  # noqa: E402
from dynopypi.store.bucket.s3 import S3Storage  # noqa: E402


class _Stat:
    def __init__(self, size: int, mtime_ns: int) -> None:
        self.st_size = size
        self.st_mtime_ns = mtime_ns


def _record(path_key: tuple[str, str]) -> tuple[Record, str]:
    path, key = path_key
    parsed = parse_filename(key.rsplit("/", 1)[-1])
    facts = read_facts(path, parsed.packagetype, "sha256")
    st = os.stat(path)
    entry = Describer("sha256").entry(_Stat(st.st_size, st.st_mtime_ns), facts, parsed)  # type: ignore[arg-type]
    assert facts.digests is not None
    return Record(key, entry, ""), facts.digests["sha256"]


def load_bucket(store: S3Storage, packages: Path) -> tuple[int, float]:
    """Every corpus file as an object (sha256 in its metadata), then one manifest."""
    started = time.perf_counter()
    pairs = [
        (str(p), str(p.relative_to(packages)).replace(os.sep, "/"))
        for p in sorted(packages.rglob("*"))
        if p.is_file()
    ]
    with concurrent.futures.ProcessPoolExecutor(2) as pool:
        records = list(pool.map(_record, pairs, chunksize=500))
    with concurrent.futures.ThreadPoolExecutor(32) as pool:
        list(
            pool.map(
                lambda item: store.put_if_absent(item[0][1], Path(item[0][0]), sha256=item[1][1]),
                zip(pairs, records, strict=True),
            )
        )
    state = State(0, {r.key: r for r, _sha in records}, {})
    store.write(MANIFEST, encode_manifest(state), expect=None)
    return len(records), time.perf_counter() - started


def s3_command(port: int, cache_dir: Path, storage: str, endpoint: str) -> list[str]:
    return [
        str(dynopypi_exe()), "run", "-p", str(port), "-i", HOST, "-a", ".", "-P", ".",
        "--cache-dir", str(cache_dir), "--storage", storage, "--s3-endpoint", endpoint,
    ]  # fmt: skip


def upload(port: int, wheel: Path) -> int:
    data = wheel.read_bytes()
    name, version = wheel.name.split("-")[:2]
    fields = {":action": "file_upload", "name": name, "version": version,
              "filetype": "bdist_wheel", "pyversion": "py3",
              "sha256_digest": hashlib.sha256(data).hexdigest()}  # fmt: skip
    body, ctype = multipart(list(fields.items()), "content", wheel.name, data)
    status, _body = http_post(port, "/", body, ctype)
    return status


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=60_000)
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--uploads", type=int, default=100)
    args = parser.parse_args()
    ensure_wrk()
    corpus_dir = corpus.ensure_corpus(args.files // FILES_PER_PROJECT, args.files)
    target = make_target(corpus_dir, Path(tempfile.mkdtemp(prefix="s3bench-")))
    work = Path(tempfile.mkdtemp(prefix="dynopypi-s3bench-"))
    logfile = work / "bench.log"
    store = SeaweedFS(work / "seaweed")
    store.start()
    results: dict[str, Any] = {"files": args.files}
    procs: list[Proc] = []
    try:
        os.environ.update(
            AWS_ACCESS_KEY_ID=store.access_key,
            AWS_SECRET_ACCESS_KEY=store.secret_key,
            AWS_DEFAULT_REGION=store.region,
        )
        bucket = store.new_bucket("bench")
        storage = f"s3://{bucket}/packages"
        s3 = S3Storage(bucket, "packages", endpoint_url=store.endpoint_url)
        count, seconds = load_bucket(s3, corpus_dir / "packages")
        log(f"loaded {count} objects and a manifest in {seconds:.1f} s")
        big = make_wheel(work, "bigdownload", "1.0", payload=os.urandom(1024 * 1024))
        s3_port, dir_port, b_port = free_port(), free_port(), free_port()
        a = Proc(s3_command(s3_port, work / "cache-a", storage, store.endpoint_url), logfile)
        procs.append(a)
        results["start_s3_s"] = wait_first_200(a, s3_port, target.project_path, 120)
        pkgdir = work / "packages"
        corpus.link_tree(corpus_dir / "packages", pkgdir)
        d, _cold = start("dynopypi", dir_port, pkgdir, work / "cache-d", logfile, ())
        d.stop()  # the directory's warm start (digest cache filled), the usual restart
        d, results["start_dir_warm_s"] = start(
            "dynopypi", dir_port, pkgdir, work / "cache-d", logfile, ()
        )
        procs.append(d)
        assert upload(s3_port, big) == 200 and upload(dir_port, big) == 200
        for label, port in (("s3", s3_port), ("dir", dir_port)):
            base = f"http://{HOST}:{port}"
            page = best_wrk(base + target.project_path, args, None, logfile)
            spread = best_wrk(base + "/", args, target.spread_script, logfile)
            down = best_wrk(f"{base}/packages/{big.name}", args, None, logfile)
            results[f"page_rps_{label}"] = page.rps
            results[f"spread_rps_{label}"] = spread.rps
            results[f"download_rps_{label}"] = down.rps
        n_port = free_port()
        streamed = Proc(
            [*s3_command(n_port, work / "cache-n", storage, store.endpoint_url),
             "--s3-cache-max", "0"], logfile,
        )  # fmt: skip
        procs.append(streamed)
        wait_first_200(streamed, n_port, target.project_path, 120)
        results["download_rps_s3_streamed"] = best_wrk(
            f"http://{HOST}:{n_port}/packages/{big.name}", args, None, logfile
        ).rps
        streamed.stop()
        direct = s3.presigned_url(big.name, expires=3600)
        assert direct is not None
        results["download_rps_seaweedfs_direct"] = best_wrk(direct, args, None, logfile).rps
        b = Proc(s3_command(b_port, work / "cache-b", storage, store.endpoint_url), logfile)
        procs.append(b)
        wait_first_200(b, b_port, target.project_path, 120)
        delays: list[float] = []
        wheels = work / "visible"
        wheels.mkdir()
        for n in range(args.uploads):
            wheel = make_wheel(wheels, f"visible{n}", "1.0")
            assert upload(s3_port, wheel) == 200
            t0 = time.perf_counter()
            seen = wait_visible(b_port, f"/simple/visible{n}/", wheel.name.encode(), t0, 10)
            delays.append(seen if seen is not None else 10.0)
        results["visible_p50_s"] = percentile(delays, 50)
        results["visible_p99_s"] = percentile(delays, 99)
        results["visible_max_s"] = max(delays)
    finally:
        for proc in procs:
            proc.stop()
        store.stop()
    ratio = lambda a, b: (a or 0) / b if b else None  # noqa: E731
    results["page_ratio_s3_vs_dir"] = ratio(results["page_rps_s3"], results["page_rps_dir"])
    results["spread_ratio_s3_vs_dir"] = ratio(results["spread_rps_s3"], results["spread_rps_dir"])
    results["download_ratio_vs_direct"] = ratio(
        results["download_rps_s3"], results["download_rps_seaweedfs_direct"]
    )
    results["download_ratio_streamed_vs_direct"] = ratio(
        results["download_rps_s3_streamed"], results["download_rps_seaweedfs_direct"]
    )
    print(json.dumps(results, indent=1))
    out = OUT / f"s3-{args.files}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
