"""``dynopypi passwd``: bcrypt htpasswd files, their mode, refusals that change nothing.
(What the server does with the accounts is tested in process, in tests/app/test_auth.py.)"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from passlib.apache import HtpasswdFile
from support.accounts import add_account, passwd

ALICE = ("alice", "alice-pw-0001")
BOB = ("bob", "bob-pw-0002")


# --------------------------------------------------------------------------- dynopypi passwd


def test_passwd_creates_bcrypt_file_with_mode_0640_and_deletes(tmp_path: Path) -> None:
    path = tmp_path / "conf" / "htpasswd"
    path.parent.mkdir()  # passwd creates the file, never a directory (see test_newcomer)
    result = passwd(path, *ALICE)
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    line = path.read_text().strip()
    user, _, digest = line.partition(":")
    assert user == "alice" and digest.startswith(("$2b$", "$2y$", "$2a$")), line
    assert ALICE[1] not in path.read_text()
    assert HtpasswdFile(str(path)).check_password(*ALICE)

    add_account(path, *BOB)
    add_account(path, "alice", "a-new-password")
    accounts = HtpasswdFile(str(path))
    assert sorted(accounts.users()) == ["alice", "bob"]
    assert accounts.check_password("alice", "a-new-password")
    assert not accounts.check_password(*ALICE)
    assert accounts.check_password(*BOB)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640

    os.chmod(path, 0o600)  # an administrator's choice survives updates
    result = passwd(path, *BOB, delete=True)
    assert result.returncode == 0, result.stderr
    assert HtpasswdFile(str(path)).users() == ["alice"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in path.parent.iterdir()) == ["htpasswd"]  # no temp files


@pytest.mark.parametrize(
    ("user", "password", "delete"),
    [("nobody", None, True), ("alice", "", False), ("bad:name", "pw", False),
     ("with space", "pw", False)],
    ids=["delete-unknown", "empty-password", "colon", "space"],
)  # fmt: skip
def test_passwd_refuses_bad_requests_and_changes_nothing(
    tmp_path: Path, user: str, password: str | None, delete: bool
) -> None:
    path = tmp_path / "htpasswd"
    add_account(path, *ALICE)
    before = path.read_bytes()
    result = passwd(path, user, password, delete=delete)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "error" in lines[0].lower(), result.stderr
    assert path.read_bytes() == before
