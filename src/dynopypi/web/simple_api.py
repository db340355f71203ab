"""The simple repository API (PEP 503 HTML, PEP 691 JSON): /simple/ and project pages."""

from __future__ import annotations

import logging

import bottle

from dynopypi.auth.identity import LIST
from dynopypi.core.visibility import AsOf, held_summary
from dynopypi.dists.names import NormalizedName
from dynopypi.errors import NotFound
from dynopypi.render.simple import render_project
from dynopypi.web.shell import Routes, refusal_response

log = logging.getLogger(__name__)
STALE_HEADER = "X-Dynopypi-Upstream"
HELD_HEADER = "X-Dynopypi-Held"  # what the cooldown holds back of this page, in words


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
        return self.project_page(canonical, None)

    def project_page(self, canonical: NormalizedName, as_of: AsOf | None) -> bottle.HTTPResponse:
        """A project page now, or as of an instant (``web.as_of``)."""
        catalog = self.services.catalog
        found = catalog.page(canonical, as_of)
        project = found.project
        held = held_summary(found.held, catalog.cooldown) if found.held else ""
        if held:  # -v: why pip did not find the newest release
            log.debug("%s: %s", canonical, held)
        if project is None:
            fallback = self.services.settings.fallback_url
            if fallback and as_of is None and not held:
                return self.shell.redirect(f"{fallback}{canonical}/", status=302)
            if held:  # every file is held back: the 404 says so
                refused = refusal_response(NotFound(f"project {canonical!r}: {held}"))
                refused.set_header(HELD_HEADER, held)
                return refused
            raise NotFound(f"project {canonical!r} is not in this index")
        content_type = self.shell.negotiated()
        if as_of is None:
            page = self.services.renderer.project_page(project, content_type)
        else:
            page = render_project(project, content_type, self.services.settings.hash_algo)
        response = self.shell.send(page)
        if held:
            response.set_header(HELD_HEADER, held)
        if found.stale:  # upstream could not be asked: say the page may be out of date
            response.set_header(STALE_HEADER, "upstream unreachable; cached page")
        return response
