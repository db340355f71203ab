"""Finding projects by name and summary: an index built once per snapshot, then scanned.

Ranked as people expect: the exact (normalized) name first, then names that start with
the query, then names that contain it, then projects whose summary holds every word of
it; alphabetical within each rank. Each field of every project is one string, searched
with ``str.find``: 10,000 projects take about a millisecond, so no inverted index is needed
at a private index's size.
Summaries are read once per project change (``SummaryCache``), not once per snapshot.
"""

from __future__ import annotations

import threading
from bisect import bisect_right
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from dynopypi.core.model import Project
from dynopypi.dists.names import NormalizedName, normalize

MAX_QUERY = 200  # characters of a query that count


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
    """The entries, sorted by name, and each field joined into one string (a line per
    entry) so that finding a query is ``str.find`` at C speed, not a Python loop."""

    def __init__(self, summaries: Iterable[tuple[Project, str]]) -> None:
        entries = []
        for project, summary in summaries:
            spelled = project.display_name.lower()
            words = f"{project.name} {spelled} {spelled.replace('-', '_')} {summary.lower()}"
            entries.append(Entry(project.name, summary, " ".join(words.split())))
        entries.sort(key=lambda e: e.name)
        self.entries = tuple(entries)
        self._by_name = {e.name: i for i, e in enumerate(entries)}
        self._names, self._name_starts = _joined(e.name for e in entries)
        self._words, self._word_starts = _joined(e.words for e in entries)

    def search(self, query: str) -> list[Entry]:
        """Every match, best first."""
        text = " ".join(query[:MAX_QUERY].lower().split())
        if not text:
            return []
        wanted = normalize(text.replace(" ", "-"))
        exact = self._by_name.get(wanted)
        prefix: list[int] = []
        inside: list[int] = []
        for i, at in _found(self._names, self._name_starts, wanted):
            if i != exact:
                (prefix if at == self._name_starts[i] else inside).append(i)
        named = {exact, *prefix, *inside}
        terms = sorted(set(text.split()), key=len, reverse=True)  # the longest: fewest hits
        summary = [
            i
            for i, _at in _found(self._words, self._word_starts, terms[0])
            if i not in named and all(t in self.entries[i].words for t in terms[1:])
        ]
        ranked = ([] if exact is None else [exact]) + prefix + inside + summary
        return [self.entries[i] for i in ranked]


def _joined(fields: Iterable[str]) -> tuple[str, list[int]]:
    """The fields as one string, a line each, and where each line starts."""
    starts, parts, at = [], [], 0
    for value in fields:
        starts.append(at)
        parts.append(value)
        at += len(value) + 1
    return "\n".join(parts), starts


def _found(blob: str, starts: list[int], needle: str) -> list[tuple[int, int]]:
    """(entry, position) of the first occurrence of ``needle`` in each entry's line."""
    out: list[tuple[int, int]] = []
    if "\n" in needle:
        return out
    at = blob.find(needle)
    while at >= 0:
        i = bisect_right(starts, at) - 1
        out.append((i, at))
        following = starts[i + 1] if i + 1 < len(starts) else len(blob)
        at = blob.find(needle, following)  # the next entry's line
    return out
