"""The publishing rules, whatever the store: what an upload must be to be accepted, what
removing or yanking a release means.

``form`` (an upload as the rules see it), ``upload`` (the checks, then the store's
``Shelf`` places the file), ``shelf`` (that contract, and what every store's shelf
shares), ``releases`` (release lookup and yank targets; the store's ``ReleaseChanges``
does the change), ``staging`` (temp files beside their target), ``quota`` (whether an
upload fits) and ``retention`` (which old releases the rules remove, as a plan).

May import: ``errors``, ``dists``, ``core``. Stores implement its protocols
(``store.directory.shelf``, ``store.bucket.writer``); it never imports a store.
"""
