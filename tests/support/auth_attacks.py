"""Tools for the authentication attacks: htpasswd files as Apache writes them, raw
requests with any header bytes from any loopback address (nginx in front: support.nginx).

Every request that is meant to fail comes from an address of its own (``fresh_address``)
unless the test is about the throttle, so the tests do not throttle each other.
"""

from __future__ import annotations

import http.client
import statistics
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from passlib.hash import apr_md5_crypt, bcrypt

from support.accounts import basic
from support.net import fresh_address

TIMEOUT = 60.0
ACCEL = ("--trusted-proxies", "127.0.0.1", "--x-accel-redirect", "/_dynopypi_files/")


def apache_bcrypt(password: str, cost: int) -> str:
    """What ``htpasswd -B -C cost`` writes: ``$2y$`` over the first 72 bytes (Apache's
    crypt_blowfish reads no more, so a longer password is silently truncated)."""
    secret = password.encode()[:72]
    return str(bcrypt.using(rounds=cost, ident="2y").hash(secret))


def write_apache_htpasswd(path: Path, accounts: dict[str, tuple[str, str]]) -> Path:
    """``{user: (kind, password)}`` with kind ``bcrypt-N`` (cost N) or ``apr1``
    (``htpasswd -m``, Apache's default)."""
    lines = []
    for user, (kind, password) in accounts.items():
        if kind == "apr1":
            stored = apr_md5_crypt.hash(password)
        else:
            stored = apache_bcrypt(password, int(kind.split("-")[1]))
        lines.append(f"{user}:{stored}")
    path.write_text("\n".join(lines) + "\n")
    return path


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    seconds: float


def raw_get(
    port: int,
    path: str,
    headers: Mapping[str, str | bytes] | None = None,
    *,
    source: str | None = None,
    method: str = "GET",
) -> Answer:
    """One request whose header values go out byte for byte, from ``source`` (default:
    a fresh loopback address)."""
    conn = http.client.HTTPConnection(
        "127.0.0.1", port, timeout=TIMEOUT, source_address=(source or fresh_address(), 0)
    )
    started = time.perf_counter()
    try:
        conn.putrequest(method, path)
        for key, value in (headers or {}).items():
            conn.putheader(key, value)
        if method == "POST":
            conn.putheader("Content-Length", "0")
        conn.endheaders()
        response = conn.getresponse()
        body = response.read()
        seconds = time.perf_counter() - started
        found = {k.lower(): v for k, v in response.getheaders()}
        return Answer(response.status, found, body, seconds)
    finally:
        conn.close()


def failed_login_medians(port: int, path: str, users: list[str], rounds: int) -> dict[str, float]:
    """The median time of a failed login for each of ``users`` (``ghost...``: a name that
    does not exist, a new one each round), each try from its own address. The users take
    turns within each round, so a burst of load on the machine hits them all alike."""
    times: dict[str, list[float]] = {user: [] for user in users}
    for round_ in range(rounds):
        for user in users:
            name = f"{user}-{round_}" if user.startswith("ghost") else user
            answer = raw_get(port, path, {"Authorization": basic(name, f"wrong-{round_}")})
            assert answer.status == 401, (name, answer)
            times[user].append(answer.seconds)
    return {user: statistics.median(seconds) for user, seconds in times.items()}
