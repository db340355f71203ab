"""Settings of the LDAP / Active Directory sign-in (``--ldap-*``): their names, converters,
the checks across them, and the ``DirectoryConfig`` the gate is built from.

The service account's password is never a setting: ``ldap_bind_password_file`` names a file
(a systemd credential, a container secret) read when the server starts, so the password is
in no command line, environment, config file or ``check-config`` output.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from dynopypi.auth.rights import default_rights_path
from dynopypi.errors import ConfigError
from dynopypi.settings.converters import as_bool, as_float

if TYPE_CHECKING:  # ldap3 is imported only when a directory is configured
    from dynopypi.auth.directory import DirectoryConfig

LDAP_FLAGS = (
    "ldap_url",
    "ldap_start_tls",
    "ldap_ca_file",
    "ldap_user_dn",
    "ldap_bind_dn",
    "ldap_bind_password_file",
    "ldap_search_base",
    "ldap_search_filter",
    "ldap_group_base",
    "ldap_group_filter",
    "ldap_timeout",
    "ldap_cache_ttl",
    "ldap_shadow_local",
)
log = logging.getLogger(__name__)
MAX_PASSWORD_FILE = 4096


class Settings(Protocol):
    """The settings read here (``config.Settings``, which imports this module)."""

    @property
    def passwords(self) -> Path | None: ...
    @property
    def rights(self) -> Path | None: ...
    @property
    def threads(self) -> int: ...
    @property
    def ldap_url(self) -> tuple[str, ...]: ...
    @property
    def ldap_start_tls(self) -> bool: ...
    @property
    def ldap_ca_file(self) -> Path | None: ...
    @property
    def ldap_user_dn(self) -> str | None: ...
    @property
    def ldap_bind_dn(self) -> str | None: ...
    @property
    def ldap_bind_password_file(self) -> Path | None: ...
    @property
    def ldap_search_base(self) -> str | None: ...
    @property
    def ldap_search_filter(self) -> str: ...
    @property
    def ldap_group_base(self) -> str | None: ...
    @property
    def ldap_group_filter(self) -> str | None: ...
    @property
    def ldap_timeout(self) -> float: ...
    @property
    def ldap_cache_ttl(self) -> float: ...


def _as_urls(value: Any) -> tuple[str, ...]:
    items = value.replace(",", " ").split() if isinstance(value, str) else list(value)
    urls = tuple(str(item).strip() for item in items if str(item).strip())
    for url in urls:
        if not url.lower().startswith(("ldap://", "ldaps://")) or "@" in url:
            raise ConfigError(
                f"ldap_url: {url!r} must be ldap://HOST[:PORT] or ldaps://HOST[:PORT] "
                "(the service account goes in --ldap-bind-dn, not the URL)"
            )
    return urls


def _as_text(value: Any) -> str | None:
    text = str(value).strip()
    return text or None


def _as_template(name: str, placeholders: tuple[str, ...]) -> Callable[[Any], str | None]:
    def convert(value: Any) -> str | None:
        text = _as_text(value)
        if text is None:
            return None
        if not any("{" + p + "}" in text for p in placeholders):
            wanted = " or ".join("{" + p + "}" for p in placeholders)
            raise ConfigError(f"{name}: {text!r} must contain {wanted}")
        if name.endswith("filter") and not _balanced(text):
            raise ConfigError(f"{name}: {text!r} is not a filter like (uid={{user}})")
        return text

    return convert


def _balanced(text: str) -> bool:
    """A filter in parentheses with each one closed (a cheap check of a typo)."""
    depth = 0
    for index, char in enumerate(text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth < 0 or (depth == 0 and index < len(text) - 1):
            return False
    return text.startswith("(") and depth == 0


def _as_path(value: Any) -> Path | None:
    text = str(value).strip()
    return Path(text).expanduser() if text else None


LDAP_CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "ldap_url": _as_urls,
    "ldap_start_tls": as_bool("ldap_start_tls"),
    "ldap_ca_file": _as_path,
    "ldap_user_dn": _as_template("ldap_user_dn", ("user",)),
    "ldap_bind_dn": _as_text,
    "ldap_bind_password_file": _as_path,
    "ldap_search_base": _as_text,
    "ldap_search_filter": _as_template("ldap_search_filter", ("user",)),
    "ldap_group_base": _as_text,
    "ldap_group_filter": _as_template("ldap_group_filter", ("user", "dn")),
    "ldap_timeout": as_float("ldap_timeout", 0.1),
    "ldap_cache_ttl": as_float("ldap_cache_ttl", 0.0),
    "ldap_shadow_local": as_bool("ldap_shadow_local"),
}


def check_ldap(settings: Settings) -> None:
    """The checks across the LDAP settings; ConfigError (one line) names what to fix."""
    s = settings
    if not s.ldap_url:
        others = [n for n in LDAP_FLAGS[3:10] if getattr(s, n) not in (None, "(uid={user})")]
        if others or s.ldap_start_tls or s.ldap_ca_file:
            raise ConfigError(f"{(others or ['ldap_start_tls'])[0]}: needs --ldap-url")
        return
    if s.ldap_user_dn is not None and not re.match(
        r"[A-Za-z][A-Za-z0-9-]*=\{user\},", s.ldap_user_dn
    ):
        raise ConfigError(
            f"ldap_user_dn: {s.ldap_user_dn!r} must be a DN starting ATTRIBUTE={{user}}, (like "
            "uid={user},ou=people,...); for Active Directory's user@domain use the search "
            "mode with --ldap-search-filter '(userPrincipalName={user})'"
        )
    if (s.ldap_user_dn is None) == (s.ldap_search_base is None):
        raise ConfigError(
            "ldap: give either --ldap-user-dn 'uid={user},ou=people,...' (bind) or "
            "--ldap-search-base with --ldap-bind-dn (search), not both or neither"
        )
    if s.ldap_search_base is not None and (s.ldap_bind_dn is None or
                                           s.ldap_bind_password_file is None):  # fmt: skip
        raise ConfigError(
            "ldap_bind_dn: the search mode needs a service account: --ldap-bind-dn and "
            "--ldap-bind-password-file"
        )
    if s.ldap_group_filter is not None and s.ldap_group_base is None:
        raise ConfigError("ldap_group_filter: give --ldap-group-base too (where to search)")
    if s.ldap_start_tls and any(u.lower().startswith("ldaps://") for u in s.ldap_url):
        raise ConfigError("ldap_start_tls: StartTLS is for ldap:// URLs; ldaps:// is TLS already")
    for name in ("ldap_ca_file", "ldap_bind_password_file"):
        path = getattr(s, name)
        if path is not None and not path.is_file():
            raise ConfigError(f"{name}: {path} is not a readable file")
    if s.ldap_bind_password_file is not None:
        read_password(s.ldap_bind_password_file)
    rights = s.rights or (default_rights_path(s.passwords) if s.passwords else None)
    if rights is None or not rights.exists():
        missing = f"{rights} does not exist" if rights else "give --rights FILE"
        raise ConfigError(
            f"rights: LDAP sign-in needs a rights file ({missing}): without one every "
            "directory account could upload anything"
        )


def read_password(path: Path) -> str:
    """The service account's password: the file's first line (a trailing newline is not
    part of it)."""
    try:
        data = path.read_bytes()[: MAX_PASSWORD_FILE + 1]
    except OSError as exc:
        raise ConfigError(f"ldap_bind_password_file: cannot read {path}: {exc.strerror}") from None
    text = data.decode("utf-8", errors="strict") if len(data) <= MAX_PASSWORD_FILE else ""
    password = text.split("\n", 1)[0].rstrip("\r")
    if not password:
        raise ConfigError(f"ldap_bind_password_file: {path} is empty or too long")
    return password


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return host == "localhost"


def directory_config(settings: Settings) -> DirectoryConfig | None:
    """What the gate needs to ask the directory, or None without ``--ldap-url``."""
    s = settings
    if not s.ldap_url:
        return None
    from dynopypi.auth.directory import DirectoryConfig
    from dynopypi.auth.ldap_client import Endpoint

    for url in s.ldap_url:
        host = urlsplit(url).hostname or ""
        if url.lower().startswith("ldap://") and not s.ldap_start_tls and not _loopback(host):
            log.warning(
                "%s without --ldap-start-tls: passwords cross the network in clear text; "
                "use ldaps:// or --ldap-start-tls",
                url,
            )
    endpoint = Endpoint(
        s.ldap_url, start_tls=s.ldap_start_tls, ca_file=s.ldap_ca_file, timeout=s.ldap_timeout,
        max_connections=max(1, min(8, s.threads)),
    )  # fmt: skip
    password = read_password(s.ldap_bind_password_file) if s.ldap_bind_password_file else ""
    return DirectoryConfig(
        endpoint, user_dn=s.ldap_user_dn, bind_dn=s.ldap_bind_dn, bind_password=password,
        search_base=s.ldap_search_base, search_filter=s.ldap_search_filter,
        group_base=s.ldap_group_base, group_filter=s.ldap_group_filter,
        cache_ttl=s.ldap_cache_ttl,
    )  # fmt: skip
