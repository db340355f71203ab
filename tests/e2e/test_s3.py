"""Packages in an S3 bucket (a real SeaweedFS), served by several dynopypi replicas.

What must hold on S3 (issue 9): exactly one of two racing uploads wins, on one replica or
two; a change through any replica shows on the others within a second; a replica starts
from the bucket alone; the store being down costs downloads and uploads (503 with
Retry-After), never pages, and everything recovers on its own.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
from pathlib import Path

import requests
from support.bucket_server import BucketServer, BucketServerFactory
from support.clients import check_ok, files_of, pip_install, twine_upload
from support.fakedist import make_wheel
from support.helpers import poll_until
from support.seaweed import SeaweedFS
from support.uploads import file_upload_fields, upload

AUTH = ("anyone", "anything")  # replicas run with -P . -a . (no accounts)
OPEN = ("-P", ".", "-a", ".")


def bucket_url(store: SeaweedFS) -> str:
    return f"s3://{store.new_bucket('idx')}/packages"


def test_an_upload_through_one_replica_installs_through_the_other(
    replicas: BucketServerFactory, seaweed: SeaweedFS, tmp_path: Path
) -> None:
    url = bucket_url(seaweed)
    a = replicas.replica(url, *OPEN)
    b = replicas.replica(url, *OPEN)
    wheel = make_wheel(tmp_path, "crossing", "1.0", payload=b"x" * 300_000)
    check_ok(twine_upload(a.url("/"), AUTH, [wheel]), a)
    seen = poll_until(lambda: files_of(b, "crossing"), message="B never showed A's upload")
    assert wheel.name in seen
    check_ok(pip_install(b.url("/simple/"), tmp_path / "t", "crossing"), b)
    assert (tmp_path / "t" / "crossing").is_dir()
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    assert seen[wheel.name]["hashes"] == {"sha256": digest}


def test_racing_uploads_of_one_file_name_one_wins(
    replicas: BucketServerFactory, seaweed: SeaweedFS, tmp_path: Path
) -> None:
    url = bucket_url(seaweed)
    a = replicas.replica(url, *OPEN)
    b = replicas.replica(url, *OPEN)
    for round_ in range(3):
        (tmp_path / f"a{round_}").mkdir()
        (tmp_path / f"b{round_}").mkdir()
        first = make_wheel(tmp_path / f"a{round_}", "race", f"1.{round_}", payload=b"A" * 5000)
        second = make_wheel(tmp_path / f"b{round_}", "race", f"1.{round_}", payload=b"B" * 5000)
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            answers = list(pool.map(upload, (a, b), (first, second)))
        statuses = sorted(r.status_code for r in answers)
        assert statuses == [200, 409], [(r.status_code, r.text) for r in answers]
        winner = first if answers[0].status_code == 200 else second
        digest = hashlib.sha256(winner.read_bytes()).hexdigest()
        for server in (a, b):  # both replicas serve the winner, and only it

            def listed_file(s: BucketServer = server, n: str = first.name) -> dict[str, object]:
                return files_of(s, "race").get(n) or {}

            listed = poll_until(listed_file)
            assert listed["hashes"] == {"sha256": digest}
            assert server.get(f"/packages/{first.name}").content == winner.read_bytes()
        again = upload(b, winner)  # an identical retry passes, unchanged
        assert again.status_code == 200 and "identical" in again.text


def test_a_yank_on_one_replica_shows_on_the_other_and_a_removal_too(
    replicas: BucketServerFactory, seaweed: SeaweedFS, tmp_path: Path
) -> None:
    url = bucket_url(seaweed)
    a = replicas.replica(url, *OPEN)
    b = replicas.replica(url, *OPEN)
    wheel = make_wheel(tmp_path, "yankee", "1.0")
    assert upload(a, wheel).status_code == 200
    poll_until(lambda: files_of(b, "yankee"))
    yanked = b.request(
        "POST", "/", data={":action": "yank", "name": "yankee", "version": "1.0", "reason": "bad"}
    )
    assert yanked.status_code == 200, yanked.text
    poll_until(lambda: files_of(a, "yankee")[wheel.name].get("yanked") == "bad")
    removed = a.request(
        "POST", "/", data={":action": "remove_pkg", "name": "yankee", "version": "1.0"}
    )
    assert removed.status_code == 200, removed.text
    poll_until(lambda: not files_of(b, "yankee"), message="B still lists the removed file")
    assert b.get(f"/packages/{wheel.name}").status_code == 404
    assert upload(b, wheel).status_code == 200  # a new upload does not inherit the yank
    poll_until(lambda: files_of(a, "yankee"))
    assert files_of(a, "yankee")[wheel.name].get("yanked") in (None, False)


def test_a_new_replica_starts_from_the_bucket_alone(
    replicas: BucketServerFactory, seaweed: SeaweedFS, tmp_path: Path
) -> None:
    url = bucket_url(seaweed)
    a = replicas.replica(url, *OPEN)
    wheels = [make_wheel(tmp_path, f"start{i}", "1.0") for i in range(5)]
    for wheel in wheels:
        assert upload(a, wheel).status_code == 200
    a.stop()
    c = replicas.replica(url, *OPEN)
    for i, wheel in enumerate(wheels):
        assert wheel.name in files_of(c, f"start{i}")
    metadata = c.get(f"/packages/{wheels[0].name}.metadata")
    assert metadata.status_code == 200 and b"Name: start0" in metadata.content


def test_an_object_put_in_the_bucket_another_way_is_adopted(
    replicas: BucketServerFactory, seaweed: SeaweedFS, tmp_path: Path
) -> None:
    url = bucket_url(seaweed)
    bucket = url.split("/")[2]
    wheel = make_wheel(tmp_path, "sideways", "2.0")
    seaweed.client().put_object(
        Bucket=bucket, Key=f"packages/{wheel.name}", Body=wheel.read_bytes()
    )
    a = replicas.replica(url, *OPEN, "--s3-list-interval", "1")
    b = replicas.replica(url, *OPEN)  # learns of it from A's journal entry, not a listing
    for server in (a, b):

        def adopted(s: BucketServer = server) -> bool:
            return bool(files_of(s, "sideways"))

        poll_until(adopted, timeout=30.0)
    assert b.get(f"/packages/{wheel.name}.metadata").status_code == 200


def test_the_store_down_costs_downloads_and_uploads_not_pages(
    replicas: BucketServerFactory, seaweed_outage: SeaweedFS, tmp_path: Path
) -> None:
    replicas.store = seaweed_outage
    url = bucket_url(seaweed_outage)
    a = replicas.replica(url, *OPEN)
    big = make_wheel(tmp_path, "outage", "1.0", payload=bytes(range(256)) * 4000)
    assert upload(a, big).status_code == 200
    seaweed_outage.kill()
    try:
        page = a.get("/simple/outage/")
        assert page.status_code == 200 and big.name in page.text
        download = a.get(f"/packages/{big.name}")
        assert download.status_code == 503, download.text
        assert download.headers.get("Retry-After")
        assert "store" in download.reason and "store" in download.text
        other = make_wheel(tmp_path, "outage", "2.0")
        refused = upload(a, other)
        assert refused.status_code == 503 and refused.headers.get("Retry-After")
        poll_until(lambda: a.get("/ready").status_code == 503, timeout=30.0)
    finally:
        seaweed_outage.start()
    poll_until(lambda: a.get("/ready").status_code == 200, timeout=30.0)
    assert a.get(f"/packages/{big.name}").content == big.read_bytes()
    assert upload(a, make_wheel(tmp_path, "outage", "3.0")).status_code == 200


def test_downloads_are_ranged_and_conditional_from_the_bucket(
    replicas: BucketServerFactory, seaweed: SeaweedFS, tmp_path: Path
) -> None:
    url = bucket_url(seaweed)
    a = replicas.replica(url, *OPEN)
    big = make_wheel(tmp_path, "ranged", "1.0", payload=bytes(range(256)) * 4000)
    assert upload(a, big).status_code == 200
    data = big.read_bytes()
    part = a.get(f"/packages/{big.name}", headers={"Range": "bytes=100-1099"})
    assert part.status_code == 206 and part.content == data[100:1100]
    tail = a.get(f"/packages/{big.name}", headers={"Range": "bytes=-500"})
    assert tail.status_code == 206 and tail.content == data[-500:]
    whole = a.get(f"/packages/{big.name}")
    etag = whole.headers["ETag"]
    assert a.get(f"/packages/{big.name}", headers={"If-None-Match": etag}).status_code == 304


def test_presigned_downloads_redirect_to_the_store(
    replicas: BucketServerFactory, seaweed: SeaweedFS, tmp_path: Path
) -> None:
    url = bucket_url(seaweed)
    a = replicas.replica(url, *OPEN, "--s3-presigned-downloads")
    wheel = make_wheel(tmp_path, "signed", "1.0")
    assert upload(a, wheel).status_code == 200
    answer = a.get(f"/packages/{wheel.name}", allow_redirects=False)
    assert answer.status_code == 302
    location = answer.headers["Location"]
    assert location.startswith(seaweed.endpoint_url)
    assert requests.get(location, timeout=10).content == wheel.read_bytes()
    check_ok(pip_install(a.url("/simple/"), tmp_path / "t", "signed"), a)


def test_downloads_are_kept_locally_and_a_tampered_object_is_not(
    replicas: BucketServerFactory, seaweed: SeaweedFS, tmp_path: Path
) -> None:
    url = bucket_url(seaweed)
    bucket = url.split("/")[2]
    a = replicas.replica(url, *OPEN)
    good = make_wheel(tmp_path, "kept", "1.0", payload=bytes(range(256)) * 4000)
    assert upload(a, good).status_code == 200
    blobs = next((a.work_dir / "cache").glob("blobs-*"))
    assert a.get(f"/packages/{good.name}").content == good.read_bytes()
    digest = hashlib.sha256(good.read_bytes()).hexdigest()
    assert [p.name for p in blobs.iterdir()] == [digest]
    seaweed.client().delete_object(Bucket=bucket, Key=f"packages/{good.name}")
    assert a.get(f"/packages/{good.name}").content == good.read_bytes()  # the local copy

    bad = make_wheel(tmp_path, "tampered", "1.0", payload=bytes(range(256)) * 4000)
    assert upload(a, bad).status_code == 200
    seaweed.client().put_object(
        Bucket=bucket, Key=f"packages/{bad.name}", Body=b"\0" * len(bad.read_bytes())
    )
    refused = a.get(f"/packages/{bad.name}")  # checked before a byte is sent
    assert refused.status_code == 502 and "does not match its recorded sha256" in refused.reason
    assert [p.name for p in blobs.iterdir()] == [digest]  # and not kept
    assert "does not match the index" in a.logs()
    small = make_wheel(tmp_path, "tamperedsmall", "1.0")  # served from memory once read
    assert upload(a, small).status_code == 200
    seaweed.client().put_object(
        Bucket=bucket, Key=f"packages/{small.name}", Body=b"\0" * len(small.read_bytes())
    )
    assert a.get(f"/packages/{small.name}").status_code == 502


def test_a_store_that_cannot_be_reached_at_start_is_one_line(tmp_path: Path) -> None:
    import subprocess
    import sys

    from support.net import free_port

    done = subprocess.run(
        [sys.executable, "-m", "dynopypi", "run", "-p", str(free_port()), "--cache-dir",
         str(tmp_path), "--storage", "s3://nowhere/x", "--s3-endpoint",
         f"http://127.0.0.1:{free_port()}"],
        capture_output=True, text=True, timeout=120, check=False,
        env={"AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b", "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert "package store s3://nowhere/x/" in lines[0] and "start again" in lines[0]


def test_an_upload_of_bytes_already_in_the_bucket_but_not_journaled_is_served_at_once(
    replicas: BucketServerFactory, seaweed: SeaweedFS, tmp_path: Path
) -> None:
    url = bucket_url(seaweed)
    bucket = url.split("/")[2]
    a = replicas.replica(url, *OPEN)  # lists the bucket once, at start: empty then
    wheel = make_wheel(tmp_path, "halfway", "1.0")
    data = wheel.read_bytes()
    seaweed.client().put_object(  # as a replica that died before journaling leaves it
        Bucket=bucket,
        Key=f"packages/{wheel.name}",
        Body=data,
        Metadata={"sha256": hashlib.sha256(data).hexdigest()},
    )
    answer = upload(a, wheel)
    assert answer.status_code == 200 and "identical" in answer.text
    assert wheel.name in files_of(a, "halfway")  # no wait for the next listing


def test_a_refused_upload_leaves_nothing_in_the_bucket(
    replicas: BucketServerFactory, seaweed: SeaweedFS, tmp_path: Path
) -> None:
    from support.seaweed import S3Place

    url = bucket_url(seaweed)
    a = replicas.replica(url, *OPEN)
    wheel = make_wheel(tmp_path, "refused", "1.0")
    data = wheel.read_bytes()
    broken = a.request(
        "POST",
        "/",
        data=file_upload_fields(wheel.name, data, sha256_digest="0" * 64),
        files={"content": (wheel.name, data)},
    )
    assert broken.status_code == 400 and "sha256_digest" in broken.text
    not_a_wheel = a.request(
        "POST",
        "/",
        data=file_upload_fields(wheel.name, b"not a zip"),
        files={"content": (wheel.name, b"not a zip")},
    )
    assert not_a_wheel.status_code == 400
    place = S3Place(seaweed, url.split("/")[2], "packages/")
    audit = "packages/.dynopypi/audit/"  # the audit trail records both refusals, nothing else
    expected = [f"{audit}000000000001.json", f"{audit}000000000002.json", f"{audit}head.json"]
    poll_until(lambda: place.keys() == expected, message=lambda: f"{place.keys()}")
