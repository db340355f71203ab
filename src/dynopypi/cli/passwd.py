"""``dynopypi passwd``: manage htpasswd accounts without Apache's tools."""

from __future__ import annotations

import contextlib
import getpass
import os
import sys
import tempfile
from pathlib import Path

from passlib.apache import HtpasswdFile

from dynopypi.auth.htpasswd import read_htpasswd
from dynopypi.auth.password_hashes import BCRYPT_MAX_BYTES
from dynopypi.errors import ConfigError


def _read_password(stdin: bool) -> str:
    if stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("New password: ")
        if getpass.getpass("Repeat it: ") != password:
            raise ConfigError("the passwords do not match; nothing was changed") from None
    if not password:
        raise ConfigError("an empty password is not allowed; nothing was changed") from None
    size = len(password.encode("utf-8"))
    if size > BCRYPT_MAX_BYTES:  # bcrypt would silently ignore the rest
        raise ConfigError(
            f"the password is {size} bytes long; bcrypt uses only the first "
            f"{BCRYPT_MAX_BYTES}, so choose one of at most {BCRYPT_MAX_BYTES} bytes "
            "(UTF-8); nothing was changed"
        )
    return password


def set_password(path: Path, user: str, *, delete: bool = False, stdin: bool = False) -> int:
    if not user or ":" in user or any(c.isspace() for c in user):
        raise ConfigError(f"user name {user!r} must be non-empty, without ':' or spaces")
    exists = path.exists()
    if delete and not exists:
        raise ConfigError(f"{path} does not exist")
    htpasswd = _open(path, exists)
    if delete:
        if not htpasswd.delete(user):
            raise ConfigError(f"no account {user!r} in {path}")
        message = f"deleted {user!r} from {path}"
    else:
        existed = htpasswd.set_password(user, _read_password(stdin))
        message = f"{'updated' if existed else 'added'} {user!r} in {path}"
    try:
        _write_atomically(path, htpasswd.to_string(), keep_mode=exists)
    except OSError as exc:
        raise ConfigError(
            f"cannot write {path}: {exc.strerror or exc}; nothing was changed"
        ) from None
    print(message)
    return 0


def _open(path: Path, exists: bool) -> HtpasswdFile:
    """The file as passlib edits it; one line saying why when it cannot be used."""
    if exists:
        read_htpasswd(path)  # ConfigError naming the line of a malformed file
    try:
        return HtpasswdFile(str(path), new=not exists, default_scheme="bcrypt")
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot use {path}: {exc}") from None


def _write_atomically(path: Path, data: bytes, *, keep_mode: bool) -> None:
    """Readers (the server) never see a half-written file; mode 0640 for a new file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = path.stat().st_mode & 0o7777 if keep_mode else 0o640
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(temp, mode)
        if keep_mode:
            st = path.stat()
            with contextlib.suppress(PermissionError):
                os.chown(temp, st.st_uid, st.st_gid)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
