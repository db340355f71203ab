"""POST / : the legacy upload API (twine, uv publish) and its other actions.

Strangers are refused before their body is read; the body is streamed to a temp file by
``form``; the core (``upload``, ``releases``) decides everything else.
"""

from __future__ import annotations

import bottle

from ..errors import InvalidInput
from ..form import UploadForm, read_form
from ..identity import UPDATE
from ..upload import accept_upload
from .shell import Routes, text

_CHANGES = ("file_upload", "remove_pkg", "doc_upload", "yank", "unyank")


class ActionRoutes(Routes):
    def install(self, app: bottle.Bottle) -> None:
        app.route("/", "POST", self.post)

    def post(self) -> bottle.HTTPResponse:
        self.shell.require(UPDATE)  # refuse strangers before reading a large body
        request = self.shell.request
        environ = request.environ
        content_type = str(environ.get("CONTENT_TYPE", "")).lower()
        if content_type.startswith("application/x-www-form-urlencoded"):
            form = UploadForm(fields={k: v for k, v in request.forms.decode().items()})
        else:
            form = read_form(
                environ["wsgi.input"],
                environ.get("CONTENT_TYPE"),
                environ.get("CONTENT_LENGTH"),
                self.services.index.roots[0],
                max_size=self.services.settings.max_upload_size,
            )
        try:
            return self.act(form)
        finally:
            form.discard()

    def act(self, form: UploadForm) -> bottle.HTTPResponse:
        action = form.action
        project = form.fields.get("name")
        if action in _CHANGES:
            self.shell.require(UPDATE, project)
        if action == "file_upload":
            return self.upload(form)
        if action in ("submit", "verify"):  # old clients register first; nothing to do
            return text(200, "ok")
        releases = self.services.releases
        version = form.fields.get("version", "")
        if action == "remove_pkg":
            files = releases.remove(project or "", version)
            return text(200, "removed " + ", ".join(f.filename for f in files))
        if action in ("yank", "unyank"):
            reason = form.fields.get("reason", "") if action == "yank" else None
            files = releases.yank(project or "", version, form.fields.get("filename"), reason)
            if not files:
                return text(200, f"{project} {version}: nothing is yanked; nothing changed")
            return text(200, f"{action}ed " + ", ".join(f.filename for f in files))
        raise InvalidInput(
            f"unknown :action {action!r}; this index handles file_upload, remove_pkg, "
            "yank and unyank"
        )

    def upload(self, form: UploadForm) -> bottle.HTTPResponse:
        overwrite = self.services.settings.overwrite
        outcome = accept_upload(form, self.services.paths, 0, overwrite=overwrite)
        filename = outcome.dist.filename if outcome.dist else form.filename
        if outcome.created:
            return text(200, f"stored {filename}")
        return text(200, f"{filename} is already stored with identical content")
