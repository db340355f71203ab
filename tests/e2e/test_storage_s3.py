"""The storage contract on an S3 bucket of a real SeaweedFS, and what only the S3 store does.

Every test of tests/unit/store/test_base.py is collected here again (the star import) with
``backend`` giving an S3 store: one contract, two stores, one place to write a contract test.
The S3 store's failure modes (down, frozen, dying mid-stream) run against a SeaweedFS of the
test's own.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from support.seaweed import S3Place, SeaweedFS
from unit.store.test_base import *  # noqa: F403 - the contract tests, collected again: on S3
from unit.store.test_base import Backend, content, keys

from dynopypi.store.base import Storage, StoreUnavailable
from dynopypi.store.bucket.s3 import S3Storage


def s3_storage(place: S3Place, **config: Any) -> S3Storage:
    return S3Storage(
        place.bucket,
        place.prefix,
        endpoint_url=place.store.endpoint_url,
        client=place.client(**config),
    )


@pytest.fixture  # type: ignore[no-redef]  # replaces the directory's, from the star import
def backend(s3_place: S3Place, tmp_path: Path) -> Backend:
    """A place in the session's SeaweedFS (the unit module's ``backend`` is the directory)."""
    staging = tmp_path / "staging"
    staging.mkdir()
    return Backend("s3", s3_storage(s3_place), staging, s3_place)


# --------------------------------------------------------------------------- S3 store down


def _every_operation(store: Storage, staged: Path, sha: str) -> dict[str, Callable[[], object]]:
    return {
        "check": store.check,
        "list": lambda: list(store.list()),
        "stat": lambda: store.stat("kept.whl"),
        "open": lambda: store.open("kept.whl"),
        "open range": lambda: store.open("kept.whl", 2, 3),
        "read": lambda: store.read("state.json", 100),
        "put_if_absent": lambda: store.put_if_absent("new.whl", staged, sha256=sha),
        "write new": lambda: store.write("new.json", b"x", expect=None),
        "write over": lambda: store.write("state.json", b"x", expect="v"),
        "delete": lambda: store.delete("kept.whl"),
    }


def _assert_unavailable(operations: dict[str, Callable[[], object]]) -> None:
    for name, call in operations.items():
        with pytest.raises(StoreUnavailable) as info:
            call()
        assert info.value.retry_after > 0, name


def test_a_store_that_is_down_is_unavailable_then_recovers(
    seaweed_outage: SeaweedFS, tmp_path: Path
) -> None:
    place = seaweed_outage.place()
    # down, requests are refused at once; back, the first ones may wait for the volumes
    store = s3_storage(place, connect_timeout=1, read_timeout=5, retries={"total_max_attempts": 1})
    staged = tmp_path / "staged"
    staged.write_bytes(b"new bytes")
    sha = hashlib.sha256(b"new bytes").hexdigest()
    kept_path = tmp_path / "kept"
    kept_path.write_bytes(b"kept bytes")
    store.put_if_absent("kept.whl", kept_path, sha256=hashlib.sha256(b"kept bytes").hexdigest())
    state = store.write("state.json", b"{}", expect=None)

    seaweed_outage.kill()
    _assert_unavailable(_every_operation(store, staged, sha))
    assert store.presigned_url("kept.whl", expires=60) is not None  # signing is local

    seaweed_outage.start()  # same data, same port: the same client recovers on its own
    store.check()
    assert content(store, "kept.whl") == b"kept bytes"
    assert store.write("state.json", b"{ }", expect=state.version).size == 3
    assert keys(store.list()) == ["kept.whl", "state.json"]


def test_a_frozen_store_is_unavailable_within_the_timeout(
    seaweed_outage: SeaweedFS, tmp_path: Path
) -> None:
    place = seaweed_outage.place()
    store = s3_storage(place, connect_timeout=1, read_timeout=1, retries={"total_max_attempts": 1})
    store.write("state.json", b"{}", expect=None)
    seaweed_outage.pause()
    try:
        _assert_unavailable(
            {
                "check": store.check,
                "stat": lambda: store.stat("state.json"),
                "write": lambda: store.write("other.json", b"{}", expect=None),
            }
        )
    finally:
        seaweed_outage.resume()
    assert store.read("state.json", 100) is not None


def test_a_download_cut_by_the_store_is_unavailable_not_a_short_file(
    seaweed_outage: SeaweedFS, tmp_path: Path
) -> None:
    place = seaweed_outage.place()
    store = s3_storage(place, connect_timeout=1, read_timeout=2, retries={"total_max_attempts": 1})
    big = tmp_path / "big"
    big.write_bytes(b"q" * 8 * 2**20)
    store.put_if_absent("big.whl", big, sha256=hashlib.sha256(big.read_bytes()).hexdigest())
    stream = store.open("big.whl")
    try:
        assert stream.read(10) == b"q" * 10
        seaweed_outage.kill()
        with pytest.raises(StoreUnavailable):
            while stream.read(65536):
                pass
    finally:
        stream.close()


# --------------------------------------------------------------------------- S3 only


def test_a_bucket_that_is_not_there_is_unavailable(s3_place: S3Place) -> None:
    store = S3Storage(
        "no-such-bucket-here", endpoint_url=s3_place.store.endpoint_url, client=s3_place.client()
    )
    with pytest.raises(StoreUnavailable):
        store.check()
    with pytest.raises(StoreUnavailable):
        list(store.list())


def test_abort_multipart_clears_only_this_prefix(s3_place: S3Place, seaweed: SeaweedFS) -> None:
    client, bucket = s3_place.client(), s3_place.bucket
    elsewhere = seaweed.place(bucket)  # another prefix in the same bucket
    mine = client.create_multipart_upload(Bucket=bucket, Key=s3_place.prefix + "a.whl")
    theirs = client.create_multipart_upload(Bucket=bucket, Key=elsewhere.prefix + "b.whl")
    assert s3_storage(s3_place).abort_multipart() == 1
    left = client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    assert mine["UploadId"] not in {u["UploadId"] for u in left}
    assert theirs["UploadId"] in {u["UploadId"] for u in left}
    client.abort_multipart_upload(
        Bucket=bucket, Key=elsewhere.prefix + "b.whl", UploadId=theirs["UploadId"]
    )
