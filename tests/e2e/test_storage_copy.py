"""``dynopypi storage copy`` between a package directory and a bucket on a real SeaweedFS.

The command runs as a person runs it (a subprocess with AWS credentials in its
environment); what it did is checked from the other side: a ``dynopypi run --storage``
replica serving the bucket to pip, the bucket's own journal, the files in a directory.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from support.bucket_server import BucketServerFactory
from support.clients import check_ok, files_of, pip_install
from support.fakedist import make_sdist, make_wheel
from support.helpers import poll_until
from support.net import free_port
from support.seaweed import SeaweedFS

from dynopypi.store.bucket.journal import Journal
from dynopypi.store.bucket.records import Added, Change, Yanked, decode_entry, facts_key, log_key
from dynopypi.store.bucket.s3 import S3Storage

OPEN = ("-P", ".", "-a", ".")


def copy_command(store: SeaweedFS, src: object, dst: object, *extra: str) -> list[str]:
    return [sys.executable, "-m", "dynopypi", "storage", "copy", str(src), str(dst),
            "--s3-endpoint", store.endpoint_url, *extra]  # fmt: skip


def run_copy(
    store: SeaweedFS, src: object, dst: object, *extra: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        copy_command(store, src, dst, *extra),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**_base_env(), **store.aws_env()},
    )


def _base_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DYNOPYPI_"))}


def summary(result: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in result.stderr, result.stderr
    return result.stdout.strip().splitlines()[-1]


def bucket(store: SeaweedFS) -> tuple[str, S3Storage]:
    """A fresh bucket's URL (prefix ``pkgs``) and the S3 storage over it."""
    name = store.new_bucket("copy")
    return f"s3://{name}/pkgs", S3Storage(name, "pkgs", client=store.client())


def journal_of(storage: S3Storage) -> list[Change]:
    """Every entry of the bucket's journal, in order."""
    state = Journal(storage, lambda changes: None).load()
    entries = []
    for seq in range(1, state.seq + 1):
        found = storage.read(log_key(seq), 1 << 20)
        assert found is not None
        entries += decode_entry(found[0])
    return entries


def package_dir(root: Path) -> tuple[Path, list[Path]]:
    """A pypiserver-style directory: wheels and an sdist at two depths, a yank, junk."""
    (root / "sub").mkdir(parents=True)
    files = [
        make_wheel(root, "copied-a", "1.0", payload=b"a" * 5000),
        make_wheel(root, "copied-a", "1.1"),
        make_sdist(root / "sub", "copied-b", "2.0"),
    ]
    (root / "README.txt").write_text("not a package")
    (root / ".dynopypi").mkdir()
    (root / ".dynopypi" / "yanked.json").write_text(json.dumps({files[1].name: "broken"}))
    return root, files


def test_a_directory_copied_into_a_bucket_is_served_at_once_and_a_rerun_does_nothing(
    replicas: BucketServerFactory, seaweed: SeaweedFS, tmp_path: Path
) -> None:
    source, files = package_dir(tmp_path / "pkgs")
    url, storage = bucket(seaweed)
    replica = replicas.replica(url, *OPEN)  # follows the journal; no listing (rescan 0)
    result = run_copy(seaweed, source, url)
    assert result.returncode == 0, result.stderr
    line = summary(result)
    assert line.startswith("copied 3 (") and "skipped 0" in line and "yanks carried 1" in line
    assert "conflicts 0, failed 0" in line

    def yanked() -> dict[str, dict[str, object]]:  # the yank is the entry after the files'
        found = files_of(replica, "copied-a")
        listed = found.get(files[1].name) if found else None  # not listed yet: wait
        return found if listed and listed.get("yanked") else {}

    seen = poll_until(yanked, timeout=5.0)
    assert seen[files[1].name].get("yanked") == "broken"
    assert seen[files[0].name]["hashes"] == {
        "sha256": hashlib.sha256(files[0].read_bytes()).hexdigest()
    }
    assert files[0].name in seen and files_of(replica, "copied-b")
    assert replica.get(f"/packages/{files[0].name}.metadata").status_code == 200
    check_ok(pip_install(replica.url("/simple/"), tmp_path / "t", "copied-a==1.0"), replica)
    assert (tmp_path / "t" / "copied_a").is_dir()
    assert replica.get(f"/packages/sub/{files[2].name}").content == files[2].read_bytes()
    for file in files:  # the object carries its sha256; the facts record is beside it
        key = str(file.relative_to(source))
        head = storage.stat(key)
        assert head is not None and head.sha256 == hashlib.sha256(file.read_bytes()).hexdigest()
        assert storage.stat(facts_key(key)) is not None
    entries = journal_of(storage)
    assert sorted(c.record.key for c in entries if isinstance(c, Added)) == sorted(
        str(f.relative_to(source)) for f in files
    )
    again = run_copy(seaweed, source, url)
    assert again.returncode == 0, again.stderr
    assert summary(again).startswith("copied 0 (0 B), skipped 3 (already there)")
    assert len(journal_of(storage)) == len(entries)  # nothing journaled twice


def test_a_bucket_copied_into_a_directory_keeps_bytes_yanks_and_what_was_there(
    replicas: BucketServerFactory, seaweed: SeaweedFS, tmp_path: Path
) -> None:
    source, files = package_dir(tmp_path / "pkgs")
    url, _storage = bucket(seaweed)
    assert run_copy(seaweed, source, url).returncode == 0
    replica = replicas.replica(url, *OPEN)
    yanked = replica.request(
        "POST",
        "/",
        data={":action": "yank", "name": "copied-b", "version": "2.0", "reason": "use 3"},
    )
    assert yanked.status_code == 200, yanked.text
    target = tmp_path / "out"
    (target / ".dynopypi").mkdir(parents=True)
    (target / ".dynopypi" / "yanked.json").write_text(json.dumps({"other-1.0.tar.gz": "old"}))
    result = run_copy(seaweed, url, target)
    assert result.returncode == 0, result.stderr
    assert summary(result).startswith("copied 3 (")
    for file in files:
        copied = target / file.relative_to(source)
        assert copied.read_bytes() == file.read_bytes()
        assert copied.stat().st_mode & 0o777 == 0o644 & ~_umask()
    assert json.loads((target / ".dynopypi" / "yanked.json").read_text()) == {
        "other-1.0.tar.gz": "old",
        files[1].name: "broken",
        files[2].name: "use 3",
    }
    assert not list(target.glob(".upload-*"))
    assert summary(run_copy(seaweed, url, target)).startswith("copied 0 (0 B), skipped 3")


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def test_an_object_whose_bytes_differ_from_its_facts_is_refused(
    seaweed: SeaweedFS, tmp_path: Path
) -> None:
    source, files = package_dir(tmp_path / "pkgs")
    url, storage = bucket(seaweed)
    assert run_copy(seaweed, source, url).returncode == 0
    tampered = files[0].name
    seaweed.client().put_object(
        Bucket=storage.bucket, Key=f"pkgs/{tampered}", Body=b"not the wheel that was uploaded"
    )
    target = tmp_path / "out"
    target.mkdir()
    result = run_copy(seaweed, url, target)
    assert result.returncode == 1
    line = summary(result)
    assert line.startswith("copied 2 (") and "failed 1" in line
    assert f"failed: {tampered}:" in result.stderr and "refused" in result.stderr
    assert not (target / tampered).exists()
    assert not list(target.glob(".upload-*"))  # nothing partial either


def test_other_bytes_under_a_name_are_a_conflict_and_kept(
    seaweed: SeaweedFS, tmp_path: Path
) -> None:
    source, files = package_dir(tmp_path / "pkgs")
    target = tmp_path / "out"
    target.mkdir()
    (target / files[0].name).write_bytes(b"someone else's file")
    result = run_copy(seaweed, source, target)
    assert result.returncode == 1
    assert "conflicts 1" in summary(result) and "copied 2" in summary(result)
    assert f"conflict: {files[0].name}:" in result.stderr
    assert (target / files[0].name).read_bytes() == b"someone else's file"
    url, storage = bucket(seaweed)
    seaweed.client().put_object(Bucket=storage.bucket, Key=f"pkgs/{files[2].name}", Body=b"x")
    seaweed.client().put_object(
        Bucket=storage.bucket, Key=f"pkgs/sub/{files[2].name}", Body=b"other"
    )
    into_bucket = run_copy(seaweed, source, url)
    assert into_bucket.returncode == 1
    assert "conflicts 1" in summary(into_bucket), into_bucket.stderr
    found = storage.read(f"sub/{files[2].name}", 100)
    assert found is not None and found[0] == b"other"


def many_wheels(root: Path, count: int) -> Path:
    root.mkdir()
    for i in range(count):
        make_wheel(root, f"many{i}", "1.0", payload=bytes([i % 256]) * 2000)
    return root


def packages_in(storage: S3Storage) -> list[str]:
    return [s.key for s in storage.list() if not s.key.startswith(".")]


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGINT], ids=["SIGKILL", "SIGINT"])
def test_a_killed_copy_is_finished_by_the_next_run(
    replicas: BucketServerFactory, seaweed: SeaweedFS, tmp_path: Path, how: signal.Signals
) -> None:
    count = 300
    source = many_wheels(tmp_path / "many", count)
    url, storage = bucket(seaweed)
    errors = tmp_path / "stderr"
    with errors.open("wb") as stderr:
        proc = subprocess.Popen(
            copy_command(seaweed, source, url, "-j", "4"),
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            env={**_base_env(), **seaweed.aws_env()},
        )
        try:
            poll_until(lambda: len(packages_in(storage)) >= 40 or proc.poll() is not None)
        finally:
            proc.send_signal(how)
            status = proc.wait(timeout=60)
    before = packages_in(storage)
    assert 0 < len(before) < count, "the copy was not stopped mid-way"
    if how == signal.SIGINT:  # Ctrl-C: the objects under way finish, then one line
        assert status == 130
        assert errors.read_text().strip() == "dynopypi: interrupted"
        added = Counter(c.record.key for c in journal_of(storage) if isinstance(c, Added))
        assert sorted(added) == sorted(packages_in(storage))  # each put is journaled
    result = run_copy(seaweed, source, url)
    assert result.returncode == 0, result.stderr
    line = summary(result)
    assert "conflicts 0, failed 0" in line
    copied = int(line.split()[1])
    skipped = int(line.split("skipped ")[1].split()[0])
    assert copied + skipped == count and copied >= count - len(before)
    added = Counter(c.record.key for c in journal_of(storage) if isinstance(c, Added))
    assert len(added) == count and max(added.values()) == 1  # each journaled once
    replica = replicas.replica(url, *OPEN)
    for i in (0, count // 2, count - 1):
        assert files_of(replica, f"many{i}")


def test_a_store_that_goes_away_stops_the_copy_in_one_line(
    seaweed_outage: SeaweedFS, tmp_path: Path
) -> None:
    count = 300
    source = many_wheels(tmp_path / "many", count)
    url, storage = bucket(seaweed_outage)
    proc = subprocess.Popen(
        copy_command(seaweed_outage, source, url, "-j", "4"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**_base_env(), **seaweed_outage.aws_env()},
    )
    try:
        poll_until(lambda: len(packages_in(storage)) >= 40 or proc.poll() is not None)
        seaweed_outage.kill()
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1
    assert "Traceback" not in err
    assert "the copy stopped (run it again" in err, err
    assert out.strip().startswith("copied "), out
    seaweed_outage.start()
    result = run_copy(seaweed_outage, source, url)
    assert result.returncode == 0, result.stderr
    added = Counter(c.record.key for c in journal_of(storage) if isinstance(c, Added))
    assert len(added) == count and max(added.values()) == 1


def test_bucket_to_bucket_carries_records_and_yanks(seaweed: SeaweedFS, tmp_path: Path) -> None:
    source, files = package_dir(tmp_path / "pkgs")
    first, _ = bucket(seaweed)
    second, storage = bucket(seaweed)
    assert run_copy(seaweed, source, first).returncode == 0
    result = run_copy(seaweed, first, second)
    assert result.returncode == 0, result.stderr
    assert summary(result).startswith("copied 3 (") and "yanks carried 1" in summary(result)
    entries = journal_of(storage)
    assert [c for c in entries if isinstance(c, Yanked)] == [Yanked(files[1].name, "broken")]
    records = {c.record.key: c.record for c in entries if isinstance(c, Added)}
    assert (
        records[files[0].name].entry.hashes[:32].hex()
        == hashlib.sha256(files[0].read_bytes()).hexdigest()
    )


@pytest.mark.parametrize(
    ("src", "dst", "says"),
    [
        ("s3:/nobucket", "{dir}", "SRC: 's3:/nobucket' is not s3://BUCKET"),
        ("{dir}/missing", "{dir}", "SRC: "),
        ("{dir}", "{dir}/missing", "DST: "),
        ("{dir}", "{dir}", "the same place"),
        ("{dir}", "{dir}/inner", "one inside the other"),
        ("s3://abc/p", "s3://abc/p/q", "one inside the other"),
        ("{dir}", "s3://unreachable-bucket/p", "DST: the package store"),
    ],
)
def test_errors_are_one_line(
    seaweed: SeaweedFS, tmp_path: Path, src: str, dst: str, says: str
) -> None:
    where = str(tmp_path)
    (tmp_path / "inner").mkdir()
    command = [sys.executable, "-m", "dynopypi", "storage", "copy",
               src.format(dir=where), dst.format(dir=where),
               "--s3-endpoint", f"http://127.0.0.1:{free_port()}"]  # fmt: skip
    started = time.monotonic()
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**_base_env(), **seaweed.aws_env()},
    )
    assert result.returncode in (1, 2)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dynopypi: error: "), result.stderr
    assert says in lines[0]
    assert time.monotonic() - started < 60


def test_an_object_stored_without_its_journal_entry_is_recorded_by_the_next_run(
    seaweed: SeaweedFS, tmp_path: Path
) -> None:
    """What a copy killed between the put and the journal entry leaves behind."""
    source, files = package_dir(tmp_path / "pkgs")
    url, storage = bucket(seaweed)
    digest = hashlib.sha256(files[0].read_bytes()).hexdigest()
    storage.put_if_absent(files[0].name, files[0], sha256=digest)
    result = run_copy(seaweed, source, url)
    assert result.returncode == 0, result.stderr
    assert summary(result).startswith("copied 3 (")
    added = [c.record for c in journal_of(storage) if isinstance(c, Added)]
    record = next(r for r in added if r.key == files[0].name)
    assert record.entry.hashes[:32].hex() == digest
    assert storage.stat(facts_key(files[0].name)) is not None
    assert summary(run_copy(seaweed, source, url)).startswith("copied 0 (0 B), skipped 3")


def test_a_linked_directory_at_the_destination_is_not_followed(
    seaweed: SeaweedFS, tmp_path: Path
) -> None:
    source, files = package_dir(tmp_path / "pkgs")
    outside = tmp_path / "outside"
    outside.mkdir()
    target = tmp_path / "out"
    target.mkdir()
    (target / "sub").symlink_to(outside)
    result = run_copy(seaweed, source, target)
    assert result.returncode == 1
    assert summary(result).startswith("copied 2 (") and "failed 1" in summary(result)
    assert f"failed: sub/{files[2].name}: sub/ is a symbolic link" in result.stderr
    assert list(outside.iterdir()) == []


def test_odd_names_go_there_and_back_and_hidden_files_stay(
    seaweed: SeaweedFS, tmp_path: Path
) -> None:
    source = tmp_path / "odd"
    (source / "dé jà").mkdir(parents=True)
    (source / ".hidden").mkdir()
    odd = [
        make_wheel(source, "odd", "1.0+local.1"),
        make_wheel(source / "dé jà", "odd", "2.0"),
    ]
    make_wheel(source / ".hidden", "hidden", "1.0")
    (source / "odd-3.0-py3-none-any.whl.part").write_bytes(b"an upload under way")
    url, storage = bucket(seaweed)
    assert summary(run_copy(seaweed, source, url)).startswith("copied 2 (")
    assert sorted(packages_in(storage)) == sorted(str(f.relative_to(source)) for f in odd)
    back = tmp_path / "back"
    back.mkdir()
    assert summary(run_copy(seaweed, url, back)).startswith("copied 2 (")
    for file in odd:
        assert (back / file.relative_to(source)).read_bytes() == file.read_bytes()
    assert sorted(p.name for p in back.iterdir()) == sorted(["dé jà", odd[0].name])
