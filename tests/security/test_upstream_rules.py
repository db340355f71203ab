"""Issue 18, the upstream pull-through cache's rules against a hostile upstream (#4-#8).

Each test starts a real dynopypi (``python -m dynopypi run``) in front of ``FakeUpstream``,
which publishes what the test tells it to: #4 a public file that replaces the local fork
of the same version under ``--merge`` (a build tag, a respelled version); #5 upload times
from 2000 on files that appeared a moment ago; #6 terminal escapes that reach the
operator through ``dynopypi upstream shadowed``; #7 names that leave the network although
only local files make them private, and credentials on the command line; #8 ``/packages/``
listing what the cooldown hides, and ``/_refusal`` answers that a browser may sniff.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from support.clients import JSON_V1, check_ok, run_client
from support.fakedist import make_wheel
from support.helpers import poll_until
from support.installs import pip_install
from support.server import DynoServer, ServerFactory
from support.upstream import FakeUpstream

OLD = "2000-01-01T00:00:00Z"


def shadowed(index: DynoServer, upstream_url: str) -> str:
    """What ``dynopypi upstream shadowed --files`` prints for this index's cache."""
    result = run_client(
        [sys.executable, "-m", "dynopypi", "upstream", "shadowed", "--cache-dir",
         index.work_dir / "cache", "--upstream", upstream_url, "--files"]
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout


def renamed(path: Path, filename: str) -> Path:
    return path.rename(path.with_name(filename))


def upload_times(index: DynoServer, path: str) -> dict[str, str]:
    """{filename: upload-time} of a JSON project page (``{}``: a 404)."""
    page = index.get(path, headers={"Accept": JSON_V1})
    if page.status_code == 404:
        return {}
    assert page.status_code == 200, index.explain(page)
    return {f["filename"]: f["upload-time"] for f in page.json()["files"]}


# ---- #4: under --merge, a local release hides every upstream file of its version -------


def test_merge_never_lets_a_public_file_replace_the_local_fork_of_its_version(
    server_factory: ServerFactory, fake: FakeUpstream, tmp_path: Path
) -> None:
    """The forks ``forky 1.0`` and ``spoony 1.0`` are local; upstream publishes the same
    versions under other file names: a build tag (pip prefers it), a respelled version
    (``1.0.0``: pip takes the later of equal files) and name (``Spoony``). pip installs
    the forks, the public files are evidence, and other versions still merge."""
    local, made = tmp_path / "local", tmp_path / "made"
    local.mkdir()
    made.mkdir()
    make_wheel(local, "forky", "1.0", payload=b"the fork")
    make_wheel(local, "spoony", "1.0", payload=b"the fork")
    built = make_wheel(made, "forky", "1.0", payload=b"public")
    tagged = renamed(built, "forky-1.0-1-py3-none-any.whl")
    respelled = make_wheel(made, "spoony", "1.0.0", payload=b"public")
    renamed_too = renamed(make_wheel(made, "spoony", "1.0", payload=b"public"),
                          "Spoony-1.0-py3-none-any.whl")  # fmt: skip
    older = make_wheel(made, "forky", "0.9")
    fake.publish("forky", [(tagged, None, OLD), (older, None, OLD)])
    fake.publish("spoony", [(respelled, None, OLD), (renamed_too, None, OLD)])
    index = server_factory(local, "--upstream", fake.index_url, "--merge", "forky",
                           "--merge", "spoony")  # fmt: skip

    target = tmp_path / "t"
    check_ok(pip_install(index.index_url, target, "forky==1.0", "spoony==1.0"), index)
    for module in ("forky", "spoony"):
        assert (target / module / "payload.bin").read_bytes() == b"the fork", module
    assert set(index.listed_files("forky") or {}) == {
        "forky-1.0-py3-none-any.whl", "forky-0.9-py3-none-any.whl"
    }  # fmt: skip
    assert set(index.listed_files("spoony") or {}) == {"spoony-1.0-py3-none-any.whl"}
    for public in (tagged, respelled, renamed_too):
        assert fake.hits[f"/files/{public.name}"] == 0, public.name
        project = public.name.split("-", 1)[0].lower()
        hidden = f"/packages/.upstream/{project}/{public.name}"
        assert index.get(hidden).status_code == 404, hidden
    evidence = shadowed(index, fake.index_url)
    assert "forky 1.0 " in evidence and "spoony 1.0.0 " in evidence, evidence
    assert evidence.count("merge-same-version") == 3, evidence


# ---- #5: a file that appeared on a later fetch is never older than the fetch before -------


def test_a_new_file_claiming_an_old_upload_time_waits_out_the_cooldown(
    server_factory: ServerFactory, fake: FakeUpstream, tmp_path: Path
) -> None:
    """``lately`` 1.0 is on the page when it is first fetched (its time is believed); 2.0
    appears on the next fetch claiming 2000-01-01. It is no older than the fetch that did
    not list it: the cooldown holds it back, and an "as of" view from before that fetch
    does not show it (a second index without the cooldown, same upstream, same history)."""
    made = tmp_path / "made"
    made.mkdir()
    first, late = make_wheel(made, "lately", "1.0"), make_wheel(made, "lately", "2.0")
    fake.publish("lately", [(first, None, OLD)])
    flags = ("--upstream", fake.index_url, "--upstream-ttl", "1")
    cooled = server_factory(tmp_path / "l1", *flags, "--min-age", "1d")
    plain = server_factory(tmp_path / "l2", *flags)
    before = datetime.fromtimestamp(time.time() - 1, tz=timezone.utc)
    for index in (cooled, plain):  # the first fetch: upstream's time is all there is
        assert upload_times(index, "/simple/lately/") == {first.name: "2000-01-01T00:00:00.000000Z"}
    fetched = time.time()

    fake.publish("lately", [(first, None, OLD), (late, None, OLD)])
    time.sleep(1.5)  # both pages expire (--upstream-ttl 1)
    assert set(upload_times(cooled, "/simple/lately/")) == {first.name}
    assert cooled.get(f"/packages/.upstream/lately/{late.name}").status_code == 404
    shown = upload_times(plain, "/simple/lately/")
    assert set(shown) == {first.name, late.name}
    assert fake.hits["/simple/lately/"] == 4  # each index fetched the page twice
    uploaded = datetime.fromisoformat(shown[late.name].replace("Z", "+00:00"))
    assert before.timestamp() < uploaded.timestamp() <= fetched  # the first fetch, not 2000
    as_of = f"/as-of/{before.strftime('%Y-%m-%dT%H:%M:%SZ')}/simple/lately/"
    assert set(upload_times(plain, as_of)) == {first.name}


# ---- #6: what upstream says reaches the operator's terminal escaped -------------------


def test_upstream_shadowed_prints_what_upstream_said_escaped(
    server_factory: ServerFactory, fake: FakeUpstream, tmp_path: Path
) -> None:
    """A squatter's link carries terminal escapes (colour, window title, bell, an 8-bit
    CSI, a right-to-left override): ``dynopypi upstream shadowed`` shows them as text."""
    made, local = tmp_path / "made", tmp_path / "local"
    made.mkdir()
    local.mkdir()
    make_wheel(local, "inhouse", "1.0")
    fake.publish("inhouse", [(make_wheel(made, "inhouse", "6.6"), None, OLD)])
    page = fake.answers["/simple/inhouse/"]
    hostile = "\x1b[2J\x1b]0;owned\x07\x9b31m\u202e"
    doc = json.loads(page.body)
    doc["files"][0]["url"] = f"/files/{hostile}inhouse-6.6-py3-none-any.whl"
    page.body = json.dumps(doc).encode()
    index = server_factory(local, "--upstream", fake.index_url, "--private-check")
    assert set(index.listed_files("inhouse") or {}) == {"inhouse-1.0-py3-none-any.whl"}

    poll_until(lambda: "inhouse 6.6" in shadowed(index, fake.index_url), timeout=20,
               message=lambda: shadowed(index, fake.index_url) + index.logs())  # fmt: skip
    printed = shadowed(index, fake.index_url)
    assert not any(c in printed for c in "\x1b\x07\x9b\u202e"), repr(printed)
    assert "/files/\\x1b[2J\\x1b]0;owned\\x07\\x9b31m\\u202einhouse-6.6" in printed, printed


# ---- #7: local names stay in the network unless asked; credentials off the command line --


def test_a_name_private_by_its_local_files_is_looked_up_only_with_private_check(
    server_factory: ServerFactory, fake: FakeUpstream, tmp_path: Path
) -> None:
    """By default a name with local files is never asked upstream (the lookup would tell
    the public index an internal name); ``--private-check`` looks it up, in the background
    (the slow upstream page does not delay the answer), for the evidence only."""
    made, local = tmp_path / "made", tmp_path / "local"
    made.mkdir()
    local.mkdir()
    make_wheel(local, "inhouse", "1.0")
    fake.publish("inhouse", [(make_wheel(made, "inhouse", "6.6"), None, OLD)], delay=1)
    ours = {"inhouse-1.0-py3-none-any.whl"}
    quiet = server_factory(local, "--upstream", fake.index_url, "--upstream-ttl", "0")
    for _ in range(3):
        assert set(quiet.listed_files("inhouse") or {}) == ours
    checking = server_factory(local, "--upstream", fake.index_url, "--private-check")
    started = time.monotonic()
    assert set(checking.listed_files("inhouse") or {}) == ours
    assert time.monotonic() - started < 1  # not waiting for the upstream's second
    poll_until(lambda: "inhouse 6.6" in shadowed(checking, fake.index_url), timeout=20)
    assert fake.hits["/simple/inhouse/"] == 1  # the second index's check; the first: never
    assert shadowed(quiet, fake.index_url) == ""


SECRET = "s3cret-Tok3n"


def test_credentials_on_the_command_line_are_warned_about_never_shown(
    server_factory: ServerFactory, fake: FakeUpstream, tmp_path: Path
) -> None:
    """``ps`` shows every user the command line: ``run`` warns (one line, naming the
    alternatives, without the secret) when --upstream carries credentials there, and not
    when they come from the config file."""
    url = fake.index_url.replace("http://", f"http://reader:{SECRET}@")
    flagged = server_factory(tmp_path / "l1", "--upstream", url)
    config = tmp_path / "dynopypi.toml"
    config.write_text(f'[dynopypi]\nupstream = ["{url}"]\n')
    configured = server_factory(tmp_path / "l2", "--config", str(config))
    (warning,) = [
        line for line in flagged.stderr_path.read_text().splitlines() if "warning" in line
    ]
    for alternative in ("DYNOPYPI_UPSTREAM", "--config", "~/.netrc", "ps"):
        assert alternative in warning, warning
    assert SECRET not in flagged.logs(1_000_000)
    assert "warning" not in configured.stderr_path.read_text()
    usage = run_client([sys.executable, "-m", "dynopypi", "run", "--help"])
    assert "DYNOPYPI_UPSTREAM" in " ".join(usage.stdout.split()), usage.stdout


# ---- #8: /packages/ lists what the index serves; refusals are never sniffed -----------


def test_the_file_listing_hides_what_the_cooldown_hides(
    server_factory: ServerFactory, fake: FakeUpstream, tmp_path: Path
) -> None:
    made, local = tmp_path / "made", tmp_path / "local"
    made.mkdir()
    local.mkdir()
    make_wheel(local, "ours", "1.0")
    aged, young = make_wheel(made, "cool", "1.0"), make_wheel(made, "cool", "2.0")
    just_now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    fake.publish("cool", [(aged, None, OLD), (young, None, just_now)])
    index = server_factory(local, "--upstream", fake.index_url, "--min-age", "1d")
    assert set(index.listed_files("cool") or {}) == {aged.name}  # cached now, 2.0 held back
    listing = index.get("/packages/")
    assert listing.status_code == 200
    assert "ours-1.0-py3-none-any.whl" in listing.text and aged.name in listing.text
    assert young.name not in listing.text


def test_refusals_passed_on_by_the_proxy_are_never_sniffed(
    server_factory: ServerFactory, tmp_path: Path
) -> None:
    """``/_refusal`` echoes a message from a header as text/plain: a browser must not
    sniff it into HTML (the same holds for the answer without a header)."""
    index = server_factory(tmp_path / "local")
    markup = "403 0 %3Chtml%3E%3Cscript%3Ealert(1)%3C%2Fscript%3E"
    for headers in ({"X-Dynopypi-Refusal": markup}, {}):
        answer = index.get("/_refusal", headers=headers)
        assert answer.status_code == 403
        assert answer.headers["Content-Type"].startswith("text/plain")
        assert answer.headers.get("X-Content-Type-Options") == "nosniff", answer.headers
