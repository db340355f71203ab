"""One contract, two stores: every test here runs against the package directory and against
an S3 bucket on a real SeaweedFS, and asserts what ``store.base.Storage``'s docstrings promise.

No in-memory twin stands in for either store: the races (put-if-absent, lost updates) run
real threads against the real thing, so "exactly one wins" is a property of the store's own
conditional operations, not of a lock in the test. The S3 store's failure modes (down,
frozen, dying mid-stream) run against a SeaweedFS of the test's own.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
import requests
from support.seaweed import S3Place, SeaweedFS

from dynopypi.store.base import (
    BadKey,
    KeyExists,
    Missing,
    Stat,
    Storage,
    StoreUnavailable,
    VersionChanged,
)
from dynopypi.store.bucket.s3 import S3Storage
from dynopypi.store.copy.directory import DirectoryStorage

T = TypeVar("T")
RACERS = 8


@dataclass
class Backend:
    """A store under test and what the test needs beside it."""

    kind: str  # "directory" or "s3"
    store: Storage
    staging: Path  # where staged uploads are written (same filesystem as a directory store)
    place: S3Place | None = None
    peer_client: Any = None

    def stage(self, data: bytes, name: str = "upload") -> tuple[Path, str]:
        """A staged upload holding ``data``, and its sha256."""
        path = self.staging / f"{name}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"
        path.write_bytes(data)
        return path, hashlib.sha256(data).hexdigest()

    def plant(self, raw_key: str, data: bytes) -> None:
        """Put an object in place behind the store's back (an operator, another tool)."""
        if self.place is None:
            assert isinstance(self.store, DirectoryStorage)
            path = self.store.root / raw_key
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        else:
            self.place.client().put_object(
                Bucket=self.place.bucket, Key=self.place.prefix + raw_key, Body=data
            )

    def other_store(self) -> Storage:
        """Another handle on the same store, as another replica would have. (The S3 ones
        share one second client: boto3 clients are thread-safe and take 0.3 s to make; the
        conditions that decide a race are evaluated by the store, not the client.)"""
        if self.place is None:
            assert isinstance(self.store, DirectoryStorage)
            return DirectoryStorage(self.store.root)
        if self.peer_client is None:
            self.peer_client = self.place.client(max_pool_connections=RACERS)
        return S3Storage(
            self.place.bucket,
            self.place.prefix,
            endpoint_url=self.place.store.endpoint_url,
            client=self.peer_client,
        )


def s3_storage(place: S3Place, **config: Any) -> S3Storage:
    return S3Storage(
        place.bucket,
        place.prefix,
        endpoint_url=place.store.endpoint_url,
        client=place.client(**config),
    )


@pytest.fixture(params=["directory", "s3"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    staging = tmp_path / "staging"
    staging.mkdir()
    if request.param == "directory":
        root = tmp_path / "packages"
        root.mkdir()
        return Backend("directory", DirectoryStorage(root), staging)
    place: S3Place = request.getfixturevalue("s3_place")
    return Backend("s3", s3_storage(place), staging, place)


def race(count: int, work: Callable[[int], T]) -> list[T | BaseException]:
    """Run ``work(n)`` for n in range(count) on threads released together; each result or
    the exception it raised, in order."""
    barrier = threading.Barrier(count)
    results: list[T | BaseException] = [RuntimeError("not run")] * count

    def run(n: int) -> None:
        barrier.wait()
        try:
            results[n] = work(n)
        except BaseException as exc:  # the outcome under test
            results[n] = exc

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def content(store: Storage, key: str) -> bytes:
    with store.open(key) as stream:
        return stream.read()


def keys(stats: Iterator[Stat]) -> list[str]:
    return sorted(stat.key for stat in stats)


# --------------------------------------------------------------------------- keys


BAD_KEYS = ["../x", "a/../../x", "/x", "/", "a//b", "a\\b", "a\x00b", ".", "a/./b", "", "a/", ".."]


@pytest.mark.parametrize("key", BAD_KEYS)
def test_a_key_that_could_leave_the_store_is_refused_before_any_io(
    backend: Backend, key: str
) -> None:
    store = backend.store
    staged, sha = backend.stage(b"x")
    calls: dict[str, Callable[[], object]] = {
        "stat": lambda: store.stat(key),
        "open": lambda: store.open(key),
        "open range": lambda: store.open(key, 1, 2),
        "read": lambda: store.read(key, 100),
        "put_if_absent": lambda: store.put_if_absent(key, staged, sha256=sha),
        "write new": lambda: store.write(key, b"x", expect=None),
        "write over": lambda: store.write(key, b"x", expect="v"),
        "delete": lambda: store.delete(key),
        "local_path": lambda: store.local_path(key),
        "presigned_url": lambda: store.presigned_url(key, expires=60),
    }
    accepted = []
    for name, call in calls.items():
        try:
            call()
        except BadKey:
            continue
        accepted.append(name)
    assert accepted == []
    assert keys(store.list()) == []


# --------------------------------------------------------------------------- list


def test_list_gives_every_object_under_a_prefix_at_any_depth(backend: Backend) -> None:
    store = backend.store
    written = {
        "a-1.0.whl": b"a",
        "sub/b-1.0.tar.gz": b"bb",
        "sub/deeper/still/c-1.0.zip": b"ccc",
        "subway/d-1.0.whl": b"dddd",
        "z/e-1.0.whl": b"",
    }
    for key, data in written.items():
        staged, sha = backend.stage(data, key.replace("/", "_"))
        store.put_if_absent(key, staged, sha256=sha)
    assert keys(store.list()) == sorted(written)
    assert keys(store.list("sub/")) == ["sub/b-1.0.tar.gz", "sub/deeper/still/c-1.0.zip"]
    assert keys(store.list("sub")) == [
        "sub/b-1.0.tar.gz",
        "sub/deeper/still/c-1.0.zip",
        "subway/d-1.0.whl",
    ]
    assert keys(store.list("sub/deeper/")) == ["sub/deeper/still/c-1.0.zip"]
    assert keys(store.list("a-1")) == ["a-1.0.whl"]
    assert keys(store.list("nothing/")) == []
    for listed in store.list():
        assert listed.size == len(written[listed.key])
        found = store.stat(listed.key)
        assert found is not None
        assert (found.size, found.version) == (listed.size, listed.version)


def test_list_shows_state_objects_written_with_write(backend: Backend) -> None:
    """``write`` is for dynopypi's own objects; they list like any other (a caller that
    serves packages filters ``STATE_PREFIX``), and nothing else appears beside them."""
    store = backend.store
    store.write(".dynopypi/log/000000000001.json", b"{}", expect=None)
    store.write("yanks/foo.json", b"[]", expect=None)
    assert keys(store.list("yanks/")) == ["yanks/foo.json"]
    assert keys(store.list(".dynopypi/log/")) == [".dynopypi/log/000000000001.json"]
    assert keys(store.list()) == [".dynopypi/log/000000000001.json", "yanks/foo.json"]


def test_list_yields_only_keys_the_store_accepts(backend: Backend) -> None:
    """Names put there by other tools that no method would take (an S3 console's folder
    marker, a file named with a backslash) are not listed; the rest of the store is."""
    backend.plant("ok/a-1.0.whl", b"a")
    if backend.kind == "s3":
        backend.plant("folder/", b"")  # (SeaweedFS itself turns "\\" into "/" in keys)
    else:
        backend.plant("back\\slash-1.0.whl", b"b")
        backend.plant("dir\\name/c-1.0.whl", b"c")
    listed = list(backend.store.list())
    assert [stat.key for stat in listed] == ["ok/a-1.0.whl"]
    for stat in listed:
        backend.store.stat(stat.key)


def test_list_pages_through_more_than_a_thousand_objects(backend: Backend) -> None:
    store = backend.store
    names = [f"many/p{n % 7}/f-{n:04d}.whl" for n in range(1100)]

    def put(key: str) -> Stat:
        return store.write(key, key.encode(), expect=None)

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(put, names))
    store.write("manyother.whl", b"x", expect=None)
    listed = list(store.list("many/"))
    assert sorted(stat.key for stat in listed) == sorted(names)
    assert len({stat.key for stat in listed}) == len(names)  # no page listed twice
    assert all(stat.size == len(stat.key) for stat in listed)


# --------------------------------------------------------------------------- stat


def test_stat_is_none_when_absent_and_the_version_follows_the_content(backend: Backend) -> None:
    store = backend.store
    assert store.stat("nothing.whl") is None
    assert store.stat("no/such/dir/nothing.whl") is None
    first = store.write("state.json", b"one", expect=None)
    found = store.stat("state.json")
    assert found is not None
    assert (found.key, found.size, found.version) == ("state.json", 3, first.version)
    assert found.modified_ns > 0
    second = store.write("state.json", b"two!", expect=first.version)
    assert second.version != first.version
    again = store.stat("state.json")
    assert again is not None
    assert (again.size, again.version) == (4, second.version)


def test_a_directory_of_objects_is_not_an_object(backend: Backend) -> None:
    store = backend.store
    store.write("sub/inner.whl", b"x", expect=None)
    assert store.stat("sub") is None
    assert store.read("sub", 100) is None
    with pytest.raises(Missing):
        store.open("sub")


# --------------------------------------------------------------------------- open and read


def test_open_streams_the_whole_object_or_a_range(backend: Backend) -> None:
    store = backend.store
    data = bytes(range(256)) * 4
    staged, sha = backend.stage(data)
    store.put_if_absent("pkg/f-1.0.tar.gz", staged, sha256=sha)
    key = "pkg/f-1.0.tar.gz"

    def ranged(start: int, length: int | None = None) -> bytes:
        with store.open(key, start, length) as stream:
            return stream.read()

    assert content(store, key) == data
    assert ranged(0) == data
    assert ranged(1000) == data[1000:]
    assert ranged(10, 20) == data[10:30]
    assert ranged(0, 1) == data[:1]
    assert ranged(1020, 100) == data[1020:]  # a length past the end stops at the end
    assert ranged(len(data)) == b""  # starting at the end
    assert ranged(len(data) + 50) == b""  # and past it
    assert ranged(len(data) + 50, 10) == b""
    assert ranged(5, 0) == b""
    with store.open(key, 100, 50) as stream:  # read in pieces
        pieces = [stream.read(7) for _ in range(8)]
    assert b"".join(pieces) == data[100:150]


def test_open_of_an_absent_object_is_missing(backend: Backend) -> None:
    for start, length in ((0, None), (5, None), (5, 10)):
        with pytest.raises(Missing):
            backend.store.open("absent.whl", start, length)


def test_read_gives_a_small_object_whole_none_when_absent(backend: Backend) -> None:
    store = backend.store
    assert store.read("absent.json", 100) is None
    written = store.write("state/one.json", b'{"n": 1}', expect=None)
    answer = store.read("state/one.json", 8)  # exactly the limit
    assert answer is not None
    data, found = answer
    assert data == b'{"n": 1}'
    assert (found.key, found.size, found.version) == ("state/one.json", 8, written.version)
    with pytest.raises(StoreUnavailable):
        store.read("state/one.json", 7)


# --------------------------------------------------------------------------- put_if_absent


def test_put_if_absent_stores_once_and_then_reports_the_key_taken(backend: Backend) -> None:
    store = backend.store
    staged, sha = backend.stage(b"first upload", "first")
    stored = store.put_if_absent("pkg/a-1.0.whl", staged, sha256=sha)
    assert (stored.key, stored.size) == ("pkg/a-1.0.whl", 12)
    if backend.kind == "s3":
        assert stored.sha256 == sha  # kept beside the object at put time
        found = store.stat("pkg/a-1.0.whl")
        assert found is not None and found.sha256 == sha
    other, other_sha = backend.stage(b"second", "second")
    with pytest.raises(KeyExists) as info:
        store.put_if_absent("pkg/a-1.0.whl", other, sha256=other_sha)
    assert info.value.key == "pkg/a-1.0.whl"
    assert info.value.current is not None
    assert info.value.current.version == stored.version
    assert content(store, "pkg/a-1.0.whl") == b"first upload"
    with pytest.raises(KeyExists):  # the same bytes again: still taken (the caller decides)
        store.put_if_absent("pkg/a-1.0.whl", staged, sha256=sha)
    assert staged.read_bytes() == b"first upload"  # the staged file is left to the caller


def test_put_if_absent_over_a_directory_of_objects_is_refused(backend: Backend) -> None:
    store = backend.store
    store.write("name/inner", b"x", expect=None)
    staged, sha = backend.stage(b"y")
    with pytest.raises(KeyExists) as info:
        store.put_if_absent("name", staged, sha256=sha)
    assert info.value.current is None  # taken, but not by an object


def test_exactly_one_of_eight_racing_uploads_wins(backend: Backend) -> None:
    stores = [backend.other_store() for _ in range(RACERS)]  # as if from several replicas
    staged = [backend.stage(b"upload from racer %d" % n, f"racer{n}") for n in range(RACERS)]
    for round_ in range(3):
        key = f"race/pkg-{round_}.0.tar.gz"

        def upload(n: int, key: str = key) -> Stat:
            path, sha = staged[n]
            return stores[n].put_if_absent(key, path, sha256=sha)

        outcomes = race(RACERS, upload)
        won = [(n, o) for n, o in enumerate(outcomes) if isinstance(o, Stat)]
        lost = [o for o in outcomes if isinstance(o, KeyExists)]
        assert len(won) == 1, outcomes
        assert len(lost) == RACERS - 1, outcomes
        winner, stat = won[0]
        for exc in lost:
            assert exc.current is not None
            assert exc.current.version == stat.version
        assert content(backend.store, key) == b"upload from racer %d" % winner


# --------------------------------------------------------------------------- write


def test_write_if_absent(backend: Backend) -> None:
    store = backend.store
    made = store.write(".dynopypi/yank/foo.json", b"{}", expect=None)
    assert (made.key, made.size) == (".dynopypi/yank/foo.json", 2)
    found = store.stat(".dynopypi/yank/foo.json")
    assert found is not None and found.version == made.version
    with pytest.raises(KeyExists) as info:
        store.write(".dynopypi/yank/foo.json", b"{ }", expect=None)
    assert info.value.current is not None and info.value.current.version == made.version
    assert content(store, ".dynopypi/yank/foo.json") == b"{}"


def test_write_over_a_version(backend: Backend) -> None:
    store = backend.store
    with pytest.raises(VersionChanged):  # nothing there to replace
        store.write("state.json", b"v0", expect="any-version")
    v1 = store.write("state.json", b"v1", expect=None)
    v2 = store.write("state.json", b"v2", expect=v1.version)
    with pytest.raises(VersionChanged):  # v1 is gone
        store.write("state.json", b"v3", expect=v1.version)
    assert content(store, "state.json") == b"v2"
    v3 = store.write("state.json", b"v3", expect=v2.version)  # the returned version chains
    assert content(store, "state.json") == b"v3"
    store.delete("state.json")
    with pytest.raises(VersionChanged):  # deleted meanwhile
        store.write("state.json", b"v4", expect=v3.version)
    assert store.stat("state.json") is None


def test_no_update_is_lost_when_writers_race_on_one_version(backend: Backend) -> None:
    store = backend.store
    stores = [backend.other_store() for _ in range(RACERS)]
    for round_ in range(3):
        key = f".dynopypi/yanks-{round_}.json"
        v1 = store.write(key, b"v1", expect=None)
        answer = store.read(key, 100)
        assert answer is not None and answer[1].version == v1.version

        def update(n: int, key: str = key, expect: str = v1.version) -> Stat:
            return stores[n].write(key, b"from writer %d" % n, expect=expect)

        outcomes = race(RACERS, update)
        won = [n for n, o in enumerate(outcomes) if isinstance(o, Stat)]
        assert len(won) == 1, outcomes
        assert sum(isinstance(o, VersionChanged) for o in outcomes) == RACERS - 1, outcomes
        assert content(store, key) == b"from writer %d" % won[0]


def test_racing_creators_of_a_state_object_one_wins(backend: Backend) -> None:
    stores = [backend.other_store() for _ in range(RACERS)]
    outcomes = race(RACERS, lambda n: stores[n].write("lock.json", b"%d" % n, expect=None))
    won = [n for n, o in enumerate(outcomes) if isinstance(o, Stat)]
    assert len(won) == 1, outcomes
    assert sum(isinstance(o, KeyExists) for o in outcomes) == RACERS - 1, outcomes
    assert content(backend.store, "lock.json") == b"%d" % won[0]


# --------------------------------------------------------------------------- delete


def test_delete_removes_one_object_and_is_idempotent(backend: Backend) -> None:
    store = backend.store
    store.delete("never-there.whl")
    store.write("d/a.whl", b"a", expect=None)
    store.write("d/b.whl", b"b", expect=None)
    store.delete("d/a.whl")
    store.delete("d/a.whl")
    assert store.stat("d/a.whl") is None
    assert keys(store.list("d/")) == ["d/b.whl"]
    staged, sha = backend.stage(b"again")
    store.put_if_absent("d/a.whl", staged, sha256=sha)  # the key is free again
    assert content(store, "d/a.whl") == b"again"


# --------------------------------------------------------------------------- hand-off


def test_how_the_bytes_reach_a_client(backend: Backend) -> None:
    store = backend.store
    staged, sha = backend.stage(b"wheel bytes")
    store.put_if_absent("pkg/w-1.0-py3-none-any.whl", staged, sha256=sha)
    local = store.local_path("pkg/w-1.0-py3-none-any.whl")
    url = store.presigned_url("pkg/w-1.0-py3-none-any.whl", expires=60)
    if backend.kind == "directory":
        assert url is None
        assert local is not None and local.read_bytes() == b"wheel bytes"
        return
    assert local is None
    assert url is not None
    with requests.get(url, timeout=10) as answer:
        assert (answer.status_code, answer.content) == (200, b"wheel bytes")
    with requests.get(url, headers={"Range": "bytes=6-"}, timeout=10) as answer:
        assert (answer.status_code, answer.content) == (206, b"bytes")
    absent = store.presigned_url("pkg/absent.whl", expires=60)
    assert absent is not None
    with requests.get(absent, timeout=10) as answer:
        assert answer.status_code == 404


def test_check_and_describe(backend: Backend) -> None:
    backend.store.check()
    where = backend.store.describe()
    if backend.place is None:
        assert where == str(backend.staging.parent / "packages")
    else:
        assert backend.place.bucket in where and backend.place.store.endpoint_url in where
        assert backend.place.store.secret_key not in where
        assert backend.place.store.access_key not in where


def test_check_refuses_a_directory_that_is_not_there(tmp_path: Path) -> None:
    with pytest.raises(StoreUnavailable):
        DirectoryStorage(tmp_path / "absent").check()


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
