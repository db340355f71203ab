"""The directory store: package directories on disk, kept current by watching them.

``store`` (the directories as the server's store, with the same face as a bucket's),
``scan`` (walking: which files count), ``digest_cache`` (the SQLite cache of digests and
metadata), ``reconcile`` (the disk compared with the index), ``cold_start`` (serving at
once while files are read), ``updates`` and ``watcher`` (one path at a time, from
inotify), ``reader`` (opening served files safely), ``shelf`` and ``releases`` (its
``Shelf`` and ``ReleaseChanges``), ``yanks`` (yank state beside the files), ``durable``
(writes a crash cannot leave half done).

May import: ``errors``, ``dists``, ``core``, ``publish``, ``ops``, ``store.base``. Never
``store.bucket``.
"""
