"""The HTTP layer: Bottle routes that parse the request, call pure code, build a response.

``create_app`` builds a fresh app from its parts; nothing here is global, so tests can
make as many apps as they like. Typed errors become plain-text answers in one plugin.
"""

from __future__ import annotations

import io
import json
import logging
import os
from collections.abc import Callable
from typing import Any

import bottle
from packaging.version import InvalidVersion, Version

from . import __version__
from .auth import DOWNLOAD, LIST, UPDATE, Authenticator
from .config import Settings
from .dists import DistFile, NormalizedName, is_valid_project_name, normalize
from .errors import (
    AlreadyExists,
    Denied,
    InvalidInput,
    NeedsAccount,
    NoAcceptableFormat,
    NotFound,
    Refused,
    StorageFull,
    Throttled,
    TooLarge,
)
from .files import content_type_for, iter_range, not_modified, plan_download
from .form import UploadForm, read_form
from .index import SMALL_FILE, Index
from .metadata import CoreMetadata, parse_metadata
from .model import Rendered
from .negotiate import accepts_gzip, choose_content_type
from .pages import render_listing, render_welcome
from .pypi_json import project_json
from .simple import quote_path, render_index, render_project
from .upload import accept_upload, release_files, remove_files
from .yank import YankStore

log = logging.getLogger(__name__)

Handler = Callable[..., Any]
BIG_BODY = 64 * 1024


def _text(status: int, message: str, headers: dict[str, str] | None = None) -> bottle.HTTPResponse:
    response = bottle.HTTPResponse(
        body=message.rstrip("\n") + "\n", status=status, **(headers or {})
    )
    response.content_type = "text/plain; charset=utf-8"
    return response


REALM = "dynopypi"
_STATUS: dict[type[Refused], int] = {
    InvalidInput: 400,
    NeedsAccount: 401,
    Denied: 403,
    NotFound: 404,
    NoAcceptableFormat: 406,
    AlreadyExists: 409,
    TooLarge: 413,
    Throttled: 429,
    StorageFull: 507,
}


def refusal_response(exc: Refused) -> bottle.HTTPResponse:
    """The one place a domain refusal becomes a status code and headers."""
    headers: dict[str, str] = {}
    if isinstance(exc, NeedsAccount):
        headers["WWW-Authenticate"] = f'Basic realm="{REALM}", charset="UTF-8"'
    if isinstance(exc, Throttled):
        headers["Retry-After"] = str(exc.retry_after)
    status = next((code for kind, code in _STATUS.items() if isinstance(exc, kind)), 400)
    return _text(status, exc.message, headers)


def _error_plugin(callback: Handler) -> Handler:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return callback(*args, **kwargs)
        except Refused as exc:
            return refusal_response(exc)

    return wrapper


def create_app(
    settings: Settings, index: Index, auth: Authenticator, yanks: YankStore
) -> bottle.Bottle:
    app = bottle.Bottle()
    app.uninstall(True)  # no JSON or template plugins: every route builds its own response
    app.install(_error_plugin)
    for code in (400, 404, 405, 500):
        app.error_handler[code] = _plain_error
    request = bottle.request
    cache_header = (
        {"Cache-Control": f"public, max-age={settings.cache_control}"}
        if settings.cache_control is not None
        else {}
    )

    def send(rendered: Rendered) -> bottle.HTTPResponse:
        body, etag = rendered.body, rendered.etag
        headers = {"Vary": "Accept", **cache_header}
        if rendered.gzipped is not None:
            headers["Vary"] = "Accept, Accept-Encoding"
            if accepts_gzip(request.headers.get("Accept-Encoding")):
                body, etag = rendered.gzipped, etag[:-1] + '-gzip"'
                headers["Content-Encoding"] = "gzip"
        headers["ETag"] = etag
        if not_modified(request.headers, etag):
            headers.pop("Content-Encoding", None)
            return bottle.HTTPResponse(status=304, **headers)
        headers["Content-Type"] = rendered.content_type
        headers["Content-Length"] = str(len(body))
        if len(body) >= BIG_BODY:  # handed to waitress as a buffer, not copied per request
            return bottle.HTTPResponse(body=io.BytesIO(body), status=200, **headers)
        return bottle.HTTPResponse(body=body, status=200, **headers)

    def require(action: str, project: str | None = None) -> None:
        if not auth.needs_account(action):
            return
        user = auth.authorize(
            action,
            project,
            request.environ.get("HTTP_AUTHORIZATION"),
            request.environ.get("REMOTE_ADDR", ""),
        )
        if user:
            request.environ["REMOTE_USER"] = user

    def negotiated() -> str:
        return choose_content_type(request.headers.get("Accept"), request.query.get("format"))

    def redirect(location: str, status: int = 301) -> bottle.HTTPResponse:
        query = request.query_string
        return bottle.HTTPResponse(
            status=status, Location=location + (f"?{query}" if query else "")
        )

    def base_url() -> str:
        parts = request.urlparts
        return f"{parts.scheme}://{parts.netloc}{request.script_name}"

    @app.get("/")
    def welcome() -> bottle.HTTPResponse:
        counts = None if auth.needs_account(LIST) else (len(index.projects), index.file_count)
        body = render_welcome(base_url(), counts, settings.welcome)
        return bottle.HTTPResponse(body=body, Content_Type="text/html; charset=utf-8")

    @app.get(settings.health_endpoint)
    def health() -> bottle.HTTPResponse:
        if not index.loaded:
            return _text(503, "loading: the package index is not built yet")
        return _text(200, "ok")

    @app.get(settings.ready_endpoint)
    def ready() -> bottle.HTTPResponse:
        state = readiness(index)
        body = json.dumps(state, indent=1) + "\n"
        status = 200 if state["status"] == "ready" else 503
        return bottle.HTTPResponse(body=body, status=status, Content_Type="application/json")

    @app.get("/_authorize/<action>")
    def authorize(action: str) -> bottle.HTTPResponse:
        """For nginx's auth_request: may this client list or download? (200, 401 or 403)

        nginx caches a yes briefly per Authorization header and then sends package files
        itself; auth_request cannot pass a 429 on, so a throttled client gets 403 here.
        """
        if action not in (LIST, DOWNLOAD):
            raise NotFound(f"no authorization check for {action!r}")
        try:
            require(action)
        except Throttled as exc:
            raise Denied(exc.message) from None
        return bottle.HTTPResponse(status=200)

    @app.get("/simple")
    def simple_slash() -> bottle.HTTPResponse:
        return redirect("simple/")

    @app.get("/simple/")
    def simple_index() -> bottle.HTTPResponse:
        require(LIST)
        content_type = negotiated()
        return send(index.root_render(content_type, lambda ps: render_index(ps, content_type)))

    @app.get("/simple/<name>")
    def project_no_slash(name: str) -> bottle.HTTPResponse:
        return redirect(f"{valid_name(name)}/")

    @app.get("/simple/<name>/")
    def project_page(name: str) -> bottle.HTTPResponse:
        require(LIST)
        canonical = valid_name(name)
        if canonical != name:
            return redirect(f"../{canonical}/")
        project = index.project(canonical)
        if project is None:
            return unknown_project(canonical)
        return send(render_project(project, negotiated(), settings.hash_algo))

    def valid_name(name: str) -> NormalizedName:
        """The canonical name; a name no project can have is simply not found (and never
        echoed into a Location header)."""
        if not is_valid_project_name(name):
            raise NotFound(f"{name[:100]!r} is not a valid project name")
        return normalize(name)

    def unknown_project(name: str) -> bottle.HTTPResponse:
        if settings.fallback_url:
            return redirect(f"{settings.fallback_url}{name}/", status=302)
        raise NotFound(f"project {name!r} is not in this index")

    @app.get("/packages/")
    def packages_listing() -> bottle.HTTPResponse:
        require(LIST)
        return send(index.root_render("packages", render_listing, every_change=True))

    @app.route("/packages/<path:path>", method=["GET", "HEAD"])
    def download(path: str) -> bottle.HTTPResponse:
        require(DOWNLOAD)
        dist = index.file_at(path)
        if dist is None and path.endswith(".metadata"):
            return core_metadata(path.removesuffix(".metadata"))
        if dist is None:
            raise NotFound(f"no file {path!r} in this index")
        if settings.x_accel_redirect:
            return accel_redirect(dist)
        plan = plan_download(dist, request.headers, cache_control=settings.cache_control)
        if plan.length == 0:
            return bottle.HTTPResponse(status=plan.status, **plan.headers)
        body: Any
        if dist.size <= SMALL_FILE:
            data = index.small_file(dist)
            if data is None:
                raise NotFound(f"file {path!r} is no longer on disk")
            body = data[plan.start : plan.start + plan.length]
        else:
            stream = index.open(dist)
            if stream is None:
                raise NotFound(f"file {path!r} is no longer on disk")
            # a whole file goes to waitress's wsgi.file_wrapper (bottle hands it over)
            body = stream if plan.status == 200 else iter_range(stream, plan.start, plan.length)
        return bottle.HTTPResponse(body=body, status=plan.status, **plan.headers)

    def accel_redirect(dist: DistFile) -> bottle.HTTPResponse:
        """nginx sends the bytes (and handles ranges and validators); we only decide."""
        target = f"{settings.x_accel_redirect}{dist.root}/{quote_path(dist.relpath)}"
        headers = {"X-Accel-Redirect": target, "Content-Type": content_type_for(dist.filename)}
        headers.update(cache_header)
        return bottle.HTTPResponse(status=200, **headers)

    def core_metadata(path: str) -> bottle.HTTPResponse:
        dist = index.file_at(path)
        raw = index.metadata(dist) if dist is not None and dist.metadata_sha256 else None
        if dist is None or raw is None:
            raise NotFound(f"no core metadata for {path!r}: only wheels in this index have it")
        rendered = Rendered(raw, f'"{dist.metadata_sha256}"', "text/plain; charset=utf-8")
        return send(rendered)

    @app.get("/pypi/<name>/json")
    def pypi_project(name: str) -> bottle.HTTPResponse:
        return pypi_json(name, None)

    @app.get("/pypi/<name>/<version>/json")
    def pypi_release(name: str, version: str) -> bottle.HTTPResponse:
        try:
            parsed = Version(version)
        except InvalidVersion:
            raise NotFound(f"{version!r} is not a valid version") from None
        return pypi_json(name, parsed)

    def pypi_json(name: str, version: Version | None) -> bottle.HTTPResponse:
        require(LIST)
        project = index.project(normalize(name))
        if project is None:
            raise NotFound(f"project {normalize(name)!r} is not in this index")
        document = project_json(project, base_url(), read_core_metadata, version)
        if document is None:
            raise NotFound(f"project {project.name!r} has no release {version}")
        body = json.dumps(document).encode()
        return send(Rendered.of(body, "application/json", cached=False))

    @app.post("/")
    def post_form() -> bottle.HTTPResponse:
        require(UPDATE)  # refuse strangers before reading a large body
        environ = request.environ
        if (
            str(environ.get("CONTENT_TYPE", ""))
            .lower()
            .startswith("application/x-www-form-urlencoded")
        ):
            form = UploadForm(fields={k: v for k, v in request.forms.decode().items()})
        else:
            form = read_form(
                environ["wsgi.input"],
                environ.get("CONTENT_TYPE"),
                environ.get("CONTENT_LENGTH"),
                index.roots[0],
                max_size=settings.max_upload_size,
            )
        try:
            return handle_action(form)
        finally:
            form.discard()

    def handle_action(form: UploadForm) -> bottle.HTTPResponse:
        action = form.action
        project = form.fields.get("name")
        if action in ("file_upload", "remove_pkg", "doc_upload", "yank", "unyank"):
            require(UPDATE, project)
        if action == "file_upload":
            outcome = accept_upload(form, index, 0, overwrite=settings.overwrite)
            filename = outcome.dist.filename if outcome.dist else form.filename
            if outcome.created:
                return _text(200, f"stored {filename}")
            return _text(200, f"{filename} is already stored with identical content")
        if action in ("submit", "verify"):  # old clients register first; nothing to do
            return _text(200, "ok")
        if action == "remove_pkg":
            files = release_files(index, project or "", form.fields.get("version", ""))
            if not files:
                raise NotFound(f"no release {form.fields.get('version')!r} of {project!r}")
            copies = [copy for f in files for copy in index.copies(f.relpath)]
            remove_files(index, copies)
            for root in sorted({f.root for f in copies if f.is_yanked}):
                # a later upload under the same name must not inherit the yank
                yanks.update(root, [f.filename for f in copies if f.root == root], None)
            index.reyank()
            return _text(200, "removed " + ", ".join(f.filename for f in files))
        if action in ("yank", "unyank"):
            files = release_files(index, project or "", form.fields.get("version", ""))
            only = form.fields.get("filename")
            if only:
                files = [f for f in files if f.filename == only]
            if not files:
                raise NotFound(f"no matching files of {project!r} {form.fields.get('version')!r}")
            reason = form.fields.get("reason", "") if action == "yank" else None
            for root in sorted({f.root for f in files}):
                yanks.update(root, [f.filename for f in files if f.root == root], reason)
            index.reyank()
            return _text(200, f"{action}ed " + ", ".join(f.filename for f in files))
        raise InvalidInput(
            f"unknown :action {action!r}; this index handles file_upload, remove_pkg, "
            "yank and unyank"
        )

    def read_core_metadata(dist: DistFile) -> CoreMetadata | None:
        raw = index.metadata(dist)
        return parse_metadata(raw) if raw is not None else None

    return app


def readiness(index: Index) -> dict[str, Any]:
    """Ready = index loaded and every package directory writable (uploads would work)."""
    writable = {str(root): os.access(root, os.W_OK | os.X_OK) for root in index.roots}
    problems = [] if index.loaded else ["the package index is still loading"]
    if index.loaded and not index.verified.is_set():
        problems.append("checking the package directories against the cache")
    problems += [f"{root} is not writable" for root, ok in writable.items() if not ok]
    return {
        "status": "ready" if not problems else "not ready",
        "problems": problems,
        "index_loaded": index.loaded,
        "index_verified": index.verified.is_set(),
        "projects": len(index.projects),
        "files": index.file_count,
        "writable": writable,
    }


def _plain_error(error: bottle.HTTPError) -> str:
    bottle.response.content_type = "text/plain; charset=utf-8"
    body = error.body if isinstance(error.body, str) and error.body else error.status_line
    return f"{body}\n"


__all__ = ["__version__", "create_app"]
