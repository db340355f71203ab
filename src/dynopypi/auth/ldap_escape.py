"""A user name put into an LDAP DN (RFC 4514) or search filter (RFC 4515), escaped; and
which names are worth asking about at all.

A name is whatever a client typed into pip's login prompt. Unescaped, ``*`` in a filter
matches every account, ``)(`` opens a new clause (``alice)(|(uid=*`` ...), a ``,`` or
``+`` in a DN names another entry, and a NUL can cut a string short in some servers. So
every character that means anything in each syntax is escaped as ``\\XX`` (its UTF-8
bytes in hex, which both RFCs accept for any character), and so is every byte outside
printable ASCII: then the server sees exactly one value, whatever the name.

ldap3's ``escape_filter_chars`` and ``escape_rdn`` were considered: the first keeps
non-ASCII text as it is (valid, but leaves the decision to each server's parser), the
second writes NUL as a backslash and a raw NUL, which RFC 4514 does not allow. Both jobs
are a few lines, so they are done here, the strict way, and tested against slapd.

``fill`` puts values into an operator's template by plain replacement of ``{user}`` and
``{dn}`` (never ``str.format``: a template may hold braces of its own, and a value must
never be read as a placeholder).
"""

from __future__ import annotations

import re

MAX_NAME = 256  # longer names are no directory's accounts: refused without asking
_NAMING = re.compile(r"([A-Za-z][A-Za-z0-9-]*)=\{user\}")

# RFC 4515 section 3: these must be escaped in an assertion value; the rest of ASCII's
# printable characters may stay.
_FILTER_SPECIAL = frozenset(b"*()\\")
# RFC 4514 section 2.4: these must be escaped anywhere in an attribute value; '#' and
# ' ' at the start and ' ' at the end too (handled below by escaping them everywhere: an
# escaped character is always valid).
_DN_SPECIAL = frozenset(b'"+,;<>\\=# ')


def _escape(value: str, special: frozenset[int]) -> str:
    out: list[str] = []
    for byte in value.encode("utf-8"):
        if 0x21 <= byte <= 0x7E and byte not in special:
            out.append(chr(byte))
        else:
            out.append(f"\\{byte:02x}")
    return "".join(out)


def acceptable_name(user: str) -> bool:
    """Names worth asking the directory about: no control characters (NUL cuts strings
    short in C servers), not absurdly long. Everything else is escaped, not refused."""
    return 0 < len(user) <= MAX_NAME and all(ch >= " " and ch != "\x7f" for ch in user)


def naming_attribute(template: str) -> str:
    """The attribute a template puts the name in (``uid`` in ``uid={user},ou=...`` or
    ``(uid={user})``): the entry's value of it is the name the identity gets."""
    match = _NAMING.search(template)
    return match.group(1) if match else "uid"


def escape_filter_value(value: str) -> str:
    """``value`` as an assertion value in a search filter (RFC 4515)."""
    return _escape(value, _FILTER_SPECIAL)


def escape_dn_value(value: str) -> str:
    """``value`` as an attribute value in a distinguished name (RFC 4514)."""
    return _escape(value, _DN_SPECIAL)


def fill(template: str, **values: str) -> str:
    """``template`` with each ``{name}`` replaced by its (already escaped) value, in one
    pass, so that a value containing ``{dn}`` is never replaced again."""
    out: list[str] = []
    rest = template
    while rest:
        start = rest.find("{")
        if start < 0:
            out.append(rest)
            break
        end = rest.find("}", start)
        name = rest[start + 1 : end] if end > 0 else ""
        if name in values:
            out.append(rest[:start] + values[name])
            rest = rest[end + 1 :]
        else:
            out.append(rest[: start + 1])
            rest = rest[start + 1 :]
    return "".join(out)


def _parts(dn: str) -> list[tuple[str, str]] | None:
    """A DN's parts as (type, value) in lower case, values unescaped; None if not a DN."""
    from ldap3.utils.dn import parse_dn

    try:
        parsed = parse_dn(dn, escape=False, strip=True)
    except Exception:  # ldap3 raises LDAPInvalidDnError, or worse on garbage
        return None
    return [(str(t).lower(), _unescape(str(v)).lower()) for t, v, _sep in parsed]


def is_under(dn: str, base: str) -> bool:
    """Whether ``dn`` is ``base`` or below it, compared part by part (case and the
    spaces around separators do not matter)."""
    parts, top = _parts(dn), _parts(base)
    if not parts or not top or len(top) > len(parts):
        return False
    return parts[len(parts) - len(top) :] == top


def first_value(dn: str) -> str:
    """The value of a DN's first RDN, unescaped: ``cn=py-publishers,ou=groups,...`` ->
    ``py-publishers``: how a group named by ``memberOf`` is called in the rights file."""
    from ldap3.utils.dn import parse_dn

    try:
        parts = parse_dn(dn, escape=False, strip=True)
    except Exception:  # ldap3 raises LDAPInvalidDnError, or worse on garbage
        return ""
    if not parts:
        return ""
    return _unescape(str(parts[0][1]))


def _unescape(value: str) -> str:
    """RFC 4514 escapes (``\\,`` and ``\\2c``) undone, as UTF-8."""
    data = bytearray()
    index = 0
    while index < len(value):
        char = value[index]
        if char == "\\" and index + 1 < len(value):
            pair = value[index + 1 : index + 3]
            if len(pair) == 2 and all(c in "0123456789abcdefABCDEF" for c in pair):
                data.append(int(pair, 16))
                index += 3
                continue
            data.extend(value[index + 1].encode())
            index += 2
            continue
        data.extend(char.encode())
        index += 1
    return data.decode("utf-8", errors="replace")
