"""What dynopypi keeps in a bucket beside the packages, and how it is spelled (pure).

Layout below the storage prefix::

    <key>                                the package file, e.g. foo-1.0-py3-none-any.whl
    .dynopypi/facts/<key>.json           its digests and metadata fields (``Record``)
    .dynopypi/meta/<key>.metadata        its core metadata (PEP 658), wheels and sdists
    .dynopypi/log/<seq>.json             the journal: one change per object, in order
    .dynopypi/manifest.json.gz           every record and yank up to one journal number

The records are written at upload time, so no replica ever reads an archive to learn what
it holds; the journal is how replicas learn of each other's changes without listing the
bucket; the manifest is where a starting replica begins instead of replaying the journal.
Everything read here may be corrupt or hostile: decoding validates and refuses loudly.
"""

from __future__ import annotations

import gzip
import json
import zlib
from dataclasses import dataclass
from typing import Any

from dynopypi.dists.facts import CacheEntry
from dynopypi.store.base import STATE_PREFIX, BadKey, check_key

FACTS = STATE_PREFIX + "facts/"
META = STATE_PREFIX + "meta/"
LOG = STATE_PREFIX + "log/"
MANIFEST = STATE_PREFIX + "manifest.json.gz"
RECORD_LIMIT = 1024 * 1024  # one facts record or journal entry
MANIFEST_LIMIT = 1024 * 1024 * 1024  # compressed; 60,000 files take about 5 MB
METADATA_LIMIT = 16 * 1024 * 1024


class BadRecord(ValueError):
    """A state object that does not decode: corrupt, truncated or not ours."""


def facts_key(key: str) -> str:
    return FACTS + key + ".json"


def meta_key(key: str) -> str:
    return META + key + ".metadata"


def log_key(seq: int) -> str:
    return f"{LOG}{seq:012d}.json"


def is_package_key(key: str) -> bool:
    return not key.startswith(STATE_PREFIX)


@dataclass(frozen=True)
class Record:
    """One stored file as the index needs it; ``entry`` is the digest cache's row."""

    key: str
    entry: CacheEntry
    version: str  # the object's storage version when the record was made


def record_to_json(record: Record) -> dict[str, Any]:
    e = record.entry
    return {
        "key": record.key,
        "version": record.version,
        "size": e.size,
        "upload_ns": e.mtime_ns,
        "hashes": e.hashes.hex(),
        "extra_hash": e.extra_hash,
        "requires_python": e.requires_python,
        "metadata_sha256": e.metadata_digest.hex() if e.metadata_digest is not None else None,
        "name": e.name,
        "project": e.project,
        "release": e.version,
        "packagetype": e.packagetype,
        "python_tag": e.python_tag,
    }


def _text(data: dict[str, Any], field: str, *, optional: bool = False) -> Any:
    value = data.get(field)
    if value is None and optional:
        return None
    if not isinstance(value, str) or len(value) > 4096:
        raise BadRecord(f"field {field!r} is not a string")
    return value


def _number(data: dict[str, Any], field: str) -> int:
    value = data.get(field)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise BadRecord(f"field {field!r} is not a number")
    return value


def record_from_json(data: Any) -> Record:
    if not isinstance(data, dict):
        raise BadRecord("a record is a JSON object")
    try:
        hashes = bytes.fromhex(_text(data, "hashes"))
        meta = _text(data, "metadata_sha256", optional=True)
        digest = bytes.fromhex(meta) if meta is not None else None
    except ValueError as exc:
        raise BadRecord(f"a digest is not hexadecimal: {exc}") from None
    entry = CacheEntry(
        _number(data, "size"),
        _number(data, "upload_ns"),
        hashes,
        _text(data, "extra_hash", optional=True),
        _text(data, "requires_python", optional=True),
        digest,
        _text(data, "name", optional=True),
        _text(data, "project"),
        _text(data, "release"),
        _text(data, "packagetype"),
        _text(data, "python_tag"),
    )
    return Record(_package_key(_text(data, "key")), entry, _text(data, "version"))


def _package_key(key: str) -> str:
    """A record's key names a package object: inside the storage, outside ``.dynopypi/``."""
    try:
        check_key(key)
    except BadKey as exc:
        raise BadRecord(str(exc)) from None
    if not is_package_key(key):
        raise BadRecord(f"{key[:100]!r} is dynopypi's own state, not a package")
    return key


# ---- journal entries ---------------------------------------------------------------------
@dataclass(frozen=True)
class Added:
    record: Record


@dataclass(frozen=True)
class Removed:
    key: str


@dataclass(frozen=True)
class Yanked:
    key: str
    reason: str | None  # None: un-yanked


Change = Added | Removed | Yanked


BATCH = 500  # changes per journal entry (a record is about 500 bytes: well under the limit)


def encode_entry(changes: list[Change]) -> bytes:
    """One journal entry: a change, or a batch of them (a copy of 60,000 files is 120
    entries, not 60,000 round trips)."""
    if len(changes) == 1:
        return encode_change(changes[0])
    parts = b",".join(encode_change(c) for c in changes)
    return b'{"op":"batch","changes":[' + parts + b"]}"


def decode_entry(raw: bytes) -> list[Change]:
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise BadRecord(f"not JSON: {exc}") from None
    if isinstance(data, dict) and data.get("op") == "batch":
        items = data.get("changes")
        if not isinstance(items, list) or len(items) > 10 * BATCH:
            raise BadRecord("a batch entry holds a list of changes")
        return [_change(item) for item in items]
    return [_change(data)]


def encode_change(change: Change) -> bytes:
    if isinstance(change, Added):
        body: dict[str, Any] = {"op": "add", "record": record_to_json(change.record)}
    elif isinstance(change, Removed):
        body = {"op": "remove", "key": change.key}
    else:
        body = {"op": "yank", "key": change.key, "reason": change.reason}
    return json.dumps(body, separators=(",", ":")).encode()


def decode_change(raw: bytes) -> Change:
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise BadRecord(f"not JSON: {exc}") from None
    return _change(data)


def _change(data: Any) -> Change:
    if not isinstance(data, dict):
        raise BadRecord("a journal entry is a JSON object")
    op = data.get("op")
    if op == "add":
        return Added(record_from_json(data.get("record")))
    if op == "remove":
        return Removed(_package_key(_text(data, "key")))
    if op == "yank":
        return Yanked(_package_key(_text(data, "key")), _text(data, "reason", optional=True))
    raise BadRecord(f"unknown journal operation {str(op)[:40]!r}")


# ---- the manifest ------------------------------------------------------------------------
@dataclass
class State:
    """The bucket as the journal says, up to entry ``seq`` (0: nothing applied)."""

    seq: int
    records: dict[str, Record]
    yanked: dict[str, str]

    def apply(self, change: Change) -> None:
        if isinstance(change, Added):
            self.records[change.record.key] = change.record
        elif isinstance(change, Removed):
            self.records.pop(change.key, None)
            self.yanked.pop(change.key, None)  # a later upload must not inherit the yank
        elif change.reason is None:
            self.yanked.pop(change.key, None)
        elif change.key in self.records:
            self.yanked[change.key] = change.reason


def difference(old: State, new: State) -> list[Change]:
    """The changes that turn ``old`` into ``new``: what a replica that missed pruned
    journal entries tells its index after reloading the manifest (one per changed file)."""
    changes: list[Change] = [
        Added(record) for key, record in new.records.items() if old.records.get(key) != record
    ]
    changes += [Removed(key) for key in old.records.keys() - new.records.keys()]
    changes += [
        Yanked(key, new.yanked.get(key))
        for key in old.yanked.keys() | new.yanked.keys()
        if key in new.records and old.yanked.get(key) != new.yanked.get(key)
    ]
    return changes


def encode_manifest(state: State) -> bytes:
    body = {
        "format": 1,
        "seq": state.seq,
        "records": [record_to_json(r) for r in state.records.values()],
        "yanked": state.yanked,
    }
    return gzip.compress(json.dumps(body, separators=(",", ":")).encode(), compresslevel=5)


def decode_manifest(raw: bytes) -> State:
    try:
        data = json.loads(_gunzip(raw))
    except (ValueError, OSError, EOFError, zlib.error) as exc:
        raise BadRecord(f"the manifest does not decode: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != 1:
        raise BadRecord("the manifest is not format 1")
    records = data.get("records")
    yanked = data.get("yanked")
    if not isinstance(records, list) or not isinstance(yanked, dict):
        raise BadRecord("the manifest lacks records or yanked")
    state = State(_number(data, "seq"), {}, {})
    for item in records:
        record = record_from_json(item)
        state.records[record.key] = record
    state.yanked = {str(k): str(v) for k, v in yanked.items() if k in state.records}
    return state


def _gunzip(raw: bytes) -> bytes:
    """Decompress with a bound: a hostile manifest cannot expand without limit."""
    limit = 8 * MANIFEST_LIMIT
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    out = inflater.decompress(raw, limit + 1)
    if len(out) > limit or inflater.unconsumed_tail:
        raise ValueError("the manifest expands beyond its limit")
    return out
