"""Benchmark dynopypi against pypiserver 2.4.2 on the same generated corpus.

Usage (``make bench`` runs ``$(VENV)/bin/python bench/run.py ARGS``):

    python bench/run.py                        # 10,000 projects / 60,000 files, 5 s per wrk run
    python bench/run.py --quick                # 1,000 projects / 6,000 files, 3 s per wrk run
    python bench/run.py --sizes 6000,60000     # both sizes, plus 60k-vs-6k flatness
    python bench/run.py --only dynopypi        # one server only (no ratios)
    python bench/run.py --quick --nginx --uploads   # plus the nginx and upload modes (~2 min)
    python bench/run.py --quick --no-base --nginx   # the nginx mode alone
    python bench/run.py --quick --no-base --upstream   # the upstream (pull-through) mode alone

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
    --no-base                  skip the base comparison (only with --nginx/--uploads/--upstream)

What it prints, per server and corpus size: start time to the first 200 on /simple/ (cold and
warm; dynopypi's cold start has an empty --cache-dir, its warm start reuses it), wrk
throughput and p50/p99 latency for /simple/, one project page, project pages spread over
all projects and one download, the server's RSS after load, dropped-file->visible and
upload->visible latency, and the wall time of ``pip install chain-00`` (20 wheels); then
the dynopypi/pypiserver ratios with the targets (PASS/FAIL is informative only: the script
exits 0 when the servers ran). Figures are saved to bench/out/results-<timestamp>.json.

nginx mode (--nginx), per corpus size: the SHIPPED nginx/dynopypi.conf, templated by text
substitution into bench/out/run-*/f<N>/nginx/prefix/ (listen 80 -> 127.0.0.1:PORT, the
[::]:80 listen dropped, 127.0.0.1:8180 -> the app's port, /var/lib/dynopypi/packages/ -> a
hard-linked copy of the corpus), under a minimal nginx.conf (daemon off, 2 workers, temp paths
in the prefix, access log off, error log at warn), in front of ``dynopypi run -q -P . -a .
--trusted-proxies 127.0.0.1 --x-accel-redirect /_dynopypi_files/``. The same nginx also
serves a plain static server: the package files through ``location /packages/ { alias ...; }``
and /simple/ and every project page as index.html files, rendered once from the app's own
answers. wrk (same settings) then measures a download through nginx + X-Accel vs static nginx,
and /simple/, one project page and spread project pages through nginx -> app vs the app direct
vs static nginx, plus /simple/ and spread pages with ``Accept-Encoding: gzip, deflate`` (what
pip sends; the shipped config compresses) through nginx vs the app direct. Correctness is
checked once per mode (pages byte-equal to the app's answer, download sha256, a file in a
sub-folder with a local version, Range, If-None-Match, the internal location not public,
PEP 691 JSON, gzip). nginx's error.log warnings are counted and printed. Targets: download via
nginx >= 80% of static nginx; every page via nginx >= the app direct (ratio >= 1.0).

Upload mode (--uploads), per server: on a fresh hard-linked copy of the corpus, N ``twine
upload`` runs in sequence (one wheel each, distinct names, ``--disable-progress-bar
--non-interactive``, the environment cleaned of PIP_*/UV_*/TWINE_* and keyring disabled), then N
raw multipart POSTs with requests (legacy API fields and a ``content`` file part; even ones
create a project, odd ones add a release to an existing corpus project). uploads/s is N over
the summed twine wall times (process start included) and over the summed POST round trips.
After each POST, /simple/<project>/ is polled every 2 ms from the moment the response arrived:
"visible after response" is when the first poll that lists the file was sent (0 = visible on
the first poll), also shown to that poll's answer. Targets: dynopypi's median < 20 ms (ideal 0,
100% on the first poll), and dynopypi's uploads/s >= pypiserver's for both kinds.

Upstream mode (--upstream): dynopypi over the corpus (plus 50 MB wheels in a second
directory) is the upstream of a second dynopypi over an empty directory (``--upstream``).
After one request warms the cache, wrk measures a project page and a download, local on the
upstream vs cached through the second, then the download again through the shipped nginx
site in front of each (apps with ``--x-accel-redirect``); ``pip install chain-00`` runs
local vs through the warm cache. The first fetch of a 50 MB wheel is timed (first byte and
last) against fetching it straight from the upstream, a fresh wheel per round (median of
--first-rounds, default 5), over two links: raw loopback (about 2 GB/s here, where sha256
alone of 50 MB takes as long as the whole direct transfer; a bare nginx relay on the same
path is timed beside it as the floor any proxy meets on this machine), and a 1 Gbit/s link
(bench/link.py, a relay paced to 125 MB/s in front of the upstream, for the direct fetch
and the cache alike; faster than PyPI's CDN). Targets: cached page >= 90% of a local
page's req/s, cached download as fast as local (>= 95%, app direct and through nginx),
first fetch over the 1 Gbit/s link <= 1.2x the direct one with the first byte well before
the last, pip through the warm cache <= 1.2x local; the loopback first fetch is reported
against its floor, without a target.

Only 127.0.0.1 is used; every server (and nginx) runs in its own process group and is killed
at the end.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import http.client
import json
import math
import os
import platform
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
OUT = BENCH_DIR / "out"
sys.path.insert(0, str(BENCH_DIR))
sys.path.append(str(REPO / "tests"))  # support.fakedist: test fixtures, not shipped

import corpus  # noqa: E402
import requests  # noqa: E402
from support.fakedist import make_wheel  # noqa: E402

HOST = "127.0.0.1"
PYPISERVER_VENV = OUT / "pypiserver-venv"
PIP_VENV = OUT / "pip-venv"
PYPISERVER_REQS = ("pypiserver==2.4.2", "waitress", "watchdog<2.3", "passlib")
SERVERS = ("pypiserver", "dynopypi")
WRK_TIMEOUT = "10s"
START_TIMEOUT = 180.0
VISIBLE_TIMEOUT = 30.0
FILES_PER_PROJECT = 6
NGINX_SITE = REPO / "nginx" / "dynopypi.conf"
NGINX_FALLBACK = "/usr/sbin/nginx"

Json = dict[str, Any]


def log(msg: str = "") -> None:
    print(msg, flush=True)


# --------------------------------------------------------------------------- processes


class Proc:
    """A server process in its own session / process group, always killed on stop()."""

    live: dict[int, Proc] = {}  # noqa: RUF012

    def __init__(self, cmd: Sequence[str], logfile: Path, env: dict[str, str] | None = None):
        self.cmd = list(cmd)
        self.logfile = logfile
        self._log = logfile.open("ab")
        self._log.write(f"$ {' '.join(self.cmd)}\n".encode())
        self._log.flush()
        self.started = time.perf_counter()
        self.popen = subprocess.Popen(
            self.cmd,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
        )
        self.pid = self.popen.pid
        Proc.live[self.pid] = self

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self) -> None:
        for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            with suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, sig)
            try:
                self.popen.wait(wait)
                break
            except subprocess.TimeoutExpired:
                continue
        # Kill stragglers of the group even if the leader exited first.
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        self._log.close()
        Proc.live.pop(self.pid, None)

    def tail(self, lines: int = 15) -> str:
        try:
            text = self.logfile.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    @classmethod
    def stop_all(cls) -> None:
        for proc in list(cls.live.values()):
            proc.stop()


def _on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def group_rss_kb(pgid: int) -> int:
    """Sum VmRSS over every process of the group (the server and any children)."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            if int(fields[2]) != pgid:
                continue
            for line in Path(f"/proc/{entry}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except (OSError, ValueError, IndexError):
            continue
    return total


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


# --------------------------------------------------------------------------- HTTP


def http_get(
    port: int, path: str, timeout: float = 30.0, headers: dict[str, str] | None = None
) -> tuple[int, bytes, dict[str, str]]:
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request("GET", path, headers=headers or {})
        resp = conn.getresponse()
        body = resp.read()
        return resp.status, body, {k.lower(): v for k, v in resp.getheaders()}
    finally:
        conn.close()


def http_post(
    port: int, path: str, body: bytes, content_type: str, timeout: float = 30.0
) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request("POST", path, body=body, headers={"Content-Type": content_type})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def wait_first_200(proc: Proc, port: int, path: str, timeout: float) -> float:
    """Seconds from the process spawn to the first 200 answer on ``path``."""
    deadline = proc.started + timeout
    while True:
        if not proc.alive():
            raise RuntimeError(f"server exited with {proc.popen.returncode}:\n{proc.tail()}")
        try:
            status, _, _ = http_get(port, path, timeout=max(1.0, deadline - time.perf_counter()))
            if status == 200:
                return time.perf_counter() - proc.started
        except OSError:
            pass
        if time.perf_counter() > deadline:
            raise RuntimeError(f"no 200 on {path} within {timeout:.0f} s:\n{proc.tail()}")
        time.sleep(0.005)


def wait_visible(port: int, path: str, needle: bytes, t0: float, timeout: float) -> float | None:
    """Poll ``path`` until ``needle`` shows up; return seconds since ``t0`` or None."""
    while True:
        try:
            status, body, _ = http_get(port, path, timeout=timeout)
        except OSError:
            status, body = 0, b""
        now = time.perf_counter()
        if status == 200 and needle in body:
            return now - t0
        if now - t0 > timeout:
            return None
        time.sleep(0.002)


def multipart(
    fields: Sequence[tuple[str, str]], file_field: str, filename: str, data: bytes
) -> tuple[bytes, str]:
    boundary = f"----dynopypi-bench-{uuid.uuid4().hex}"
    parts: list[bytes] = []
    for key, value in fields:
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n'
            f"{value}\r\n".encode()
        )
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{file_field}"; '
        f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'.encode()
        + data
        + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


# --------------------------------------------------------------------------- wrk

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}

WRK_LUA = """\
local paths = {}
for line in io.lines("%(paths)s") do paths[#paths + 1] = line end
local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("thread_id", counter)
end
function init(args)
  math.randomseed(503 + (thread_id or 0))
end
function request()
  return wrk.format("GET", paths[math.random(#paths)])
end
"""


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


# --------------------------------------------------------------------------- setup


def apt_install(package: str) -> None:
    log(f"{package} missing: installing it with apt-get")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    cmd = ["apt-get", "install", "-y", "-q", package]
    if subprocess.run(cmd, env=env, timeout=300, check=False).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], env=env, timeout=300, check=False)
        subprocess.run(cmd, env=env, timeout=300, check=True)


def ensure_wrk() -> None:
    if shutil.which("wrk"):
        return
    apt_install("wrk")
    if not shutil.which("wrk"):
        raise SystemExit("wrk is required (apt-get install -y wrk)")


def nginx_exe() -> str | None:
    found = shutil.which("nginx")
    if found is None and Path(NGINX_FALLBACK).exists():
        found = NGINX_FALLBACK
    return found


def ensure_nginx() -> str:
    exe = nginx_exe()
    if exe is None:
        apt_install("nginx")
        exe = nginx_exe()
    if exe is None:
        raise SystemExit("nginx is required for --nginx (apt-get install -y nginx)")
    return exe


def _venv_ok(python: Path, check: str) -> bool:
    if not python.exists():
        return False
    done = subprocess.run([str(python), "-c", check], capture_output=True, timeout=60)
    return done.returncode == 0


def ensure_pypiserver() -> Path:
    python = PYPISERVER_VENV / "bin" / "python"
    check = (
        "import pypiserver, waitress, watchdog.observers, passlib;"
        "assert pypiserver.__version__ == '2.4.2', pypiserver.__version__;"
        "from pypiserver.__main__ import guess_auto_server, AutoServer;"
        "assert guess_auto_server() is AutoServer.Waitress"
    )
    if not _venv_ok(python, check):
        log(f"creating {PYPISERVER_VENV} ({', '.join(PYPISERVER_REQS)})")
        shutil.rmtree(PYPISERVER_VENV, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(PYPISERVER_VENV)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", *PYPISERVER_REQS],
            check=True,
            timeout=600,
        )
        if not _venv_ok(python, check):
            raise SystemExit("pypiserver venv is broken (see above)")
    return PYPISERVER_VENV / "bin" / "pypi-server"


def ensure_pip_venv() -> Path:
    python = PIP_VENV / "bin" / "python"
    if not _venv_ok(python, "import pip"):
        shutil.rmtree(PIP_VENV, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(PIP_VENV)], check=True, timeout=300)
    return python


def dynopypi_exe() -> Path:
    beside = Path(sys.executable).parent / "dynopypi"
    return beside if beside.exists() else REPO / ".venv" / "bin" / "dynopypi"


def pip_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull
    return env


# --------------------------------------------------------------------------- one server


@dataclass
class Target:
    """What to request in a corpus."""

    simple_path: str
    project: str  # normalized
    project_path: str
    download_path: str
    download_file: Path
    spread_script: Path
    drop_project: str
    upload_project: str
    check_projects: list[dict[str, Any]]
    project_names: set[str]


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


def server_command(
    name: str, port: int, pkgdir: Path, cache_dir: Path, extra: Sequence[str] = ()
) -> list[str]:
    if name == "pypiserver":
        # --server auto picks waitress in 2.4.2 (its --server has no "waitress" choice);
        # --backend cached-dir is the watchdog cache; -a . -P . disables auth;
        # --disable-fallback keeps 404s local instead of redirecting to the public index.
        exe = PYPISERVER_VENV / "bin" / "pypi-server"
        return [
            str(exe), "run", "-p", str(port), "-i", HOST, "--server", "auto",
            "--backend", "cached-dir", "-a", ".", "-P", ".", "--disable-fallback", *extra,
            str(pkgdir),
        ]  # fmt: skip
    # Same access rules as pypiserver: no account needed, uploads included (-a . -P .).
    return [
        str(dynopypi_exe()), "run", "-p", str(port), "-i", HOST, "-a", ".", "-P", ".",
        "--cache-dir", str(cache_dir), *extra, str(pkgdir),
    ]  # fmt: skip


def start(
    name: str, port: int, pkgdir: Path, cache_dir: Path, logfile: Path, extra: Sequence[str]
) -> tuple[Proc, float]:
    proc = Proc(server_command(name, port, pkgdir, cache_dir, extra), logfile)
    try:
        return proc, wait_first_200(proc, port, "/simple/", START_TIMEOUT)
    except BaseException:
        proc.stop()
        raise


_HREF = re.compile(rb'href="([^"]*)"')


def _hrefs(body: bytes) -> list[str]:
    return [h.decode(errors="replace") for h in _HREF.findall(body)]


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
                version = f"{version_base}.{i}"
                fields = [
                    (":action", "file_upload"), ("protocol_version", "1"),
                    ("name", project), ("version", version), ("filetype", "bdist_wheel"),
                    ("pyversion", "py3"), ("metadata_version", "2.1"),
                    ("sha256_digest", hashlib.sha256(data).hexdigest()),
                ]  # fmt: skip
                body, ctype = multipart(fields, "content", wheel.name, data)
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


def _ms_or_none(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1e3


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
        port = free_port()
        extra = shlex.split(args.dynopypi_args if name == "dynopypi" else args.pypiserver_args)
        proc, res.start_cold_s = start(name, port, pkgdir, cache_dir, logfile, extra)
        # a project page is complete when it answers; the whole index when /ready says so
        # (dynopypi reads files behind a cold start: the warm start below then finds them
        # all in the cache, as after any completed start)
        res.cold_page_s = wait_first_200(proc, port, "/simple/chain-00/", START_TIMEOUT)
        if name == "dynopypi":
            res.cold_complete_s = wait_first_200(proc, port, "/ready", START_TIMEOUT)
        proc.stop()
        port = free_port()
        proc, res.start_warm_s = start(name, port, pkgdir, cache_dir, logfile, extra)
        complete = f", complete {res.cold_complete_s:.2f} s" if res.cold_complete_s else ""
        log(
            f"  start: cold {res.start_cold_s:.2f} s (first project page "
            f"{res.cold_page_s:.2f} s{complete}), warm {res.start_warm_s:.2f} s"
        )
        res.rss_idle_mb = group_rss_kb(proc.pid) / 1024
        res.checks = run_checks(port, tgt)
        for problem in res.checks["problems"]:
            log(f"  CHECK: {problem}")
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
            log(f"  {LOAD_LABELS[key]:<22} {fmt_wrk(w)}")
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
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        res.error = str(exc)
        log(f"  ERROR: {exc}")
    finally:
        if proc is not None:
            proc.stop()
        if not args.keep:
            shutil.rmtree(pkgdir, ignore_errors=True)
    return res


# --------------------------------------------------------------------------- formatting

LOAD_LABELS = {
    "simple": "/simple/",
    "project": "one project page",
    "spread": "spread project pages",
    "download": "download",
}


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


# --------------------------------------------------------------------------- figures


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
FIGURES += [
    Figure("rss", "RSS after load", "MB", False, lambda r: r.rss_mb),
    Figure("drop", "dropped file visible (median)", "ms", False, lambda r: r.median("drop_ms")),
    Figure("upload", "upload visible (median)", "ms", False, lambda r: r.median("upload_ms")),
    Figure("pip", "pip install chain-00 (median)", "s", False, lambda r: r.median("pip_s")),
]
FIG = {f.key: f for f in FIGURES}


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


# --------------------------------------------------------------------------- nginx mode

NGINX_MODES = ("nginx", "direct", "static")
NGINX_MODE_LABELS = {"nginx": "nginx->app", "direct": "app direct", "static": "static nginx"}
# What pip and requests send; the shipped config compresses pages for them.
GZIP_HEADERS = (("Accept-Encoding", "gzip, deflate"),)
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
    wrk: dict[str, dict[str, WrkResult]] = field(default_factory=dict)
    checks: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    nginx_log: dict[str, int] = field(default_factory=dict)
    error: str | None = None

    def get(self, load: str, mode: str, attr: str = "rps") -> float | None:
        w = self.wrk.get(load, {}).get(mode)
        value: float | None = getattr(w, attr) if w is not None else None
        return value


def nginx_site_conf(shipped: str, port: int, app_port: int, pkgdir: Path) -> str:
    """The shipped site config with only its addresses and package path changed."""
    text, dropped = re.subn(r"(?m)^[ \t]*listen \[::\]:80;[ \t]*\n", "", shipped)
    subs = (
        ("listen 80;", f"listen {HOST}:{port};"),
        ("127.0.0.1:8180", f"{HOST}:{app_port}"),
        ("/var/lib/dynopypi/packages/", f"{pkgdir}/"),
    )
    missing = [old for old, _ in subs if old not in text]
    if dropped != 1 or missing:
        raise RuntimeError(
            f"{NGINX_SITE} no longer has the lines this bench rewrites "
            f"(listen [::]:80 found {dropped}x; missing {missing})"
        )
    for old, new in subs:
        text = text.replace(old, new)
    return "# nginx/dynopypi.conf, templated by bench/run.py\n" + text


def nginx_static_conf(port: int, static_dir: Path, pkgdir: Path) -> str:
    return f"""\
# The reference: plain static nginx, the same package files and the app's pages as files.
server {{
    listen {HOST}:{port};
    server_name _;
    root {static_dir};
    sendfile on;
    tcp_nopush on;

    location /packages/ {{
        alias {pkgdir}/;
    }}
}}
"""


def nginx_main_conf(prefix: Path) -> str:
    user = ""
    if os.geteuid() == 0:  # workers read the package files as whoever runs the bench
        import grp
        import pwd

        user = f"user {pwd.getpwuid(0).pw_name} {grp.getgrgid(os.getegid()).gr_name};\n"
    temp = "\n".join(
        f"    {kind}_temp_path {prefix}/tmp/{kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""\
# Written by bench/run.py: a minimal nginx around the shipped site config.
daemon off;
master_process on;
worker_processes 2;
{user}pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;

events {{
    worker_connections 1024;
}}

http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log off;
{temp}

    include site.conf;
    include static.conf;
}}
"""


class KeepAlive:
    """One persistent HTTP/1.1 connection (reopened when the server closes it)."""

    def __init__(self, port: int, timeout: float = 60.0) -> None:
        self.port = port
        self.timeout = timeout
        self.conn: http.client.HTTPConnection | None = None

    def get(self, path: str) -> tuple[int, bytes]:
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(HOST, self.port, timeout=self.timeout)
            try:
                self.conn.request("GET", path)
                resp = self.conn.getresponse()
                body = resp.read()
                if resp.will_close:
                    self.close()
                return resp.status, body
            except (http.client.HTTPException, OSError):
                self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def render_static_pages(app_port: int, static_dir: Path) -> int:
    """Write /simple/ and every project page, as the app answers them, as index.html files."""
    conn = KeepAlive(app_port)
    try:
        status, index_body = conn.get("/simple/")
        if status != 200:
            raise RuntimeError(f"app /simple/ answered {status} while rendering static pages")
        (static_dir / "simple").mkdir(parents=True, exist_ok=True)
        (static_dir / "simple" / "index.html").write_bytes(index_body)
        count = 1
        for href in _hrefs(index_body):
            name = href.strip("/")
            if not name or "/" in name or name.startswith("."):
                continue
            status, body = conn.get(f"/simple/{name}/")
            if status != 200:
                raise RuntimeError(f"app /simple/{name}/ answered {status}")
            page = static_dir / "simple" / name
            page.mkdir(exist_ok=True)
            (page / "index.html").write_bytes(body)
            count += 1
        return count
    finally:
        conn.close()


def nginx_log_summary(path: Path) -> dict[str, int]:
    """Count nginx's warnings and errors by message (paths and numbers blanked out)."""
    counts: dict[str, int] = {}
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return counts
    for line in text.splitlines():
        m = re.search(r"\[(warn|error|crit|alert|emerg)\] \d+#\d+: (?:\*\d+ )?(.*)", line)
        if not m:
            continue
        message = m.group(2).split(", client:")[0]
        message = re.sub(r"/\S+", "<path>", message)
        message = re.sub(r"\d+", "N", message)
        key = f"[{m.group(1)}] {message[:140]}"
        counts[key] = counts.get(key, 0) + 1
    return counts


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def nginx_checks(
    ports: dict[str, int], tgt: Target, accel_relpath: str, accel_file: Path
) -> tuple[dict[str, Any], list[str]]:
    """Each mode once: pages byte-equal to the app's own answer, downloads by sha256."""
    out: dict[str, Any] = {}
    problems: list[str] = []
    pages = list(
        dict.fromkeys(
            ["/simple/", tgt.project_path]
            + [f"/simple/{p['normalized']}/" for p in tgt.check_projects[:10]]
        )
    )
    compared = 0
    for path in pages:
        status, direct, _ = http_get(ports["direct"], path, timeout=120)
        if status != 200:
            problems.append(f"app direct {path}: status {status}")
            continue
        for mode in ("nginx", "static"):
            status, body, _ = http_get(ports[mode], path, timeout=120)
            compared += 1
            if status != 200 or body != direct:
                problems.append(
                    f"{NGINX_MODE_LABELS[mode]} {path}: status {status}, {len(body)} bytes, "
                    f"not the app's {len(direct)} bytes"
                )
    out["pages_compared"] = compared

    json_accept = {"Accept": "application/vnd.pypi.simple.v1+json"}
    _, direct_json, dh = http_get(ports["direct"], tgt.project_path, headers=json_accept)
    status, body, nh = http_get(ports["nginx"], tgt.project_path, headers=json_accept)
    if status != 200 or body != direct_json or nh.get("content-type") != dh.get("content-type"):
        problems.append(f"nginx->app PEP 691 JSON {tgt.project_path}: {status}, differs")

    data = tgt.download_file.read_bytes()
    want = _sha256(data)
    for mode in ("nginx", "static"):
        status, body, headers = http_get(ports[mode], tgt.download_path, timeout=60)
        summary = (
            f"{status}, {len(body)} bytes, {headers.get('content-type')}, "
            f"sha256 {'ok' if _sha256(body) == want else 'WRONG'}"
        )
        out[f"download_{mode}"] = summary
        if status != 200 or _sha256(body) != want:
            problems.append(f"{NGINX_MODE_LABELS[mode]} {tgt.download_path}: {summary}")
    status, body, headers = http_get(ports["direct"], tgt.download_path, timeout=60)
    out["download_direct"] = (
        f"{status}, {len(body)} bytes, X-Accel-Redirect: {headers.get('x-accel-redirect')}"
    )
    if status != 200 or not headers.get("x-accel-redirect"):
        problems.append(f"app direct {tgt.download_path}: {out['download_direct']}")

    status, body, _ = http_get(ports["nginx"], f"/packages/{accel_relpath}", timeout=60)
    ok = status == 200 and _sha256(body) == _sha256(accel_file.read_bytes())
    out["download_subdir_local_version"] = f"{status}, sha256 {'ok' if ok else 'WRONG'}"
    if not ok:
        problems.append(f"nginx->app /packages/{accel_relpath}: {status}, {len(body)} bytes")

    status, body, headers = http_get(
        ports["nginx"], tgt.download_path, headers={"Range": "bytes=0-99"}
    )
    out["download_range"] = f"{status}, {len(body)} bytes"
    if status != 206 or body != data[:100]:
        problems.append(f"nginx->app Range bytes=0-99: {status}, {len(body)} bytes")

    internal = f"/_dynopypi_files/0/{tgt.download_file.name}"
    status, _, _ = http_get(ports["nginx"], internal)
    out["internal_location"] = status
    if status != 404:
        problems.append(f"nginx {internal} answered {status}: the internal location is public")

    _, _, headers = http_get(ports["direct"], tgt.project_path)
    etag = headers.get("etag", "")
    status, _, _ = http_get(ports["nginx"], tgt.project_path, headers={"If-None-Match": etag})
    out["conditional_get"] = status
    if status != 304:
        problems.append(f"nginx->app If-None-Match {etag}: {status}, not 304")

    _, plain, _ = http_get(ports["direct"], "/simple/", timeout=120)
    status, body, headers = http_get(
        ports["nginx"], "/simple/", timeout=120, headers=dict(GZIP_HEADERS)
    )
    encoding = headers.get("content-encoding")
    out["simple_gzip"] = f"{status}, {encoding}, {len(body)} of {len(plain)} bytes"
    if status != 200 or (gzip.decompress(body) if encoding == "gzip" else body) != plain:
        problems.append(f"nginx->app /simple/ with gzip: {out['simple_gzip']}, differs")
    return out, problems


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
        app_cmd = [
            str(dynopypi_exe()), "run", "-q", "-p", str(ports["direct"]), "-i", HOST,
            "--cache-dir", str(work / "cache"), "-P", ".", "-a", ".",
            "--trusted-proxies", HOST, "--x-accel-redirect", "/_dynopypi_files/", str(pkgdir),
        ]  # fmt: skip
        app = Proc(app_cmd, work / "app.log")
        procs.append(app)
        res.app_start_s = wait_first_200(app, ports["direct"], "/simple/", START_TIMEOUT)
        t0 = time.perf_counter()
        res.static_pages = render_static_pages(ports["direct"], static_dir)
        res.static_render_s = time.perf_counter() - t0
        log(
            f"  app (X-Accel) up in {res.app_start_s:.2f} s; {res.static_pages:,} static pages "
            f"written in {res.static_render_s:.1f} s"
        )
        shipped = NGINX_SITE.read_text()
        site = nginx_site_conf(shipped, ports["nginx"], ports["direct"], pkgdir)
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

        res.checks, res.problems = nginx_checks(ports, tgt, accel_relpath, accel_file)
        log(
            f"  correctness: {res.checks['pages_compared']} page answers compared with the "
            f"app's; download via nginx {res.checks['download_nginx']}; via static "
            f"{res.checks['download_static']}"
        )
        for problem in res.problems:
            log(f"  CHECK: {problem}")

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
        for proc in procs:
            if not proc.alive():
                res.error = f"{proc.cmd[0]} died during the run:\n{proc.tail()}"
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        res.error = str(exc)
        log(f"  ERROR: {exc}")
    finally:
        for proc in reversed(procs):
            proc.stop()
        res.nginx_log = nginx_log_summary(prefix / "error.log")
        for message, count in sorted(res.nginx_log.items(), key=lambda kv: -kv[1])[:6]:
            log(f"  nginx error.log: {count:>6} x {message}")
        if not res.nginx_log:
            log("  nginx error.log: no warnings or errors")
        if not args.keep:
            shutil.rmtree(pkgdir, ignore_errors=True)
            shutil.rmtree(static_dir, ignore_errors=True)
    return res


def nginx_targets(res: NginxResult) -> list[Check]:
    def chk(label: str, value: float | None, floor: float) -> Check:
        return Check(label, value, f">= {floor:.2f}", None if value is None else value >= floor)

    checks = [
        chk(
            "download req/s, nginx+X-Accel / static nginx",
            ratio(res.get("download", "nginx"), res.get("download", "static")),
            0.8,
        )
    ]
    for key in ("simple", "project", "spread"):
        checks.append(
            chk(
                f"{NGINX_LOADS[key].label} req/s, nginx->app / app direct",
                ratio(res.get(key, "nginx"), res.get(key, "direct")),
                1.0,
            )
        )
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


# --------------------------------------------------------------------------- upload mode

POLL_INTERVAL = 0.002  # seconds between two polls of the project page
UPLOAD_PAYLOAD = 2048  # bytes of data file in each uploaded wheel


@dataclass(frozen=True)
class UploadItem:
    wheel: Path
    project: str  # normalized name: the page to poll is /simple/<project>/
    version: str
    existing: bool  # a new release of a project already in the corpus


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


def twine_exe() -> Path:
    beside = Path(sys.executable).parent / "twine"
    return beside if beside.exists() else REPO / ".venv" / "bin" / "twine"


def twine_env() -> dict[str, str]:
    """No PIP_/UV_/TWINE_ settings from the machine; no keyring look-ups either."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_", "TWINE_"))}
    env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.null.Keyring"
    return env


def poll_visible(
    port: int, path: str, needle: bytes, t_response: float, timeout: float
) -> tuple[float | None, float | None, int]:
    """Poll ``path`` every 2 ms from ``t_response`` on until ``needle`` is listed.

    Returns (seconds to the sending of the first poll that lists it, seconds to its answer,
    polls made); (None, None, polls) after ``timeout``.
    """
    polls = 0
    while True:
        sent = time.perf_counter()
        try:
            status, body, _ = http_get(port, path, timeout=timeout)
        except OSError:
            status, body = 0, b""
        polls += 1
        answered = time.perf_counter()
        if status == 200 and needle in body:
            return sent - t_response, answered - t_response, polls
        if answered - t_response > timeout:
            return None, None, polls
        time.sleep(POLL_INTERVAL)


def run_twine_uploads(
    port: int, wheels: Sequence[Path], res: UploadResult, logfile: Path, budget: float
) -> None:
    exe, env = twine_exe(), twine_env()
    if not exe.exists():
        res.twine_error = f"{exe} not found"
        return
    deadline = time.perf_counter() + budget
    with logfile.open("a") as fh:
        for wheel in wheels:
            if time.perf_counter() > deadline:
                res.twine_error = f"time budget ({budget:.0f} s) spent after {len(res.twine_s)}"
                return
            cmd = [
                str(exe), "upload", "--repository-url", f"http://{HOST}:{port}/",
                "-u", "bench", "-p", "bench", "--disable-progress-bar", "--non-interactive",
                str(wheel),
            ]  # fmt: skip
            t0 = time.perf_counter()
            try:
                done = subprocess.run(
                    cmd, capture_output=True, text=True, timeout=120, env=env, check=False
                )
            except subprocess.TimeoutExpired:
                res.twine_error = f"twine upload {wheel.name} timed out (120 s)"
                return
            took = time.perf_counter() - t0
            fh.write(f"$ {' '.join(cmd)}  # {took:.3f} s\n{done.stdout}{done.stderr}\n")
            if done.returncode != 0:
                tail = (done.stderr or done.stdout).strip().splitlines()[-2:]
                res.twine_error = f"{wheel.name}: exit {done.returncode}: {' | '.join(tail)}"
                return
            res.twine_s.append(took)


def run_raw_uploads(
    port: int, items: Sequence[UploadItem], res: UploadResult, budget: float
) -> None:
    session = requests.Session()
    session.trust_env = False  # no proxy, netrc or CA settings from the environment
    deadline = time.perf_counter() + budget
    try:
        for item in items:
            if time.perf_counter() > deadline:
                res.raw_error = f"time budget ({budget:.0f} s) spent after {len(res.raw_post_ms)}"
                return
            data = item.wheel.read_bytes()
            fields = {
                ":action": "file_upload", "protocol_version": "1", "name": item.project,
                "version": item.version, "filetype": "bdist_wheel", "pyversion": "py3",
                "metadata_version": "2.1", "sha256_digest": _sha256(data),
            }  # fmt: skip
            files = {"content": (item.wheel.name, data, "application/octet-stream")}
            t0 = time.perf_counter()
            try:
                resp = session.post(f"http://{HOST}:{port}/", data=fields, files=files, timeout=60)
            except requests.RequestException as exc:
                res.raw_error = f"POST {item.wheel.name}: {exc}"
                return
            t_response = time.perf_counter()
            if resp.status_code not in (200, 201):
                res.raw_error = f"POST {item.wheel.name} -> {resp.status_code} {resp.text[:120]!r}"
                return
            res.raw_post_ms.append((t_response - t0) * 1e3)
            page, needle = f"/simple/{item.project}/", item.wheel.name.encode()
            sent, answered, polls = poll_visible(port, page, needle, t_response, VISIBLE_TIMEOUT)
            res.raw_visible_ms.append(_ms_or_none(sent))
            res.raw_visible_answered_ms.append(_ms_or_none(answered))
            res.raw_polls.append(polls)
            res.raw_existing.append(item.existing)
    finally:
        session.close()


def upload_items(corpus_dir: Path, wheel_dir: Path, count: int) -> list[UploadItem]:
    """Raw POSTs alternate: a new project, then a new release of an existing one."""
    manifest = corpus.load_manifest(corpus_dir)
    plist: list[dict[str, Any]] = manifest["project_list"]  # type: ignore[assignment]
    known = [
        p["normalized"]
        for p in plist
        if not p["name"].startswith("chain-") and p["name"] == p["normalized"]
    ]
    step = max(1, len(known) // max(1, count))
    payload = b"r" * UPLOAD_PAYLOAD
    items = []
    for i in range(count):
        existing = i % 2 == 1
        project = known[(i * step) % len(known)] if existing else f"bench-raw-{i:03d}"
        version = f"99.0.{i}" if existing else "1.0"
        wheel = make_wheel(wheel_dir, project, version, payload=payload)
        items.append(UploadItem(wheel, project, version, existing))
    return items


def check_stored(pkgdir: Path, wheels: Sequence[Path]) -> list[str]:
    """Every uploaded wheel is in the package folder with the bytes that were sent."""
    problems = []
    for wheel in wheels:
        stored = pkgdir / wheel.name
        if not stored.is_file():
            problems.append(f"{wheel.name} is not in the package folder")
        elif _sha256(stored.read_bytes()) != _sha256(wheel.read_bytes()):
            problems.append(f"{wheel.name} was stored with other bytes")
    return problems


def bench_uploads(
    name: str, size_dir: Path, corpus_dir: Path, args: argparse.Namespace
) -> UploadResult:
    manifest = corpus.load_manifest(corpus_dir)
    res = UploadResult(name, int(manifest["files"]), args.upload_count)  # type: ignore[call-overload]
    work = size_dir / f"uploads-{name}"
    pkgdir, cache_dir, wheel_dir = work / "packages", work / "cache", work / "wheels"
    shutil.rmtree(work, ignore_errors=True)
    cache_dir.mkdir(parents=True)
    wheel_dir.mkdir()
    corpus.link_tree(corpus_dir / "packages", pkgdir)
    payload = b"u" * UPLOAD_PAYLOAD
    twine_wheels = [
        make_wheel(wheel_dir, f"bench-twine-{i:03d}", "1.0", payload=payload)
        for i in range(args.upload_count)
    ]
    raw_items = upload_items(corpus_dir, wheel_dir, args.upload_count)
    proc: Proc | None = None
    try:
        port = free_port()
        extra = shlex.split(args.dynopypi_args if name == "dynopypi" else args.pypiserver_args)
        proc, res.start_s = start(name, port, pkgdir, cache_dir, work / "server.log", extra)
        run_twine_uploads(port, twine_wheels, res, work / "twine.log", args.upload_budget)
        log(
            f"  twine upload x{len(res.twine_s)}: {fmt_num(res.twine_rate(), 2)} uploads/s, "
            f"median {fmt_num(_median(res.twine_s, 1e3), 0)} ms per upload" + err(res.twine_error)
        )
        run_raw_uploads(port, raw_items, res, args.upload_budget)
        first = res.first_poll_pct()
        log(
            f"  raw POST x{len(res.raw_post_ms)}: {fmt_num(res.raw_rate(), 1)} uploads/s, "
            f"median {fmt_num(_median(res.raw_post_ms), 1)} ms per POST" + err(res.raw_error)
        )
        log(
            f"  raw POST visible after the response: median "
            f"{fmt_num(percentile(res.raw_visible_ms, 50), 2)} ms, p95 "
            f"{fmt_num(percentile(res.raw_visible_ms, 95), 2)} ms; on the first poll: "
            f"{fmt_num(first, 0)}%"
        )
        log(
            f"  ... to the answer of that poll: median "
            f"{fmt_num(percentile(res.raw_visible_answered_ms, 50), 1)} ms (new projects "
            f"{fmt_num(res.answered_p50(False), 1)} ms, new releases of existing ones "
            f"{fmt_num(res.answered_p50(True), 1)} ms)"
        )
        raw_wheels = [item.wheel for item in raw_items[: len(res.raw_post_ms)]]
        stored = twine_wheels[: len(res.twine_s)] + raw_wheels
        res.problems = check_stored(pkgdir, stored)
        if res.twine_s:
            last = twine_wheels[len(res.twine_s) - 1]
            page = f"/simple/{last.name.split('-')[0].replace('_', '-')}/"
            status, body, _ = http_get(port, page, timeout=120)
            if status != 200 or last.name.encode() not in body:
                res.problems.append(f"{page} does not list {last.name} (status {status})")
        for problem in res.problems[:8]:
            log(f"  CHECK: {problem}")
        if not proc.alive():
            res.error = f"server died during the run:\n{proc.tail()}"
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        res.error = str(exc)
        log(f"  ERROR: {exc}")
    finally:
        if proc is not None:
            proc.stop()
        if not args.keep:
            shutil.rmtree(pkgdir, ignore_errors=True)
    return res


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


# --------------------------------------------------------------------------- main


# --------------------------------------------------------------------------- upstream mode


BIG_FILE_MB = 50


LINK_RATE = 125_000_000  # bytes/s: a 1 Gbit/s link (bench/link.py)


@dataclass
class FirstFetch:
    """First fetches of fresh 50 MB wheels over one link: seconds per round."""

    direct_s: list[float] = field(default_factory=list)  # straight from the upstream
    through_s: list[float] = field(default_factory=list)  # first fetch through dynopypi
    first_byte_s: list[float] = field(default_factory=list)  # ... its first byte
    relay_s: list[float] = field(default_factory=list)  # through a bare nginx relay

    def median(self, kind: str) -> float | None:
        values: list[float] = getattr(self, kind)
        return statistics.median(values) if values else None

    def show(self, label: str) -> str:
        def ms(kind: str) -> str:
            value = self.median(kind)
            return "n/a" if value is None else f"{value * 1000:,.1f} ms"

        relay = f", bare nginx relay {ms('relay_s')}" if self.relay_s else ""
        return (
            f"  first {BIG_FILE_MB} MB fetch, {label:<9} direct {ms('direct_s')}, through "
            f"dynopypi {ms('through_s')} (first byte {ms('first_byte_s')}){relay}; "
            f"median of {len(self.through_s)}"
        )


@dataclass
class UpstreamResult:
    """dynopypi as a pull-through cache of another dynopypi over the same corpus."""

    wrk: dict[str, WrkResult] = field(default_factory=dict)
    loopback: FirstFetch = field(default_factory=FirstFetch)
    link: FirstFetch = field(default_factory=FirstFetch)  # over LINK_RATE
    pip_local_s: list[float] = field(default_factory=list)
    pip_cached_s: list[float] = field(default_factory=list)
    error: str | None = None


def _timed_get(port: int, path: str) -> tuple[float, float, int]:
    """(seconds to the first body byte, seconds to the last, bytes), streaming."""
    t0 = time.perf_counter()
    conn = http.client.HTTPConnection(HOST, port, timeout=300)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        first = resp.read(1)
        t_first = time.perf_counter() - t0
        total = len(first)
        while chunk := resp.read(1 << 20):
            total += len(chunk)
        if resp.status != 200:
            raise RuntimeError(f"GET {path}: {resp.status}")
        return t_first, time.perf_counter() - t0, total
    finally:
        conn.close()


def relay_nginx_conf(prefix: Path, up_port: int, relay_port: int) -> str:
    """A bare nginx relay in front of the upstream: the floor any proxy meets here."""
    temp = "\n".join(
        f"    {kind}_temp_path {prefix}/tmp/{kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""\
# Written by bench/run.py: the upstream mode's bare relay.
daemon off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{
    worker_connections 256;
}}
http {{
    access_log off;
{temp}
    server {{
        listen {HOST}:{relay_port};
        location / {{ proxy_pass http://{HOST}:{up_port}; }}
    }}
}}
"""


def start_relays(args: argparse.Namespace, work: Path, up_port: int) -> tuple[int, int]:
    """(the bare nginx relay's port, the paced link's port), both in front of the upstream."""
    prefix = work / "nginx"
    for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (prefix / "tmp" / kind).mkdir(parents=True, exist_ok=True)
    relay_port, link_port = free_port(), free_port()
    conf = prefix / "nginx.conf"
    conf.write_text(relay_nginx_conf(prefix, up_port, relay_port))
    cmd = [args.nginx_exe, "-p", f"{prefix}/", "-c", str(conf), "-e", str(prefix / "error.log")]
    ngx = Proc(cmd, work / "nginx.log")
    wait_first_200(ngx, relay_port, "/simple/", 30.0)
    link_cmd = [sys.executable, str(REPO / "bench" / "link.py"), str(link_port), str(up_port),
                str(LINK_RATE)]  # fmt: skip
    link = Proc(link_cmd, work / "link.log")
    wait_first_200(link, link_port, "/simple/", 30.0)
    return relay_port, link_port


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


def first_fetches(
    big: list[Path], out: FirstFetch, direct_port: int, proxy_port: int, relay_port: int | None
) -> None:
    """Per fresh wheel: straight from the upstream (its page cache warm, as for the cache's
    fetch after it), its first fetch through dynopypi, then through a bare relay if asked."""
    from dynopypi.dists import parse_filename

    for wheel in big:
        name = parse_filename(wheel.name).project
        size = wheel.stat().st_size
        out.direct_s.append(_timed_get(direct_port, f"/packages/{wheel.name}")[1])
        http_get(proxy_port, f"/simple/{name}/")
        time.sleep(0.2)  # the page fetch's work is over
        first_byte, whole, got = _timed_get(proxy_port, f"/packages/.upstream/{name}/{wheel.name}")
        if got != size:
            raise RuntimeError(f"first fetch of {wheel.name}: {got} of {size} bytes")
        out.first_byte_s.append(first_byte)
        out.through_s.append(whole)
        time.sleep(0.5)  # the committed file's other digests are computed
        if relay_port is not None:  # after: nginx writes its own 50 MB temp file
            out.relay_s.append(_timed_get(relay_port, f"/packages/{wheel.name}")[1])
            time.sleep(0.2)


def bench_upstream(
    size_dir: Path, corpus_dir: Path, tgt: Target, args: argparse.Namespace
) -> UpstreamResult:
    """Local pages/downloads of one dynopypi vs the same, cached, through a second one."""
    from dynopypi.dists import parse_filename

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
        up, _ = start("dynopypi", up_port, corpus_dir / "packages", work / "c-up",
                      work / "upstream.log", ["-q", str(big_dir)])  # fmt: skip
        wait_first_200(up, up_port, "/ready", START_TIMEOUT)
        relay_port, link_port = start_relays(args, work, up_port)
        extra = ["-q", "--upstream", f"http://{HOST}:{up_port}/simple/"]
        start("dynopypi", px_port, empty, work / "c-px", work / "proxy.log", extra)
        extra2 = ["-q", "--upstream", f"http://{HOST}:{link_port}/simple/"]
        start("dynopypi", px2_port, empty2, work / "c-px2", work / "proxy2.log", extra2)
        first_fetches(big[:rounds], res.loopback, up_port, px_port, relay_port)
        log(res.loopback.show("loopback:"))
        first_fetches(big[rounds:], res.link, link_port, px2_port, None)
        log(res.link.show("1 Gbit/s:"))
        name = parse_filename(tgt.download_file.name).project
        cached_download = f"/packages/.upstream/{name}/{tgt.download_file.name}"
        for path in (tgt.project_path, cached_download):  # warm the cache
            status, _, _ = http_get(px_port, path)
            if status != 200:
                raise RuntimeError(f"proxy GET {path}: {status}")
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
        for port, out in ((up_port, res.pip_local_s), (px_port, res.pip_cached_s)):
            probe = ServerResult("dynopypi", 0, 0)
            run_pip(port, 1, probe, work / "pip.log")  # the first run fills the cache
            run_pip(port, args.pip_runs, probe, work / "pip.log")
            if probe.pip_error:
                raise RuntimeError(probe.pip_error)
            out.extend(probe.pip_s[1:])
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


def make_target(corpus_dir: Path, run_dir: Path) -> Target:
    manifest = corpus.load_manifest(corpus_dir)
    plist: list[dict[str, Any]] = manifest["project_list"]  # type: ignore[assignment]
    others = [p for p in plist if not p["name"].startswith("chain-")]
    # A typical page: the first legacy-named project with six files (or the closest).
    legacy = [p for p in others if p["name"] != p["normalized"]] or others
    typical = min(legacy, key=lambda p: (abs(len(p["files"]) - 6), plist.index(p)))
    plain = [p for p in others if p["name"] == p["normalized"] and len(p["files"]) <= 8]
    drop_project, upload_project = plain[0]["normalized"], plain[1]["normalized"]
    paths = run_dir / f"paths-{manifest['files']}.txt"
    paths.write_text("".join(f"/simple/{p['normalized']}/\n" for p in plist))
    script = run_dir / f"spread-{manifest['files']}.lua"
    script.write_text(WRK_LUA % {"paths": str(paths)})
    step = max(1, len(others) // 25)
    check_projects = [*plist[:2], typical, *others[::step][:25]]
    download = str(manifest["download"])
    return Target(
        simple_path="/simple/",
        project=typical["normalized"],
        project_path=f"/simple/{typical['normalized']}/",
        download_path=f"/packages/{download}",
        download_file=corpus_dir / "packages" / download,
        spread_script=script,
        drop_project=drop_project,
        upload_project=upload_project,
        check_projects=check_projects,
        project_names={p["normalized"] for p in plist},
    )


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
    args = parser.parse_args(argv)
    if args.no_base and not (args.nginx or args.uploads or args.upstream):
        parser.error("--no-base leaves nothing to run without --nginx, --uploads or --upstream")
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


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    with suppress(OSError, subprocess.SubprocessError):
        done = subprocess.run(["wrk", "-v"], capture_output=True, text=True, timeout=10)
        out["wrk"] = (done.stdout + done.stderr).split("\n", 1)[0].strip()
    return out


@contextmanager
def signals_to_exit() -> Iterator[None]:
    old = {s: signal.signal(s, _on_signal) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    run_dir = OUT / f"run-{stamp}"
    run_dir.mkdir(parents=True, exist_ok=True)
    ensure_wrk()
    if "pypiserver" in args.servers:
        ensure_pypiserver()
    if "dynopypi" in args.servers and not dynopypi_exe().exists():
        raise SystemExit(f"{dynopypi_exe()} not found: install the project into the venv")
    ensure_pip_venv()
    args.nginx_exe = None
    if args.nginx and "dynopypi" not in args.servers:
        log("--nginx needs dynopypi: skipped with --only pypiserver")
        args.nginx = False
    if args.nginx or args.upstream:
        args.nginx_exe = ensure_nginx()
    parts = (["base"] if not args.no_base else []) + [
        mode
        for mode, on in (
            ("nginx", args.nginx),
            ("uploads", args.uploads),
            ("upstream", args.upstream),
        )
        if on
    ]
    log(f"bench: {' + '.join(parts)}; servers {', '.join(args.servers)}; sizes "
        + ", ".join(f"{f:,} files / {p:,} projects" for p, f in args.size_list)
        + f"; wrk -t2 -c{args.connections} -d{args.duration}s --timeout {WRK_TIMEOUT}; "
        f"load average {os.getloadavg()[0]:.2f}")  # fmt: skip

    load_start = os.getloadavg()
    all_results: dict[int, dict[str, ServerResult]] = {}
    nginx_results: dict[int, NginxResult] = {}
    upload_results: dict[int, dict[str, UploadResult]] = {}
    upstream_results: dict[int, UpstreamResult] = {}
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
                    all_results[files] = results
                if args.nginx:
                    log(f"\n== nginx: {files:,} files, {projects:,} projects ==")
                    ngx = bench_nginx(size_dir, corpus_dir, tgt, args)
                    nginx_results[files] = ngx
                    failed |= ngx.error is not None and not ngx.wrk
                if args.uploads:
                    uploads: dict[str, UploadResult] = {}
                    for name in args.servers:
                        log(f"\n== uploads, {name}: {files:,} files, {projects:,} projects ==")
                        up = bench_uploads(name, size_dir, corpus_dir, args)
                        uploads[name] = up
                        failed |= up.error is not None and up.start_s is None
                    upload_results[files] = uploads
                if args.upstream:
                    log(f"\n== upstream: {files:,} files, {projects:,} projects ==")
                    upstream_results[files] = bench_upstream(size_dir, corpus_dir, tgt, args)
                    failed |= upstream_results[files].error is not None
        finally:
            Proc.stop_all()

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
        if files in all_results:
            results = all_results[files]
            log(f"\n== summary: {files:,} files ==")
            print_table(results)
            checks = targets_for_size(results)
            log("  targets (informative):")
            for c in checks:
                log(c.line())
            entry["results"] = {n: asdict(r) for n, r in results.items()}
            entry["ratios"] = (
                {
                    k: ratio(FIG[k].get(results["dynopypi"]), FIG[k].get(results["pypiserver"]))
                    for k in FIG
                }
                if len(results) == 2
                else {}
            )
            entry["targets"] = [asdict(c) for c in checks]
        if files in nginx_results:
            ngx = nginx_results[files]
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
        if files in upload_results:
            ups = upload_results[files]
            log(f"\n== summary, uploads: {files:,} files, {args.upload_count} of each kind ==")
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
        if files in upstream_results:
            ups_res = upstream_results[files]
            log(f"\n== summary, upstream: {files:,} files ==")
            if ups_res.error:
                log(f"  [n/a: {ups_res.error.splitlines()[0]}]")
            ustchecks = upstream_targets(ups_res)
            log("  targets (informative):")
            for c in ustchecks:
                log(c.line())
            entry["upstream"] = asdict(ups_res)
            entry["upstream_targets"] = [asdict(c) for c in ustchecks]
    if len(all_results) >= 2:
        small_f, large_f = min(all_results), max(all_results)
        log(f"\n== flatness: {large_f:,} files vs {small_f:,} files (large/small) ==")
        head = f"  {'figure':<34} " + " ".join(f"{n:>12}" for n in args.servers)
        log(head)
        flat: Json = {}
        for name in args.servers:
            flat[name] = flatness(all_results[small_f][name], all_results[large_f][name])
        for fig in FIGURES:
            cells = " ".join(f"{fmt_num(flat[n][fig.key], 2):>12}" for n in args.servers)
            log(f"  {fig.label + ' (' + fig.unit + ')':<34} {cells}")
        summary["flatness"] = flat
        if "dynopypi" in args.servers:
            log("  targets (informative; at most 20% worse per request; /simple/ grows with the")
            log("  project count, so it is not held to it):")
            fchecks = flat_checks(
                all_results[small_f]["dynopypi"], all_results[large_f]["dynopypi"]
            )
            for c in fchecks:
                log(c.line())
            summary["flatness_targets"] = [asdict(c) for c in fchecks]
    out = OUT / f"results-{stamp}.json"
    out.write_text(json.dumps(summary, indent=2, default=str))
    log(f"\nresults: {out}\nlogs: {run_dir}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
