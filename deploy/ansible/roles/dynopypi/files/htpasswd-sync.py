"""Make an htpasswd file hold the accounts given as JSON on stdin ([{"name", "password"}]).

Used by the Ansible role: a password is rehashed (bcrypt) only when the stored hash does not
verify it, so a second run changes nothing; prints "changed" or "unchanged". With
"exclusive", accounts not listed are removed. The file is replaced atomically, keeping its
mode and owner, so the server never reads half of it.
"""

import json
import os
import sys
import tempfile

from passlib.apache import HtpasswdFile


def sync(path: str, accounts: list[dict[str, str]], exclusive: bool) -> bool:
    htpasswd = HtpasswdFile(path, default_scheme="bcrypt")
    changed = False
    for account in accounts:
        if htpasswd.check_password(account["name"], account["password"]) is not True:
            htpasswd.set_password(account["name"], account["password"])
            changed = True
    if exclusive:
        for name in set(htpasswd.users()) - {a["name"] for a in accounts}:
            htpasswd.delete(name)
            changed = True
    if changed:
        write(path, htpasswd.to_string())
    return changed


def write(path: str, data: bytes) -> None:
    st = os.stat(path)
    fd, temp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".htpasswd.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(temp, st.st_mode & 0o7777)
        os.chown(temp, st.st_uid, st.st_gid)
        os.replace(temp, path)
    except BaseException:
        os.unlink(temp)
        raise


if __name__ == "__main__":
    changed = sync(sys.argv[1], json.load(sys.stdin), sys.argv[2] == "exclusive")
    print("changed" if changed else "unchanged")
