"""An upload as the publishing rules see it (``UploadForm``): the fields anything reads, the
file part staged on disk with its digests; and what a full disk while storing one means.

The edge fills it from the multipart body (``edge.parts``); the rules (``upload``) and
both stores' writers read it, so it lives here, below them all.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass, field
from pathlib import Path

from dynopypi.errors import Refused, StorageFull

CHUNK = 256 * 1024  # one read or write of an upload's file part


DIGEST_FIELDS = {"sha256_digest": "sha256", "md5_digest": "md5", "blake2_256_digest": "blake2b_256"}


# the only fields anything reads; the rest (description, classifiers...) is counted, not kept
KEPT_FIELDS = frozenset(
    {":action", "name", "version", "filename", "reason", "filetype", "pyversion", *DIGEST_FIELDS}
)


_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


@dataclass
class UploadForm:
    fields: dict[str, str] = field(default_factory=dict)
    filename: str | None = None
    temp_path: Path | None = None
    size: int = 0
    digests: dict[str, str] = field(default_factory=dict)
    lock_fd: int | None = None  # held while the temp file lives: see remove_stale_parts
    form_bytes: int = 0

    @property
    def action(self) -> str:
        return self.fields.get(":action", "")

    def discard(self) -> None:
        if self.temp_path is not None:
            self.temp_path.unlink(missing_ok=True)
            self.temp_path = None
        if self.lock_fd is not None:
            os.close(self.lock_fd)
            self.lock_fd = None


def storage_error(exc: OSError, what: str) -> Refused:
    if exc.errno in _DISK_FULL:
        return StorageFull(
            f"the index's disk is full: could not {what}; nothing was stored, retry later"
        )
    raise exc
