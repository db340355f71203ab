"""Settings: one ``Settings`` value from flags, the environment and a TOML file, each
setting converted and checked once with an error that names it.

``config`` (the ``Settings`` dataclass and ``build_settings``), ``converters`` (one syntax
for booleans, numbers and sizes), ``storage`` and ``upstream`` (those blocks' converters),
``operations`` (metrics and quotas), ``toml`` (reading ``--config``, printing
``check-config``).

May import: the layers below the stores (``errors``, ``dists``, ``core``, ``auth``, ``ops``)
and ``upstream`` (its host syntax). Never ``argparse``: the flags are ``cli``'s.
"""
