"""The simple repository API (PEP 503 HTML, PEP 691 JSON): /simple/ and project pages."""

from __future__ import annotations

import bottle

from ..errors import NotFound
from ..identity import LIST
from .shell import Routes


class SimpleRoutes(Routes):
    def install(self, app: bottle.Bottle) -> None:
        app.route("/simple", "GET", self.no_slash)
        app.route("/simple/", "GET", self.index)
        app.route("/simple/<name>", "GET", self.project_no_slash)
        app.route("/simple/<name>/", "GET", self.project)

    def no_slash(self) -> bottle.HTTPResponse:
        return self.shell.redirect("simple/")

    def index(self) -> bottle.HTTPResponse:
        self.shell.require(LIST)
        content_type = self.shell.negotiated()
        snapshot = self.services.index.snapshot
        return self.shell.send(self.services.renderer.index_page(snapshot, content_type))

    def project_no_slash(self, name: str) -> bottle.HTTPResponse:
        return self.shell.redirect(f"{self.shell.valid_name(name)}/")

    def project(self, name: str) -> bottle.HTTPResponse:
        self.shell.require(LIST)
        canonical = self.shell.valid_name(name)
        if canonical != name:
            return self.shell.redirect(f"../{canonical}/")
        project = self.services.reconciler.project(canonical)
        if project is None:
            fallback = self.services.settings.fallback_url
            if fallback:
                return self.shell.redirect(f"{fallback}{canonical}/", status=302)
            raise NotFound(f"project {canonical!r} is not in this index")
        page = self.services.renderer.project_page(project, self.shell.negotiated())
        return self.shell.send(page)
