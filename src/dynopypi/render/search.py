"""Finding projects by name and summary: an index built once per snapshot, then scanned.

Ranked as people expect: the exact (normalized) name first, then names that start with
the query, then names that contain it, then projects whose summary holds every word of
it; alphabetical within each rank. 10,000 projects are one pass over prepared lower-case
strings (a few milliseconds), so no inverted index is needed at a private index's size.
Summaries are read once per project change (``SummaryCache``), not once per snapshot.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from dynopypi.core.model import Project
from dynopypi.dists.names import NormalizedName, normalize

MAX_QUERY = 200  # characters of a query that count
EXACT, PREFIX, NAME, SUMMARY = range(4)


@dataclass(frozen=True, slots=True)
class Entry:
    name: NormalizedName
    summary: str
    words: str  # the normalized name, its spellings and the summary, lower-case


class SummaryCache:
    """Each project's summary, kept while the project object is the same (a change to a
    project replaces the object), so a new snapshot re-reads only what changed."""

    def __init__(self, read: Callable[[Project], str]) -> None:
        self._read = read
        self._known: dict[NormalizedName, tuple[Project, str]] = {}
        self._lock = threading.Lock()

    def summaries(self, projects: Iterable[Project]) -> list[tuple[Project, str]]:
        out = []
        known = self._known
        fresh: dict[NormalizedName, tuple[Project, str]] = {}
        for project in projects:
            cached = known.get(project.name)
            if cached is None or cached[0] is not project:
                cached = (project, self._read(project)[:500])
            fresh[project.name] = cached
            out.append(cached)
        with self._lock:
            self._known = fresh  # projects gone from the index are forgotten
        return out


class SearchIndex:
    def __init__(self, summaries: Iterable[tuple[Project, str]]) -> None:
        entries = []
        for project, summary in summaries:
            spelled = project.display_name.lower()
            words = f"{project.name} {spelled} {spelled.replace('-', '_')} {summary.lower()}"
            entries.append(Entry(project.name, summary, words))
        entries.sort(key=lambda e: e.name)
        self.entries = tuple(entries)

    def search(self, query: str) -> list[Entry]:
        """Every match, best first."""
        text = " ".join(query[:MAX_QUERY].lower().split())
        if not text:
            return []
        wanted = normalize(text.replace(" ", "-"))
        terms = text.split()
        ranked: list[tuple[int, Entry]] = []
        for entry in self.entries:
            name = entry.name
            if name == wanted:
                rank = EXACT
            elif name.startswith(wanted):
                rank = PREFIX
            elif wanted in name:
                rank = NAME
            elif all(term in entry.words for term in terms):
                rank = SUMMARY
            else:
                continue
            ranked.append((rank, entry))
        ranked.sort(key=lambda pair: pair[0])  # stable: alphabetical within a rank
        return [entry for _rank, entry in ranked]
