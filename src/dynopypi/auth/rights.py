"""What each account may do: the rights file, parsed and re-read when it changes.

The rights file (``<htpasswd>.rights`` unless given) narrows what each account may do::

    # user      actions                 projects that 'update' applies to (globs)
    alice       list,download,update    *
    ci-bot      update                  acme-* tools
    reader      list,download
    *           list,download           # everyone not listed above
    @py-publishers  update              acme-*  # every member of a directory group

Without a rights file every account has every right (pypiserver's behaviour). With one,
an account not listed and not covered by a ``*`` line may only list and download: adding
a file should only ever take rights away from accounts nobody thought about.

A ``@group`` line applies to every member of that directory (LDAP) group. A person's
rights are the union of their own (their line; without one the ``*`` line; without that
read-only, as above) and the lines of all their groups: a group line only ever adds.
"""

from __future__ import annotations

import fnmatch
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from dynopypi.auth.identity import ACTIONS, DOWNLOAD, LIST, UPDATE
from dynopypi.auth.reloading import ReloadingFile
from dynopypi.dists.names import normalize
from dynopypi.errors import ConfigError

log = logging.getLogger(__name__)

RightsTable = Mapping[str, "Rights"]


@dataclass(frozen=True, slots=True)
class Rights:
    """One line of the rights file: the actions, and the projects 'update' may touch."""

    actions: frozenset[str]
    projects: tuple[str, ...] = ("*",)  # normalized globs for 'update'

    def allows(self, action: str, project: str | None) -> bool:
        """Globs apply to updates only: listing and downloading are all-or-nothing."""
        if action not in self.actions:
            return False
        if action != UPDATE or project is None:
            return True
        name = normalize(project)
        return any(fnmatch.fnmatchcase(name, glob) for glob in self.projects)


ALL_RIGHTS = Rights(frozenset(ACTIONS))
READ_ONLY = Rights(frozenset({LIST, DOWNLOAD}))


def parse_rights(text: str, source: str = "rights file") -> dict[str, Rights]:
    """The rules of a rights file by user name; errors name the line, for the operator."""
    rules: dict[str, Rights] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        user, *rest = line.split()
        if not rest:
            raise ConfigError(f"{source}:{number}: {user!r} has no actions")
        actions = frozenset(a.strip().lower() for a in rest[0].split(",") if a.strip())
        unknown = actions - set(ACTIONS)
        if unknown:
            raise ConfigError(
                f"{source}:{number}: unknown action(s) {', '.join(sorted(unknown))}; "
                "use list, download, update"
            )
        globs = tuple(str(normalize(g)) for g in rest[1:]) or ("*",)  # glob chars survive
        rules[user] = Rights(actions, globs)
    return rules


def rights_of(rules: RightsTable | None, user: str, groups: frozenset[str] = frozenset()) -> Rights:
    """An account's rights: its own line, else the ``*`` line, else read-only; joined
    with the lines of its groups (``@group``).

    ``rules`` is None when there is no rights file: then every account may do everything.
    """
    if rules is None:
        return ALL_RIGHTS
    own = None if user.startswith("@") else rules.get(user)  # "@x" is a group's line
    mine = own or rules.get("*") or READ_ONLY
    if not groups:  # every request with credentials comes here: no lists, no strings
        return mine
    lines = [rules[f"@{g}"] for g in sorted(groups) if f"@{g}" in rules]
    return union([mine, *lines]) if lines else mine


def sources_of(
    rules: RightsTable, user: str, groups: frozenset[str] = frozenset()
) -> list[tuple[str, Rights]]:
    """Where an account's rights come from, as (the line's name, its rights): its own line
    (or ``*``, or ``(default)`` for read-only), then each of its groups' lines, by name.
    ``check-config --explain`` prints these."""
    mine = user in rules and not user.startswith("@")  # "@x" is a group's line, never a user's
    own = user if mine else "*" if "*" in rules else None
    found = [(own, rules[own]) if own is not None else ("(default)", READ_ONLY)]
    found += [(f"@{g}", rules[f"@{g}"]) for g in sorted(groups) if f"@{g}" in rules]
    return found


def union(parts: list[Rights]) -> Rights:
    """Rights that allow what any of ``parts`` allows. Globs limit 'update' only, so the
    union's globs are those of the parts that grant 'update'."""
    if len(parts) == 1:
        return parts[0]
    actions = frozenset().union(*(p.actions for p in parts))
    globs = tuple(dict.fromkeys(g for p in parts if UPDATE in p.actions for g in p.projects))
    return Rights(actions, globs or ("*",))


def default_rights_path(passwords: Path) -> Path:
    """``<htpasswd>.rights``: next to the accounts, so both are managed together."""
    return passwords.with_name(passwords.name + ".rights")


class RightsFile:
    """The current rules of a rights file; None while there has never been one.

    At start, a file that cannot be read or parsed stops the server (``ConfigError``), as
    does a missing file that was named explicitly (``required``). Afterwards the file
    only ever narrows or changes rights, never silently widens them: a file that cannot
    be read, does not parse or *disappears* keeps the previous rules, with an error in
    the log and in ``problem`` (for ``/ready``). A vanished rights file is far more often
    a mistake (a botched deploy, an editor's rename, a wrong path in a sync) than a wish
    to give every account every right; that wish is a restart without the file, or a
    ``* list,download,update`` line.
    """

    def __init__(self, path: Path, *, required: bool = False) -> None:
        self.path = path
        self._file = ReloadingFile(path)
        self._lock = threading.Lock()
        self._rules: dict[str, Rights] | None = None
        self.problem: str | None = None
        self._file.changed()
        if required or path.exists() or path.is_symlink():
            self._rules = read_rights(path)
            log.info("loaded rights for %d accounts from %s", len(self._rules), path)
        else:
            log.info("no rights file %s: every account has every right", path)

    @property
    def rules(self) -> RightsTable | None:
        return self._rules

    def reload(self, *, force: bool = False) -> bool:
        """Re-read the file if it changed (or always, if forced); True if the rules changed."""
        with self._lock:
            if force:
                self._file.force()
            if not self._file.changed():
                return False
            return self._load()

    def _load(self) -> bool:
        if self._rules is None and not (self.path.exists() or self.path.is_symlink()):
            return False  # still no rights file: nothing changes
        try:
            rules = read_rights(self.path)
        except ConfigError as exc:
            kept = "the previous rights" if self._rules is not None else "every right"
            self.problem = f"rights file: {exc}; keeping {kept}"
            log.error("%s", self.problem)
            return False
        self._rules, self.problem = rules, None
        log.info("loaded rights for %d accounts from %s", len(rules), self.path)
        return True


def read_rights(path: Path) -> dict[str, Rights]:
    """The rules of the rights file at ``path``; ConfigError (one line) if unusable."""
    if path.is_dir():
        raise ConfigError(f"{path} is a directory, not a rights file")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:  # not UTF-8: a mistake, not a rule
        raise ConfigError(f"{path} is not UTF-8 text") from None
    return parse_rights(text, str(path))
