"""Pages and documents from the model: PEP 503 HTML and PEP 691 JSON, PyPI's JSON API, the
human pages. Pure: bytes in, bytes out.

``renderer`` (pages rendered once per snapshot change, with their ETags), ``simple``,
``pypi_json``, ``human`` (the welcome page and ``/packages/``), ``templates`` (escaped
templates), ``negotiate`` (content negotiation).

May import: ``errors``, ``dists``, ``core``.
"""
