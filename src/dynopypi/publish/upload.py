"""Accepting an upload of the legacy API that twine and uv publish speak.

The edge (``edge.multipart``) has already streamed the file to a hidden temp file; here
``accept_upload`` runs the named checks (filename, digests, metadata, overwrite rule) and
only then asks the store's ``Shelf`` to put the file in place (``store.directory.shelf``,
``store.bucket.writer``). Whatever goes wrong, the temp file is removed: a refused upload
leaves nothing.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable

from packaging.version import InvalidVersion, Version

from dynopypi.dists.check import check_distribution
from dynopypi.dists.names import (
    NormalizedName,
    ParsedName,
    is_valid_project_name,
    normalize,
    parse_filename,
)
from dynopypi.errors import InvalidFilename, InvalidInput, MetadataError
from dynopypi.publish.form import DIGEST_FIELDS, UploadForm
from dynopypi.publish.shelf import Outcome, Shelf

log = logging.getLogger(__name__)


# ---- checks (pure, or reading only the temp file) ------------------------------------
def check_filename(filename: str | None) -> ParsedName:
    if not filename:
        raise InvalidInput("the upload has no file: send it as the 'content' part with a filename")
    if "\x00" in filename or "/" in filename or "\\" in filename or filename in (".", ".."):
        raise InvalidInput(f"invalid filename {filename!r}: it must be a plain file name")
    if not filename.isascii():
        raise InvalidInput(
            f"invalid filename {filename!r}: distribution file names are ASCII "
            "(letters, digits, '.', '_', '-', '+', '!')"
        )
    if filename.startswith("."):
        raise InvalidInput(f"invalid filename {filename!r}: it must not start with a dot")
    if len(filename) > 255:
        raise InvalidInput(f"invalid filename {filename[:60]!r}...: longer than 255 bytes")
    try:
        return parse_filename(filename)
    except InvalidFilename as exc:
        raise InvalidInput(f"invalid distribution filename: {exc}") from exc


def canonical_project(name: str) -> NormalizedName:
    """The one name a form's ``name`` field can stand for, or ``InvalidInput``: exactly a
    valid project name (ASCII letters, digits, ``._-``), no spaces or control characters,
    so the name that rights are checked against is the name that is changed."""
    if not name.isascii() or not is_valid_project_name(name):
        raise InvalidInput(
            f"the form's name {name[:100]!r} is not a valid project name: ASCII letters, "
            "digits, '.', '_' and '-', starting and ending with a letter or digit"
        )
    return normalize(name)


def check_form_matches(form: UploadForm, parsed: ParsedName) -> None:
    """The form says what the file name says (the file name is the one that counts)."""
    name, version_text = form.fields.get("name", ""), form.fields.get("version", "")
    if not name or not version_text:
        raise InvalidInput("the upload form needs 'name' and 'version' fields")
    if canonical_project(name) != parsed.project:
        raise InvalidInput(
            f"the form's name {name!r} does not match the file {form.filename!r} "
            f"(project {parsed.project!r})"
        )
    try:
        if not version_text.isascii() or version_text != version_text.strip():
            raise InvalidVersion(version_text)
        version = Version(version_text)
    except InvalidVersion:
        raise InvalidInput(f"the form's version {version_text!r} is not a valid version") from None
    if version != parsed.version:
        raise InvalidInput(
            f"the form's version {version_text!r} does not match the file {form.filename!r} "
            f"(version {parsed.version})"
        )


def check_digests(form: UploadForm) -> None:
    if form.size == 0:
        raise InvalidInput(f"the file {form.filename!r} is empty")
    for key, algorithm in DIGEST_FIELDS.items():
        sent = form.fields.get(key, "").strip().lower()
        if sent and not (sent.isascii() and hmac.compare_digest(sent, form.digests[algorithm])):
            raise InvalidInput(
                f"{key} does not match the uploaded bytes: the file was corrupted in transit "
                "or the digest is wrong; nothing was stored"
            )


def check_archive(form: UploadForm, parsed: ParsedName) -> bytes | None:
    """The file is a valid distribution of its type, for this project and version."""
    assert form.temp_path is not None and form.filename is not None
    try:
        return check_distribution(form.temp_path, form.filename, parsed)
    except MetadataError as exc:
        message = str(exc).replace(form.temp_path.name, form.filename)
        raise InvalidInput(f"not a valid distribution: {message}; nothing was stored") from exc


def accept_upload(
    form: UploadForm,
    shelf: Shelf,
    *,
    overwrite: bool,
    authorize: Callable[[NormalizedName], None],
    fits: Callable[[NormalizedName, int], None] | None = None,
) -> Outcome:
    """Run every check, then put the file in place atomically and index it.

    The project is the file name's, once validated: ``authorize`` is asked about that name,
    and that is the name the file is stored under. The cheap checks come first; a re-upload
    of a stored file is answered from its digest before any archive is opened, and before
    ``fits`` (the quotas) is asked whether the bytes it adds fit.
    """
    try:
        parsed = check_filename(form.filename)
        assert form.filename is not None and form.temp_path is not None
        check_form_matches(form, parsed)
        authorize(parsed.project)
        check_digests(form)
        stored = shelf.stored(form.filename, parsed)
        if stored is not None and shelf.unchanged(stored, form.digests["sha256"]):
            return Outcome(stored, created=False)
        if fits is not None and (stored is None or overwrite):  # else a conflict: 409
            fits(parsed.project, form.size - (stored.size if stored is not None else 0))
        metadata = check_archive(form, parsed)
        return shelf.place(form, parsed, metadata, overwrite=overwrite)
    finally:
        form.discard()
