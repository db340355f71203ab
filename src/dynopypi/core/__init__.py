"""The index model, in memory: what is served right now, and which of it a request sees.

``model`` (projects, rendered pages), ``snapshot`` (an immutable view of every project,
merged from the sources), ``index`` (the current snapshot, its sources, and the
``ProjectLookup`` protocol readers use), ``sources``, ``describe`` (a found file to the
``DistFile`` served), ``visibility`` (the cooldown and "as of" filters), ``memo`` (a
byte-budgeted LRU), ``usage`` (bytes per project) and ``progress`` (progress lines for
long work).

May import: ``errors``, ``dists``. Knows no store, no network and no HTTP.
"""
