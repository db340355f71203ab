"""The nginx mode (``--nginx``): the shipped nginx site in front of dynopypi.

Per corpus size: the SHIPPED nginx/dynopypi.conf, templated by text substitution into
bench/out/run-*/f<N>/nginx/prefix/ (listen 80 -> 127.0.0.1:PORT, the [::]:80 listen dropped,
127.0.0.1:8180 -> the app's port, /var/lib/dynopypi/packages/ -> a hard-linked copy of the
corpus), under a minimal nginx.conf (daemon off, 2 workers, temp paths in the prefix, access
log off, error log at warn), in front of ``dynopypi run -q -P . -a . --trusted-proxies
127.0.0.1 --x-accel-redirect /_dynopypi_files/``. The same nginx also serves a plain static
server: the package files through ``location /packages/ { alias ...; }`` and /simple/ and every
project page as index.html files, rendered once from the app's own answers. wrk (same settings)
then measures a download through nginx + X-Accel vs static nginx, and /simple/, one project
page and spread project pages through the shipped site vs the app direct vs static nginx, plus
/simple/ and spread pages with ``Accept-Encoding: gzip, deflate`` (what pip sends; the shipped
config compresses) through nginx vs the app direct. Correctness is checked once per mode (pages
byte-equal to the app's answer, download sha256, a file in a sub-folder with a local version,
Range, If-None-Match, the internal location not public, PEP 691 JSON, gzip). nginx's error.log
warnings are counted and printed. Targets: download via the shipped site >= 80% of static
nginx; every page via it >= 50% of static nginx and >= the app direct (ratio >= 1.0).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import time
from contextlib import suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import corpus
from run_common import (
    HOST,
    NGINX_SITE,
    START_TIMEOUT,
    Json,
    Proc,
    free_port,
    http_get,
    log,
    wait_first_200,
)
from run_nginx_checks import nginx_checks
from run_nginx_site import (
    GZIP_HEADERS,
    NGINX_MODE_LABELS,
    NGINX_MODES,
    nginx_log_summary,
    nginx_main_conf,
    nginx_site_conf,
    nginx_static_conf,
    render_static_pages,
)
from run_nginx_visible import Visible, upload_visible
from run_report import Check, err, fmt_list, fmt_num, fmt_wrk, ratio
from run_servers import dynopypi_exe
from run_target import Target
from run_wrk import WrkResult, best_wrk
from support.fakedist import make_wheel

ACCEL_CHECK_DIR = "bench-sub"  # a file below a sub-folder, with a local version, via X-Accel
ACCEL_CHECK_NAME = "bench-accel-check"
ACCEL_CHECK_VERSION = "1.0+local.7"


@dataclass(frozen=True)
class NginxLoad:
    label: str
    path: str  # "download", "simple", "project" or "spread": resolved against the Target
    modes: tuple[str, ...]
    headers: tuple[tuple[str, str], ...] = ()


NGINX_LOADS: dict[str, NginxLoad] = {
    "download": NginxLoad("download", "download", ("nginx", "static")),
    "simple": NginxLoad("/simple/", "simple", NGINX_MODES),
    "project": NginxLoad("one project page", "project", NGINX_MODES),
    "spread": NginxLoad("spread project pages", "spread", NGINX_MODES),
    "simple_gzip": NginxLoad("/simple/, gzip", "simple", ("nginx", "direct"), GZIP_HEADERS),
    "spread_gzip": NginxLoad("spread pages, gzip", "spread", ("nginx", "direct"), GZIP_HEADERS),
}


@dataclass
class NginxResult:
    files: int
    projects: int
    app_start_s: float | None = None
    nginx_start_s: float | None = None
    static_pages: int = 0
    static_render_s: float | None = None
    published_s: float | None = None  # from nginx up to every page and file published
    wrk: dict[str, dict[str, WrkResult]] = field(default_factory=dict)
    checks: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    nginx_log: dict[str, int] = field(default_factory=dict)
    visible: Visible = field(default_factory=Visible)  # uploaded through nginx
    visible_direct: Visible = field(default_factory=Visible)  # uploaded to the app
    error: str | None = None

    def get(self, load: str, mode: str, attr: str = "rps") -> float | None:
        w = self.wrk.get(load, {}).get(mode)
        value: float | None = getattr(w, attr) if w is not None else None
        return value


def pages_args(work: Path) -> list[str]:
    """``--pages-dir`` when this dynopypi has it (a base from before it: none), so one
    bench measures the old and the new side by side."""
    help_text = subprocess.run(
        [str(dynopypi_exe()), "run", "--help"], capture_output=True, text=True, check=False
    ).stdout
    return ["--pages-dir", str(work / "pages")] if "--pages-dir" in help_text else []


def start_app(
    work: Path, pkgdir: Path, ports: dict[str, int], res: NginxResult, procs: list[Proc]
) -> None:
    """dynopypi behind nginx (X-Accel-Redirect), then the static pages from its answers."""
    app_cmd = [
        str(dynopypi_exe()), "run", "-q", "-p", str(ports["direct"]), "-i", HOST,
        "--cache-dir", str(work / "cache"), "-P", ".", "-a", ".",
        "--trusted-proxies", HOST, "--x-accel-redirect", "/_dynopypi_files/",
        *pages_args(work), str(pkgdir),
    ]  # fmt: skip
    app = Proc(app_cmd, work / "app.log")
    procs.append(app)
    res.app_start_s = wait_first_200(app, ports["direct"], "/simple/", START_TIMEOUT)
    t0 = time.perf_counter()
    res.static_pages = render_static_pages(ports["direct"], work / "static")
    res.static_render_s = time.perf_counter() - t0
    log(
        f"  app (X-Accel) up in {res.app_start_s:.2f} s; {res.static_pages:,} static pages "
        f"written in {res.static_render_s:.1f} s"
    )


def wait_published(pages: Path, projects: int, download_path: str) -> float:
    """Seconds until the app has published a page for every project and the download's
    file (a start publishes behind: until then nginx asks the app, at the app's speed,
    which is not what the loads are here to measure)."""
    t0 = time.perf_counter()
    simple, link = pages / "open" / "simple", pages / "open" / download_path.lstrip("/")
    while True:
        with suppress(OSError):
            if link.exists() and sum(1 for e in os.scandir(simple) if e.is_dir()) >= projects:
                return time.perf_counter() - t0
        if time.perf_counter() - t0 > START_TIMEOUT:
            raise RuntimeError(f"the app published no page for every project in {simple}")
        time.sleep(0.5)


def start_nginx(
    args: argparse.Namespace,
    work: Path,
    pkgdir: Path,
    ports: dict[str, int],
    res: NginxResult,
    procs: list[Proc],
) -> None:
    """One nginx with the shipped site (nginx->app) and the static reference."""
    prefix, static_dir = work / "prefix", work / "static"
    shipped = NGINX_SITE.read_text()
    site = nginx_site_conf(shipped, ports["nginx"], ports["direct"], pkgdir, work)
    (prefix / "site.conf").write_text(site)
    (prefix / "static.conf").write_text(nginx_static_conf(ports["static"], static_dir, pkgdir))
    conf = prefix / "nginx.conf"
    conf.write_text(nginx_main_conf(prefix))
    errlog = prefix / "error.log"
    base_cmd = [args.nginx_exe, "-p", f"{prefix}/", "-c", str(conf), "-e", str(errlog)]
    test = subprocess.run(
        [*base_cmd, "-t"], capture_output=True, text=True, timeout=30, check=False
    )
    if test.returncode != 0:
        raise RuntimeError(f"nginx -t failed:\n{test.stderr.strip()}")
    ngx = Proc(base_cmd, work / "nginx.log")
    procs.append(ngx)
    res.nginx_start_s = wait_first_200(ngx, ports["nginx"], "/simple/", 30.0)
    wait_first_200(ngx, ports["static"], "/simple/", 30.0)
    log(f"  nginx (2 workers) up in {res.nginx_start_s:.2f} s: ports {ports}")


def run_loads(
    ports: dict[str, int], tgt: Target, args: argparse.Namespace, wrk_log: Path, res: NginxResult
) -> None:
    """wrk on every load of NGINX_LOADS, through each of its modes."""
    paths = {"download": tgt.download_path, "simple": "/simple/", "project": tgt.project_path}
    for key, load in NGINX_LOADS.items():
        script = tgt.spread_script if load.path == "spread" else None
        path = paths.get(load.path, "/")
        headers = dict(load.headers)
        for mode in load.modes:
            port = ports[mode]
            with suppress(OSError):  # warm up (and open nginx's upstream keepalive)
                http_get(port, path if script is None else tgt.project_path, timeout=120)
            w = best_wrk(f"http://{HOST}:{port}{path}", args, script, wrk_log, headers)
            res.wrk.setdefault(key, {})[mode] = w
            log(f"  {load.label:<21} {NGINX_MODE_LABELS[mode]:<12} {fmt_wrk(w)}")


def log_error_log(prefix: Path, res: NginxResult) -> None:
    """nginx's error.log warnings and errors, counted by message."""
    res.nginx_log = nginx_log_summary(prefix / "error.log")
    for message, count in sorted(res.nginx_log.items(), key=lambda kv: -kv[1])[:6]:
        log(f"  nginx error.log: {count:>6} x {message}")
    if not res.nginx_log:
        log("  nginx error.log: no warnings or errors")


def bench_nginx(
    size_dir: Path, corpus_dir: Path, tgt: Target, args: argparse.Namespace
) -> NginxResult:
    manifest = corpus.load_manifest(corpus_dir)
    res = NginxResult(int(manifest["files"]), int(manifest["projects"]))  # type: ignore[call-overload]
    work = size_dir / "nginx"
    pkgdir, static_dir, prefix = work / "packages", work / "static", work / "prefix"
    shutil.rmtree(work, ignore_errors=True)
    for folder in (static_dir, prefix / "tmp", work / "cache"):
        folder.mkdir(parents=True)
    corpus.link_tree(corpus_dir / "packages", pkgdir)
    (pkgdir / ACCEL_CHECK_DIR).mkdir()
    accel_file = make_wheel(
        pkgdir / ACCEL_CHECK_DIR, ACCEL_CHECK_NAME, ACCEL_CHECK_VERSION, payload=b"a" * 4096
    )
    accel_relpath = f"{ACCEL_CHECK_DIR}/{accel_file.name}"
    ports: dict[str, int] = {}
    while len(set(ports.values())) < 3:
        ports = {mode: free_port() for mode in ("direct", "nginx", "static")}
    wrk_log = work / "wrk.log"
    procs: list[Proc] = []
    try:
        start_app(work, pkgdir, ports, res, procs)
        start_nginx(args, work, pkgdir, ports, res, procs)
        if pages_args(work):
            res.published_s = wait_published(work / "pages", res.projects, tgt.download_path)
            log(f"  every page and file published for nginx {res.published_s:.1f} s later")

        res.checks, res.problems = nginx_checks(ports, tgt, accel_relpath, accel_file)
        log(
            f"  correctness: {res.checks['pages_compared']} page answers compared with the "
            f"app's; download via nginx {res.checks['download_nginx']}; via static "
            f"{res.checks['download_static']}"
        )
        for problem in res.problems:
            log(f"  CHECK: {problem}")

        run_loads(ports, tgt, args, wrk_log, res)
        res.visible = upload_visible(ports["nginx"], tgt.upload_project, args.samples, "97.0")
        res.visible_direct = upload_visible(
            ports["nginx"], tgt.upload_project, args.samples, "96.0", post_port=ports["direct"]
        )
        for how, seen in (("through nginx", res.visible), ("to the app", res.visible_direct)):
            log(
                f"  upload {how}, visible through nginx: {fmt_list(seen.total_ms, 'ms', 1)} "
                f"(after the answer: {fmt_list(seen.after_ms, 'ms', 1)}); the page from "
                f"nginx {seen.by_nginx} times, from the app {seen.by_app}" + err(seen.error)
            )
        for proc in procs:
            if not proc.alive():
                res.error = f"{proc.cmd[0]} died during the run:\n{proc.tail()}"
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        res.error = str(exc)
        log(f"  ERROR: {exc}")
    finally:
        for proc in reversed(procs):
            proc.stop()
        log_error_log(prefix, res)
        if not args.keep:
            shutil.rmtree(pkgdir, ignore_errors=True)
            shutil.rmtree(static_dir, ignore_errors=True)
    return res


def nginx_targets(res: NginxResult) -> list[Check]:
    def chk(label: str, value: float | None, floor: float) -> Check:
        return Check(label, value, f">= {floor:.2f}", None if value is None else value >= floor)

    checks = [
        chk(
            "download req/s, shipped site / static nginx",
            ratio(res.get("download", "nginx"), res.get("download", "static")),
            0.8,
        )
    ]
    median = res.visible.median("total_ms")
    served = res.visible.by_nginx + res.visible.by_app
    checks.append(
        Check(
            "upload visible through nginx, median (ms), every page from nginx",
            median,
            "<= 20 ms, 0 from the app",
            None if median is None or not served else median <= 20 and not res.visible.by_app,
        )
    )
    for key in ("simple", "project", "spread"):
        label = NGINX_LOADS[key].label
        nginx = res.get(key, "nginx")
        checks.append(chk(f"{label} req/s, shipped site / static nginx",
                          ratio(nginx, res.get(key, "static")), 0.5))  # fmt: skip
        checks.append(chk(f"{label} req/s, shipped site / app direct",
                          ratio(nginx, res.get(key, "direct")), 1.0))  # fmt: skip
    return checks


def print_nginx_table(res: NginxResult) -> None:
    cols = "".join(f"{NGINX_MODE_LABELS[m]:>13}" for m in NGINX_MODES)
    head = f"  {'figure':<34}{cols} {'ngx/direct':>11} {'ngx/static':>11}"
    log(head)
    log("  " + "-" * (len(head) - 2))
    for key, load in NGINX_LOADS.items():
        for attr, unit in (("rps", "req/s"), ("p50_ms", "p50 ms"), ("p99_ms", "p99 ms")):
            values = {m: res.get(key, m, attr) for m in NGINX_MODES}
            cells = "".join(f"{fmt_num(values[m], 2):>13}" for m in NGINX_MODES)
            r_direct = ratio(values["nginx"], values["direct"])
            r_static = ratio(values["nginx"], values["static"])
            rd = "" if r_direct is None else f"{r_direct:.2f}x"
            rs = "" if r_static is None else f"{r_static:.2f}x"
            log(f"  {load.label + ' ' + unit:<34}{cells} {rd:>11} {rs:>11}")


def nginx_summary(files: int, ngx: NginxResult, entry: Json) -> None:
    """Print one corpus size's nginx table and targets; store them in its JSON ``entry``."""
    log(f"\n== summary, nginx: {files:,} files (ratios of req/s: higher is better) ==")
    print_nginx_table(ngx)
    if ngx.error:
        log(f"  [n/a: {ngx.error.splitlines()[0]}]")
    log(
        f"  correctness: {len(ngx.problems)} problem(s) in "
        f"{ngx.checks.get('pages_compared', 0)} page comparisons and the download checks"
    )
    nchecks = nginx_targets(ngx)
    log("  targets (informative):")
    for c in nchecks:
        log(c.line())
    entry["nginx"] = asdict(ngx)
    entry["nginx_targets"] = [asdict(c) for c in nchecks]
