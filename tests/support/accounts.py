"""Accounts made the documented way, ``dynopypi passwd``, so the tests use what operators use."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

from passlib.apache import HtpasswdFile

TIMEOUT = 60.0


def write_fast_accounts(path: Path, accounts: dict[str, str]) -> Path:
    """Replace ``path`` as ``dynopypi passwd`` does (new inode), with fast apr1 hashes,
    for unit tests that check many logins (bcrypt would cost a quarter second each)."""
    temp = path.with_name(path.name + ".new")
    ht = HtpasswdFile(str(temp), new=True, default_scheme="apr_md5_crypt")
    for user, password in accounts.items():
        ht.set_password(user, password)
    ht.save()
    os.replace(temp, path)
    return path


def passwd(
    htpasswd: Path, user: str, password: str | None = None, *, delete: bool = False
) -> subprocess.CompletedProcess[str]:
    """``dynopypi passwd FILE USER --password-stdin`` (or ``--delete``), in UTF-8 whatever
    the locale, so that non-ASCII names and passwords reach the file unchanged.

    The one process a unit run allows (``support.processes.forbidden_in_unit_run``): a
    one-shot command of the code under test, no server, no client, nothing listening."""
    args = [sys.executable, "-m", "dynopypi", "passwd", str(htpasswd), user]
    args += ["--delete"] if delete else ["--password-stdin"]
    return subprocess.run(
        args,
        input="" if password is None else password + "\n",
        capture_output=True,
        encoding="utf-8",
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},
        timeout=TIMEOUT,
        check=False,
    )


def add_account(htpasswd: Path, user: str, password: str) -> None:
    """Add (or change) an account in ``htpasswd``; fails the test if ``passwd`` fails."""
    result = passwd(htpasswd, user, password)
    assert result.returncode == 0, f"passwd failed: {result.stdout}{result.stderr}"


def delete_account(htpasswd: Path, user: str) -> None:
    """Remove an account from ``htpasswd``; fails the test if ``passwd --delete`` fails."""
    result = passwd(htpasswd, user, delete=True)
    assert result.returncode == 0, f"passwd --delete failed: {result.stdout}{result.stderr}"


def basic(user: str, password: str) -> str:
    """The ``Authorization`` header value of HTTP Basic for ``user`` and ``password``."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
