"""The ``dynopypi`` command line: parsers, the commands, and one-line errors.

``main`` dispatches (``run``, ``check-config``, ``yank``, ``storage``, ``upstream``,
``audit``, ``retention``, ``usage``, ``passwd``); ``args`` holds every ``run`` flag and its
help; ``manage``, ``storage``, ``upstream``, ``audit``, ``operations`` (retention, usage,
and ``run``'s metrics and quota flags) and ``passwd`` run the other commands;
``upstream_report`` is what ``upstream shadowed`` and ``upstream held`` print.

The top layer: may import anything below it, and is the only package that imports
``argparse`` (checked by ``lint-imports``).
"""
