"""The load generator: ``wrk -t2 -cC -dS --timeout 10s --latency``, parsed.

Every throughput and latency figure of every mode comes from here. The machine is shared and
noisy, so ``--repeat`` runs each load several times and keeps the best one.
"""

from __future__ import annotations

import argparse
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from run_common import WRK_TIMEOUT

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}


@dataclass
class WrkResult:
    rps: float | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None
    requests: int = 0
    non_2xx: int = 0
    socket_errors: int = 0
    timeouts: int = 0
    error: str | None = None
    all_rps: list[float | None] = field(default_factory=list)


def _ms(text: str) -> float | None:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text.strip())
    return float(m.group(1)) * _UNITS[m.group(2)] if m else None


def parse_wrk(out: str) -> WrkResult:
    res = WrkResult()
    if m := re.search(r"Requests/sec:\s+([\d.]+)", out):
        res.rps = float(m.group(1))
    if m := re.search(r"(\d+) requests in", out):
        res.requests = int(m.group(1))
    if m := re.search(r"^\s+50%\s+(\S+)", out, re.M):
        res.p50_ms = _ms(m.group(1))
    if m := re.search(r"^\s+99%\s+(\S+)", out, re.M):
        res.p99_ms = _ms(m.group(1))
    if m := re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out):
        res.non_2xx = int(m.group(1))
    if m := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out):
        nums = [int(x) for x in m.groups()]
        res.socket_errors = sum(nums)
        res.timeouts = nums[3]
    if res.requests == 0:
        res.rps = None
    return res


def run_wrk(
    url: str,
    duration: int,
    connections: int,
    script: Path | None,
    logfile: Path,
    headers: dict[str, str] | None = None,
) -> WrkResult:
    cmd = ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--timeout", WRK_TIMEOUT]
    cmd += ["--latency"]
    for key, value in (headers or {}).items():
        cmd += ["-H", f"{key}: {value}"]
    if script is not None:
        cmd += ["-s", str(script)]
    cmd.append(url)
    try:
        done = subprocess.run(
            cmd, capture_output=True, text=True, timeout=duration + 30, check=False
        )
    except subprocess.TimeoutExpired:
        return WrkResult(error="wrk timed out")
    with logfile.open("a") as fh:
        fh.write(f"$ {' '.join(cmd)}\n{done.stdout}{done.stderr}\n")
    res = parse_wrk(done.stdout)
    if done.returncode != 0:
        res.error = f"wrk exit {done.returncode}: {done.stderr.strip()[:200]}"
    return res


def best_wrk(
    url: str,
    args: argparse.Namespace,
    script: Path | None,
    logfile: Path,
    headers: dict[str, str] | None = None,
) -> WrkResult:
    """``--repeat`` wrk runs; keep the least disturbed one (the machine is shared and noisy)."""
    runs = [
        run_wrk(url, args.duration, args.connections, script, logfile, headers)
        for _ in range(args.repeat)
    ]
    best = max(runs, key=lambda r: r.rps or 0.0)
    best.all_rps = [r.rps for r in runs]
    return best
