"""The web UI mode (``--ui``): its pages against the simple page of the same project.

One dynopypi over the corpus (the directory linked as in the base mode), once /ready says the
whole index is read (not while a cold start reads files behind). Each page is requested once
(the first render; the first search builds the search index), then wrk measures, with the
same connections: the simple project page (the reference), the UI project page and a version
page of the same project, the home page, a search by exact name and by a word of the
summaries (every project matches it: the longest results page), the two project pages
gzipped (as browsers and pip ask), and searches for every project's name at random (a wrk
script); then each search alone with two connections (wrk's least: one per thread), for its
latency. Targets: UI project page >= 50% of the simple project page's req/s, search p99
< 50 ms (two connections, so the figure is the search's own time, not a queue's).
"""

from __future__ import annotations

import argparse
import json
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import quote

import corpus
from run_common import HOST, START_TIMEOUT, Json, Proc, free_port, http_get, log, wait_first_200
from run_report import Check, fmt_wrk, ratio
from run_servers import start
from run_target import WRK_LUA, Target
from run_wrk import WrkResult, best_wrk, run_wrk


@dataclass
class UiResult:
    wrk: dict[str, WrkResult] = field(default_factory=dict)
    error: str | None = None


def ui_paths(tgt: Target, version: str) -> dict[str, str]:
    return {
        "simple project page": tgt.project_path,
        "UI project page": f"/project/{tgt.project}/",
        "UI version page": f"/project/{tgt.project}/{quote(version)}/",
        "home page": "/",
        "search, exact name": f"/search?q={quote(tgt.project)}",
        "search, every project": "/search?q=test+package",
    }


def _a_version(port: int, tgt: Target) -> str:
    """A version of the target project, read from its PEP 691 page."""
    accept = {"Accept": "application/vnd.pypi.simple.v1+json"}
    body = http_get(port, tgt.project_path, headers=accept)[1]
    versions = json.loads(body)["versions"]
    return str(versions[0])


def spread_searches(tgt: Target, work: Path) -> Path:
    """A wrk script searching for every project's name in turn, at random: each query new
    to the server for a while (no cache flatters it)."""
    paths = work / "searches.txt"
    paths.write_text("".join(f"/search?q={quote(name)}\n" for name in sorted(tgt.project_names)))
    script = work / "searches.lua"
    script.write_text(WRK_LUA % {"paths": str(paths)})
    return script


def bench_ui(size_dir: Path, corpus_dir: Path, tgt: Target, args: argparse.Namespace) -> UiResult:
    res = UiResult()
    work = size_dir / "ui"
    shutil.rmtree(work, ignore_errors=True)
    (work / "cache").mkdir(parents=True)
    pkgdir = work / "packages"
    corpus.link_tree(corpus_dir / "packages", pkgdir)
    port = free_port()
    log_file = work / "wrk.log"
    try:
        proc, _ = start("dynopypi", port, pkgdir, work / "cache", work / "server.log", ["-q"])
        wait_first_200(proc, port, "/ready", START_TIMEOUT)  # every file read: a still index
        paths = ui_paths(tgt, _a_version(port, tgt))
        for label, path in paths.items():
            status = http_get(port, path)[0]
            if status != 200:
                raise RuntimeError(f"{label}: GET {path} answered {status}")
        for label, path in paths.items():
            res.wrk[label] = best_wrk(f"http://{HOST}:{port}{path}", args, None, log_file)
            log(f"  {label:<36} {fmt_wrk(res.wrk[label])}")
        for label in ("simple project page", "UI project page"):  # as pip and browsers ask
            gz = f"{label}, gzip"
            url = f"http://{HOST}:{port}{paths[label]}"
            res.wrk[gz] = best_wrk(url, args, None, log_file, {"Accept-Encoding": "gzip"})
            log(f"  {gz:<36} {fmt_wrk(res.wrk[gz])}")
        searches = spread_searches(tgt, work)
        base = f"http://{HOST}:{port}"
        res.wrk["search, every name"] = best_wrk(base + "/", args, searches, log_file)
        log(f"  {'search, every name':<36} {fmt_wrk(res.wrk['search, every name'])}")
        for label in ("search, exact name", "search, every project", "search, every name"):
            alone = f"{label}, 2 connections"
            script = searches if label == "search, every name" else None
            url = base + ("/" if script else paths[label])
            res.wrk[alone] = run_wrk(url, args.duration, 2, script, log_file)
            log(f"  {alone:<36} {fmt_wrk(res.wrk[alone])}")
    except (RuntimeError, OSError) as exc:
        res.error = str(exc)
        log(f"  ERROR: {exc}")
    finally:
        Proc.stop_all()
    return res


def ui_targets(res: UiResult) -> list[Check]:
    def rps(label: str) -> float | None:
        w = res.wrk.get(label)
        return w.rps if w else None

    def p99(label: str) -> float | None:
        w = res.wrk.get(label)
        return w.p99_ms if w else None

    page = ratio(rps("UI project page"), rps("simple project page"))
    page_gz = ratio(rps("UI project page, gzip"), rps("simple project page, gzip"))
    version = ratio(rps("UI version page"), rps("simple project page"))
    exact = p99("search, exact name, 2 connections")
    every = p99("search, every project, 2 connections")
    names = p99("search, every name, 2 connections")
    return [
        Check("UI project page / simple project page (req/s)", page, ">= 0.50",
              page >= 0.5 if page is not None else None),
        Check("the same, both gzipped (req/s)", page_gz, ">= 0.50",
              page_gz >= 0.5 if page_gz is not None else None),
        Check("UI version page / simple project page (req/s)", version, ">= 0.50",
              version >= 0.5 if version is not None else None),
        Check("search by exact name, p99 (ms, 2 connections)", exact, "< 50",
              exact < 50 if exact is not None else None),
        Check("search matching every project, p99 (ms, 2 connections)", every, "< 50",
              every < 50 if every is not None else None),
        Check("searches for every name at random, p99 (ms, 2 connections)", names, "< 50",
              names < 50 if names is not None else None),
    ]  # fmt: skip


def ui_summary(files: int, ui_res: UiResult, entry: Json) -> None:
    log(f"\n== summary, web UI: {files:,} files ==")
    if ui_res.error:
        log(f"  [n/a: {ui_res.error.splitlines()[0]}]")
    checks = ui_targets(ui_res)
    log("  targets (informative):")
    for c in checks:
        log(c.line())
    entry["ui"] = asdict(ui_res)
    entry["ui_targets"] = [asdict(c) for c in checks]
