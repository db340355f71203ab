"""The upload mode (``--uploads``): twine and raw POST uploads, per server.

Per server: on a fresh hard-linked copy of the corpus, N ``twine upload`` runs in sequence (one
wheel each, distinct names, ``--disable-progress-bar --non-interactive``, the environment
cleaned of PIP_*/UV_*/TWINE_* and keyring disabled), then N raw multipart POSTs with requests
(legacy API fields and a ``content`` file part; even ones create a project, odd ones add a
release to an existing corpus project). uploads/s is N over the summed twine wall times
(process start included) and over the summed POST round trips. After each POST,
/simple/<project>/ is polled every 2 ms from the moment the response arrived: "visible after
response" is when the first poll that lists the file was sent (0 = visible on the first poll),
also shown to that poll's answer. Targets: dynopypi's median < 20 ms (ideal 0, 100% on the
first poll), and dynopypi's uploads/s >= pypiserver's for both kinds.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import corpus
import requests
from run_common import (
    HOST,
    REPO,
    VISIBLE_TIMEOUT,
    Proc,
    _ms_or_none,
    _sha256,
    free_port,
    http_get,
    log,
)
from run_report import err, fmt_num
from run_servers import start
from run_uploads_report import UploadResult, _median, percentile
from support.fakedist import make_wheel

POLL_INTERVAL = 0.002  # seconds between two polls of the project page
UPLOAD_PAYLOAD = 2048  # bytes of data file in each uploaded wheel


@dataclass(frozen=True)
class UploadItem:
    wheel: Path
    project: str  # normalized name: the page to poll is /simple/<project>/
    version: str
    existing: bool  # a new release of a project already in the corpus


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


def log_raw(res: UploadResult) -> None:
    """The raw POSTs' rate and how soon each upload was listed after its response."""
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


def check_uploads(
    port: int,
    pkgdir: Path,
    twine_wheels: list[Path],
    raw_items: list[UploadItem],
    res: UploadResult,
) -> None:
    """Every upload stored with its bytes; the last twine upload listed on its page."""
    raw_wheels = [item.wheel for item in raw_items[: len(res.raw_post_ms)]]
    stored = twine_wheels[: len(res.twine_s)] + raw_wheels
    res.problems = check_stored(pkgdir, stored)
    if res.twine_s:
        last = twine_wheels[len(res.twine_s) - 1]
        page = f"/simple/{last.name.split('-')[0].replace('_', '-')}/"
        status, body, _ = http_get(port, page, timeout=120)
        if status != 200 or last.name.encode() not in body:
            res.problems.append(f"{page} does not list {last.name} (status {status})")


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
        log_raw(res)
        check_uploads(port, pkgdir, twine_wheels, raw_items, res)
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
