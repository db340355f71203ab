"""The exceptions dynopypi raises, one tree so the HTTP layer can map them to statuses.

DynopypiError
 ├── ConfigError            a setting is invalid (start-up fails with one line)
 ├── InvalidFilename        a file name is not a distribution name we can serve
 ├── MetadataError          an archive's core metadata cannot be read safely
 └── HTTPError              carries a status code and a message for the client
      ├── BadRequest        400
      ├── Unauthorized      401 (with WWW-Authenticate)
      ├── Forbidden         403
      ├── NotFound          404
      ├── NotAcceptable     406
      ├── Conflict          409
      ├── PayloadTooLarge   413
      ├── TooManyRequests   429 (with Retry-After)
      └── InsufficientStorage 507
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


class HTTPError(DynopypiError):
    status = 500
    headers: dict[str, str]

    def __init__(self, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = dict(headers or {})


class BadRequest(HTTPError):
    status = 400


class Unauthorized(HTTPError):
    status = 401


class Forbidden(HTTPError):
    status = 403


class NotFound(HTTPError):
    status = 404


class NotAcceptable(HTTPError):
    status = 406


class Conflict(HTTPError):
    status = 409


class PayloadTooLarge(HTTPError):
    status = 413


class TooManyRequests(HTTPError):
    status = 429


class InsufficientStorage(HTTPError):
    status = 507
