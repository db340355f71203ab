"""``dynopypi storage copy``: every package from one store to another (directory or bucket),
resumable, verified, never overwriting a different file.

``copier`` (the copy), ``sides`` (a store as a copy's source or destination), ``bucket``
(the bucket side, journaled as a replica would), ``directory`` (the ``Storage`` contract
over a directory, the directory side's).

The one package that imports both stores.
"""
