"""What the S3 backend relies on, checked against the real SeaweedFS the tests start.

``store.bucket.s3`` maps the storage contract onto plain S3 requests; these tests pin down how
this store answers them (SeaweedFS 4.48 with boto3 1.44 when written), so a store or client
upgrade that changes an answer fails here, by name, before it fails in the contract suite.
They also check the fixture itself: loopback only, signed requests only.
"""

from __future__ import annotations

import os
import threading
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import requests
from botocore.exceptions import ClientError
from support.seaweed import S3Place, SeaweedFS


def _error(call: Any) -> tuple[str, int]:
    """The S3 error code and HTTP status of a call that must fail."""
    with pytest.raises(ClientError) as info:
        call()
    response = info.value.response
    return str(response["Error"]["Code"]), int(response["ResponseMetadata"]["HTTPStatusCode"])


def _listening(pid: int) -> list[tuple[str, str, int]]:
    """(protocol, local address in /proc hex, port) of every socket ``pid`` listens on
    (TCP in LISTEN state, and any bound UDP socket)."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    found = []
    for proto in ("tcp", "tcp6", "udp", "udp6"):
        for line in Path(f"/proc/{pid}/net/{proto}").read_text().splitlines()[1:]:
            fields = line.split()
            address, port = fields[1].split(":")
            listening = fields[3] == "0A" if proto.startswith("tcp") else True
            if fields[9] in inodes and listening:
                found.append((proto, address, int(port, 16)))
    return found


def test_every_port_is_on_loopback_and_chosen_by_the_fixture(seaweed: SeaweedFS) -> None:
    assert seaweed.proc is not None
    sockets = _listening(seaweed.proc.pid)
    assert sockets, "found no listening socket of weed"
    loopback = "0100007F"  # 127.0.0.1 as /proc/net/tcp writes it
    assert [s for s in sockets if s[0] != "tcp" or s[1] != loopback] == []
    assert {port for _, _, port in sockets} <= set(seaweed.ports.values())


def test_requests_must_be_signed_with_the_configured_key(s3_place: S3Place) -> None:
    store = s3_place.store
    client = s3_place.client()
    client.put_object(Bucket=s3_place.bucket, Key=s3_place.prefix + "k", Body=b"secret")
    anonymous = requests.get(
        f"{store.endpoint_url}/{s3_place.bucket}/{s3_place.prefix}k", timeout=10
    )
    assert anonymous.status_code == 403
    wrong = SeaweedFS(store.root)  # same place, another secret
    wrong.ports = store.ports
    assert _error(partial(wrong.client().head_object, Bucket=s3_place.bucket, Key="x"))[1] == 403


def test_conditional_puts_answer_412(s3_place: S3Place) -> None:
    client, bucket, key = s3_place.client(), s3_place.bucket, s3_place.prefix + "k"
    first = client.put_object(Bucket=bucket, Key=key, Body=b"one", IfNoneMatch="*")
    assert _error(
        partial(client.put_object, Bucket=bucket, Key=key, Body=b"2", IfNoneMatch="*")
    ) == (
        "PreconditionFailed",
        412,
    )
    second = client.put_object(Bucket=bucket, Key=key, Body=b"three", IfMatch=first["ETag"])
    stale = partial(client.put_object, Bucket=bucket, Key=key, Body=b"4", IfMatch=first["ETag"])
    assert _error(stale) == ("PreconditionFailed", 412)
    absent = partial(client.put_object, Bucket=bucket, Key=key + "x", Body=b"5", IfMatch="*")
    assert _error(absent) == ("PreconditionFailed", 412)
    assert client.get_object(Bucket=bucket, Key=key)["Body"].read() == b"three"
    assert client.head_object(Bucket=bucket, Key=key)["ETag"] == second["ETag"]


def test_the_etag_is_the_md5_so_identical_content_keeps_the_version(s3_place: S3Place) -> None:
    """A rewrite with the same bytes does not change the ETag: a compare-and-swap on it
    cannot tell A-B-A apart (fine for state records whose content is what matters)."""
    client, bucket, key = s3_place.client(), s3_place.bucket, s3_place.prefix + "k"
    one = client.put_object(Bucket=bucket, Key=key, Body=b"abc")["ETag"]
    client.put_object(Bucket=bucket, Key=key, Body=b"other")
    assert client.put_object(Bucket=bucket, Key=key, Body=b"abc")["ETag"] == one
    assert one == '"900150983cd24fb0d6963f7d28e17f72"'


def test_exactly_one_of_eight_racing_if_none_match_puts_wins(s3_place: S3Place) -> None:
    bucket, key = s3_place.bucket, s3_place.prefix + "race"
    clients = [s3_place.client() for _ in range(8)]
    barrier = threading.Barrier(len(clients))
    outcomes: dict[int, str] = {}

    def race(n: int) -> None:
        barrier.wait()
        try:
            clients[n].put_object(Bucket=bucket, Key=key, Body=b"w%d" % n, IfNoneMatch="*")
            outcomes[n] = "won"
        except ClientError as exc:
            outcomes[n] = str(exc.response["Error"]["Code"])

    threads = [threading.Thread(target=race, args=(n,)) for n in range(len(clients))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [n for n, outcome in outcomes.items() if outcome == "won"]
    assert len(winners) == 1, outcomes
    assert sorted(set(outcomes.values())) == ["PreconditionFailed", "won"]
    body = s3_place.client().get_object(Bucket=bucket, Key=key)["Body"].read()
    assert body == b"w%d" % winners[0]


def test_ranges_metadata_and_conditional_get(s3_place: S3Place) -> None:
    client, bucket, key = s3_place.client(), s3_place.bucket, s3_place.prefix + "r"
    client.put_object(Bucket=bucket, Key=key, Body=bytes(range(100)), Metadata={"sha256": "ab"})

    def ranged(spec: str) -> tuple[bytes, str]:
        answer = client.get_object(Bucket=bucket, Key=key, Range=spec)
        return answer["Body"].read(), answer["ContentRange"]

    assert ranged("bytes=10-") == (bytes(range(10, 100)), "bytes 10-99/100")
    assert ranged("bytes=10-19") == (bytes(range(10, 20)), "bytes 10-19/100")
    assert ranged("bytes=90-200") == (bytes(range(90, 100)), "bytes 90-99/100")
    assert ranged("bytes=-5") == (bytes(range(95, 100)), "bytes 95-99/100")
    past = partial(client.get_object, Bucket=bucket, Key=key, Range="bytes=100-")
    assert _error(past) == ("InvalidRange", 416)
    head = client.head_object(Bucket=bucket, Key=key)
    assert head["Metadata"] == {"sha256": "ab"}
    assert client.get_object(Bucket=bucket, Key=key)["Metadata"] == {"sha256": "ab"}
    again = partial(client.get_object, Bucket=bucket, Key=key, IfNoneMatch=head["ETag"])
    assert _error(again) == ("304", 304)
    missing = partial(client.get_object, Bucket=bucket, Key=key + "x", Range="bytes=1-")
    assert _error(missing) == ("NoSuchKey", 404)
    assert _error(partial(client.head_object, Bucket=bucket, Key=key + "x")) == ("404", 404)


def test_list_pages_by_1000_in_key_order(s3_place: S3Place) -> None:
    from concurrent.futures import ThreadPoolExecutor

    client, bucket, prefix = (
        s3_place.client(max_pool_connections=16),
        s3_place.bucket,
        s3_place.prefix,
    )
    keys = [f"{prefix}p/s{n % 3}/f{n:04d}" for n in range(1100)] + [f"{prefix}pother"]
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda key: client.put_object(Bucket=bucket, Key=key, Body=b"x"), keys))
    pages = list(
        client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix + "p/")
    )
    assert [page["KeyCount"] for page in pages] == [1000, 100]
    listed = [item["Key"] for page in pages for item in page["Contents"]]
    assert listed == sorted(k for k in keys if k.startswith(prefix + "p/"))
    assert set(pages[0]["Contents"][0]) >= {"Key", "Size", "ETag", "LastModified"}


def test_keys_are_filesystem_paths_inside_seaweedfs(s3_place: S3Place) -> None:
    """The filer stores keys as paths: ``a//b`` and ``a\\b`` become ``a/b``; a key that
    is a "directory" of others cannot be created (412, even after its children are deleted);
    ``dir/`` answers HEAD. ``check_key`` refuses all of these before they reach the store."""
    client, bucket, prefix = s3_place.client(), s3_place.bucket, s3_place.prefix
    client.put_object(Bucket=bucket, Key=prefix + "a//b", Body=b"1")
    client.put_object(Bucket=bucket, Key=prefix + "c\\d", Body=b"1")
    listed = client.list_objects_v2(Bucket=bucket, Prefix=prefix)
    assert [item["Key"] for item in listed["Contents"]] == [prefix + "a/b", prefix + "c/d"]
    client.delete_object(Bucket=bucket, Key=prefix + "a/b")
    over_dir = partial(
        client.put_object, Bucket=bucket, Key=prefix + "a", Body=b"2", IfNoneMatch="*"
    )
    assert _error(over_dir) == ("PreconditionFailed", 412)
    assert client.head_object(Bucket=bucket, Key=prefix + "a/")["ContentLength"] == 0
    assert _error(partial(client.head_object, Bucket=bucket, Key=prefix + "a")) == ("404", 404)


def test_delete_is_idempotent(s3_place: S3Place) -> None:
    client, bucket, key = s3_place.client(), s3_place.bucket, s3_place.prefix + "d"
    client.delete_object(Bucket=bucket, Key=key)  # never existed
    client.put_object(Bucket=bucket, Key=key, Body=b"x")
    client.delete_object(Bucket=bucket, Key=key)
    client.delete_object(Bucket=bucket, Key=key)
    assert s3_place.keys() == []


def test_presigned_urls_download_with_plain_http(s3_place: S3Place) -> None:
    bucket, key = s3_place.bucket, s3_place.prefix + "file.whl"
    s3_place.client().put_object(Bucket=bucket, Key=key, Body=b"wheel bytes")
    for signature in ("s3v4", None):  # botocore presigns S3 with SigV2 query auth by default
        config = {"signature_version": signature} if signature else {}
        url = s3_place.client(**config).generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=60
        )
        assert ("X-Amz-Signature=" in url) == (signature == "s3v4")
        whole = requests.get(url, timeout=10)
        assert (whole.status_code, whole.content) == (200, b"wheel bytes")
        part = requests.get(url, headers={"Range": "bytes=6-"}, timeout=10)
        assert (part.status_code, part.content) == (206, b"bytes")
        tampered = requests.get(url.replace(key, key + "x"), timeout=10)
        assert tampered.status_code == 403


def test_multipart_uploads_are_listed_invisible_and_abortable(s3_place: S3Place) -> None:
    client, bucket, key = s3_place.client(), s3_place.bucket, s3_place.prefix + "big"
    upload = client.create_multipart_upload(Bucket=bucket, Key=key, Metadata={"sha256": "x"})
    client.upload_part(
        Bucket=bucket, Key=key, UploadId=upload["UploadId"], PartNumber=1, Body=b"a" * 5 * 2**20
    )
    pending = client.list_multipart_uploads(Bucket=bucket, Prefix=s3_place.prefix)["Uploads"]
    assert [(u["Key"], u["UploadId"]) for u in pending] == [(key, upload["UploadId"])]
    assert s3_place.keys() == []  # nothing visible until completed
    client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload["UploadId"])
    after = client.list_multipart_uploads(Bucket=bucket, Prefix=s3_place.prefix)
    assert after.get("Uploads", []) == []
    # completing over an existing key honours If-None-Match too
    client.put_object(Bucket=bucket, Key=key, Body=b"first")
    upload = client.create_multipart_upload(Bucket=bucket, Key=key)
    part = client.upload_part(
        Bucket=bucket, Key=key, UploadId=upload["UploadId"], PartNumber=1, Body=b"second"
    )
    complete = partial(
        client.complete_multipart_upload,
        Bucket=bucket,
        Key=key,
        UploadId=upload["UploadId"],
        MultipartUpload={"Parts": [{"ETag": part["ETag"], "PartNumber": 1}]},
        IfNoneMatch="*",
    )
    assert _error(complete) == ("PreconditionFailed", 412)
    assert client.get_object(Bucket=bucket, Key=key)["Body"].read() == b"first"
    client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload["UploadId"])


def test_a_fresh_bucket_is_empty_and_separate(seaweed: SeaweedFS) -> None:
    one, two = seaweed.place(), seaweed.place()
    assert one.bucket != two.bucket and one.prefix == two.prefix == ""
    one.client().put_object(Bucket=one.bucket, Key="k", Body=b"x")
    assert (one.keys(), two.keys()) == (["k"], [])


def test_outage_store_stops_pauses_and_comes_back_with_its_data(seaweed_outage: SeaweedFS) -> None:
    from botocore.exceptions import EndpointConnectionError, ReadTimeoutError

    place = seaweed_outage.place()
    client = place.client(connect_timeout=1, read_timeout=1, retries={"total_max_attempts": 1})
    client.put_object(Bucket=place.bucket, Key="k", Body=b"kept")
    seaweed_outage.kill()
    with pytest.raises(EndpointConnectionError):
        client.head_object(Bucket=place.bucket, Key="k")
    seaweed_outage.start()
    assert client.get_object(Bucket=place.bucket, Key="k")["Body"].read() == b"kept"
    seaweed_outage.pause()
    with pytest.raises(ReadTimeoutError):
        client.head_object(Bucket=place.bucket, Key="k")
    seaweed_outage.resume()
    assert client.get_object(Bucket=place.bucket, Key="k")["Body"].read() == b"kept"


def test_the_aws_environment_reaches_the_store_with_a_default_client(
    s3_place: S3Place, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a ``dynopypi run`` child gets: boto3's own lookup finds the keys and region."""
    import boto3

    for name, value in s3_place.store.aws_env().items():
        monkeypatch.setenv(name, value)
    client = boto3.session.Session().client("s3", endpoint_url=s3_place.store.endpoint_url)
    client.put_object(Bucket=s3_place.bucket, Key=s3_place.prefix + "env", Body=b"x")
    assert s3_place.keys() == [s3_place.prefix + "env"]
