"""Benchmark dynopypi against pypiserver 2.4.2 on the same generated corpus.

Usage (``make bench`` runs ``$(VENV)/bin/python bench/run.py ARGS``):

    python bench/run.py                        # 10,000 projects / 60,000 files, 5 s per wrk run
    python bench/run.py --quick                # 1,000 projects / 6,000 files, 3 s per wrk run
    python bench/run.py --sizes 6000,60000     # both sizes, plus 60k-vs-6k flatness
    python bench/run.py --only dynopypi        # one server only (no ratios)
    python bench/run.py --quick --nginx --uploads   # plus the nginx and upload modes (~2 min)
    python bench/run.py --quick --no-base --nginx   # the nginx mode alone
    python bench/run.py --quick --no-base --upstream   # the upstream (pull-through) mode alone
    python bench/run.py --quick --no-base --ui   # the web UI mode alone

Options:
    --projects N / --files M   corpus size (default 10000 / 60000)
    --sizes F1,F2,...          several corpus sizes given in files (projects = files / 6)
    --duration S               seconds per wrk run (default 5; 3 with --quick)
    --only NAME                dynopypi or pypiserver
    --quick                    1,000 projects / 6,000 files, 3 s per wrk run
    --samples K                drop / upload samples per server (default 5)
    --pip-runs K               pip install runs per server (default 3)
    --connections C            wrk connections (default 32, 2 threads)
    --repeat K                 wrk runs per load; the best one is kept (default 1)
    --keep                     keep the per-run package folders under bench/out/run-*/
    --dynopypi-args "..."      extra flags for `dynopypi run` (e.g. "-q" for no access log)
    --pypiserver-args "..."    extra flags for `pypi-server run`
    --nginx                    also run the nginx mode (below; dynopypi only)
    --uploads                  also run the upload mode (below; every server of --only)
    --upload-count N           uploads per kind and server in --uploads (default 50)
    --upload-budget S          seconds per server and upload kind; stops early (default 120)
    --upstream                 also run the upstream mode (below; dynopypi only)
    --first-rounds K           upstream mode: first fetches of 50 MB per link (default 5)
    --ui                       also run the web UI mode (below; dynopypi only)
    --no-base                  skip the base comparison (with --nginx, --uploads, --upstream, --ui)

What it prints, per server and corpus size: start time to the first 200 on /simple/ (cold and
warm; dynopypi's cold start has an empty --cache-dir, its warm start reuses it), wrk
throughput and p50/p99 latency for /simple/, one project page, project pages spread over
all projects and one download, the server's RSS after load, dropped-file->visible and
upload->visible latency, and the wall time of ``pip install chain-00`` (20 wheels); then
the dynopypi/pypiserver ratios with the targets (PASS/FAIL is informative only: the script
exits 0 when the servers ran). Figures are saved to bench/out/results-<timestamp>.json.

The modes live in modules beside this one, each saying at its top what it measures:
run_base.py and run_base_report.py (the base comparison above), run_nginx.py (--nginx, with
run_nginx_site.py and run_nginx_checks.py), run_uploads.py (--uploads, with
run_uploads_report.py), run_upstream.py (--upstream, with run_upstream_fetch.py) and
run_ui.py (--ui: the web UI's pages and search against the simple page). Shared:
run_common.py (paths, server processes, HTTP), run_servers.py (installing and starting the
servers and tools), run_wrk.py (wrk), run_target.py (what to request in a corpus) and
run_report.py (formatting and target checks).

Only 127.0.0.1 is used; every server (and nginx) runs in its own process group and is killed
at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import corpus
from run_base import ServerResult, bench_server
from run_base_report import base_summary, flatness_summary
from run_common import FILES_PER_PROJECT, OUT, WRK_TIMEOUT, Json, Proc, log, signals_to_exit
from run_nginx import NginxResult, bench_nginx, nginx_summary
from run_servers import (
    SERVERS,
    dynopypi_exe,
    ensure_nginx,
    ensure_pip_venv,
    ensure_pypiserver,
    ensure_wrk,
    versions,
)
from run_target import make_target
from run_ui import UiResult, bench_ui, ui_summary
from run_uploads import bench_uploads
from run_uploads_report import UploadResult, upload_summary
from run_upstream import UpstreamResult, bench_upstream, upstream_summary


@dataclass
class Results:
    """Every mode's results, by corpus size (in files)."""

    base: dict[int, dict[str, ServerResult]] = field(default_factory=dict)
    nginx: dict[int, NginxResult] = field(default_factory=dict)
    uploads: dict[int, dict[str, UploadResult]] = field(default_factory=dict)
    upstream: dict[int, UpstreamResult] = field(default_factory=dict)
    ui: dict[int, UiResult] = field(default_factory=dict)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark dynopypi against pypiserver 2.4.2 (see the top of this file)."
    )
    parser.add_argument("--projects", type=int, default=None, help="default 10000")
    parser.add_argument("--files", type=int, default=None, help="default 60000")
    parser.add_argument(
        "--sizes", default=None, help="comma-separated file counts, e.g. 6000,60000"
    )
    parser.add_argument("--duration", type=int, default=None, help="seconds per wrk run (5)")
    parser.add_argument("--only", choices=SERVERS, default=None)
    parser.add_argument("--quick", action="store_true", help="1,000/6,000 and 3 s wrk runs")
    parser.add_argument("--samples", type=int, default=5, help="drop/upload samples (5)")
    parser.add_argument("--pip-runs", type=int, default=3, help="pip install runs (3)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (32)")
    parser.add_argument("--repeat", type=int, default=1, help="wrk runs per load, best kept (1)")
    parser.add_argument("--keep", action="store_true", help="keep per-run package folders")
    parser.add_argument("--dynopypi-args", default="", help="extra dynopypi run flags")
    parser.add_argument("--pypiserver-args", default="", help="extra pypi-server run flags")
    parser.add_argument(
        "--nginx", action="store_true", help="also: nginx/dynopypi.conf vs app vs static nginx"
    )
    parser.add_argument(
        "--uploads", action="store_true", help="also: twine and raw POST uploads per server"
    )
    parser.add_argument("--upload-count", type=int, default=50, help="uploads per kind (50)")
    parser.add_argument(
        "--upload-budget", type=float, default=120.0, help="seconds per server and kind (120)"
    )
    parser.add_argument(
        "--no-base",
        action="store_true",
        help="skip the base comparison (with --nginx/--uploads/--upstream)",
    )
    parser.add_argument(
        "--upstream", action="store_true", help="also: dynopypi as a cache of another dynopypi"
    )
    parser.add_argument(
        "--first-rounds", type=int, default=5, help="upstream mode: first fetches per link (5)"
    )
    parser.add_argument(
        "--ui", action="store_true", help="also: the web UI's pages and search (dynopypi only)"
    )
    args = parser.parse_args(argv)
    if args.no_base and not (args.nginx or args.uploads or args.upstream or args.ui):
        parser.error(
            "--no-base leaves nothing to run without --nginx, --uploads, --upstream or --ui"
        )
    if args.duration is None:
        args.duration = 3 if args.quick else 5
    sizes: list[tuple[int, int]]
    if args.sizes:
        files = sorted({int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()})
        sizes = [(f // FILES_PER_PROJECT, f) for f in files]
    else:
        default = (1000, 6000) if args.quick else (corpus.DEFAULT_PROJECTS, corpus.DEFAULT_FILES)
        projects = args.projects if args.projects is not None else default[0]
        nfiles = args.files if args.files is not None else projects * FILES_PER_PROJECT
        if args.files is None and args.projects is None:
            nfiles = default[1]
        sizes = [(projects, nfiles)]
    args.size_list = sizes
    args.servers = [args.only] if args.only else list(SERVERS)
    return args


def prepare(args: argparse.Namespace) -> None:
    """Install or check wrk, pypiserver, pip and nginx as the chosen servers and modes need."""
    ensure_wrk()
    if "pypiserver" in args.servers:
        ensure_pypiserver()
    if "dynopypi" in args.servers and not dynopypi_exe().exists():
        raise SystemExit(f"{dynopypi_exe()} not found: install the project into the venv")
    ensure_pip_venv()
    args.nginx_exe = None
    if args.ui and "dynopypi" not in args.servers:
        log("--ui needs dynopypi: skipped with --only pypiserver")
        args.ui = False
    if args.nginx and "dynopypi" not in args.servers:
        log("--nginx needs dynopypi: skipped with --only pypiserver")
        args.nginx = False
    if args.nginx or args.upstream:
        args.nginx_exe = ensure_nginx()


def announce(args: argparse.Namespace) -> None:
    parts = (["base"] if not args.no_base else []) + [
        mode
        for mode, on in (
            ("nginx", args.nginx),
            ("uploads", args.uploads),
            ("upstream", args.upstream),
            ("ui", args.ui),
        )
        if on
    ]
    log(f"bench: {' + '.join(parts)}; servers {', '.join(args.servers)}; sizes "
        + ", ".join(f"{f:,} files / {p:,} projects" for p, f in args.size_list)
        + f"; wrk -t2 -c{args.connections} -d{args.duration}s --timeout {WRK_TIMEOUT}; "
        f"load average {os.getloadavg()[0]:.2f}")  # fmt: skip


def run_sizes(args: argparse.Namespace, run_dir: Path, res: Results) -> bool:
    """Each corpus size, the modes in order; True when a server or mode failed to run."""
    failed = False
    with signals_to_exit():
        try:
            for projects, files in args.size_list:
                corpus_dir = corpus.ensure_corpus(projects, files)
                tgt = make_target(corpus_dir, run_dir)
                size_dir = run_dir / f"f{files}"
                if not args.no_base:
                    results: dict[str, ServerResult] = {}
                    for name in args.servers:
                        log(f"\n== {name}: {files:,} files, {projects:,} projects ==")
                        results[name] = bench_server(name, size_dir, corpus_dir, tgt, args)
                        failed |= (
                            results[name].error is not None and results[name].start_warm_s is None
                        )
                    res.base[files] = results
                if args.nginx:
                    log(f"\n== nginx: {files:,} files, {projects:,} projects ==")
                    ngx = bench_nginx(size_dir, corpus_dir, tgt, args)
                    res.nginx[files] = ngx
                    failed |= ngx.error is not None and not ngx.wrk
                if args.uploads:
                    uploads: dict[str, UploadResult] = {}
                    for name in args.servers:
                        log(f"\n== uploads, {name}: {files:,} files, {projects:,} projects ==")
                        up = bench_uploads(name, size_dir, corpus_dir, args)
                        uploads[name] = up
                        failed |= up.error is not None and up.start_s is None
                    res.uploads[files] = uploads
                if args.upstream:
                    log(f"\n== upstream: {files:,} files, {projects:,} projects ==")
                    res.upstream[files] = bench_upstream(size_dir, corpus_dir, tgt, args)
                    failed |= res.upstream[files].error is not None
                if args.ui:
                    log(f"\n== web UI: {files:,} files, {projects:,} projects ==")
                    res.ui[files] = bench_ui(size_dir, corpus_dir, tgt, args)
                    failed |= res.ui[files].error is not None
        finally:
            Proc.stop_all()
    return failed


def report(
    args: argparse.Namespace, stamp: str, load_start: tuple[float, float, float], res: Results
) -> Json:
    """Print every size's summaries (and flatness); return the JSON summary."""
    summary: Json = {
        "timestamp": stamp,
        "args": {k: v for k, v in vars(args).items() if k != "size_list"},
        "machine": {
            "cpus": os.cpu_count(),
            "loadavg_start": load_start,
            "loadavg_end": os.getloadavg(),
        },
        "versions": versions(),
        "sizes": {},
        "flatness": {},
    }
    for _projects, files in args.size_list:
        entry: Json = {}
        summary["sizes"][str(files)] = entry
        if files in res.base:
            base_summary(files, res.base[files], entry)
        if files in res.nginx:
            nginx_summary(files, res.nginx[files], entry)
        if files in res.uploads:
            upload_summary(files, res.uploads[files], args.upload_count, entry)
        if files in res.upstream:
            upstream_summary(files, res.upstream[files], entry)
        if files in res.ui:
            ui_summary(files, res.ui[files], entry)
    if len(res.base) >= 2:
        flatness_summary(res.base, args.servers, summary)
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    run_dir = OUT / f"run-{stamp}"
    run_dir.mkdir(parents=True, exist_ok=True)
    prepare(args)
    announce(args)
    load_start = os.getloadavg()
    res = Results()
    failed = run_sizes(args, run_dir, res)
    summary = report(args, stamp, load_start, res)
    out = OUT / f"results-{stamp}.json"
    out.write_text(json.dumps(summary, indent=2, default=str))
    log(f"\nresults: {out}\nlogs: {run_dir}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
