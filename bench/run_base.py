"""The base comparison: dynopypi against pypiserver on the same corpus.

Per server: start (cold and warm), spot checks of the pages, wrk on /simple/, one project
page, project pages spread over every project and one download, RSS after the load,
``pip install chain-00``, and how long a dropped file and an uploaded one take to show up
on their project page. These are the figures a user of either server waits on.

dynopypi also gets a second cold start (``cold_phase``): project pages under load while it
still reads the corpus behind, then the same loads once it is complete, and the RSS of its
process group after them (what a server started cold keeps for the rest of its life).
"""

from __future__ import annotations

import argparse
import hashlib
import shlex
import shutil
import statistics
import subprocess
import tempfile
import time
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import corpus
from run_common import (
    HOST,
    START_TIMEOUT,
    VISIBLE_TIMEOUT,
    Proc,
    _hrefs,
    _ms_or_none,
    free_port,
    group_rss_kb,
    http_get,
    http_post,
    log,
    upload_form,
    wait_first_200,
    wait_visible,
)
from run_report import err, fmt_list, fmt_wrk
from run_servers import ensure_pip_venv, pip_env, start
from run_target import Target
from run_wrk import WrkResult, best_wrk, run_wrk
from support.fakedist import make_wheel


@dataclass
class ServerResult:
    server: str
    files: int
    projects: int
    start_cold_s: float | None = None
    cold_page_s: float | None = None  # first complete project page (chain-00) after spawn
    cold_complete_s: float | None = None  # dynopypi: /ready, every file read and hashed
    start_warm_s: float | None = None
    rss_idle_mb: float | None = None
    rss_mb: float | None = None
    # dynopypi's second cold start: loads while the cold read runs (None when the read
    # ended before the load did: too small a corpus to tell), RSS after the loads
    cold_wrk: dict[str, WrkResult | None] = field(default_factory=dict)
    rss_cold_mb: float | None = None
    wrk: dict[str, WrkResult] = field(default_factory=dict)
    drop_ms: list[float | None] = field(default_factory=list)
    upload_ms: list[float | None] = field(default_factory=list)
    upload_post_ms: list[float] = field(default_factory=list)
    upload_error: str | None = None
    pip_s: list[float] = field(default_factory=list)
    pip_error: str | None = None
    checks: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    def median(self, name: str) -> float | None:
        values = [v for v in getattr(self, name) if v is not None]
        return statistics.median(values) if values else None


LOAD_LABELS = {
    "simple": "/simple/",
    "project": "one project page",
    "spread": "spread project pages",
    "download": "download",
}


def run_checks(port: int, tgt: Target) -> dict[str, Any]:
    """Correctness spot checks (informative): listing, a sample of pages, a download."""
    out: dict[str, Any] = {}
    problems: list[str] = []
    status, body, headers = http_get(port, "/simple/", timeout=120)
    names = {h.rstrip("/").rsplit("/", 1)[-1] for h in _hrefs(body)}
    missing = tgt.project_names - names
    out["simple_status"] = status
    out["simple_bytes"] = len(body)
    out["simple_missing"] = len(missing)
    out["simple_content_type"] = headers.get("content-type")
    if missing:
        problems.append(f"/simple/ misses {len(missing)} projects, e.g. {sorted(missing)[:3]}")
    bad_pages = 0
    for proj in tgt.check_projects:
        path = f"/simple/{proj['normalized']}/"
        status, body, _ = http_get(port, path, timeout=60)
        listed = {h.split("#", 1)[0].rsplit("/", 1)[-1] for h in _hrefs(body)}
        want = set(proj["files"])
        if status != 200 or listed != want:
            bad_pages += 1
            if len(problems) < 8:
                problems.append(
                    f"{path}: status {status}, missing {sorted(want - listed)[:2]}, "
                    f"extra {sorted(listed - want)[:2]}"
                )
    out["pages_checked"] = len(tgt.check_projects)
    out["pages_wrong"] = bad_pages
    legacy = next((p for p in tgt.check_projects if p["name"] != p["normalized"]), None)
    if legacy is not None:
        status, _, headers = http_get(port, f"/simple/{legacy['name']}/", timeout=60)
        out["unnormalized_url"] = (
            f"/simple/{legacy['name']}/ -> {status} {headers.get('location', '')}"
        )
        if status not in (200, 301, 302, 307, 308):
            problems.append(f"/simple/{legacy['name']}/ answered {status}")
    status, body, _ = http_get(port, tgt.download_path, timeout=60)
    out["download_status"] = status
    if status != 200 or body != tgt.download_file.read_bytes():
        problems.append(f"{tgt.download_path}: status {status}, {len(body)} bytes, wrong content")
    _, body, _ = http_get(port, tgt.project_path, timeout=60)
    out["project_bytes"] = len(body)
    digest = hashlib.sha256(tgt.download_file.read_bytes()).hexdigest()
    _, chain_body, _ = http_get(port, "/simple/chain-00/", timeout=60)
    if digest.encode() not in chain_body:
        problems.append("/simple/chain-00/ has no sha256 of the chain-00 1.1 wheel")
    status, body, headers = http_get(
        port, "/simple/chain-00/", timeout=60,
        headers={"Accept": "application/vnd.pypi.simple.v1+json"},
    )  # fmt: skip
    out["pep691_content_type"] = headers.get("content-type")
    out["problems"] = problems
    return out


def measure_visible(
    port: int,
    pkgdir: Path,
    project: str,
    samples: int,
    version_base: str,
    upload: bool,
    res: ServerResult,
) -> None:
    page = f"/simple/{project}/"
    with tempfile.TemporaryDirectory(prefix="bench-wheel-") as tmp:
        for i in range(samples):
            wheel = make_wheel(Path(tmp), project, f"{version_base}.{i}", payload=b"x" * 2048)
            data = wheel.read_bytes()
            needle = wheel.name.encode()
            if not upload:
                t0 = time.perf_counter()
                shutil.copyfile(wheel, pkgdir / wheel.name)  # like cp: not atomic
                res.drop_ms.append(
                    _ms_or_none(wait_visible(port, page, needle, t0, VISIBLE_TIMEOUT))
                )
            else:
                body, ctype = upload_form(project, f"{version_base}.{i}", wheel.name, data)
                t0 = time.perf_counter()
                try:
                    status, answer = http_post(port, "/", body, ctype)
                except OSError as exc:
                    status, answer = 0, str(exc).encode()
                post_ms = (time.perf_counter() - t0) * 1e3
                if status not in (200, 201):
                    res.upload_error = f"POST / -> {status} {answer[:120]!r}"
                    return
                res.upload_post_ms.append(post_ms)
                seen = wait_visible(port, page, needle, t0, VISIBLE_TIMEOUT)
                res.upload_ms.append(_ms_or_none(seen))
            time.sleep(0.2)


def run_pip(port: int, runs: int, res: ServerResult, logfile: Path) -> None:
    python = ensure_pip_venv()
    for _ in range(runs):
        with tempfile.TemporaryDirectory(prefix="bench-pip-") as target:
            cmd = [
                str(python), "-m", "pip", "--isolated", "install",
                "--index-url", f"http://{HOST}:{port}/simple/", "--no-cache-dir",
                "--disable-pip-version-check", "--no-input", "--progress-bar", "off",
                "--target", target, "chain-00",
            ]  # fmt: skip
            t0 = time.perf_counter()
            try:
                done = subprocess.run(
                    cmd, capture_output=True, text=True, timeout=300, env=pip_env(), check=False
                )
            except subprocess.TimeoutExpired:
                res.pip_error = "pip install timed out (300 s)"
                return
            took = time.perf_counter() - t0
            with logfile.open("a") as fh:
                fh.write(f"$ {' '.join(cmd)}\n{done.stdout}{done.stderr}\n")
            installed = len(list(Path(target).glob("chain_*.dist-info")))
            if done.returncode != 0 or installed != corpus.CHAIN_LENGTH:
                tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
                res.pip_error = f"exit {done.returncode}, {installed} dists: {' | '.join(tail)}"
                return
            res.pip_s.append(took)


def start_cold_warm(
    name: str, pkgdir: Path, cache_dir: Path, logfile: Path, extra: list[str], res: ServerResult
) -> tuple[Proc, int]:
    """A cold start on the empty cache, stopped once complete, then a warm start on it."""
    port = free_port()
    proc, res.start_cold_s = start(name, port, pkgdir, cache_dir, logfile, extra)
    try:
        # a project page is complete when it answers; the whole index when /ready says so
        # (dynopypi reads files behind a cold start: the warm start below then finds them
        # all in the cache, as after any completed start)
        res.cold_page_s = wait_first_200(proc, port, "/simple/chain-00/", START_TIMEOUT)
        if name == "dynopypi":
            res.cold_complete_s = wait_first_200(proc, port, "/ready", START_TIMEOUT)
    finally:
        proc.stop()
    port = free_port()
    proc, res.start_warm_s = start(name, port, pkgdir, cache_dir, logfile, extra)
    return proc, port


COLD_LOADS = ("project", "spread")  # what pip asks for while a cold start reads behind
COLD_LOAD_S = 3  # each; the cold read of 60,000 files takes about 10 s on 2 cores


def cold_phase(
    pkgdir: Path,
    cache_dir: Path,
    logfile: Path,
    extra: list[str],
    tgt: Target,
    args: argparse.Namespace,
    wrk_log: Path,
    res: ServerResult,
) -> None:
    """dynopypi started cold again (``cache_dir`` empty): project pages under load while
    the corpus is still read behind, then, once complete, the bench's loads, and the
    process group's RSS after them. A figure taken after the read ended is dropped."""
    shutil.rmtree(cache_dir, ignore_errors=True)
    cache_dir.mkdir(parents=True)
    port = free_port()
    proc, _ = start("dynopypi", port, pkgdir, cache_dir, logfile, extra)
    try:
        wait_first_200(proc, port, "/simple/chain-00/", START_TIMEOUT)
        loads = {"project": (tgt.project_path, None), "spread": ("/", tgt.spread_script)}
        for key in COLD_LOADS:
            path, script = loads[key]
            w = run_wrk(
                f"http://{HOST}:{port}{path}", COLD_LOAD_S, args.connections, script, wrk_log
            )
            with suppress(OSError):
                if http_get(port, "/ready", timeout=10)[0] == 200:
                    res.cold_wrk[key] = None  # the read ended first: not a figure
                    continue
            res.cold_wrk[key] = w
        wait_first_200(proc, port, "/ready", START_TIMEOUT)
        after = ServerResult(res.server, res.files, res.projects)
        run_loads(port, tgt, args, wrk_log, after, quiet=True)
        res.rss_cold_mb = group_rss_kb(proc.pid) / 1024
    finally:
        proc.stop()
    during = ", ".join(
        f"{LOAD_LABELS[key]} {fmt_wrk(w) if w else 'n/a (read ended first)'}"
        for key, w in res.cold_wrk.items()
    )
    log(f"  cold start, while reading: {during}")
    log(f"  RSS after a cold start and the loads: {res.rss_cold_mb:.0f} MB")


def run_loads(
    port: int,
    tgt: Target,
    args: argparse.Namespace,
    wrk_log: Path,
    res: ServerResult,
    quiet: bool = False,
) -> None:
    """wrk on /simple/, one project page, spread project pages and one download."""
    base = f"http://{HOST}:{port}"
    loads: list[tuple[str, str, Path | None]] = [
        ("simple", tgt.simple_path, None),
        ("project", tgt.project_path, None),
        ("spread", "/", tgt.spread_script),
        ("download", tgt.download_path, None),
    ]
    for key, path, script in loads:
        with suppress(OSError):
            http_get(port, path if script is None else tgt.project_path, timeout=120)
        w = best_wrk(base + path, args, script, wrk_log)
        res.wrk[key] = w
        if not quiet:
            log(f"  {LOAD_LABELS[key]:<22} {fmt_wrk(w)}")


def bench_server(
    name: str, size_dir: Path, corpus_dir: Path, tgt: Target, args: argparse.Namespace
) -> ServerResult:
    manifest = corpus.load_manifest(corpus_dir)
    res = ServerResult(name, int(manifest["files"]), int(manifest["projects"]))  # type: ignore[call-overload]
    work = size_dir / name
    pkgdir = work / "packages"
    cache_dir = work / "cache"
    shutil.rmtree(work, ignore_errors=True)
    cache_dir.mkdir(parents=True)
    corpus.link_tree(corpus_dir / "packages", pkgdir)
    logfile = work / "server.log"
    wrk_log = work / "wrk.log"
    proc: Proc | None = None
    try:
        extra = shlex.split(args.dynopypi_args if name == "dynopypi" else args.pypiserver_args)
        proc, port = start_cold_warm(name, pkgdir, cache_dir, logfile, extra, res)
        complete = f", complete {res.cold_complete_s:.2f} s" if res.cold_complete_s else ""
        log(
            f"  start: cold {res.start_cold_s:.2f} s (first project page "
            f"{res.cold_page_s:.2f} s{complete}), warm {res.start_warm_s:.2f} s"
        )
        res.rss_idle_mb = group_rss_kb(proc.pid) / 1024
        res.checks = run_checks(port, tgt)
        for problem in res.checks["problems"]:
            log(f"  CHECK: {problem}")
        run_loads(port, tgt, args, wrk_log, res)
        res.rss_mb = group_rss_kb(proc.pid) / 1024
        log(f"  RSS: {res.rss_idle_mb:.0f} MB idle, {res.rss_mb:.0f} MB after load")
        run_pip(port, args.pip_runs, res, work / "pip.log")
        log(f"  pip install chain-00: {fmt_list(res.pip_s, 's', 2)}" + err(res.pip_error))
        measure_visible(port, pkgdir, tgt.drop_project, args.samples, "99.0", False, res)
        log(f"  dropped file visible: {fmt_list(res.drop_ms, 'ms', 1)}")
        measure_visible(port, pkgdir, tgt.upload_project, args.samples, "98.0", True, res)
        log(f"  upload visible: {fmt_list(res.upload_ms, 'ms', 1)}" + err(res.upload_error))
        if not proc.alive():
            res.error = f"server died during the run:\n{proc.tail()}"
        if name == "dynopypi":
            proc.stop()
            cold_phase(pkgdir, work / "cache-cold", logfile, extra, tgt, args, wrk_log, res)
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        res.error = str(exc)
        log(f"  ERROR: {exc}")
    finally:
        if proc is not None:
            proc.stop()
        if not args.keep:
            shutil.rmtree(pkgdir, ignore_errors=True)
    return res
