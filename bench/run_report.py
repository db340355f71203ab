"""Report formatting shared by the modes: numbers, wrk lines, ratios, target checks.

Targets are informative: a ``Check`` prints PASS/FAIL (or n/a) and never changes the exit
status.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from run_wrk import WrkResult


def err(text: str | None) -> str:
    return f"  [n/a: {text}]" if text else ""


def fmt_num(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def fmt_wrk(w: WrkResult) -> str:
    extra = ""
    if w.non_2xx or w.socket_errors:
        extra = f", {w.non_2xx} non-2xx, {w.socket_errors} socket errors ({w.timeouts} timeouts)"
    if w.error:
        extra += f", {w.error}"
    if len(w.all_rps) > 1:
        extra += ", best of " + "/".join(fmt_num(r, 0) for r in w.all_rps)
    return (
        f"{fmt_num(w.rps):>10} req/s  p50 {fmt_num(w.p50_ms, 2):>9} ms  "
        f"p99 {fmt_num(w.p99_ms, 2):>9} ms  ({w.requests} requests{extra})"
    )


def fmt_list(values: Sequence[float | None], unit: str, digits: int) -> str:
    if not values:
        return "n/a"
    good = [v for v in values if v is not None]
    shown = ", ".join("timeout" if v is None else f"{v:.{digits}f}" for v in values)
    med = f"median {statistics.median(good):.{digits}f} {unit}" if good else "n/a"
    return f"{med}  ({shown})"


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return a / b


@dataclass
class Check:
    label: str
    value: float | None
    target: str
    ok: bool | None

    def line(self) -> str:
        mark = "n/a " if self.ok is None else ("PASS" if self.ok else "FAIL")
        return f"  [{mark}] {self.label:<52} {fmt_num(self.value, 2):>10}   target {self.target}"
