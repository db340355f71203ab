"""Moving in from another index, and proving the move: any PEP 503/691 simple index read
as the source of ``dynopypi storage copy``, and two indexes compared as pip sees them
(``dynopypi compare``).

``remote`` (an index read from outside: its project list, its pages, its files, with the
upstream cache's bounds), ``source`` (a remote index as a copy's ``Side``, carrying upload
times and yanks), ``compare`` (what differs between two pages of a project, pure) and
``comparing`` (every project of two indexes, and the report).

May import everything below ``services``; its callers are the CLI's commands. It reads
indexes with ``upstream``'s fetching, parsing and reach rules (a hostile source is
bounded like a hostile upstream), and writes through ``store.copy``'s ends, so an
imported file lands as an upload would.
"""
