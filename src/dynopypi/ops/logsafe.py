"""Log lines a client cannot forge (control characters escaped, URL credentials redacted),
and the access log's logger (its lines are written by ``edge.access_log``).

Request paths, user names and header values reach the log from strangers; a raw newline
(``%0a`` in a path) would write a fake line, and terminal escapes would reach whoever
reads the log in a terminal. ``escape`` is applied to every field of the access line, and
``SafeFormatter`` escapes whole messages of every logger (waitress logs raw paths too),
while tracebacks, which come from the server itself, keep their lines.
"""

from __future__ import annotations

import logging
import re

access_log = logging.getLogger("dynopypi.access")


def escape(value: object, *, space: bool = False) -> str:
    """``value`` as text with non-printable characters (and backslashes) as escapes;
    ``space`` escapes spaces too, for fields of a space-separated line."""
    text = str(value)
    if text.isprintable() and "\\" not in text and not (space and " " in text):
        return text  # the common case costs one scan
    out = []
    for char in text:
        if char == "\\":
            out.append("\\\\")
        elif char == " " and space:
            out.append("\\x20")
        elif char.isprintable() or char == " ":
            out.append(char)
        elif ord(char) < 0x100:
            out.append(f"\\x{ord(char):02x}")
        else:
            out.append(f"\\u{ord(char):04x}" if ord(char) < 0x10000 else f"\\U{ord(char):08x}")
    return "".join(out)


# scheme://userinfo@ : the userinfo runs to the authority's last "@" (a password may hold
# an unescaped "@"), never past the first "/", "?", "#" or white space
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/?#\s@]*(?:@[^/?#\s@]*)*@")
REDACTED = "***"


def redact(text: str) -> str:
    """``text`` with the credentials of every URL in it (``https://user:token@host/``)
    replaced by ``***``: what is printed or logged about an upstream never holds them."""
    if "@" not in text or "://" not in text:
        return text  # the common case costs two scans
    return _USERINFO.sub(rf"\g<1>{REDACTED}@", text)


class SafeFormatter(logging.Formatter):
    """A Formatter whose message part is always one line of printable text, and whose
    lines (tracebacks too) never show a URL's credentials (``redact``)."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))

    def formatMessage(self, record: logging.LogRecord) -> str:
        message = record.message
        if not message.isprintable():
            record.message = "".join(
                char if char.isprintable() else escape(char) for char in message
            )
        return super().formatMessage(record)
