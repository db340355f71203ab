"""Property-based fuzzing of ``POST /`` (Hypothesis, derandomized: the same examples on
every run and in CI): whatever the body, the answer is never a 5xx, no temp file is left,
and every file in the package directory is a valid distribution (checked here with the
standard library alone, not with the code under test).

Two layers: bytes of the whole body mutated (multipart framing, headers, fields), and bytes
of the distribution mutated with the digests recomputed, so the mutations reach the
archive checks instead of stopping at a digest mismatch.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.accounts import write_fast_accounts
from support.fakedist import make_sdist, make_wheel
from support.fs import leftovers
from support.inproc import AppFactory, AppServer
from support.sites import Site
from support.uploads import MULTIPART, file_upload_fields, form_body

ALICE = ("alice", "alice-pw")
FUZZ = settings(
    derandomize=True,
    max_examples=250,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.fixture(scope="module")
def originals(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    build = tmp_path_factory.mktemp("fuzz-build")
    files = [make_wheel(build, "fuzzed", "1.0"), make_sdist(build, "fuzzed", "2.0")]
    return {path.name: path.read_bytes() for path in files}


@pytest.fixture(scope="module")
def fuzz_server(
    module_app_factory: AppFactory, tmp_path_factory: pytest.TempPathFactory
) -> AppServer:
    site = Site(tmp_path_factory.mktemp("fuzz-site"))
    write_fast_accounts(site.htpasswd, dict([ALICE]))
    return module_app_factory(site.pkg, "-P", str(site.htpasswd))


def post(server: AppServer, body: bytes, content_type: str = MULTIPART) -> int:
    headers = {"Content-Type": content_type}
    response = server.request("POST", "/", data=body, headers=headers, auth=ALICE)
    return response.status_code


def valid_distribution(path: Path) -> bool:
    """A small independent oracle: what an installer needs to find in each kind of file."""
    name = path.name
    try:
        if name.endswith(".whl"):
            with zipfile.ZipFile(path) as zf:
                names = zf.namelist()
                infos = {n.split("/")[0] for n in names if ".dist-info/" in n}
                needed = {f"{d}/{f}" for d in infos for f in ("METADATA", "WHEEL", "RECORD")}
                return len(infos) == 1 and needed <= set(names) and zf.testzip() is None
        if name.endswith(".tar.gz"):
            with tarfile.open(path, "r:gz") as tf:
                members = tf.getmembers()
                for member in members:
                    if member.isfile():
                        handle = tf.extractfile(member)
                        assert handle is not None
                        handle.read()
                return any(m.name.endswith("/PKG-INFO") for m in members)
    except (zipfile.BadZipFile, tarfile.TarError, OSError, EOFError, ValueError):
        return False
    return False


def check_directory(server: AppServer) -> None:
    """Nothing invalid stored, nothing left behind; then an empty directory again, so the
    next example is judged on its own (not answered 409 beside an earlier one)."""
    assert leftovers(server.package_dir) == []
    for path in server.package_dir.iterdir():
        if path.name == ".dynopypi":  # the audit trail's records of the refusals
            continue
        assert valid_distribution(path), f"stored {path.name}, not a valid distribution"
        path.unlink()


mutation = st.tuples(
    st.sampled_from(["insert", "replace", "delete", "truncate"]),
    st.floats(min_value=0, max_value=1),
    st.binary(min_size=1, max_size=4),
)


def mutate(data: bytes, ops: list[tuple[str, float, bytes]]) -> bytes:
    for op, where, blob in ops:
        pos = int(where * len(data))
        if op == "insert":
            data = data[:pos] + blob + data[pos:]
        elif op == "replace":
            data = data[:pos] + blob + data[pos + len(blob) :]
        elif op == "delete":
            data = data[:pos] + data[pos + len(blob) :]
        else:
            data = data[:pos]
    return data


@FUZZ
@given(
    which=st.integers(0, 1),
    ops=st.lists(mutation, min_size=1, max_size=3),
    content_type=st.sampled_from(
        [MULTIPART, MULTIPART, "application/x-www-form-urlencoded", "text/plain", ""]
    ),
)
def test_mutated_bodies_never_5xx(
    fuzz_server: AppServer,
    originals: dict[str, bytes],
    which: int,
    ops: list[tuple[str, float, bytes]],
    content_type: str,
) -> None:
    filename, data = sorted(originals.items())[which]
    body = form_body(file_upload_fields(filename, data), (filename, data))
    status = post(fuzz_server, mutate(body, ops), content_type)
    assert status < 500
    check_directory(fuzz_server)


@FUZZ
@given(which=st.integers(0, 1), ops=st.lists(mutation, min_size=1, max_size=3))
def test_mutated_distributions_are_stored_only_when_valid(
    fuzz_server: AppServer,
    originals: dict[str, bytes],
    which: int,
    ops: list[tuple[str, float, bytes]],
) -> None:
    filename, data = sorted(originals.items())[which]
    data = mutate(data, ops)
    fields = file_upload_fields(filename, data)  # digests of the mutated bytes
    assert fields["sha256_digest"] == hashlib.sha256(data).hexdigest()
    status = post(fuzz_server, form_body(fields, (filename, data)))
    assert status < 500
    check_directory(fuzz_server)


@FUZZ
@given(
    name=st.text(min_size=0, max_size=12),
    version=st.text(min_size=0, max_size=8),
    filename=st.text(min_size=0, max_size=40),
)
def test_odd_names_never_5xx(
    fuzz_server: AppServer, originals: dict[str, bytes], name: str, version: str, filename: str
) -> None:
    data = originals["fuzzed-1.0-py3-none-any.whl"]
    fields = file_upload_fields("fuzzed-1.0-py3-none-any.whl", data, name=name, version=version)
    body = form_body(fields, (filename.replace('"', "").replace("\r", "").replace("\n", ""), data))
    assert post(fuzz_server, body) < 500
    check_directory(fuzz_server)


def test_the_oracle_accepts_the_originals(originals: dict[str, bytes], tmp_path: Path) -> None:
    for filename, data in originals.items():
        (tmp_path / filename).write_bytes(data)
        assert valid_distribution(tmp_path / filename)
    (tmp_path / "x-1.0.tar.gz").write_bytes(io.BytesIO(b"junk").getvalue())
    assert not valid_distribution(tmp_path / "x-1.0.tar.gz")
