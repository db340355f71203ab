"""Audit records and the chain that links them (pure).

A record is one JSON object, stored as the exact bytes that are hashed: ``seq`` (its place
in the chain, from 1), ``prev`` (the sha256 of the previous record's bytes; 64 zeros for the
first), the time, who did it (``actor``, from ``actor_of``), from where, what (``action``,
``project``, ``version``, ``files`` with their sha256) and how it ended (``outcome``,
``reason``). Editing a record changes its hash, which the next record no longer names;
removing one leaves a gap in ``seq``; swapping two breaks both links; cutting the end off is
seen against the head (``Head``: the last record's number and hash, kept apart). ``check_chain``
says which of these happened and where.

Every field a client chose is cut to a bound here (``bounded``), so no record is large
whatever the request was.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from dynopypi.auth.identity import Identity

GENESIS = "0" * 64  # the ``prev`` of the first record
RECORD_LIMIT = 64 * 1024  # no record is larger (reads refuse anything bigger)
MAX_TEXT = 500  # characters of any one text field a client chose
MAX_FILES = 50  # file names in one record (a removal of a huge release lists the first)

UPLOAD, OVERWRITE, REMOVE, YANK, UNYANK = "upload", "overwrite", "remove", "yank", "unyank"
OK, REFUSED, UNCHANGED = "ok", "refused", "unchanged"


def actor_of(identity: Identity | None, *, via: str | None = None) -> dict[str, str]:
    """Who acted, as the record says it: the one place an ``Identity`` becomes a record's
    actor, so a new kind of credential (a token id, a trusted publisher) adds its fields
    here. ``via`` names a path without HTTP credentials (``cli``)."""
    actor: dict[str, str] = {}
    if identity is not None and identity.user is not None:
        actor["user"] = identity.user
        if identity.scheme:
            actor["scheme"] = identity.scheme
        scope = identity.scope
        if scope is not None:  # an API token, or one trusted publishing minted
            actor["token"] = scope.token_id
            if scope.publisher:
                actor["publisher"] = scope.publisher
            if scope.issuer:
                actor["issuer"] = scope.issuer
    if via:
        actor["via"] = via
    return actor


@dataclass(frozen=True)
class Event:
    """What happened, before it has a place in the chain."""

    action: str
    actor: Mapping[str, str]
    address: str = ""
    project: str = ""
    version: str = ""
    files: tuple[tuple[str, str], ...] = ()  # (file name, sha256 or "")
    outcome: str = OK
    reason: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)
    at: float | None = None  # when it happened (seconds since the epoch); None: when written


def _cut(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 3] + "..."


def bounded(event: Event) -> dict[str, Any]:
    """The event's fields as a record holds them: every text cut, at most ``MAX_FILES``."""
    files = [{"name": _cut(name), "sha256": digest[:64]} for name, digest in event.files]
    body: dict[str, Any] = {
        "action": _cut(event.action),
        "actor": {_cut(k): _cut(v) for k, v in list(event.actor.items())[:8]},
        "address": _cut(event.address),
        "project": _cut(event.project),
        "version": _cut(event.version),
        "files": files[:MAX_FILES],
        "outcome": event.outcome,
        "reason": _cut(event.reason),
    }
    if len(files) > MAX_FILES:
        body["files_omitted"] = len(files) - MAX_FILES
    body.update({_cut(k): v for k, v in event.extra.items() if k not in body})
    return body


def encode(event: Event, seq: int, prev: str, now: float) -> bytes:
    """The record's bytes: canonical JSON (sorted keys, no spaces), hashed as they are."""
    stamp = datetime.fromtimestamp(now if event.at is None else event.at, timezone.utc).isoformat(
        timespec="milliseconds"
    )
    record = {"seq": seq, "prev": prev, "time": stamp.replace("+00:00", "Z"), **bounded(event)}
    return json.dumps(record, sort_keys=True, separators=(",", ":")).encode()


def digest(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def decode(raw: bytes) -> dict[str, Any] | None:
    """A record's fields, or None when the bytes are not a record."""
    try:
        record = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(record, dict) or not isinstance(record.get("seq"), int):
        return None
    return record


@dataclass(frozen=True)
class Head:
    """The chain's last record as it was anchored: its number and hash."""

    seq: int
    hash: str

    def encode(self) -> bytes:
        return json.dumps({"seq": self.seq, "hash": self.hash}).encode()

    @staticmethod
    def decode(raw: bytes) -> Head | None:
        try:
            found = json.loads(raw)
            return Head(int(found["seq"]), str(found["hash"]))
        except (ValueError, KeyError, TypeError):
            return None


@dataclass(frozen=True)
class Problem:
    seq: int  # where (the record number, or the key's)
    what: str


def check_chain(
    stored: Iterable[tuple[int, bytes]], head: Head | None
) -> tuple[int, list[Problem]]:
    """(records checked, what is wrong) for ``stored``: (number from its key, bytes) in key
    order. Each record must say its own number, follow the one before without a gap and
    name its hash; the anchored ``head`` must be in the chain, as it was anchored."""
    problems: list[Problem] = []
    expected, prev, count, end = 1, GENESIS, 0, 0
    for number, raw in stored:
        count, end = count + 1, number
        if number != expected:
            gap = (
                f"record {expected}"
                if number == expected + 1
                else f"records {expected} to {number - 1}"
            )
            problems.append(Problem(expected, f"{gap} missing (removed)"))
        record = decode(raw)
        if record is None:
            problems.append(Problem(number, f"record {number} is not a readable record"))
        elif record["seq"] != number:
            problems.append(
                Problem(number, f"record {number} says it is record {record['seq']}: moved")
            )
        elif record.get("prev") != prev and number == expected:
            problems.append(
                Problem(
                    number,
                    f"record {number} does not follow record "
                    f"{number - 1}: one of them was edited, or they were "
                    "reordered",
                )
            )
        prev, expected = digest(raw), number + 1
        if head is not None and number == head.seq and prev != head.hash:
            problems.append(
                Problem(
                    number, f"record {number} is not the one anchored as the chain's head: edited"
                )
            )
    if head is not None and end < head.seq:
        problems.append(
            Problem(
                head.seq,
                f"the chain ends at record {end} but its anchored "
                f"head is record {head.seq}: records after {end} were removed",
            )
        )
    return count, problems
