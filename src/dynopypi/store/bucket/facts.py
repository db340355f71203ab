"""Facts records beside objects: written at upload time, or made once for an object that
arrived another way (read to a temp file, hashed, its metadata extracted).

A record and the core metadata are written with replace semantics: they describe the object
under the same key, so the newest description is the right one.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from pathlib import Path

from dynopypi.core.describe import Describer
from dynopypi.dists.facts import SizeAndTime, read_facts
from dynopypi.dists.names import parse_filename
from dynopypi.errors import InvalidFilename
from dynopypi.store.base import KeyExists, Stat, Storage, VersionChanged
from dynopypi.store.bucket.records import (
    METADATA_LIMIT,
    Record,
    facts_key,
    meta_key,
    record_to_json,
)

log = logging.getLogger(__name__)


def put_replacing(storage: Storage, key: str, data: bytes) -> None:
    """Write ``key`` whatever is there (a small state object, never a package)."""
    for _attempt in range(5):
        try:
            storage.write(key, data, expect=None)
            return
        except KeyExists as exc:
            current = exc.current or storage.stat(key)
            try:
                storage.write(key, data, expect=current.version if current else None)
                return
            except (KeyExists, VersionChanged):
                continue
    log.warning("could not write %s: it kept changing", key)


def store_facts(storage: Storage, record: Record, metadata: bytes | None) -> None:
    if metadata is not None and len(metadata) <= METADATA_LIMIT:
        put_replacing(storage, meta_key(record.key), metadata)
    body = json.dumps(record_to_json(record), separators=(",", ":")).encode()
    put_replacing(storage, facts_key(record.key), body)


def describe_object(storage: Storage, item: Stat, describer: Describer) -> Record | None:
    """Read an object once to make its record (and facts beside it); None if unusable."""
    try:
        parsed = parse_filename(item.key.rsplit("/", 1)[-1])
    except InvalidFilename as exc:
        log.warning("ignoring %s in the bucket: %s", item.key, exc)
        return None
    suffix = "".join(Path(item.key).suffixes[-2:])
    with tempfile.NamedTemporaryFile(prefix="dynopypi-adopt-", suffix=suffix) as temp:
        with storage.open(item.key) as stream:
            shutil.copyfileobj(stream, temp, 1024 * 1024)
        temp.flush()
        facts = read_facts(temp.name, parsed.packagetype, describer.hash_algo)
    if facts.digests is None:
        log.warning("ignoring %s in the bucket: %s", item.key, facts.problem)
        return None
    st = SizeAndTime(item.size, item.modified_ns)
    entry = describer.entry(st, facts, parsed)
    record = Record(item.key, entry, item.version)
    store_facts(storage, record, facts.metadata)
    log.info("adopted %s (found by listing the bucket)", item.key)
    return record
