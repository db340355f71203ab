"""The command line's LDAP / Active Directory sign-in: ``run``'s ``--ldap-*`` flags (one
group in ``--help``), and ``check-config --explain USER``: where each of a user's rights
comes from (their line, ``*``, their groups' lines)."""

from __future__ import annotations

import argparse


def ldap_flags(p: argparse.ArgumentParser) -> None:
    """Sign-in with directory accounts, beside (after) the htpasswd ones."""
    g = p.add_argument_group(
        "directory accounts (LDAP, Active Directory)",
        "Names not in the htpasswd file are checked against the directory; a name in it is "
        "never (unless --ldap-shadow-local). Needs a rights file: @GROUP lines apply to the "
        "members of a directory group.",
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
        help="where groups are searched for (default: the user's memberOf attribute)",
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
