"""Sending a package file: a Delivery (what ``Catalog.serve`` decided) as an HTTP response.

From the package store (validators, conditional requests and ranges planned by ``ranges``,
the bytes read through the store's reader), by nginx (``X-Accel-Redirect``), by the bucket
(a pre-signed URL), or, for an upstream file not cached yet, read along while it is
fetched. The routes (``files``) only decide which file is asked for.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, BinaryIO

import bottle

from dynopypi.catalog import Delivery
from dynopypi.dists.names import DistFile
from dynopypi.edge.guard import WAKE
from dynopypi.errors import NotFound
from dynopypi.render.simple import quote_path
from dynopypi.store.base import SMALL_FILE, Reader
from dynopypi.upstream.tail import Tail, chunks
from dynopypi.web.ranges import content_type_for, plan_download
from dynopypi.web.shell import Shell


class Chunks:
    """A stream as an iterable of large chunks, closed when the server is done with it
    (bottle iterates an object without ``read`` instead of handing it to waitress's file
    wrapper, which would read it 32 KiB at a time)."""

    SIZE = 256 * 1024

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream

    def __iter__(self) -> Iterator[bytes]:
        while chunk := self._stream.read(self.SIZE):
            yield chunk

    def close(self) -> None:
        self._stream.close()


class Sender:
    """Turns a Delivery into the response (one per app, shared by its threads)."""

    def __init__(self, shell: Shell) -> None:
        self.shell = shell
        self.services = shell.services

    def send(self, delivery: Delivery) -> bottle.HTTPResponse:
        if delivery.flight is not None or delivery.uncached:
            return self.first_download(delivery)
        reader, dist = delivery.reader, delivery.dist
        settings = self.services.settings
        if settings.s3_presigned_downloads and not reader.local:  # in the bucket: it sends
            return self.presigned(dist)
        if settings.x_accel_redirect and reader.local:
            return self.accel_redirect(delivery, settings.x_accel_redirect)
        plan = plan_download(dist, self.shell.request.headers, cache_control=settings.cache_control)
        if plan.length == 0:
            return bottle.HTTPResponse(status=plan.status, **plan.headers)
        body = self._body(reader, dist, plan.status, plan.start, plan.length)
        return bottle.HTTPResponse(body=body, status=plan.status, **plan.headers)

    def first_download(self, delivery: Delivery) -> bottle.HTTPResponse:
        """An upstream file not cached yet, read along while it is fetched (a HEAD: only
        its headers).

        The body is a ``Tail`` of the growing file, sent from waitress's event loop (a
        client that does not read holds no worker).
        """
        dist = delivery.dist
        headers = {
            "Content-Type": content_type_for(dist.filename),
            "Accept-Ranges": "bytes",  # honoured, once the file is in (Catalog.serve)
            **self.shell.cache_header,
        }
        if delivery.flight is None:
            if dist.size:
                headers["Content-Length"] = str(dist.size)
            return bottle.HTTPResponse(status=200, **headers)
        assert delivery.flight.size is not None
        headers["Content-Length"] = str(delivery.flight.size)
        wake = self.shell.request.environ.get(WAKE)
        tail = Tail(delivery.flight, delivery.fd, wake)
        stall = self.services.settings.upstream_timeout
        body: Any = tail if wake is not None else chunks(tail, stall)
        return bottle.HTTPResponse(body=body, status=200, **headers)

    def _body(self, reader: Reader, dist: DistFile, status: int, start: int, length: int) -> Any:
        if dist.size <= SMALL_FILE:
            data = reader.small_file(dist)
            if data is None:
                raise NotFound(f"file {dist.relpath!r} is no longer on disk")
            return data[start : start + length]
        stream = reader.open_range(dist, start, None if status == 200 else length)
        if stream is None:
            raise NotFound(f"file {dist.relpath!r} is no longer in the package storage")
        if not hasattr(stream, "seek"):  # a bucket's stream, read by the worker thread
            return Chunks(stream)  # in large chunks (1 MiB wheel: 192 -> 377 requests/s)
        # Whole files and ranges alike go to waitress's wsgi.file_wrapper (bottle hands a
        # file object over), sent from its event loop: a client that never reads holds a
        # socket but no worker thread. A generator here blocked a worker per stalled reader.
        return stream

    def presigned(self, dist: DistFile) -> bottle.HTTPResponse:
        """--s3-presigned-downloads: the client fetches the bytes from the store itself
        (a short-lived URL); the app has only decided that it may."""
        storage = self.services.store.storage
        assert storage is not None
        url = storage.presigned_url(dist.relpath, expires=300)
        if url is None:
            raise NotFound(f"file {dist.relpath!r} cannot be handed out by its store")
        return bottle.HTTPResponse(status=302, Location=url, Cache_Control="no-store")

    def accel_redirect(self, delivery: Delivery, prefix: str) -> bottle.HTTPResponse:
        """nginx sends the bytes (and handles ranges and validators); we only decide.

        The target is the file's real path under its root, so nginx (which opens no
        links) serves a linked file exactly when the app would. A package directory is
        ``<prefix><number>/``; the upstream cache is ``<prefix>upstream-<key>/``, named
        after its directory, so one fixed nginx location serves any upstream setting.
        """
        dist = delivery.dist
        relpath = delivery.reader.real_relpath(dist)
        if relpath is None:
            raise NotFound(f"file {dist.relpath!r} is not in its package directory")
        target = f"{prefix}{delivery.accel_dir}/{quote_path(relpath)}"
        headers = {"X-Accel-Redirect": target, "Content-Type": content_type_for(dist.filename)}
        headers.update(self.shell.cache_header)
        return bottle.HTTPResponse(status=200, **headers)
