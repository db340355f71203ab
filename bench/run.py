"""Benchmark dynopypi against pypiserver 2.4.2 on the same generated corpus.

Usage (``make bench`` runs ``$(VENV)/bin/python bench/run.py ARGS``):

    python bench/run.py                        # 10,000 projects / 60,000 files, 5 s per wrk run
    python bench/run.py --quick                # 1,000 projects / 6,000 files, 3 s per wrk run
    python bench/run.py --sizes 6000,60000     # both sizes, plus 60k-vs-6k flatness
    python bench/run.py --only dynopypi        # one server only (no ratios)

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

What it prints, per server and corpus size: start time to the first 200 on /simple/ (cold and
warm; dynopypi's cold start has an empty --cache-dir, its warm start reuses it), wrk
throughput and p50/p99 latency for /simple/, one project page, project pages spread over
all projects and one download, the server's RSS after load, dropped-file->visible and
upload->visible latency, and the wall time of ``pip install chain-00`` (20 wheels); then
the dynopypi/pypiserver ratios with the targets (PASS/FAIL is informative only: the script
exits 0 when the servers ran). Figures are saved to bench/out/results-<timestamp>.json.

Only 127.0.0.1 is used; every server runs in its own process group and is killed at the end.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
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

import corpus  # noqa: E402

from dynopypi.fakedist import make_wheel  # noqa: E402

HOST = "127.0.0.1"
PYPISERVER_VENV = OUT / "pypiserver-venv"
PIP_VENV = OUT / "pip-venv"
PYPISERVER_REQS = ("pypiserver==2.4.2", "waitress", "watchdog<2.3", "passlib")
SERVERS = ("pypiserver", "dynopypi")
WRK_TIMEOUT = "10s"
START_TIMEOUT = 180.0
VISIBLE_TIMEOUT = 30.0
FILES_PER_PROJECT = 6

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
    url: str, duration: int, connections: int, script: Path | None, logfile: Path
) -> WrkResult:
    cmd = ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--timeout", WRK_TIMEOUT]
    cmd += ["--latency"]
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


# --------------------------------------------------------------------------- setup


def ensure_wrk() -> None:
    if shutil.which("wrk"):
        return
    log("wrk missing: installing it with apt-get")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    cmd = ["apt-get", "install", "-y", "-q", "wrk"]
    if subprocess.run(cmd, env=env, timeout=300, check=False).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], env=env, timeout=300, check=False)
        subprocess.run(cmd, env=env, timeout=300, check=True)
    if not shutil.which("wrk"):
        raise SystemExit("wrk is required (apt-get install -y wrk)")


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
        proc.stop()
        port = free_port()
        proc, res.start_warm_s = start(name, port, pkgdir, cache_dir, logfile, extra)
        log(f"  start: cold {res.start_cold_s:.2f} s, warm {res.start_warm_s:.2f} s")
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
            runs = [
                run_wrk(base + path, args.duration, args.connections, script, wrk_log)
                for _ in range(args.repeat)
            ]
            # Keep the least disturbed run: the machine is shared and noisy.
            w = max(runs, key=lambda r: r.rps or 0.0)
            w.all_rps = [r.rps for r in runs]
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


# --------------------------------------------------------------------------- main


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
    args = parser.parse_args(argv)
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
    log(f"bench: servers {', '.join(args.servers)}; sizes "
        + ", ".join(f"{f:,} files / {p:,} projects" for p, f in args.size_list)
        + f"; wrk -t2 -c{args.connections} -d{args.duration}s --timeout {WRK_TIMEOUT}; "
        f"load average {os.getloadavg()[0]:.2f}")  # fmt: skip

    load_start = os.getloadavg()
    all_results: dict[int, dict[str, ServerResult]] = {}
    failed = False
    with signals_to_exit():
        try:
            for projects, files in args.size_list:
                corpus_dir = corpus.ensure_corpus(projects, files)
                tgt = make_target(corpus_dir, run_dir)
                size_dir = run_dir / f"f{files}"
                results: dict[str, ServerResult] = {}
                for name in args.servers:
                    log(f"\n== {name}: {files:,} files, {projects:,} projects ==")
                    results[name] = bench_server(name, size_dir, corpus_dir, tgt, args)
                    failed |= results[name].error is not None and results[name].start_warm_s is None
                all_results[files] = results
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
    for files, results in all_results.items():
        log(f"\n== summary: {files:,} files ==")
        print_table(results)
        checks = targets_for_size(results)
        log("  targets (informative):")
        for c in checks:
            log(c.line())
        summary["sizes"][str(files)] = {
            "results": {n: asdict(r) for n, r in results.items()},
            "ratios": {
                k: ratio(FIG[k].get(results["dynopypi"]), FIG[k].get(results["pypiserver"]))
                for k in FIG
            }
            if len(results) == 2
            else {},
            "targets": [asdict(c) for c in checks],
        }
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
