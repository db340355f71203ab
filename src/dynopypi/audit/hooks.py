"""The audit records of changes the server notices by itself rather than carries out: an
accounts or rights file picked up after someone edited it (``Gate.on_change``), a token
minted by trusted publishing (``Minter.on_mint``), an upload refused at the edge before
its body was read (``edge.gatekeeper``). Set as those parts' callbacks by
``build``, so neither knows of the audit trail.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dynopypi.audit.records import REFUSED, UPLOAD, Event
from dynopypi.audit.trail import AuditTrail
from dynopypi.auth.identity import parse_basic
from dynopypi.auth.rights import default_rights_path


def record_reload(
    audit: AuditTrail, passwords: Path | None, rights: Path | None, what: str
) -> None:
    """``what`` ("accounts" or "rights") was re-read from its file."""
    path = passwords if what == "accounts" else rights
    if what == "rights" and path is None and passwords is not None:
        path = default_rights_path(passwords)
    audit.record(Event(f"{what}-reloaded", {"via": "server"}, extra={"file": str(path)}))


def record_mint(
    audit: AuditTrail,
    token: str,
    projects: tuple[str, ...],
    publisher: str,
    issuer: str,
    subject: str,
) -> None:
    """A token minted by trusted publishing: its id (never the token), for whom."""
    actor = {"publisher": publisher, "issuer": issuer, "subject": subject}
    audit.record(Event("token-mint", actor, project=",".join(projects), extra={"token": token}))


def refused_upload(reason: str, environ: dict[str, Any]) -> Event:
    """An upload refused before its body: who tried (the Basic user name, if one was
    sent; never a password), from where, and why."""
    credentials = parse_basic(environ.get("HTTP_AUTHORIZATION"))
    actor = {"tried": credentials[0]} if credentials is not None else {}
    address = str(environ.get("REMOTE_ADDR", ""))
    return Event(UPLOAD, actor, address, outcome=REFUSED, reason=reason)
