"""The pull-through cache of a public index (``--upstream``): pages and files fetched,
vetted, cached, and never allowed to hold the server.

``source`` (pages: when upstream is asked, and fetched), ``held`` (what the cache holds:
the pages in memory and what they put in the index, where the dependency-confusion rule
merges them with the private names; the files on disk, what they cost and which go),
``page`` (an upstream page fetched and parsed), ``names`` (the merge rule), ``store`` (the
cache on disk), ``files`` and ``download`` (a first download fetched once and read along),
``tail`` (the growing file as a response body), ``http`` and ``reaper`` (exchanges with
hard deadlines), ``origin`` and ``reach`` (who an upstream is and which hosts may be
reached).

May import: ``errors``, ``dists``, ``core``, ``ops``, ``store.base``. Not the stores: the
catalog joins upstream and local files.
"""
