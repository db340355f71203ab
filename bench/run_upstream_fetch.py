"""The upstream mode's first fetches: a fresh 50 MB wheel, straight or through dynopypi.

Over raw loopback, with a bare nginx relay (``proxy_pass``, nothing stored, nothing hashed)
timed on the same path as the floor any proxy meets on this machine, and over a 1 Gbit/s
link (bench/link.py, a relay paced to 125 MB/s) in front of the upstream for the direct fetch
and the cache alike. The first byte through dynopypi is timed as well as the last (its target
wants the first long before the last).
"""

from __future__ import annotations

import argparse
import http.client
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from run_common import HOST, REPO, Proc, free_port, http_get, wait_first_200

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


def first_fetches(
    big: list[Path], out: FirstFetch, direct_port: int, proxy_port: int, relay_port: int | None
) -> None:
    """Per fresh wheel: straight from the upstream (its page cache warm, as for the cache's
    fetch after it), its first fetch through dynopypi, then through a bare relay if asked."""
    from dynopypi.dists.names import parse_filename

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
