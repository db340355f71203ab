"""The waitress edge: what happens to a request before a route sees it, and around it.

``guard`` (waitress channels with limits: headers, bodies, slow clients, the wake-up of
the event loop), ``bodies`` (a body held until the app decides, then streamed or spooled)
and ``gatekeeper`` (the app's side of that decision), ``multipart`` and ``parts`` (an
upload's body to disk as it arrives), ``forwarded`` (``X-Forwarded-*`` only from trusted
proxies), ``hosts`` (the Host header), ``auth_request`` (nginx's ``auth_request`` answer),
``access_log`` and ``metered`` (each request logged and counted for ``/metrics``, and the
``--metrics-listen`` app).

May import: ``errors``, ``dists``, ``core``, ``publish``, ``auth``, ``ops``, ``render``,
``store.base``. With ``server``, the only package that imports ``waitress``.
"""
