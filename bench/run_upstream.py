"""The upstream mode (``--upstream``): dynopypi as a pull-through cache of another dynopypi.

dynopypi over the corpus (plus 50 MB wheels in a second directory) is the upstream of a second
dynopypi over an empty directory (``--upstream``). After one request warms the cache, wrk
measures a project page and a download, local on the upstream vs cached through the second,
then the download again through the shipped nginx site in front of each (apps with
``--x-accel-redirect``); ``pip install chain-00`` runs local vs through the warm cache. The
first fetch of a 50 MB wheel is timed (first byte and last) against fetching it straight from
the upstream, a fresh wheel per round (median of --first-rounds, default 5), over two links:
raw loopback (about 2 GB/s here, where sha256 alone of 50 MB takes as long as the whole direct
transfer; a bare nginx relay on the same path is timed beside it as the floor any proxy meets
on this machine), and a 1 Gbit/s link (bench/link.py, a relay paced to 125 MB/s in front of the
upstream, for the direct fetch and the cache alike; faster than PyPI's CDN). Targets: cached
page >= 90% of a local page's req/s, cached download as fast as local (>= 95%, app direct and
through nginx), first fetch over the 1 Gbit/s link <= 1.2x the direct one with the first byte
well before the last, pip through the warm cache <= 1.2x local; the loopback first fetch is
reported against its floor, without a target.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path

from run_base import ServerResult, run_pip
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
from run_nginx_site import nginx_main_conf, nginx_site_conf
from run_report import Check, fmt_wrk, ratio
from run_servers import start
from run_target import Target
from run_upstream_fetch import BIG_FILE_MB, FirstFetch, first_fetches, start_relays
from run_wrk import WrkResult, best_wrk
from support.fakedist import make_wheel


@dataclass
class UpstreamResult:
    """dynopypi as a pull-through cache of another dynopypi over the same corpus."""

    wrk: dict[str, WrkResult] = field(default_factory=dict)
    loopback: FirstFetch = field(default_factory=FirstFetch)
    link: FirstFetch = field(default_factory=FirstFetch)  # over LINK_RATE
    pip_local_s: list[float] = field(default_factory=list)
    pip_cached_s: list[float] = field(default_factory=list)
    error: str | None = None


def start_site(
    args: argparse.Namespace, work: Path, app_port: int, pkgdir: Path, cache_dir: Path | None
) -> int:
    """The shipped nginx site in front of one app (its own nginx: the site's zone and
    upstream names are global); with ``cache_dir``, its upstream-files location reads
    that app's upstream cache. Returns the site's port."""
    prefix = work / f"site-{app_port}"
    (prefix / "tmp").mkdir(parents=True, exist_ok=True)
    port = free_port()
    site = nginx_site_conf(NGINX_SITE.read_text(), port, app_port, pkgdir)
    if cache_dir is not None:
        if "/var/cache/dynopypi/" not in site:
            raise RuntimeError(f"{NGINX_SITE} no longer aliases /var/cache/dynopypi/")
        site = site.replace("/var/cache/dynopypi/", f"{cache_dir}/")
    (prefix / "site.conf").write_text(site)
    (prefix / "static.conf").write_text("")
    conf = prefix / "nginx.conf"
    conf.write_text(nginx_main_conf(prefix))
    cmd = [args.nginx_exe, "-p", f"{prefix}/", "-c", str(conf), "-e", str(prefix / "error.log")]
    wait_first_200(Proc(cmd, prefix / "nginx.log"), port, "/simple/", 30.0)
    return port


def start_caches(
    args: argparse.Namespace, work: Path, corpus_dir: Path, ports: tuple[int, int, int]
) -> tuple[int, int]:
    """The upstream, its relays, a cache over loopback and one over the paced link."""
    up_port, px_port, px2_port = ports
    up, _ = start("dynopypi", up_port, corpus_dir / "packages", work / "c-up",
                  work / "upstream.log", ["-q", str(work / "big")])  # fmt: skip
    wait_first_200(up, up_port, "/ready", START_TIMEOUT)
    relay_port, link_port = start_relays(args, work, up_port)
    extra = ["-q", "--upstream", f"http://{HOST}:{up_port}/simple/"]
    start("dynopypi", px_port, work / "empty", work / "c-px", work / "proxy.log", extra)
    extra2 = ["-q", "--upstream", f"http://{HOST}:{link_port}/simple/"]
    start("dynopypi", px2_port, work / "empty2", work / "c-px2", work / "proxy2.log", extra2)
    return relay_port, link_port


def warm_cache(px_port: int, tgt: Target) -> str:
    """The project page and the download through the cache once; the download's cached path."""
    from dynopypi.dists.names import parse_filename

    name = parse_filename(tgt.download_file.name).project
    cached_download = f"/packages/.upstream/{name}/{tgt.download_file.name}"
    for path in (tgt.project_path, cached_download):  # warm the cache
        status, _, _ = http_get(px_port, path)
        if status != 200:
            raise RuntimeError(f"proxy GET {path}: {status}")
    return cached_download


def start_sites(
    args: argparse.Namespace, work: Path, corpus_dir: Path, up_port: int, tgt: Target,
    cached_download: str,
) -> tuple[int, int]:  # fmt: skip
    """The shipped nginx site in front of a local app and of a cache, the cache warmed."""
    empty3 = work / "empty3"
    # the same through the shipped nginx site: the apps answer X-Accel-Redirect
    accel = ["-q", "--trusted-proxies", HOST, "--x-accel-redirect", "/_dynopypi_files/"]
    upx_port, pxx_port = free_port(), free_port()
    start("dynopypi", upx_port, corpus_dir / "packages", work / "c-upx",
          work / "upstream-accel.log", accel)  # fmt: skip
    start("dynopypi", pxx_port, empty3, work / "c-pxx", work / "proxy-accel.log",
          [*accel, "--upstream", f"http://{HOST}:{up_port}/simple/"])  # fmt: skip
    local_site = start_site(args, work, upx_port, corpus_dir / "packages", None)
    cache_site = start_site(args, work, pxx_port, empty3, work / "c-pxx")
    size = tgt.download_file.stat().st_size
    for path in (tgt.project_path, cached_download):  # warm the cache through nginx
        status, body, _ = http_get(cache_site, path)
        if status != 200 or (path == cached_download and len(body) != size):
            raise RuntimeError(f"nginx -> proxy GET {path}: {status}, {len(body)} bytes")
    return local_site, cache_site


def run_pips(
    args: argparse.Namespace, work: Path, up_port: int, px_port: int, res: UpstreamResult
) -> None:
    """pip install chain-00 local vs through the cache, each after a first run that fills it."""
    for port, out in ((up_port, res.pip_local_s), (px_port, res.pip_cached_s)):
        probe = ServerResult("dynopypi", 0, 0)
        run_pip(port, 1, probe, work / "pip.log")  # the first run fills the cache
        run_pip(port, args.pip_runs, probe, work / "pip.log")
        if probe.pip_error:
            raise RuntimeError(probe.pip_error)
        out.extend(probe.pip_s[1:])


def bench_upstream(
    size_dir: Path, corpus_dir: Path, tgt: Target, args: argparse.Namespace
) -> UpstreamResult:
    """Local pages/downloads of one dynopypi vs the same, cached, through a second one."""
    res = UpstreamResult()
    work = size_dir / "upstream"
    shutil.rmtree(work, ignore_errors=True)
    big_dir, empty, empty2, empty3 = (work / d for d in ("big", "empty", "empty2", "empty3"))
    for d in (big_dir, empty, empty2, empty3):
        d.mkdir(parents=True, exist_ok=True)
    rounds = args.first_rounds
    big = [
        make_wheel(big_dir, f"big-{kind}-{i}", "1.0", payload=os.urandom(BIG_FILE_MB << 20))
        for kind in ("loopback", "link")
        for i in range(rounds)
    ]
    up_port, px_port, px2_port = free_port(), free_port(), free_port()
    try:
        relay_port, link_port = start_caches(args, work, corpus_dir, (up_port, px_port, px2_port))
        first_fetches(big[:rounds], res.loopback, up_port, px_port, relay_port)
        log(res.loopback.show("loopback:"))
        first_fetches(big[rounds:], res.link, link_port, px2_port, None)
        log(res.link.show("1 Gbit/s:"))
        cached_download = warm_cache(px_port, tgt)
        local_site, cache_site = start_sites(args, work, corpus_dir, up_port, tgt, cached_download)
        log_file = work / "wrk.log"
        for label, port, path in (
            ("page local", up_port, tgt.project_path),
            ("page cached upstream", px_port, tgt.project_path),
            ("download local", up_port, tgt.download_path),
            ("download cached upstream", px_port, cached_download),
            ("download local, nginx", local_site, tgt.download_path),
            ("download cached upstream, nginx", cache_site, cached_download),
        ):
            res.wrk[label] = best_wrk(f"http://{HOST}:{port}{path}", args, None, log_file)
            log(f"  {label:<32} {fmt_wrk(res.wrk[label])}")
        run_pips(args, work, up_port, px_port, res)
    except (RuntimeError, OSError) as exc:
        res.error = str(exc)
    finally:
        Proc.stop_all()
        for wheel in big:  # 500 MB that no later run needs
            wheel.unlink(missing_ok=True)
    return res


def upstream_targets(res: UpstreamResult) -> list[Check]:
    def rps(label: str) -> float | None:
        w = res.wrk.get(label)
        return w.rps if w else None

    def med(values: list[float]) -> float | None:
        return statistics.median(values) if values else None

    page = ratio(rps("page cached upstream"), rps("page local"))
    dl = ratio(rps("download cached upstream"), rps("download local"))
    dl_nginx = ratio(rps("download cached upstream, nginx"), rps("download local, nginx"))
    link = ratio(res.link.median("through_s"), res.link.median("direct_s"))
    early = ratio(res.link.median("first_byte_s"), res.link.median("through_s"))
    loop = ratio(res.loopback.median("through_s"), res.loopback.median("direct_s"))
    floor = ratio(res.loopback.median("relay_s"), res.loopback.median("direct_s"))
    pip = ratio(med(res.pip_cached_s), med(res.pip_local_s))
    floor_text = "n/a" if floor is None else f"{floor:.2f}"
    return [
        Check("cached upstream page / local page (req/s)", page, ">= 0.90",
              page >= 0.9 if page is not None else None),
        Check("cached upstream download / local download (req/s)", dl, ">= 0.95",
              dl >= 0.95 if dl is not None else None),
        Check("the same through the shipped nginx site (req/s)", dl_nginx, ">= 0.95",
              dl_nginx >= 0.95 if dl_nginx is not None else None),
        Check(f"first {BIG_FILE_MB} MB fetch through / direct, 1 Gbit/s (time)", link, "<= 1.2",
              link <= 1.2 if link is not None else None),
        Check("first byte / whole file, first fetch (time)", early, "< 1.0",
              early < 1.0 if early is not None else None),
        Check(f"first {BIG_FILE_MB} MB fetch through / direct, loopback", loop,
              f"none (bare nginx relay: {floor_text})", None),
        Check("pip install chain-00, warm cache / local (time)", pip, "<= 1.2",
              pip <= 1.2 if pip is not None else None),
    ]  # fmt: skip


def upstream_summary(files: int, ups_res: UpstreamResult, entry: Json) -> None:
    """Print one corpus size's upstream targets; store them in its JSON ``entry``."""
    log(f"\n== summary, upstream: {files:,} files ==")
    if ups_res.error:
        log(f"  [n/a: {ups_res.error.splitlines()[0]}]")
    ustchecks = upstream_targets(ups_res)
    log("  targets (informative):")
    for c in ustchecks:
        log(c.line())
    entry["upstream"] = asdict(ups_res)
    entry["upstream_targets"] = [asdict(c) for c in ustchecks]
