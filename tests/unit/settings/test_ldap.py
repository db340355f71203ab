"""The ``--ldap-*`` settings: flags, ``DYNOPYPI_LDAP_*`` and TOML like every other, the
checks across them (one line naming what to fix), and the service password read from its
file, never shown."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dynopypi.errors import ConfigError
from dynopypi.settings.config import Settings, build_settings
from dynopypi.settings.ldap import directory_config
from dynopypi.settings.toml import to_toml

BIND = "uid={user},ou=people,dc=example,dc=org"


def settings(tmp_path: Path, environ: dict[str, str] | None = None, **flags: Any) -> Settings:
    (tmp_path / "rights").write_text("* list,download\n")
    base = {"roots": [str(tmp_path)], "rights": str(tmp_path / "rights")}
    return build_settings({**base, **flags}, environ or {})


def test_bind_mode(tmp_path: Path) -> None:
    s = settings(tmp_path, ldap_url=["ldap://a", "ldaps://b:636"], ldap_user_dn=BIND)
    assert s.ldap_url == ("ldap://a", "ldaps://b:636")
    assert (s.ldap_timeout, s.ldap_cache_ttl, s.ldap_shadow_local) == (5.0, 60.0, False)
    config = directory_config(s)
    assert config is not None and config.user_dn == BIND and config.bind_password == ""


def test_environment_and_toml(tmp_path: Path) -> None:
    env = {"DYNOPYPI_LDAP_URL": "ldap://a ldap://b", "DYNOPYPI_LDAP_USER_DN": BIND,
           "DYNOPYPI_LDAP_CACHE_TTL": "5", "DYNOPYPI_LDAP_START_TLS": "yes"}  # fmt: skip
    s = settings(tmp_path, env)
    assert s.ldap_url == ("ldap://a", "ldap://b") and s.ldap_cache_ttl == 5 and s.ldap_start_tls
    toml = tmp_path / "c.toml"
    toml.write_text(
        f'[dynopypi]\nldap_url = ["ldap://a"]\nldap_user_dn = "{BIND}"\n'
        f'rights = "{tmp_path / "rights"}"\nroots = ["{tmp_path}"]\n'
    )
    assert build_settings({}, {}, toml).ldap_url == ("ldap://a",)


def test_search_mode_reads_the_password_file_and_never_shows_it(tmp_path: Path) -> None:
    secret = tmp_path / "bind-password"
    secret.write_text("s3cret-pw\nignored second line\n")
    s = settings(
        tmp_path, ldap_url=["ldap://a"], ldap_search_base="ou=people,dc=example,dc=org",
        ldap_bind_dn="cn=svc,dc=example,dc=org", ldap_bind_password_file=str(secret),
        ldap_search_filter="(sAMAccountName={user})",
    )  # fmt: skip
    config = directory_config(s)
    assert config is not None and config.bind_password == "s3cret-pw"
    assert "s3cret" not in repr(config) and "s3cret" not in to_toml(s)
    assert str(secret) in to_toml(s)


@pytest.mark.parametrize(
    ("flags", "message"),
    [({"ldap_url": ["http://a"], "ldap_user_dn": BIND}, "ldap_url"),
     ({"ldap_url": ["ldap://u:p@a"], "ldap_user_dn": BIND}, "ldap_url"),
     ({"ldap_url": ["ldap://a"]}, "either --ldap-user-dn"),
     ({"ldap_url": ["ldap://a"], "ldap_user_dn": BIND, "ldap_search_base": "o=x"}, "not both"),
     ({"ldap_url": ["ldap://a"], "ldap_search_base": "o=x"}, "service account"),
     ({"ldap_url": ["ldap://a"], "ldap_user_dn": "uid=alice,o=x"}, "{user}"),
     ({"ldap_url": ["ldap://a"], "ldap_user_dn": BIND, "ldap_group_filter": "(member={dn})"},
      "base too"),
     ({"ldap_url": ["ldap://a"], "ldap_user_dn": BIND, "ldap_group_base": "o=x",
       "ldap_group_filter": "(member={dn}"}, "not a filter"),
     ({"ldap_url": ["ldaps://a"], "ldap_user_dn": BIND, "ldap_start_tls": True}, "StartTLS"),
     ({"ldap_url": ["ldap://a"], "ldap_user_dn": BIND, "ldap_ca_file": "/nonexistent"},
      "ldap_ca_file"),
     ({"ldap_user_dn": BIND}, "needs --ldap-url"),
     ({"ldap_url": ["ldap://a"], "ldap_user_dn": "{user}@corp.example.com"}, "userPrincipalName"),
     ({"ldap_url": ["ldap://a"], "ldap_user_dn": BIND, "ldap_timeout": "0"}, "ldap_timeout")],
)  # fmt: skip
def test_mistakes_are_one_line(tmp_path: Path, flags: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("{", "\\{").replace("(", "\\(")):
        settings(tmp_path, **flags)


def test_a_directory_needs_a_rights_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="needs a rights file"):
        build_settings(
            {"roots": [str(tmp_path)], "ldap_url": ["ldap://a"], "ldap_user_dn": BIND}, {}
        )


def test_a_directory_alone_may_guard_reading(tmp_path: Path) -> None:
    s = settings(tmp_path, ldap_url=["ldap://a"], ldap_user_dn=BIND, authenticate="list,update")
    assert s.passwords is None and "list" in s.authenticate


def test_plain_ldap_to_another_machine_is_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    for url, warned in (("ldap://10.1.2.3", True), ("ldap://127.0.0.1:3389", False),
                        ("ldaps://10.1.2.3", False), ("ldap://[::1]", False)):  # fmt: skip
        caplog.clear()
        directory_config(settings(tmp_path, ldap_url=[url], ldap_user_dn=BIND))
        assert ("clear text" in caplog.text) is warned, url
    caplog.clear()
    s = settings(tmp_path, ldap_url=["ldap://10.1.2.3"], ldap_user_dn=BIND, ldap_start_tls=True)
    directory_config(s)
    assert "clear text" not in caplog.text
