"""Upstream credentials never shown (``check-config``, errors, logs, ``/ready``, evidence)
and never sent anywhere but their own host.

An upstream URL may carry a token (``https://user:token@host/simple/``); whatever
dynopypi prints or logs about it says ``***`` instead. Real processes: the CLI as a
subprocess, the server with a ``FakeUpstream`` that links to files with credentials in
their URLs and redirects to one.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest
from support.clients import run_client
from support.fakedist import make_wheel
from support.helpers import poll_until
from support.server import ServerFactory
from support.upstream import JSON_V1, Answer, FakeUpstream

from dynopypi.ops.logsafe import SafeFormatter, redact
from dynopypi.upstream.store import upstream_dir

SECRET = "s3cret-Tok3n"


def dynopypi(*args: object) -> subprocess.CompletedProcess[str]:
    return run_client([sys.executable, "-m", "dynopypi", *args])


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("https://me:s3cret@pypi.example/simple/", "https://***@pypi.example/simple/"),
        ("http://token@h:8080/x?u=a@b", "http://***@h:8080/x?u=a@b"),
        ("https://me:p@ss@h/", "https://***@h/"),  # an unescaped "@" in the password
        ("two: https://a:b@one/ and HTTPS://c:d@two/", "two: https://***@one/ and HTTPS://***@two/"),
        ("kept: https://host/a@b, a@b.example", "kept: https://host/a@b, a@b.example"),
    ],
)  # fmt: skip
def test_redact(text: str, shown: str) -> None:
    assert redact(text) == shown


def test_log_lines_and_tracebacks_are_redacted() -> None:
    try:
        raise RuntimeError(f"failed on https://me:{SECRET}@pypi.example/simple/")
    except RuntimeError:
        record = logging.LogRecord(
            "x", logging.ERROR, __file__, 1, "asked %s", (f"http://u:{SECRET}@h/",), sys.exc_info()
        )
    line = SafeFormatter("%(message)s").format(record)
    assert SECRET not in line and "asked http://***@h/" in line and "https://***@pypi" in line


def test_check_config_and_config_errors_never_print_credentials(tmp_path: Path) -> None:
    url = f"https://reader:{SECRET}@pypi.example/simple/"
    shown = dynopypi("check-config", "--upstream", url, "--fallback-url", url, tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert SECRET not in shown.stdout + shown.stderr
    assert 'upstream = ["https://***@pypi.example/simple/"]' in shown.stdout
    assert 'fallback_url = "https://***@pypi.example/simple/"' in shown.stdout
    wrong = dynopypi("check-config", "--upstream", f"ftp://reader:{SECRET}@host/", tmp_path)
    assert wrong.returncode == 2 and "ftp://***@host/" in wrong.stderr
    assert SECRET not in wrong.stdout + wrong.stderr


def test_the_server_never_shows_upstream_credentials(
    server_factory: ServerFactory, fake: FakeUpstream, tmp_path: Path
) -> None:
    made = tmp_path / "made"
    made.mkdir()
    wheel = make_wheel(made, "acme-tool", "9.0")
    fake.publish("acme-tool", [(wheel, None, "2020-01-01T00:00:00Z")])
    page = fake.answers["/simple/acme-tool/"]
    port = fake.port
    page.body = page.body.replace(
        b'"/files/', f'"http://u:{SECRET}@127.0.0.1:{port}/files/'.encode()
    )
    page.body = page.body[:-2] + b', {"filename": "acme_tool-8.0-py3-none-any.whl", ' + (
        b'"url": "/files/acme_tool-8.0-py3-none-any.whl", "hashes": {"sha256": "' + b"0" * 64
        + b'"}}]}'
    )  # fmt: skip
    elsewhere = f"http://u:{SECRET}@127.0.0.1:1/simple/gone/"
    fake.answers["/simple/gone/"] = Answer(b"", JSON_V1, 302, headers={"Location": elsewhere})
    local = tmp_path / "local"
    local.mkdir()
    make_wheel(local, "acme-tool", "1.0")  # private: the upstream releases are evidence
    cache = tmp_path / "cache"
    upstream = fake.index_url.replace("http://", f"http://reader:{SECRET}@")
    index = server_factory(local, "--upstream", upstream, "--cache-dir", str(cache), "-v",
                           "--private-check")  # fmt: skip
    seen = [index.get("/simple/acme-tool/"), index.get("/simple/gone/"), index.get("/ready")]
    assert seen[1].status_code == 502
    for response in seen:
        assert SECRET not in response.text
    evidence = upstream_dir(cache, [upstream]) / "shadowed.jsonl"
    poll_until(evidence.exists, timeout=30, message="no evidence recorded")  # in the background
    shadowed = dynopypi(
        "upstream", "shadowed", "--files", "--cache-dir", cache, "--upstream", upstream
    )
    assert shadowed.returncode == 0 and SECRET not in shadowed.stdout + shadowed.stderr
    assert "acme-tool 8.0" in shadowed.stdout
    index.stop()
    assert "a link with credentials in it is refused" in index.logs(100_000)
    assert SECRET not in index.logs(1_000_000)


def test_credentials_never_follow_to_another_host(
    server_factory: ServerFactory, tmp_path: Path
) -> None:
    files_host = FakeUpstream().start()
    upstream = FakeUpstream(file_host=files_host).start()
    try:
        made = tmp_path / "made"
        made.mkdir()
        upstream.publish("leak", [(make_wheel(made, "leak", "1.0"), None, "2020-01-01T00:00:00Z")])
        files_host.publish("hop", [(make_wheel(made, "hop", "1.0"), None, "2020-01-01T00:00:00Z")])
        elsewhere = f"http://127.0.0.1:{files_host.port}/simple/hop/"
        upstream.answers["/simple/hop/"] = Answer(
            b"", "text/html", 302, headers={"Location": elsewhere}
        )
        url = upstream.index_url.replace("http://", "http://me:secret@")
        index = server_factory(
            tmp_path / "local", "--upstream", url,
            "--upstream-files-host", f"127.0.0.1:{files_host.port}",
        )  # fmt: skip
        assert index.get("/packages/.upstream/leak/leak-1.0-py3-none-any.whl").status_code == 200
        assert upstream.auth["/simple/leak/"] == "Basic bWU6c2VjcmV0"
        assert files_host.auth["/files/leak-1.0-py3-none-any.whl"] is None
        assert set(index.listed_files("hop") or {}) == {"hop-1.0-py3-none-any.whl"}
        assert files_host.auth["/simple/hop/"] is None  # not carried over the redirect
    finally:
        upstream.stop()
        files_host.stop()
