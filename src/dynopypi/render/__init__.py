"""Pages and documents from the model: PEP 503 HTML and PEP 691 JSON, PyPI's JSON API, the
human pages. Pure: bytes in, bytes out.

``renderer`` (pages rendered once per snapshot change, with their ETags), ``simple``,
``pypi_json``, ``human`` (the home page and ``/packages/``), ``templates`` (escaped
templates), ``negotiate`` (content negotiation); the web UI: ``layout`` (its page shell,
CSP and static files), ``ui`` (project, version and search pages), ``readme``
(descriptions, sanitized), ``search`` (the search index).

May import: ``errors``, ``dists``, ``core``.
"""
