from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest
from passlib.apache import HtpasswdFile

from dynopypi.auth import Authenticator, Rights, _Throttle, parse_rights
from dynopypi.errors import ConfigError, Denied, NeedsAccount, Throttled


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.fixture
def htpasswd(tmp_path: Path) -> Path:
    path = tmp_path / "htpasswd"
    ht = HtpasswdFile(str(path), new=True, default_scheme="apr_md5_crypt")  # fast in tests
    ht.set_password("alice", "secret")
    ht.set_password("bob", "hunter2")
    ht.save()
    return path


def test_parse_rights() -> None:
    rules = parse_rights(
        "# comment\nalice list,download,update *\nci update Acme_* tools\n"
        "reader list,download   # trailing\n* list\n"
    )
    assert rules["alice"] == Rights(frozenset({"list", "download", "update"}), ("*",))
    assert rules["ci"].projects == ("acme-*", "tools")
    assert rules["ci"].allows("update", "ACME.Tools")
    assert rules["ci"].allows("update", "tools")
    assert not rules["ci"].allows("update", "other")
    assert not rules["ci"].allows("list", None)
    assert rules["reader"].allows("download", None)
    assert not rules["reader"].allows("update", "anything")
    assert rules["*"].actions == frozenset({"list"})


@pytest.mark.parametrize(
    ("text", "message"),
    [("alice\n", "has no actions"), ("alice upload\n", "unknown action(s) upload")],
)
def test_parse_rights_errors(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        parse_rights(text)


def test_authorize(htpasswd: Path) -> None:
    auth = Authenticator(htpasswd, frozenset({"update"}))
    assert auth.authorize("list", None, None, "1.2.3.4") is None  # no account needed
    assert auth.authorize("update", "foo", _basic("alice", "secret"), "1.2.3.4") == "alice"
    with pytest.raises(NeedsAccount):
        auth.authorize("update", "foo", None, "1.2.3.4")
    for header in (_basic("alice", "wrong"), _basic("mallory", "x"), "Basic !!!", "Bearer x"):
        with pytest.raises(NeedsAccount):
            auth.authorize("update", "foo", header, "5.6.7.8")


def test_uploads_disabled_without_accounts() -> None:
    auth = Authenticator(None, frozenset({"update"}))
    with pytest.raises(Denied, match="uploads are disabled"):
        auth.authorize("update", "foo", _basic("alice", "secret"), "1.2.3.4")
    open_index = Authenticator(None, frozenset())
    assert open_index.authorize("update", "foo", None, "1.2.3.4") is None


def test_rights_file_applies_and_reloads(htpasswd: Path) -> None:
    rights = htpasswd.with_name("htpasswd.rights")
    rights.write_text("alice list,download,update acme-*\n")
    auth = Authenticator(htpasswd, frozenset({"update", "list"}))
    assert auth.authorize("update", "acme-x", _basic("alice", "secret"), "a") == "alice"
    with pytest.raises(Denied, match="may not update project 'other'"):
        auth.authorize("update", "other", _basic("alice", "secret"), "a")
    # bob is not listed: read-only
    assert auth.authorize("list", None, _basic("bob", "hunter2"), "a") == "bob"
    with pytest.raises(Denied):
        auth.authorize("update", "acme-x", _basic("bob", "hunter2"), "a")
    rights.unlink()
    auth.reload(force=True)
    assert auth.authorize("update", "other", _basic("bob", "hunter2"), "a") == "bob"


def test_htpasswd_change_picked_up(htpasswd: Path) -> None:
    auth = Authenticator(htpasswd, frozenset({"update"}))
    ht = HtpasswdFile(str(htpasswd))
    ht.set_password("carol", "pw")
    ht.delete("alice")
    ht.save()
    auth.reload(force=True)
    assert auth.authorize("update", None, _basic("carol", "pw"), "a") == "carol"
    with pytest.raises(NeedsAccount):
        auth.authorize("update", None, _basic("alice", "secret"), "a")  # cache was dropped


def test_throttle_blocks_then_forgives(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr("dynopypi.auth.time.monotonic", lambda: now[0])
    monkeypatch.setattr("dynopypi.auth.time.sleep", lambda s: None)
    throttle = _Throttle(window=60, slow_after=3, block_after=5)
    for _ in range(5):
        throttle.check("a")
        throttle.failed("a")
    with pytest.raises(Throttled) as blocked:
        throttle.check("a")
    assert 1 <= blocked.value.retry_after <= 61
    throttle.check("b")  # other addresses are unaffected
    now[0] += 61
    throttle.check("a")  # no lasting lockout
