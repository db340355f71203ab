"""POST / : the legacy upload API (twine, uv publish) and its other actions.

Strangers are refused before their body is read; the body is streamed to a temp file by
``edge.multipart`` (behind waitress, while it arrives: ``edge.gatekeeper.upload_stream``); the
rules (``publish.upload``, ``publish.releases``) decides everything else. Rights are checked
against the canonical project name the core derives (from the validated file name for an
upload, from a strictly valid ``name`` field otherwise), never against the raw field.
"""

from __future__ import annotations

import bottle

from dynopypi.auth.identity import UPDATE
from dynopypi.dists.names import NormalizedName
from dynopypi.edge.access_log import WRITE_KEY
from dynopypi.edge.bodies import STREAMED
from dynopypi.edge.gatekeeper import XMLRPC_PATHS, xmlrpc_refusal
from dynopypi.edge.multipart import FormParser, read_form, read_urlencoded
from dynopypi.errors import InvalidInput
from dynopypi.publish.form import UploadForm
from dynopypi.publish.staging import remove_stale_parts
from dynopypi.publish.upload import accept_upload, canonical_project
from dynopypi.web.shell import Routes, text

_RELEASE_CHANGES = ("remove_pkg", "yank", "unyank")


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
            return self.act(form)
        finally:
            form.discard()

    def act(self, form: UploadForm) -> bottle.HTTPResponse:
        action = form.action
        if action == "file_upload":
            return self.upload(form)
        if action in ("submit", "verify"):  # old clients register first; nothing to do
            return text(200, "ok")
        if action not in _RELEASE_CHANGES:
            raise InvalidInput(
                f"unknown :action {action[:100]!r}; this index handles file_upload, "
                "remove_pkg, yank and unyank"
            )
        version = form.fields.get("version", "")
        self.record(action, f"{form.fields.get('name', '')}=={version}")  # until files are known
        project = canonical_project(form.fields.get("name", ""))
        self.shell.require(UPDATE, project)
        releases = self.services.store.releases
        if action == "remove_pkg":
            files = releases.remove(project, version)
            self.record(action, *(f.filename for f in files))
            return text(200, "removed " + ", ".join(f.filename for f in files))
        reason = form.fields.get("reason", "") if action == "yank" else None
        files = releases.yank(project, version, form.fields.get("filename"), reason)
        self.record(action, *(f.filename for f in files))
        if not files:
            return text(200, f"{project} {version}: nothing is yanked; nothing changed")
        return text(200, f"{action}ed " + ", ".join(f.filename for f in files))

    def record(self, action: str, *names: str) -> None:
        """What this write did, for its access log line (``edge.access_log``)."""
        self.shell.request.environ[WRITE_KEY] = (action, names)

    def upload(self, form: UploadForm) -> bottle.HTTPResponse:
        self.record("upload", form.filename or "-")  # as the client named it, refused or not

        def authorize(project: NormalizedName) -> None:
            self.shell.require(UPDATE, project)

        overwrite = self.services.settings.overwrite
        outcome = accept_upload(
            form, self.services.store.shelf, overwrite=overwrite, authorize=authorize
        )
        filename = outcome.dist.filename if outcome.dist else form.filename
        self.record("upload", filename or "-")
        if outcome.created:
            return text(200, f"stored {filename}")
        return text(200, f"{filename} is already stored with identical content")
