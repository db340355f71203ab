"""How long a failed login takes, per kind of account, against an htpasswd file written the
way Apache's ``htpasswd`` writes them (issue 12 #7: user names must not be guessable by
timing). Prints the median of each kind and its ratio to names that do not exist.

    .venv/bin/python bench/login_timing.py            # 15 tries of each, bcrypt 12/5 + apr1
    .venv/bin/python bench/login_timing.py --cheap    # Apache's defaults only: bcrypt 5 + apr1

Each try comes from its own loopback address so the throttle stays out of the way.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from passlib.hash import apr_md5_crypt, bcrypt

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from support.net import free_port, healthy, wait_ready


def write_file(path: Path, cheap: bool) -> list[str]:
    accounts = {
        "dear": bcrypt.using(rounds=12, ident="2y").hash("pw"),  # dynopypi passwd's cost
        "cheap": bcrypt.using(rounds=5, ident="2y").hash("pw"),  # htpasswd -B
        "old": apr_md5_crypt.hash("pw"),  # htpasswd -m, Apache's default
    }
    if cheap:
        del accounts["dear"]
    path.write_text("".join(f"{user}:{stored}\n" for user, stored in accounts.items()))
    return list(accounts)


def failed_login(port: int, user: str, source: str) -> float:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60, source_address=(source, 0))
    header = "Basic " + base64.b64encode(f"{user}:wrong".encode()).decode()
    started = time.perf_counter()
    conn.request("GET", "/simple/", headers={"Authorization": header})
    response = conn.getresponse()
    response.read()
    conn.close()
    assert response.status == 401, response.status
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tries", type=int, default=15)
    parser.add_argument("--cheap", action="store_true", help="no bcrypt-12 account")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "pkgs").mkdir()
        users = write_file(work / "htpasswd", args.cheap)
        port = free_port()
        command = [sys.executable, "-m", "dynopypi", "run", "-p", str(port), "-i", "127.0.0.1",
                   "-P", str(work / "htpasswd"), "-a", "update,list,download",
                   "--cache-dir", str(work / "cache"), str(work / "pkgs")]  # fmt: skip
        server = subprocess.Popen(command, stderr=subprocess.DEVNULL)
        try:
            problem = wait_ready(healthy(port), timeout=60, process=server)
            assert not problem, problem
            times: dict[str, list[float]] = {user: [] for user in [*users, "unknown"]}
            for i in range(args.tries):
                for n, user in enumerate(times):
                    source = f"127.0.{20 + i}.{n + 2}"
                    name = f"unknown-{i}" if user == "unknown" else user
                    times[user].append(failed_login(port, name, source))
        finally:
            server.terminate()
            server.wait(timeout=30)
    base = statistics.median(times["unknown"])
    for user, seconds in times.items():
        median = statistics.median(seconds)
        print(f"{user:8s} median {median * 1000:8.2f} ms   ratio to unknown {median / base:.3f}")


if __name__ == "__main__":
    main()
