"""What each account may do: the rights file, parsed and re-read when it changes.

The rights file (``<htpasswd>.rights`` unless given) narrows what each account may do::

    # user      actions                 projects that 'update' applies to (globs)
    alice       list,download,update    *
    ci-bot      update                  acme-* tools
    reader      list,download
    *           list,download           # everyone not listed above

Without a rights file every account has every right (pypiserver's behaviour). With one,
an account not listed and not covered by a ``*`` line may only list and download: adding
a file should only ever take rights away from accounts nobody thought about.
"""

from __future__ import annotations

import fnmatch
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .dists import normalize
from .errors import ConfigError
from .identity import ACTIONS, DOWNLOAD, LIST, UPDATE
from .reloading import ReloadingFile

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


def rights_of(rules: RightsTable | None, user: str) -> Rights:
    """An account's rights: its own line, else the ``*`` line, else read-only.

    ``rules`` is None when there is no rights file: then every account may do everything.
    """
    if rules is None:
        return ALL_RIGHTS
    return rules.get(user) or rules.get("*") or READ_ONLY


def default_rights_path(passwords: Path) -> Path:
    """``<htpasswd>.rights``: next to the accounts, so both are managed together."""
    return passwords.with_name(passwords.name + ".rights")


class RightsFile:
    """The current rules of a rights file; None while there is no such file.

    A file that cannot be read or parsed keeps the previous rules (and says so in the log),
    so a typo while editing never locks everybody out or opens the index up.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = ReloadingFile(path)
        self._lock = threading.Lock()
        self._rules: dict[str, Rights] | None = None
        self.reload()

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
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            self._rules = None
            return True
        except (OSError, UnicodeDecodeError) as exc:  # not UTF-8: a mistake, not a rule
            log.error(
                "cannot read rights file %s (%s); keeping the previous rights", self.path, exc
            )
            return False
        try:
            self._rules = parse_rights(text, str(self.path))
        except ConfigError as exc:
            log.error("%s; keeping the previous rights", exc)
            return False
        log.info("loaded rights for %d accounts from %s", len(self._rules), self.path)
        return True
