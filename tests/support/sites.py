"""What an operator sets up beside a server, as the tests' ``site`` fixtures make it: the
package directory, the account file and the rights file beside it, under one root."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from support.accounts import add_account


class Site:
    """``root/pkgs`` (``pkg``), ``root/htpasswd`` with ``accounts`` made by ``dynopypi
    passwd`` (none: the file is not created) and ``rights`` written to ``htpasswd.rights``,
    where ``-P htpasswd`` finds them. Other directories a test needs go under ``root``."""

    def __init__(
        self,
        root: Path,
        accounts: Iterable[tuple[str, str]] = (),
        rights: str | None = None,
    ) -> None:
        self.root = root
        self.pkg = root / "pkgs"
        self.htpasswd = root / "htpasswd"
        self.rights = Path(f"{self.htpasswd}.rights")
        self.pkg.mkdir()
        for user, password in accounts:
            add_account(self.htpasswd, user, password)
        if rights is not None:
            self.rights.write_text(rights)
