"""The upstream settings: flags, DYNOPYPI_* and TOML, each validated with one clear line."""

from __future__ import annotations

from pathlib import Path

import pytest

from dynopypi.errors import ConfigError
from dynopypi.settings.config import build_settings


def test_from_the_environment() -> None:
    env = {
        "DYNOPYPI_UPSTREAM": "https://pypi.org/simple/ https://mirror.example/simple",
        "DYNOPYPI_PRIVATE": "acme-*, internal-*",
        "DYNOPYPI_MIN_AGE": "P7D",
        "DYNOPYPI_MIN_AGE_EXEMPT": "urllib3==2.0.1",
        "DYNOPYPI_UPSTREAM_CACHE_MAX": "50G",
    }
    settings = build_settings({}, env)
    assert settings.upstream == ("https://pypi.org/simple/", "https://mirror.example/simple")
    assert settings.private == ("acme-*", "internal-*")
    assert settings.min_age == 7 * 86400
    assert settings.min_age_exempt == ("urllib3==2.0.1",)
    assert settings.upstream_cache_max == 50 * 1024**3


def test_from_a_toml_file_and_flags_win(tmp_path: Path) -> None:
    config = tmp_path / "dynopypi.toml"
    config.write_text(
        '[dynopypi]\nupstream = ["https://pypi.org/simple/"]\nmerge = ["fork"]\n'
        'min-age = "12h"\nmin-age-unknown = "first-seen"\nupstream-ttl = 60\n'
    )
    settings = build_settings({"upstream_ttl": "5"}, {}, config)
    assert settings.upstream == ("https://pypi.org/simple/",)
    assert settings.merge == ("fork",)
    assert (settings.min_age, settings.min_age_unknown, settings.upstream_ttl) == (
        43200,
        "first-seen",
        5.0,
    )


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ({"upstream": ["ftp://x/simple/"]}, "upstream: 'ftp://x/simple/' must start with http"),
        ({"min_age": "soon"}, "min_age: 'soon' is not a duration"),
        ({"min_age_exempt": ["==1.0"]}, "min_age_exempt: '==1.0' is not NAME"),
        ({"min_age_unknown": "maybe"}, "min_age_unknown: 'maybe' is not one of"),
        ({"upstream_timeout": "0"}, "upstream_timeout: 0.0 is below 0.1"),
        ({"upstream_cache_max": "5X"}, "upstream_cache_max: '5X' is not a size"),
    ],
)
def test_bad_values_name_the_setting(flags: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match="^" + message.replace("(", r"\(")):
        build_settings(flags, {})


def test_private_check_is_off_unless_asked(tmp_path: Path) -> None:
    assert build_settings({}, {}).private_check is False
    assert build_settings({}, {"DYNOPYPI_PRIVATE_CHECK": "yes"}).private_check is True
    config = tmp_path / "dynopypi.toml"
    config.write_text("[dynopypi]\nprivate-check = true\n")
    assert build_settings({}, {}, config).private_check is True
    with pytest.raises(ConfigError, match="private_check: expected true or false"):
        build_settings({}, {"DYNOPYPI_PRIVATE_CHECK": "sometimes"})
