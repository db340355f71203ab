"""POST / : the legacy upload API (twine, uv publish) and its other actions.

Strangers are refused before their body is read; the body is streamed to a temp file by
``edge.multipart`` (behind waitress, while it arrives: ``edge.gatekeeper.upload_stream``); the
rules (``publish.upload``, ``publish.releases``) decides everything else. Rights are checked
against the canonical project name the core derives (from the validated file name for an
upload, from a strictly valid ``name`` field otherwise), never against the raw field.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import bottle

from dynopypi.audit.records import (
    OK,
    OVERWRITE,
    REFUSED,
    REMOVE,
    UNCHANGED,
    UNYANK,
    UPLOAD,
    YANK,
    Event,
    actor_of,
)
from dynopypi.auth.identity import UPDATE
from dynopypi.dists.names import NormalizedName, parse_filename
from dynopypi.edge.access_log import WRITE_KEY
from dynopypi.edge.bodies import STREAMED
from dynopypi.edge.gatekeeper import XMLRPC_PATHS, xmlrpc_refusal
from dynopypi.edge.multipart import FormParser, read_form, read_urlencoded
from dynopypi.errors import InvalidFilename, InvalidInput, Refused
from dynopypi.publish.form import UploadForm
from dynopypi.publish.quota import Limits, check_quota
from dynopypi.publish.staging import remove_stale_parts
from dynopypi.publish.upload import accept_upload, canonical_project
from dynopypi.settings.operations import quota_for
from dynopypi.web.shell import IDENTITY, Routes, text

_RELEASE_CHANGES = {"remove_pkg": REMOVE, "yank": YANK, "unyank": UNYANK}
WRITES = (UPLOAD, OVERWRITE, REMOVE, YANK, UNYANK)  # the metric's labels: a fixed set


@dataclass
class Attempt:
    """What one POST tried, as the audit trail records it (filled in as it is learned)."""

    action: str | None  # None: nothing to record (the register no-ops)
    project: str = ""
    version: str = ""
    files: list[tuple[str, str]] = field(default_factory=list)
    outcome: str = OK
    extra: dict[str, str] = field(default_factory=dict)
    raw: str = ""  # the form's :action, as the access log names it


class ActionRoutes(Routes):
    def install(self, app: bottle.Bottle) -> None:
        # uploads own their temp files: those a killed process left go before the first POST
        for root in self.services.index.roots:
            remove_stale_parts(root)
        app.route("/", "POST", self.post)
        for path in XMLRPC_PATHS:  # behind waitress the body gate answers first
            app.route(path, "POST", self.xmlrpc)

    def xmlrpc(self) -> bottle.HTTPResponse:
        refusal = xmlrpc_refusal(self.shell.request.path, "")
        assert refusal is not None
        raise refusal

    def post(self) -> bottle.HTTPResponse:
        environ = self.shell.request.environ
        content_type = str(environ.get("CONTENT_TYPE", "")).lower()
        not_served = xmlrpc_refusal("/", content_type)  # pip search -i http://host/
        if not_served is not None:
            raise not_served
        self.shell.require(UPDATE)  # refuse strangers before reading a large body
        streamed = environ.get(STREAMED)
        if isinstance(streamed, FormParser):  # parsed as it arrived (server.py, guard)
            form = streamed.finish()
        elif content_type.startswith("application/x-www-form-urlencoded"):
            form = read_urlencoded(environ["wsgi.input"], environ.get("CONTENT_LENGTH"))
        else:
            form = read_form(
                environ["wsgi.input"],
                environ.get("CONTENT_TYPE"),
                environ.get("CONTENT_LENGTH"),
                self.services.settings.primary_root,
                max_size=self.services.settings.max_upload_size,
            )
        try:
            return self.audited(form)
        finally:
            form.discard()

    def audited(self, form: UploadForm) -> bottle.HTTPResponse:
        """``act``, and one audit record of what it did or why it was refused: every write
        of the web API passes here once."""
        attempt = Attempt(_RELEASE_CHANGES.get(form.action, form.action or "unknown"))
        attempt.raw = form.action
        attempt.project = form.fields.get("name", "")
        attempt.version = form.fields.get("version", "")
        try:
            response = self.act(form, attempt)
        except Refused as exc:
            self.record(attempt, REFUSED, exc.message)
            raise
        self.record(attempt, attempt.outcome, "")
        return response

    def record(self, attempt: Attempt, outcome: str, reason: str) -> None:
        """What this write did or tried: for its access log line (``edge.access_log``:
        the action and the file names), the metrics and the audit trail."""
        if attempt.action is None:
            return
        names = tuple(name for name, _sha in attempt.files if name)
        logged = "upload" if attempt.action in (UPLOAD, OVERWRITE) else attempt.raw
        if not names and (outcome == REFUSED or logged == "upload"):  # before files were known
            names = ("-",) if logged == "upload" else (f"{attempt.project}=={attempt.version}",)
        self.shell.request.environ[WRITE_KEY] = (logged, names)
        self._audit(attempt, outcome, reason)

    def _audit(self, attempt: Attempt, outcome: str, reason: str) -> None:
        audit, metrics = self.services.audit, self.services.metrics
        if attempt.action is None:
            return
        if metrics is not None:
            metrics.wrote(attempt.action if attempt.action in WRITES else "other", outcome)
        if audit is None:
            return
        environ = self.shell.request.environ
        event = Event(
            attempt.action, actor_of(environ.get(IDENTITY)), str(environ.get("REMOTE_ADDR", "")),
            attempt.project, attempt.version, tuple(attempt.files), outcome, reason, attempt.extra,
        )  # fmt: skip
        audit.record(event)

    def act(self, form: UploadForm, attempt: Attempt) -> bottle.HTTPResponse:
        action = form.action
        if action == "file_upload":
            return self.upload(form, attempt)
        if action in ("submit", "verify"):  # old clients register first; nothing to do
            attempt.action = None
            return text(200, "ok")
        if action not in _RELEASE_CHANGES:
            raise InvalidInput(
                f"unknown :action {action[:100]!r}; this index handles file_upload, "
                "remove_pkg, yank and unyank"
            )
        version = form.fields.get("version", "")
        project = canonical_project(form.fields.get("name", ""))
        attempt.project = project
        self.shell.require(UPDATE, project)
        releases = self.services.store.releases
        if action == "remove_pkg":
            files = releases.remove(project, version)
            attempt.files = [(f.filename, f.sha256) for f in files]
            return text(200, "removed " + ", ".join(f.filename for f in files))
        reason = form.fields.get("reason", "") if action == "yank" else None
        if reason is not None:
            attempt.extra["yank_reason"] = reason
        files = releases.yank(project, version, form.fields.get("filename"), reason)
        attempt.files = [(f.filename, f.sha256) for f in files]
        if not files:
            attempt.outcome = UNCHANGED
            return text(200, f"{project} {version}: nothing is yanked; nothing changed")
        return text(200, f"{action}ed " + ", ".join(f.filename for f in files))

    def upload(self, form: UploadForm, attempt: Attempt) -> bottle.HTTPResponse:
        def authorize(project: NormalizedName) -> None:
            attempt.project = project
            self.shell.require(UPDATE, project)

        attempt.action = UPLOAD
        attempt.files = [(form.filename or "", form.digests.get("sha256", ""))]
        overwrite = self.services.settings.overwrite
        replacing = overwrite and self._stored(form.filename)
        outcome = accept_upload(
            form, self.services.store.shelf, overwrite=overwrite, authorize=authorize,
            fits=self._fits,
        )  # fmt: skip
        filename = outcome.dist.filename if outcome.dist else form.filename
        if outcome.dist is not None:
            attempt.files = [(outcome.dist.filename, outcome.dist.sha256)]
        if not outcome.created:
            attempt.outcome = UNCHANGED
        elif replacing:
            attempt.action = OVERWRITE
        if outcome.created:
            return text(200, f"stored {filename}")
        return text(200, f"{filename} is already stored with identical content")

    def _fits(self, project: NormalizedName, adding: int) -> None:
        """The quotas (``publish.quota``): ``OverQuota`` (507) unless ``adding`` fits."""
        settings, usage = self.services.settings, self.services.usage
        if usage is None or (
            settings.quota_project is None
            and settings.quota_total is None
            and not settings.quota_overrides
        ):
            return
        limit = quota_for(project, settings.quota_project, settings.quota_overrides)
        used = usage.of(self.services.index.snapshot)
        limits = Limits(limit, settings.quota_total)
        check_quota(project, adding, used.projects.get(project, 0), used.total, limits)

    def _stored(self, filename: str | None) -> bool:
        """Whether an upload of ``filename`` would replace a stored file."""
        try:
            parsed = parse_filename(filename or "")
        except InvalidFilename:
            return False
        return self.services.store.shelf.stored(filename or "", parsed) is not None
