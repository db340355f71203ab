"""The HTTP shell: Bottle routes by area, each parsing the request, calling the core and
turning results into responses.

``shell`` (what every route shares: authorization, refusals as responses, caching headers),
``simple_api``, ``files`` (the download routes), ``sending`` and ``ranges`` (sending a
file: conditional requests and byte ranges), ``pypi`` (the JSON API), ``as_of``,
``actions`` (uploads, yank and removal), ``oidc`` (trusted publishing's exchange),
``ops`` (the home page, health, readiness) and ``ui`` (the web UI's project, version and
search pages). ``create_app``
builds a fresh app from the ``Services``; nothing here is global, so tests make as many
apps as they like.

May import: everything below ``build`` and ``server``. The only package that imports
``bottle`` (checked by ``lint-imports``).
"""

from __future__ import annotations

import bottle

from dynopypi.services import Services
from dynopypi.web.actions import ActionRoutes
from dynopypi.web.as_of import AsOfRoutes
from dynopypi.web.files import FileRoutes
from dynopypi.web.oidc import OidcRoutes
from dynopypi.web.ops import OpsRoutes
from dynopypi.web.pypi import PypiRoutes
from dynopypi.web.shell import Shell, error_plugin, plain_error
from dynopypi.web.simple_api import SimpleRoutes
from dynopypi.web.ui import UiRoutes


def create_app(services: Services) -> bottle.Bottle:
    app = bottle.Bottle()
    app.uninstall(True)  # no JSON or template plugins: every route builds its own response
    app.install(error_plugin(services.metrics))
    for code in (400, 404, 405, 500):
        app.error_handler[code] = plain_error
    shell = Shell(services)
    for area in (OpsRoutes, SimpleRoutes, FileRoutes, PypiRoutes, ActionRoutes, AsOfRoutes,
                 OidcRoutes, UiRoutes):  # fmt: skip
        area(shell).install(app)
    return app


__all__ = ["create_app"]
