"""The upload mode's results: what is recorded per server, its figures, table and targets.

Targets: an upload visible on its project page within 20 ms of dynopypi's answer (ideally on
the first poll), and dynopypi at least as many uploads/s as pypiserver for both kinds.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

from run_common import Json, log
from run_report import Check, fmt_num, ratio


@dataclass
class UploadResult:
    server: str
    files: int
    count: int
    start_s: float | None = None
    twine_s: list[float] = field(default_factory=list)  # wall time of each twine process
    twine_error: str | None = None
    raw_post_ms: list[float] = field(default_factory=list)  # request sent -> response read
    # response -> the first poll that listed the file: when it was sent / when it was answered
    raw_visible_ms: list[float | None] = field(default_factory=list)
    raw_visible_answered_ms: list[float | None] = field(default_factory=list)
    raw_polls: list[int] = field(default_factory=list)
    raw_existing: list[bool] = field(default_factory=list)  # per POST: existing project?
    raw_error: str | None = None
    problems: list[str] = field(default_factory=list)
    error: str | None = None

    def twine_rate(self) -> float | None:
        total = sum(self.twine_s)
        return len(self.twine_s) / total if self.twine_s and total > 0 else None

    def raw_rate(self) -> float | None:
        total = sum(self.raw_post_ms) / 1e3
        return len(self.raw_post_ms) / total if self.raw_post_ms and total > 0 else None

    def first_poll_pct(self) -> float | None:
        if not self.raw_polls:
            return None
        return 100.0 * sum(1 for n, v in zip(self.raw_polls, self.raw_visible_ms, strict=True)
                           if n == 1 and v is not None) / len(self.raw_polls)  # fmt: skip

    def answered_p50(self, existing: bool) -> float | None:
        values = [
            v
            for v, e in zip(self.raw_visible_answered_ms, self.raw_existing, strict=True)
            if e == existing
        ]
        return percentile(values, 50)


def percentile(values: Sequence[float | None], pct: float) -> float | None:
    """Nearest-rank percentile; a sample that never became visible counts as infinite."""
    if not values:
        return None
    ordered = sorted(math.inf if v is None else v for v in values)
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


def _median(values: Sequence[float], scale: float = 1.0) -> float | None:
    return statistics.median(values) * scale if values else None


@dataclass(frozen=True)
class UploadFigure:
    label: str
    higher_is_better: bool
    get: Callable[[UploadResult], float | None]


UPLOAD_FIGURES: list[UploadFigure] = [
    UploadFigure("twine upload, uploads/s", True, UploadResult.twine_rate),
    UploadFigure("twine upload, median (ms)", False, lambda r: _median(r.twine_s, 1e3)),
    UploadFigure("raw POST, uploads/s", True, UploadResult.raw_rate),
    UploadFigure("raw POST, median (ms)", False, lambda r: _median(r.raw_post_ms)),
    UploadFigure(
        "raw POST visible after resp., p50 (ms)",
        False,
        lambda r: percentile(r.raw_visible_ms, 50),
    ),
    UploadFigure(
        "raw POST visible after resp., p95 (ms)",
        False,
        lambda r: percentile(r.raw_visible_ms, 95),
    ),
    UploadFigure(
        "  ... to that poll's answer, p50 (ms)",
        False,
        lambda r: percentile(r.raw_visible_answered_ms, 50),
    ),
    UploadFigure("    new projects only (ms)", False, lambda r: r.answered_p50(False)),
    UploadFigure("    existing projects only (ms)", False, lambda r: r.answered_p50(True)),
    UploadFigure("raw POST visible on first poll (%)", True, UploadResult.first_poll_pct),
]


def print_upload_table(results: dict[str, UploadResult]) -> None:
    head = f"  {'figure':<40} {'pypiserver':>12} {'dynopypi':>12} {'dyn/pypi':>10}  better"
    log(head)
    log("  " + "-" * (len(head) - 2))
    for fig in UPLOAD_FIGURES:
        p = fig.get(results["pypiserver"]) if "pypiserver" in results else None
        d = fig.get(results["dynopypi"]) if "dynopypi" in results else None
        r = ratio(d, p) if p not in (None, math.inf) and d != math.inf else None
        rtxt = "n/a" if r is None else f"{r:,.2f}x"
        better = "higher" if fig.higher_is_better else "lower"
        log(f"  {fig.label:<40} {fmt_num(p, 2):>12} {fmt_num(d, 2):>12} {rtxt:>10}  {better}")


def upload_targets(results: dict[str, UploadResult]) -> list[Check]:
    dyn, pyp = results.get("dynopypi"), results.get("pypiserver")
    checks: list[Check] = []

    def chk(label: str, value: float | None, target: str, test: Callable[[float], bool]) -> None:
        checks.append(Check(label, value, target, None if value is None else test(value)))

    visible = percentile(dyn.raw_visible_ms, 50) if dyn else None
    chk("dynopypi raw POST visible after response, p50 (ms)", visible, "< 20 ms (ideal 0)",
        lambda v: v < 20)  # fmt: skip
    chk("dynopypi raw POST visible on the first poll (%)", dyn.first_poll_pct() if dyn else None,
        "100% (ideal)", lambda v: v >= 100)  # fmt: skip
    twine_ratio = raw_ratio = None
    if dyn is not None and pyp is not None:
        twine_ratio = ratio(dyn.twine_rate(), pyp.twine_rate())
        raw_ratio = ratio(dyn.raw_rate(), pyp.raw_rate())
    chk("twine uploads/s, dynopypi/pypiserver", twine_ratio, ">= 1.0", lambda v: v >= 1.0)
    chk("raw POST uploads/s, dynopypi/pypiserver", raw_ratio, ">= 1.0", lambda v: v >= 1.0)
    return checks


def upload_summary(
    files: int, ups: dict[str, UploadResult], upload_count: int, entry: Json
) -> None:
    """Print one corpus size's upload table and targets; store them in its JSON ``entry``."""
    log(f"\n== summary, uploads: {files:,} files, {upload_count} of each kind ==")
    print_upload_table(ups)
    for name, up in ups.items():
        for text in (up.error, up.twine_error, up.raw_error):
            if text:
                log(f"  [{name}: {text.splitlines()[0]}]")
    uchecks = upload_targets(ups)
    log("  targets (informative):")
    for c in uchecks:
        log(c.line())
    entry["uploads"] = {n: asdict(u) for n, u in ups.items()}
    entry["upload_targets"] = [asdict(c) for c in uchecks]
