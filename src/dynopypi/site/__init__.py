"""The site nginx serves on its own: pages and package files the app publishes on disk.

``tree`` is the directory (every entry replaced atomically, temp files outside what nginx
serves); ``publisher`` keeps it equal to the snapshot, as anonymous clients see it: a page
for each complete project and ``/simple/``, a hard link for each package file served.
nginx answers from it what pip and uv ask for, at static speed, and everything else
(other formats, accounts, names it does not have) goes to the app, which decides as
before. Nothing here is needed for correctness: an empty tree only costs speed.

May import: ``errors``, ``dists``, ``core``, ``render``, ``ops``, ``auth``, ``store.base``.
"""
