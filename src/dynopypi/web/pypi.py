"""The PyPI JSON API: /pypi/<project>/json and /pypi/<project>/<version>/json."""

from __future__ import annotations

import json

import bottle
from packaging.version import InvalidVersion, Version

from dynopypi.auth.identity import LIST
from dynopypi.core.model import Rendered
from dynopypi.core.visibility import held_summary
from dynopypi.dists.metadata import CoreMetadata, parse_metadata
from dynopypi.dists.names import DistFile, normalize
from dynopypi.errors import NotFound
from dynopypi.render.pypi_json import project_json
from dynopypi.web.shell import Routes


class PypiRoutes(Routes):
    def install(self, app: bottle.Bottle) -> None:
        app.route("/pypi/<name>/json", "GET", self.project)
        app.route("/pypi/<name>/<version>/json", "GET", self.release)

    def project(self, name: str) -> bottle.HTTPResponse:
        return self._document(name, None)

    def release(self, name: str, version: str) -> bottle.HTTPResponse:
        try:
            parsed = Version(version)
        except InvalidVersion:
            raise NotFound(f"{version!r} is not a valid version") from None
        return self._document(name, parsed)

    def _document(self, name: str, version: Version | None) -> bottle.HTTPResponse:
        self.shell.require(LIST)
        catalog = self.services.catalog
        found = catalog.page(normalize(name))
        project = found.project
        if project is None:
            why = (
                held_summary(found.held, catalog.cooldown) if found.held else "is not in this index"
            )
            raise NotFound(f"project {normalize(name)!r}{':' if found.held else ''} {why}")
        document = project_json(project, self.shell.base_url(), self._metadata, version)
        if document is None:
            raise NotFound(f"project {project.name!r} has no release {version}")
        body = json.dumps(document).encode()
        return self.shell.send(Rendered.of(body, "application/json", cached=False))

    def _metadata(self, dist: DistFile) -> CoreMetadata | None:
        raw = self.services.catalog.quiet_metadata(dist)
        return parse_metadata(raw) if raw is not None else None
