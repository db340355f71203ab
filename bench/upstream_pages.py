"""Peak memory of dynopypi asked for 8 huge upstream pages at once (issue 18).

An upstream on loopback serves eight different PEP 691 pages of just under 64 MiB
(``MAX_PAGE``), each listing ~250,000 files; eight clients ask dynopypi for the eight
names at once. Printed: the server's peak RSS (VmHWM) before and after, the time each
answer took and its status. Usage: ``.venv/bin/python bench/upstream_pages.py``.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

PAGES = int(sys.argv[1]) if len(sys.argv) > 1 else 8
SIZE = 64 * 1024 * 1024 - 4096


def page(name: str) -> bytes:
    files = []
    size = 60
    i = 0
    while size < SIZE - 400:
        entry = {
            "filename": f"{name}-1.0.{i}-py3-none-any.whl",
            "url": f"/files/{name}-1.0.{i}-py3-none-any.whl",
            "hashes": {"sha256": f"{i:064x}"},
            "size": 1000 + i,
            "upload-time": "2020-01-01T00:00:00Z",
        }
        size += len(json.dumps(entry)) + 2
        files.append(entry)
        i += 1
    return json.dumps({"meta": {"api-version": "1.1"}, "name": name, "files": files}).encode()


def serve(bodies: dict[str, bytes]) -> int:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = bodies.get(self.path)
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/vnd.pypi.simple.v1+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return int(server.server_address[1])


def vm(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) // 1024
    return -1


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> None:
    names = [f"huge{i}" for i in range(PAGES)]
    one = page("huge0")
    print(f"one page: {len(one) / 2**20:.1f} MiB, {one.count(b'filename')} files")
    bodies = {f"/simple/{n}/": one.replace(b"huge0", n.encode()) for n in names}
    upstream = serve(bodies)
    port = free_port()
    work = Path(tempfile.mkdtemp(prefix="pages-"))
    (work / "pkgs").mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-m", "dynopypi", "run", "-p", str(port), "-i", "127.0.0.1",
         "--cache-dir", str(work / "cache"), "--upstream",
         f"http://127.0.0.1:{upstream}/simple/", "--upstream-timeout", "30", "-q",
         str(work / "pkgs")],
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        print(f"peak RSS at start: {vm(proc.pid, 'VmHWM')} MB")

        def ask(name: str) -> str:
            started = time.perf_counter()
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/simple/{name}/", timeout=600
                ) as answer:
                    status = answer.status
                    answer.read()
            except urllib.error.HTTPError as exc:
                status = exc.code
            return f"{name}: {status} in {time.perf_counter() - started:.1f} s"

        with concurrent.futures.ThreadPoolExecutor(PAGES) as pool:
            for line in pool.map(ask, names):
                print(line)
        print(f"peak RSS after {PAGES} pages: {vm(proc.pid, 'VmHWM')} MB "
              f"(now {vm(proc.pid, 'VmRSS')} MB)")  # fmt: skip
    finally:
        proc.terminate()
        proc.wait(30)
        os.system(f"rm -rf {work}")


if __name__ == "__main__":
    main()
