"""The command line's LDAP / Active Directory sign-in: ``run``'s ``--ldap-*`` flags (one
group in ``--help``), and ``check-config --explain USER``: where each of a user's rights
comes from (their line, ``*``, their groups' lines), for htpasswd and directory accounts."""

from __future__ import annotations

import argparse

from dynopypi.auth.identity import ACTIONS, UPDATE
from dynopypi.auth.rights import default_rights_path, read_rights, sources_of
from dynopypi.errors import ConfigError
from dynopypi.settings.config import Settings
from dynopypi.settings.ldap import directory_config


def ldap_flags(p: argparse.ArgumentParser) -> None:
    """Sign-in with directory accounts, beside (after) the htpasswd ones."""
    g = p.add_argument_group(
        "directory accounts (LDAP, Active Directory)",
        "Names not in the htpasswd file are checked against the directory; a name in it\n"
        "is never (unless --ldap-shadow-local). Needs a rights file: @GROUP lines apply\n"
        "to the members of a directory group.",
    )
    g.add_argument(
        "--ldap-url",
        metavar="URL",
        action="append",
        help="ldap://HOST[:PORT] or ldaps://HOST[:PORT] of the directory (repeatable: "
        "tried in order, fail-over)",
    )
    g.add_argument(
        "--ldap-start-tls",
        action="store_const",
        const=True,
        help="upgrade ldap:// connections with StartTLS (the certificate is verified)",
    )
    g.add_argument(
        "--ldap-ca-file", metavar="FILE", help="CA certificates (PEM) for the directory's TLS"
    )
    _finding_flags(g)


def _finding_flags(g: argparse._ArgumentGroup) -> None:
    """How a user's entry, password and groups are found."""
    g.add_argument(
        "--ldap-user-dn",
        metavar="TEMPLATE",
        help="bind mode: the DN of a user, e.g. 'uid={user},ou=people,dc=example,dc=org' "
        "({user} is the escaped name)",
    )
    g.add_argument(
        "--ldap-bind-dn", metavar="DN", help="search mode: the service account that searches"
    )
    g.add_argument(
        "--ldap-bind-password-file",
        metavar="FILE",
        help="search mode: file whose first line is the service account's password",
    )
    g.add_argument(
        "--ldap-search-base", metavar="DN", help="search mode: where users are searched for"
    )
    g.add_argument(
        "--ldap-search-filter",
        metavar="FILTER",
        help="search mode: the filter that finds one user (default: '(uid={user})'; "
        "Active Directory: '(sAMAccountName={user})')",
    )
    g.add_argument(
        "--ldap-group-base",
        metavar="DN",
        help="where groups are; with --ldap-group-filter, searched there, else only the "
        "user's memberOf groups below it count (default: every memberOf group)",
    )
    g.add_argument(
        "--ldap-group-filter",
        metavar="FILTER",
        help="the filter that finds a user's groups, e.g. '(member={dn})' or "
        "'(memberUid={user})' ({dn}: the user's DN)",
    )
    _behaviour_flags(g)


def _behaviour_flags(g: argparse._ArgumentGroup) -> None:
    """Timeouts, the cache, and the name clash rule."""
    g.add_argument(
        "--ldap-timeout",
        metavar="SECONDS",
        help="connect and reply timeout; a directory that does not answer makes logins "
        "503 (default: 5)",
    )
    g.add_argument(
        "--ldap-cache-ttl",
        metavar="SECONDS",
        help="remember a successful directory login this long (default: 60): a disabled "
        "account stops working at most this much later",
    )
    g.add_argument(
        "--ldap-shadow-local",
        action="store_const",
        const=True,
        help="let a directory account sign in under a name the htpasswd file also has "
        "(its password is tried after the file's); off by default",
    )


def explain_flags(p: argparse.ArgumentParser) -> None:
    """``check-config --explain USER [--groups G1,G2]``."""
    p.add_argument(
        "--explain",
        metavar="USER",
        help="instead of the settings, print USER's rights and the line of the rights file "
        "each comes from (their own, '*', their groups')",
    )
    p.add_argument(
        "--groups",
        metavar="GROUPS",
        help="with --explain: USER's directory groups, comma-separated (default: looked up "
        "with the search mode's service account; bind mode cannot without USER's password)",
    )


def explain(settings: Settings, user: str, groups: str | None) -> str:
    """What ``check-config --explain USER`` prints: who USER is to this index, then each
    action with the lines of the rights file that grant it."""
    name, found, origin = _who(settings, user, groups)
    passwords = settings.passwords
    path = settings.rights or (default_rights_path(passwords) if passwords else None)
    if path is None or not path.exists():
        return f"{origin}\nno rights file: every account may {', '.join(ACTIONS)}\n"
    lines = [origin, f"rights from {path}:"]
    sources = sources_of(read_rights(path), name, found)
    for action in ACTIONS:
        granted = [(line, rights) for line, rights in sources if action in rights.actions]
        if not granted:
            lines.append(f"  {action:<9} no")
        for line, rights in granted:
            scope = " ".join(rights.projects) if action == UPDATE else "yes"
            source = "read-only by default" if line == "(default)" else f"the {line} line"
            lines.append(f"  {action:<9} {scope} (from {source})")
    return "\n".join(lines) + "\n"


def _who(settings: Settings, user: str, groups: str | None) -> tuple[str, frozenset[str], str]:
    """(name, groups, a line saying where the account comes from)."""
    from dynopypi.auth.htpasswd import read_htpasswd  # passlib: only for this command

    given = frozenset(g.strip().lstrip("@") for g in (groups or "").split(",") if g.strip())
    if settings.passwords is not None and user in read_htpasswd(settings.passwords):
        shadow = "; the directory may sign in this name too" if settings.ldap_shadow_local else ""
        return user, given, f"user {user!r}: account in {settings.passwords}{shadow}"
    if not settings.ldap_url:
        return (
            user,
            given,
            (
                f"user {user!r}: not in the password file (cannot sign in); an account of that "
                "name would have these rights"
            ),
        )
    if groups is not None:
        return user, given, f"user {user!r}: directory account; groups (given): {_names(given)}"
    if settings.ldap_user_dn is not None:
        return (
            user,
            given,
            (
                f"user {user!r}: directory account (bind mode: groups are known only at sign-in; "
                "give --groups G1,G2 to see theirs)"
            ),
        )
    config = directory_config(settings)
    assert config is not None
    from dynopypi.auth.directory import Directory
    from dynopypi.auth.ldap_client import Unreachable

    directory = Directory(config)
    try:
        login = directory.lookup(user)
    except Unreachable as exc:
        raise ConfigError(f"ldap: cannot look {user!r} up: {exc}; give --groups") from None
    finally:
        directory.close()
    if login is None:
        return (
            user,
            given,
            (
                f"user {user!r}: not in the directory nor the password file (cannot sign in); "
                "an account of that name would have these rights"
            ),
        )
    name, found = login
    return name, found, f"user {name!r}: directory account; groups: {_names(found)}"


def _names(groups: frozenset[str]) -> str:
    return ", ".join(sorted(groups)) or "none"
