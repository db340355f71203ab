"""The audit trail: who changed what in the index, when, from where, and how it ended.

``records`` (a record, its bounds, the hash chain and ``check_chain``: pure), ``trail``
(the chain kept in a store, one object per record, put-if-absent so that every replica
appends to one chain), ``hooks`` (what the server notices by itself: a changed accounts
or rights file, a token minted by trusted publishing).

May import: ``errors``, ``dists``, ``core``, ``auth``, ``ops``, ``store.base``. The web
actions and the CLI call it; it never imports a store.
"""
