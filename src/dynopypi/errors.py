"""The exceptions dynopypi raises: domain errors, with no HTTP in them.

The core says *what* went wrong; only the HTTP edge (``web.errors``) turns each kind into a
status code and headers, so the core stays usable from the CLI and from tests.

DynopypiError
 ├── ConfigError            a setting is invalid (start-up fails with one line)
 ├── InvalidFilename        a file name is not a distribution name we can serve
 ├── MetadataError          an archive's core metadata cannot be read safely
 └── Refused                a request the core will not carry out; the message says why
      ├── InvalidInput      the request is malformed or inconsistent
      ├── NeedsAccount      the action needs credentials, none or wrong ones were sent
      ├── Denied            the account lacks the right
      ├── NotFound          no such project, release or file
      ├── NotServed         an old protocol this index does not speak (XML-RPC search)
      ├── NoAcceptableFormat none of the formats the client accepts is served
      ├── AlreadyExists     a file of that name is stored with other content
      ├── TooLarge          the request body is over the configured limit
      ├── Throttled         too many failed logins from this client (``retry_after``)
      ├── StorageFull       the package storage has no room left
      │    └── OverQuota    an upload would pass a project's or the index's quota
      ├── DirectoryUnavailable the account directory (LDAP) did not answer (``retry_after``)
      └── UpstreamFailed    the upstream index could not answer (and nothing is cached)
           ├── BadGateway       it is down, refused, answered 5xx or sent bad data
           ├── GatewayTimeout   it did not answer in time
           └── UpstreamBusy     it is being asked already: retry (``retry_after``)
"""

from __future__ import annotations


class DynopypiError(Exception):
    """Base class of every error dynopypi raises on purpose."""


class ConfigError(DynopypiError, ValueError):
    """A setting is invalid; the message names the setting and the rule."""


class InvalidFilename(DynopypiError, ValueError):
    """A file name cannot be parsed as a distribution (wheel, sdist or egg)."""


class MetadataError(DynopypiError, ValueError):
    """Core metadata could not be read out of an archive (corrupt, missing or too large)."""


class Refused(DynopypiError):
    """A request refused by the core; ``message`` is written for the person behind it."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(Refused):
    pass


class NeedsAccount(Refused):
    pass


class Denied(Refused):
    """``user``: the account that proved who it is but lacks the right (for the log)."""

    def __init__(self, message: str, user: str | None = None) -> None:
        super().__init__(message)
        self.user = user


class NotFound(Refused):
    pass


class NotServed(Refused):
    pass


class NoAcceptableFormat(Refused):
    pass


class AlreadyExists(Refused):
    pass


class TooLarge(Refused):
    pass


class Throttled(Refused):
    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class StorageFull(Refused):
    pass


class OverQuota(StorageFull):
    """507 like a full disk, but the operator's limit: ``used`` and ``allowed`` bytes."""

    def __init__(self, message: str, *, used: int, allowed: int) -> None:
        super().__init__(message)
        self.used = used
        self.allowed = allowed


class DirectoryUnavailable(Refused):
    """The account directory (LDAP) could not tell whether credentials are right: the
    login is neither accepted nor refused, and the client should retry after
    ``retry_after`` seconds."""

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class UpstreamFailed(Refused):
    pass


class BadGateway(UpstreamFailed):
    pass


class GatewayTimeout(UpstreamFailed):
    pass


class UpstreamBusy(UpstreamFailed):
    """Upstream is being asked already, by as many requests as may wait on it; nothing
    is cached to answer with meanwhile. The client should retry after ``retry_after``."""

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after
