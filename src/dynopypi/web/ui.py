"""The web UI: project and version pages, search, and its static files.

Each page is allowed exactly when listing is (``LIST``, the rule of ``/simple/``) and
shows the project as ``Catalog.page`` gives it, the view the simple page serves (the
cooldown applied), so a page never lists a file the index would not hand out. Pages are
kept by the renderer per project change and per index URL; every UI response carries the
strict Content-Security-Policy of ``render.layout``.
"""

from __future__ import annotations

import bottle
from packaging.version import InvalidVersion, Version

from dynopypi.auth.identity import LIST
from dynopypi.core.model import Project, Rendered
from dynopypi.dists.metadata import CoreMetadata, header_fields, parse_metadata
from dynopypi.dists.names import DistFile, NormalizedName
from dynopypi.errors import NotFound
from dynopypi.render.layout import HEADERS, assets
from dynopypi.render.pypi_json import latest_version
from dynopypi.render.search import MAX_QUERY
from dynopypi.render.ui import Hit, Known, render_release, render_search
from dynopypi.web.shell import Routes

RESULTS = 50  # search results on a page
# the names change with the bytes, so a copy never goes stale
STATIC_HEADERS = {
    "Cache-Control": "public, max-age=31536000, immutable",
    "X-Content-Type-Options": "nosniff",
}


class UiRoutes(Routes):
    def install(self, app: bottle.Bottle) -> None:
        app.route("/project/<name>", "GET", self.project_no_slash)
        app.route("/project/<name>/", "GET", self.project)
        app.route("/project/<name>/<version>", "GET", self.release_no_slash)
        app.route("/project/<name>/<version>/", "GET", self.release)
        app.route("/search", "GET", self.search)
        app.route("/_/static/<name>", "GET", self.static)

    # ---- pages ------------------------------------------------------------------------
    def project_no_slash(self, name: str) -> bottle.HTTPResponse:
        return self.shell.redirect(f"{self.shell.valid_name(name)}/")

    def release_no_slash(self, name: str, version: str) -> bottle.HTTPResponse:
        return self.shell.redirect(f"{version}/")

    def project(self, name: str) -> bottle.HTTPResponse:
        self.shell.require(LIST)
        canonical = self.shell.valid_name(name)
        if canonical != name:
            return self.shell.redirect(f"../{canonical}/")
        return self._release(self._project(canonical), None)

    def release(self, name: str, version: str) -> bottle.HTTPResponse:
        self.shell.require(LIST)
        canonical = self.shell.valid_name(name)
        try:
            if len(version) > 100:
                raise InvalidVersion(version)
            parsed = Version(version)
        except InvalidVersion:
            raise NotFound(f"{version[:100]!r} is not a valid version") from None
        if canonical != name or str(parsed) != version:
            return self.shell.redirect(f"../../{canonical}/{parsed}/")
        return self._release(self._project(canonical), parsed)

    def _project(self, name: NormalizedName) -> Project:
        project = self.services.catalog.page(name).project
        if project is None:
            raise NotFound(f"project {name[:100]!r} is not in this index")
        return project

    def _release(self, project: Project, version: Version | None) -> bottle.HTTPResponse:
        base = self.shell.base_url()
        key = ("release", project.name, str(version), base)
        held = self.services.catalog.held(project.name)
        page = self.services.renderer.ui.get(
            key,
            (project, held),  # a page is kept while both are the same
            lambda: render_release(project, version, base, self._known(), held),
        )
        if page is None:
            if any(held_version == str(version) for held_version, _until in held):
                raise NotFound(
                    f"{project.name} {version} is held back by the cooldown (--min-age): "
                    "it is too new to be served yet; its project page says until when"
                )
            raise NotFound(f"project {project.name!r} has no release {version}")
        return self.send(page)

    def search(self) -> bottle.HTTPResponse:
        self.shell.require(LIST)
        query = self.shell.request.query.getunicode("q", default="") or ""
        query = query[:MAX_QUERY]
        catalog = self.services.catalog
        snapshot = self.services.index.snapshot
        found = self.services.renderer.search_index(snapshot, self._summary).search(query)
        hits = []
        for entry in found:
            project = catalog.view(snapshot.project(entry.name), None)  # the cooldown's view
            if project is None:
                continue
            version = str(latest_version(project))
            hits.append(Hit(project.name, project.display_name, version, entry.summary))
            if len(hits) == RESULTS:
                break
        body = render_search(query, hits, len(found))
        return self.send(Rendered.of(body, "text/html; charset=utf-8", cached=False))

    # ---- what pages read ---------------------------------------------------------------
    def _known(self) -> Known:
        catalog = self.services.catalog
        return Known(metadata=self._metadata, is_upstream=catalog.is_upstream)

    def _metadata(self, dist: DistFile) -> CoreMetadata | None:
        raw = self.services.catalog.quiet_metadata(dist)
        return parse_metadata(raw) if raw is not None else None

    def _summary(self, project: Project) -> str:
        """For the search index: what this index holds, never fetched from upstream."""
        latest = [f for f in project.files if f.version == latest_version(project)]
        catalog = self.services.catalog
        for dist in sorted(latest, key=lambda f: f.packagetype != "bdist_wheel"):
            if catalog.is_upstream(dist):
                return ""
            raw = catalog.quiet_metadata(dist)
            if raw is not None:
                return header_fields(raw, ("summary",)).get("summary", "")
        return ""

    # ---- responses ---------------------------------------------------------------------
    def send(self, page: Rendered) -> bottle.HTTPResponse:
        return self.shell.send(page, HEADERS)

    def static(self, name: str) -> bottle.HTTPResponse:
        asset = assets().get(name)
        if asset is None:
            raise NotFound(f"no static file {name[:100]!r}")
        page = Rendered(asset.body, f'"{name}"', asset.content_type)
        return self.shell.send(page, STATIC_HEADERS)
