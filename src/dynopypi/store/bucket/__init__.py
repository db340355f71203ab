"""The S3 store: packages in a bucket that several replicas share, without a lock service.

``store`` (the bucket as the server's store, with the same face as the directories'),
``s3`` (the ``Storage`` on boto3), ``records`` and ``journal`` (the manifest and the change
journal every replica follows), ``prune``, ``source`` (the bucket as an index source),
``facts`` (a stored object's facts), ``writer`` (the bucket's ``Shelf`` and
``ReleaseChanges``), ``reader`` and ``cache`` (downloads, with a local blob cache).

May import: ``errors``, ``dists``, ``core``, ``publish``, ``ops``, ``store.base``. Never
``store.directory``.
"""
