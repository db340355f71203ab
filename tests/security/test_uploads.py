"""Issue 12, uploads: attacks on ``POST /`` against a real server (a subprocess on a free
port), each refused with a clear 4xx, fast, with nothing stored.

#4 archive bombs and form shapes that burned CPU and memory; #6 a rights bypass through
the raw ``name`` field; #8 500s from odd bodies; #13 release immutability bypassed by file
name variants; #14 files that are not what their name says; #15 temp files left forever
by killed uploads. The in-process tests at the end cover what needs to look inside (that
an identical re-upload opens no archive).
"""

from __future__ import annotations

import bz2
import contextlib
import copy
import fcntl
import io
import os
import signal
import tarfile
import tempfile
import threading
import time
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
import requests
from support import hostile_archives as hostile
from support import nginx as nh
from support.accounts import write_fast_accounts
from support.fakedist import core_metadata, make_sdist, make_wheel
from support.fs import leftovers
from support.inproc import AppFactory
from support.server import DynoServer, ServerFactory
from support.sites import Site
from support.uploads import MULTIPART, file_upload_fields, form_body, part, upload

from dynopypi.publish import upload as upload_module

ALICE = ("alice", "alice-pw")
BOB = ("bob", "bob-pw")  # may update only projects matching acme?


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    site = Site(tmp_path_factory.mktemp("uploads-site"))
    write_fast_accounts(site.htpasswd, dict([ALICE, BOB]))
    (site.root / "rights").write_text(
        "alice list,download,update *\nbob list,download,update acme?\n"
    )
    return site


@pytest.fixture(scope="module")
def server(module_server_factory: ServerFactory, site: Site) -> DynoServer:
    return module_server_factory(
        site.pkg, "-P", str(site.htpasswd), "--rights", str(site.root / "rights")
    )


def stored(server: DynoServer) -> list[str]:
    return sorted(p.name for p in server.package_dir.iterdir())


def refused(r: requests.Response, status: int, *words: str) -> None:
    assert r.status_code == status, f"{r.status_code}: {r.text}"
    for word in words:
        assert word in r.text, f"{word!r} not in {r.text!r}"


# --------------------------------------------------------------------------- #4 bounds


@pytest.mark.parametrize("compression", ["bz2", "gz", "xz"])
def test_tar_bombs_are_refused_before_expanding(server: DynoServer, compression: str) -> None:
    """A few KB that expand to 4.4 GB (bz2) / 0.9 GB: refused within the 32x budget."""
    blocks = {"bz2": 100, "gz": 20, "xz": 20}[compression]
    name = f"tarbomb{compression}"
    data = hostile.tar_bomb(name, "1.0", compression, blocks * hostile.BLOCK)
    filename = f"{name}-1.0.tar.{compression}"
    started = time.monotonic()
    r = upload(server, (filename, data), ALICE, filetype="sdist")
    refused(r, 400, "archive bomb")
    assert time.monotonic() - started < 5
    assert filename not in stored(server)
    assert leftovers(server.package_dir) == []


def test_a_huge_pax_header_is_not_read_into_memory(server: DynoServer) -> None:
    stem = "paxbomb-1.0"
    head = tarfile.TarInfo(f"{stem}/PKG-INFO")
    head.pax_headers = {"comment": "x" * (8 * 1024 * 1024)}
    body = head.tobuf(format=tarfile.PAX_FORMAT)
    data = bz2.compress(body + b"\0" * 1024)
    r = upload(server, (f"{stem}.tar.bz2", data), ALICE, filetype="sdist")
    refused(r, 400, "tar header")


def test_egg_bomb_is_refused(server: DynoServer) -> None:
    data = hostile.zip_bomb(hostile.egg_members("eggbomb", "1.0"), 100 * hostile.BLOCK)
    assert len(data) < 64 * 1024
    r = upload(server, ("eggbomb-1.0-py3.11.egg", data), ALICE, filetype="bdist_egg")
    refused(r, 400, "archive bomb")
    assert "eggbomb-1.0-py3.11.egg" not in stored(server)


def test_wheel_with_too_many_entries_is_refused_before_parsing(server: DynoServer) -> None:
    data = hostile.many_entries_wheel("entries", "1.0", 100_000)
    r = upload(server, ("entries-1.0-py3-none-any.whl", data), ALICE)
    refused(r, 400, "entries")
    assert "entries-1.0-py3-none-any.whl" not in stored(server)


def test_form_fields_have_a_small_total_bound(server: DynoServer) -> None:
    """480 MiB of non-UTF-8 fields once held 1 GiB; now 8 MiB of fields in all."""
    junk = b"".join(part(f"junk{i}", b"\xff" * (3 * 1024 * 1024)) for i in range(4))
    body = part(":action", b"file_upload") + junk + form_body({})
    r = server.request(
        "POST", "/", data=body, headers={"Content-Type": MULTIPART}, auth=ALICE, timeout=60
    )
    refused(r, 413, "form fields")


def test_kept_fields_must_be_utf8(server: DynoServer) -> None:
    data = make_wheel_bytes("utf", "1.0")
    fields = file_upload_fields("utf-1.0-py3-none-any.whl", data)
    fields.pop("version")
    body = form_body(fields, ("utf-1.0-py3-none-any.whl", data))
    body = part("version", b"1.0\xff") + body
    r = server.request(
        "POST", "/", data=body, headers={"Content-Type": MULTIPART}, auth=ALICE, timeout=60
    )
    refused(r, 400, "UTF-8")


def make_wheel_bytes(name: str, version: str, requires: Sequence[str] = ()) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        return make_wheel(Path(tmp), name, version, requires=requires).read_bytes()


# --------------------------------------------------------------------------- #6 rights


@pytest.mark.parametrize("name", ["acme ", "acme\x1f", " acme", "acme\t", "acme\n", "acme\u00a0"])
def test_rights_are_checked_against_the_canonical_name(server: DynoServer, name: str) -> None:
    """bob may update acme? (acme1, acmeX...), not acme: a padded name field is no way in."""
    data = make_wheel_bytes("acme", "3.0")
    r = upload(server, ("acme-3.0-py3-none-any.whl", data), BOB, name=name)
    refused(r, 400, "not a valid project name")
    assert "acme-3.0-py3-none-any.whl" not in stored(server)


def test_rights_still_allow_and_deny_by_the_file_name(server: DynoServer) -> None:
    data = make_wheel_bytes("acme", "3.0")
    refused(upload(server, ("acme-3.0-py3-none-any.whl", data), BOB, name="acme"), 403)
    ok = make_wheel_bytes("acme1", "3.0")
    r = upload(server, ("acme1-3.0-py3-none-any.whl", ok), BOB, name="acme1")
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("action", ["remove_pkg", "yank"])
def test_release_actions_refuse_padded_names(server: DynoServer, action: str) -> None:
    fields = {":action": action, "name": "acme ", "version": "3.0"}
    r = server.request("POST", "/", data=fields, auth=BOB, timeout=30)
    refused(r, 400, "not a valid project name")


# --------------------------------------------------------------------------- #8 odd bodies


def test_urlencoded_content_type_with_a_multipart_body(server: DynoServer) -> None:
    data = make_wheel_bytes("enc", "1.0")
    body = form_body(file_upload_fields("enc-1.0-py3-none-any.whl", data), ("x.whl", data))
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    r = server.request("POST", "/", data=body, headers=headers, auth=ALICE, timeout=30)
    assert 400 <= r.status_code < 500, r.text
    r = server.request("POST", "/", data=b"name=%ff&:action=yank", headers=headers, auth=ALICE)
    refused(r, 400, "UTF-8")


def test_non_ascii_digest_is_a_400(server: DynoServer) -> None:
    data = make_wheel_bytes("digest", "1.0")
    r = upload(server, ("digest-1.0-py3-none-any.whl", data), ALICE, sha256_digest="é" * 64)
    refused(r, 400, "sha256_digest")


def test_single_inserted_bytes_never_give_a_5xx(server: DynoServer) -> None:
    data = make_wheel_bytes("inserted", "1.0")
    body = form_body(
        file_upload_fields("inserted-1.0-py3-none-any.whl", data),
        (
            "inserted-1.0-py3-none-any.whl",
            data,
        ),
    )
    for pos in range(0, len(body), max(1, len(body) // 40)):
        for byte in (b"\xff", b"\x00", b"\r", b"-"):
            bad = body[:pos] + byte + body[pos:]
            r = server.request(
                "POST", "/", data=bad, headers={"Content-Type": MULTIPART}, auth=ALICE
            )
            assert r.status_code < 500, (pos, byte, r.text)
    assert leftovers(server.package_dir) == []


# --------------------------------------------------------------------------- #13 variants


def test_name_variants_of_a_stored_file_are_the_same_file(server: DynoServer) -> None:
    first = make_wheel_bytes("acme-bar", "1.0")
    other = make_wheel_bytes("acme-bar", "1.0", requires=["evil"])
    assert upload(server, ("acme_bar-1.0-py3-none-any.whl", first), ALICE, name="acme-bar").ok
    for variant in (
        "Acme_Bar-1.0-py3-none-any.whl",
        "acme.bar-1.0-py3-none-any.whl",
        "acme_bar-1.0.0-py3-none-any.whl",
        "acme_bar-1.0-PY3-none-any.whl",
    ):
        version = "1.0.0" if "1.0.0" in variant else "1.0"
        r = upload(server, (variant, other), ALICE, name="acme-bar", version=version)
        refused(r, 409, "File already exists", "acme_bar-1.0-py3-none-any.whl")
        same = upload(server, (variant, first), ALICE, name="acme-bar", version=version)
        assert same.status_code == 200 and "already stored" in same.text, same.text
    names = [n for n in stored(server) if n.lower().startswith("acme")]
    assert names.count("acme_bar-1.0-py3-none-any.whl") == 1
    assert not [n for n in names if "bar" in n.lower() and n != "acme_bar-1.0-py3-none-any.whl"]


def test_homoglyphs_in_file_names_are_refused(server: DynoServer) -> None:
    data = make_wheel_bytes("glyph", "1.0")
    for filename in ("glyph-1.0-py3-none-\u0430ny.whl", "glyph-1.0-py3-n\u043ene-any.whl"):
        refused(upload(server, (filename, data), ALICE, name="glyph"), 400, "ASCII")
    refused(upload(server, ("glyph-1.0-py3-none-any.whl", data), ALICE, name="glyp\u04bb"), 400)


# --------------------------------------------------------------------------- #14 validity


def _zip(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return out.getvalue()


def _wheel_members(name: str, version: str, info: str | None = None) -> dict[str, bytes]:
    info = info or f"{name}-{version}.dist-info"
    return {
        f"{name}/__init__.py": b"",
        f"{info}/METADATA": core_metadata(name, version).encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        f"{info}/RECORD": b"",
    }


def _without(members: dict[str, bytes], suffix: str) -> dict[str, bytes]:
    return {k: v for k, v in members.items() if not k.endswith(suffix)}


INVALID = {
    "no WHEEL": (
        "nowheel-1.0-py3-none-any.whl",
        _without(_wheel_members("nowheel", "1.0"), "WHEEL"),
        "WHEEL",
    ),
    "no RECORD": (
        "norec-1.0-py3-none-any.whl",
        _without(_wheel_members("norec", "1.0"), "RECORD"),
        "RECORD",
    ),
    "other version dir": (
        "vdir-1.0-py3-none-any.whl",
        _wheel_members("vdir", "1.0", "vdir-2.0.dist-info"),
        "2.0",
    ),
    "two dist-info": (
        "two-1.0-py3-none-any.whl",
        {**_wheel_members("two", "1.0"), "x-1.0.dist-info/METADATA": b""},
        "exactly one",
    ),
    "escaping member": (
        "esc-1.0-py3-none-any.whl",
        {**_wheel_members("esc", "1.0"), "../evil.py": b""},
        "leaves the archive",
    ),
}


@pytest.mark.parametrize("case", sorted(INVALID))
def test_wheels_must_be_valid(server: DynoServer, case: str) -> None:
    filename, members, word = INVALID[case]
    r = upload(server, (filename, _zip(members)), ALICE)
    refused(r, 400, word)
    assert filename not in stored(server)


def test_content_must_be_the_type_the_name_says(server: DynoServer, tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path, "kind", "1.0").read_bytes()
    refused(
        upload(server, ("kind-1.0-py3.11.egg", wheel), ALICE, filetype="bdist_egg"), 400, "EGG-INFO"
    )
    refused(upload(server, ("kind-1.0.tar.gz", wheel), ALICE, filetype="sdist"), 400, "compressed")
    refused(upload(server, ("kind-1.0.zip", wheel), ALICE, filetype="sdist"), 400, "PKG-INFO")
    sdist = make_sdist(tmp_path, "kind", "1.0").read_bytes()  # gzip inside
    refused(upload(server, ("kind-1.0.tar.bz2", sdist), ALICE, filetype="sdist"), 400, "compressed")
    refused(upload(server, ("kind-1.0-py3-none-any.whl", sdist), ALICE), 400, "zip")
    egg = hostile.raw_zip(hostile.egg_members("kind", "1.0"))
    assert (
        upload(server, ("kind-1.0-py3.11.egg", egg), ALICE, filetype="bdist_egg").status_code == 200
    )
    assert not [n for n in stored(server) if n.startswith("kind-") and not n.endswith(".egg")]


def test_sdists_with_links_out_or_devices_are_refused(server: DynoServer) -> None:
    for kind, name in ((tarfile.SYMTYPE, "linkout"), (tarfile.CHRTYPE, "device")):
        raw = io.BytesIO()
        with tarfile.open(fileobj=raw, mode="w:gz") as tf:
            pkg_info = core_metadata(name, "1.0").encode()
            info = tarfile.TarInfo(f"{name}-1.0/PKG-INFO")
            info.size = len(pkg_info)
            tf.addfile(info, io.BytesIO(pkg_info))
            odd = tarfile.TarInfo(f"{name}-1.0/odd")
            odd.type, odd.linkname = kind, "../../../etc/passwd"
            tf.addfile(odd)
        r = upload(server, (f"{name}-1.0.tar.gz", raw.getvalue()), ALICE, filetype="sdist")
        refused(r, 400, name)
        assert f"{name}-1.0.tar.gz" not in stored(server)


# --------------------------------------------------------------------------- #15 temp files


def test_temp_files_of_killed_uploads_are_removed_at_start(
    server_factory: ServerFactory, tmp_path: Path
) -> None:
    """SIGKILL while an upload is being stored and checked; the restart removes its temp
    file, and nothing else: not a live upload's (locked), not other names, not links."""
    pkg = tmp_path / "pkgs"
    pkg.mkdir()
    write_fast_accounts(tmp_path / "htpasswd", dict([ALICE]))
    srv = server_factory(pkg, "-P", str(tmp_path / "htpasswd"))
    live = pkg / ".upload-livefile.part"  # as if another process were uploading it now
    keep = [live, pkg / ".upload-x.part", pkg / "keep.part", pkg / ".upload-abcdefgh.parts"]
    for path in keep:
        path.write_bytes(b"keep")
    (pkg / ".upload-linklink.part").symlink_to(pkg / "keep.part")
    before = set(pkg.iterdir())
    stem = "killed-1.0"
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tf:
        for name, size in (("PKG-INFO", 0), ("data.bin", 96 * 1024 * 1024)):
            content = core_metadata("killed", "1.0").encode() if not size else bytes(size)
            info = tarfile.TarInfo(f"{stem}/{name}")
            info.size = len(content)
            tf.addfile(info, io.BytesIO(content))
    sending = threading.Thread(target=_post_quietly, args=(srv, f"{stem}.tar", raw.getvalue()))
    sending.start()
    deadline = time.monotonic() + 60
    while not set(pkg.glob(".upload-*.part")) - before:
        assert time.monotonic() < deadline, "the upload never created its temp file"
        time.sleep(0.005)
    assert srv.proc is not None
    os.kill(srv.proc.pid, signal.SIGKILL)
    sending.join(60)
    assert set(pkg.glob(".upload-*.part")) - before, "no temp file left: the test proves nothing"
    with open(live, "rb") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        srv.stop()
        srv.start()
    assert set(pkg.iterdir()) == before


def _post_quietly(server: DynoServer, filename: str, data: bytes) -> None:
    with contextlib.suppress(requests.RequestException):  # the server is killed meanwhile
        upload(server, (filename, data), ALICE, filetype="sdist")


# --------------------------------------------------------------------------- through nginx


@pytest.fixture(scope="module")
def proxied(
    module_server_factory: ServerFactory, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DynoServer]:
    """The shipped nginx site in front of an app run as the shipped config runs it; the
    returned client speaks to nginx (same package directory as the app)."""
    site = Site(tmp_path_factory.mktemp("uploads-nginx"))
    write_fast_accounts(site.htpasswd, dict([ALICE, BOB]))
    (site.root / "rights").write_text(
        "alice list,download,update *\nbob list,download,update acme?\n"
    )
    accel = ("--trusted-proxies", "127.0.0.1", "--x-accel-redirect", "/_dynopypi_files/")
    args = ("-P", str(site.htpasswd), "--rights", str(site.root / "rights"), *accel)
    app = module_server_factory(site.pkg, *args)
    proxy = nh.site_nginx(
        tmp_path_factory.mktemp("nginx"), nh.HTTP_SITE, app_port=app.port, alias_dir=site.pkg
    )
    proxy.start()
    front = copy.copy(app)
    front.port = proxy.http_port
    try:
        yield front
    finally:
        proxy.stop()


def test_attacks_through_nginx(proxied: DynoServer) -> None:
    """The same refusals when nginx is in front: 4xx from the app, never nginx's 5xx."""
    bomb = hostile.tar_bomb("viabomb", "1.0", "bz2", 100 * hostile.BLOCK)
    refused(
        upload(proxied, ("viabomb-1.0.tar.bz2", bomb), ALICE, filetype="sdist"), 400, "archive bomb"
    )
    acme = make_wheel_bytes("acme", "3.0")
    r = upload(proxied, ("acme-3.0-py3-none-any.whl", acme), BOB, name="acme ")
    refused(r, 400, "not a valid project name")
    first = make_wheel_bytes("via-bar", "1.0")
    assert upload(proxied, ("via_bar-1.0-py3-none-any.whl", first), ALICE, name="via-bar").ok
    other = make_wheel_bytes("via-bar", "1.0", requires=["evil"])
    r = upload(proxied, ("Via_Bar-1.0-py3-none-any.whl", other), ALICE, name="via-bar")
    refused(r, 409, "File already exists")
    body = form_body(file_upload_fields("via_bar-1.0-py3-none-any.whl", first), ("x.whl", first))
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    r = proxied.request("POST", "/", data=body, headers=headers, auth=ALICE, timeout=30)
    assert 400 <= r.status_code < 500, r.text
    stored = sorted(p.name for p in proxied.package_dir.iterdir() if p.name != ".dynopypi")
    assert stored == ["via_bar-1.0-py3-none-any.whl"]


# --------------------------------------------------------------------------- in process


def test_identical_reupload_opens_no_archive(
    app_factory: AppFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pkg = tmp_path / "pkgs"
    pkg.mkdir()
    write_fast_accounts(tmp_path / "htpasswd", dict([ALICE]))
    srv = app_factory(pkg, "-P", str(tmp_path / "htpasswd"))
    sdist = make_sdist(tmp_path, "again", "1.0")
    data = sdist.read_bytes()
    body = form_body(file_upload_fields(sdist.name, data), (sdist.name, data))
    headers = {"Content-Type": MULTIPART}
    assert srv.request("POST", "/", data=body, headers=headers, auth=ALICE).status_code == 200

    def opened(*args: object) -> None:
        raise AssertionError("an identical re-upload opened the archive again")

    monkeypatch.setattr(upload_module, "check_distribution", opened)
    r = srv.request("POST", "/", data=body, headers=headers, auth=ALICE)
    assert r.status_code == 200 and "already stored" in r.text, r.text
