"""Distribution files, as files: names, archives, core metadata, digests. Pure.

``names`` parses and normalizes file and project names (``DistFile``, ``ParsedName``);
``archives`` opens wheels and sdists within limits; ``metadata`` reads core metadata and
digests; ``check`` is the upload's archive check; ``facts`` is what reading one file yields
and the cache row that spares reading it again.

May import: ``errors`` only. Everything else builds on this.
"""
