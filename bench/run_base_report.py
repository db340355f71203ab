"""The base comparison's figures, table, targets and flatness (large/small corpus).

Targets: dynopypi at least 100x pypiserver on project pages and 10x on /simple/, p99 under
50 ms, a warm start under 1 s, RSS under 150 MB, dropped files and uploads visible quickly;
with ``--sizes``, per-request cost flat in the corpus size (at most 20% worse).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

from run_base import LOAD_LABELS, ServerResult
from run_common import Json, log
from run_report import Check, fmt_num, ratio


@dataclass(frozen=True)
class Figure:
    key: str
    label: str
    unit: str
    higher_is_better: bool
    get: Callable[[ServerResult], float | None]


def _wrk_get(load: str, attr: str) -> Callable[[ServerResult], float | None]:
    def get(r: ServerResult) -> float | None:
        w = r.wrk.get(load)
        value: float | None = getattr(w, attr) if w is not None else None
        return value

    return get


FIGURES: list[Figure] = [
    Figure("start_cold", "start, cold", "s", False, lambda r: r.start_cold_s),
    Figure("cold_page", "cold: first project page", "s", False, lambda r: r.cold_page_s),
    Figure("cold_complete", "cold: index complete", "s", False, lambda r: r.cold_complete_s),
    Figure("start_warm", "start, warm", "s", False, lambda r: r.start_warm_s),
]


for _load in LOAD_LABELS:
    FIGURES += [
        Figure(f"{_load}_rps", f"{LOAD_LABELS[_load]} req/s", "/s", True, _wrk_get(_load, "rps")),
        Figure(f"{_load}_p50", f"{LOAD_LABELS[_load]} p50", "ms", False, _wrk_get(_load, "p50_ms")),
        Figure(f"{_load}_p99", f"{LOAD_LABELS[_load]} p99", "ms", False, _wrk_get(_load, "p99_ms")),
    ]


def _cold_get(load: str) -> Callable[[ServerResult], float | None]:
    def get(r: ServerResult) -> float | None:
        w = r.cold_wrk.get(load)
        return w.rps if w is not None else None

    return get


FIGURES += [
    Figure("cold_project_rps", "cold, reading: one page req/s", "/s", True, _cold_get("project")),
    Figure("cold_spread_rps", "cold, reading: spread req/s", "/s", True, _cold_get("spread")),
    Figure("rss", "RSS after load", "MB", False, lambda r: r.rss_mb),
    Figure("rss_cold", "RSS after cold start + load", "MB", False, lambda r: r.rss_cold_mb),
    Figure("drop", "dropped file visible (median)", "ms", False, lambda r: r.median("drop_ms")),
    Figure("upload", "upload visible (median)", "ms", False, lambda r: r.median("upload_ms")),
    Figure("pip", "pip install chain-00 (median)", "s", False, lambda r: r.median("pip_s")),
]


FIG = {f.key: f for f in FIGURES}


def targets_for_size(results: dict[str, ServerResult]) -> list[Check]:
    dyn, pyp = results.get("dynopypi"), results.get("pypiserver")
    checks: list[Check] = []

    def both(key: str) -> float | None:
        if dyn is None or pyp is None:
            return None
        return ratio(FIG[key].get(dyn), FIG[key].get(pyp))

    def dget(key: str) -> float | None:
        return FIG[key].get(dyn) if dyn is not None else None

    def chk(label: str, value: float | None, target: str, test: Callable[[float], bool]) -> None:
        checks.append(Check(label, value, target, None if value is None else test(value)))

    chk("one project page req/s, dynopypi/pypiserver", both("project_rps"), ">= 100x",
        lambda v: v >= 100)  # fmt: skip
    chk("spread project pages req/s, dynopypi/pypiserver", both("spread_rps"), ">= 100x",
        lambda v: v >= 100)  # fmt: skip
    chk("/simple/ req/s, dynopypi/pypiserver", both("simple_rps"), ">= 10x", lambda v: v >= 10)
    chk("dynopypi one project page p99 (ms)", dget("project_p99"), "< 50 ms", lambda v: v < 50)
    chk("dynopypi spread project pages p99 (ms)", dget("spread_p99"), "< 50 ms", lambda v: v < 50)
    chk("dynopypi warm start (s)", dget("start_warm"), "< 1 s", lambda v: v < 1)
    chk("dynopypi cold: first project page (s)", dget("cold_page"), "<= 2 s", lambda v: v <= 2)
    chk("dynopypi cold: index complete (s)", dget("cold_complete"), "<= 10 s", lambda v: v <= 10)
    chk("dynopypi RSS after load (MB)", dget("rss"), "< 150 MB", lambda v: v < 150)
    chk("dynopypi RSS after a cold start and the load (MB)", dget("rss_cold"), "<= 150 MB",
        lambda v: v <= 150)  # fmt: skip
    for load in ("project", "spread"):
        during = ratio(dget(f"cold_{load}_rps"), dget(f"{load}_rps"))
        chk(f"dynopypi {LOAD_LABELS[load]} while a cold start reads, /steady", during,
            ">= 0.8", lambda v: v >= 0.8)  # fmt: skip
    drops = [v for v in (dyn.drop_ms if dyn else []) if v is not None]
    worst = max(drops) if dyn and len(drops) == len(dyn.drop_ms) and drops else None
    chk("dynopypi dropped file visible, worst sample (ms)", worst, "< 1000 ms", lambda v: v < 1000)
    chk("dynopypi upload visible, median (ms)", dget("upload"), "< 20 ms", lambda v: v < 20)
    return checks


FLAT_KEYS = ("project_rps", "spread_rps", "download_rps", "project_p50", "spread_p50")


def flatness(small: ServerResult, large: ServerResult) -> dict[str, float | None]:
    out = {k: ratio(FIG[k].get(large), FIG[k].get(small)) for k in FIG}
    return out


def flat_checks(small: ServerResult, large: ServerResult) -> list[Check]:
    """The large corpus may cost at most 20% more per request (being faster is noise)."""
    checks = []
    for key in FLAT_KEYS:
        fig = FIG[key]
        value = ratio(fig.get(large), fig.get(small))
        label = f"dynopypi {fig.label}, {large.files // 1000}k/{small.files // 1000}k"
        target = ">= 0.8" if fig.higher_is_better else "<= 1.2"
        ok = None if value is None else (value >= 0.8 if fig.higher_is_better else value <= 1.2)
        checks.append(Check(label, value, target, ok))
    return checks


def print_table(results: dict[str, ServerResult]) -> None:
    head = f"  {'figure':<34} {'pypiserver':>12} {'dynopypi':>12} {'dyn/pypi':>10}  better"
    log(head)
    log("  " + "-" * (len(head) - 2))
    for fig in FIGURES:
        p = fig.get(results["pypiserver"]) if "pypiserver" in results else None
        d = fig.get(results["dynopypi"]) if "dynopypi" in results else None
        r = ratio(d, p)
        unit = f"{fig.label} ({fig.unit})"
        better = "higher" if fig.higher_is_better else "lower"
        rtxt = "n/a" if r is None else f"{r:,.2f}x"
        log(f"  {unit:<34} {fmt_num(p, 2):>12} {fmt_num(d, 2):>12} {rtxt:>10}  {better}")


def base_summary(files: int, results: dict[str, ServerResult], entry: Json) -> None:
    """Print one corpus size's table and targets; store them in its JSON ``entry``."""
    log(f"\n== summary: {files:,} files ==")
    print_table(results)
    checks = targets_for_size(results)
    log("  targets (informative):")
    for c in checks:
        log(c.line())
    entry["results"] = {n: asdict(r) for n, r in results.items()}
    entry["ratios"] = (
        {k: ratio(FIG[k].get(results["dynopypi"]), FIG[k].get(results["pypiserver"])) for k in FIG}
        if len(results) == 2
        else {}
    )
    entry["targets"] = [asdict(c) for c in checks]


def flatness_summary(
    all_results: dict[int, dict[str, ServerResult]], servers: list[str], summary: Json
) -> None:
    """Print the largest size's figures over the smallest's; store them in ``summary``."""
    small_f, large_f = min(all_results), max(all_results)
    log(f"\n== flatness: {large_f:,} files vs {small_f:,} files (large/small) ==")
    head = f"  {'figure':<34} " + " ".join(f"{n:>12}" for n in servers)
    log(head)
    flat: Json = {}
    for name in servers:
        flat[name] = flatness(all_results[small_f][name], all_results[large_f][name])
    for fig in FIGURES:
        cells = " ".join(f"{fmt_num(flat[n][fig.key], 2):>12}" for n in servers)
        log(f"  {fig.label + ' (' + fig.unit + ')':<34} {cells}")
    summary["flatness"] = flat
    if "dynopypi" in servers:
        log("  targets (informative; at most 20% worse per request; /simple/ grows with the")
        log("  project count, so it is not held to it):")
        fchecks = flat_checks(all_results[small_f]["dynopypi"], all_results[large_f]["dynopypi"])
        for c in fchecks:
            log(c.line())
        summary["flatness_targets"] = [asdict(c) for c in fchecks]
