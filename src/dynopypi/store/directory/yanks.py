"""PEP 592 yank state, kept beside the packages so a backup of the directory keeps it.

Each package directory holds ``.dynopypi/yanked.json``: ``{"filename": "reason", ...}``.
The file is small, written atomically (temp file + rename), and re-read when it changes,
so the CLI (``dynopypi yank``) and a running server can both change it.
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

from dynopypi.store.directory.durable import write_atomically

log = logging.getLogger(__name__)

STATE_DIR = ".dynopypi"
YANK_FILE = "yanked.json"


def yank_path(root: Path) -> Path:
    return root / STATE_DIR / YANK_FILE


def read_yanks(root: Path) -> dict[str, str]:
    path = yank_path(root)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        log.error("cannot read %s (%s); treating nothing as yanked", path, exc)
        return {}
    if not isinstance(data, dict):
        log.error("%s is not a JSON object; treating nothing as yanked", path)
        return {}
    return {str(k): str(v) for k, v in data.items()}


def write_yanks(root: Path, yanks: dict[str, str]) -> None:
    path = yank_path(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(dict(sorted(yanks.items())), indent=1) + "\n"
    write_atomically(path, text.encode("utf-8"), prefix=".yanked-")


class YankStore:
    """In-memory view of every root's yank file; ``lookup`` is what the index calls."""

    def __init__(self, roots: tuple[Path, ...]) -> None:
        self.roots = roots
        self._lock = threading.Lock()
        self._state = [read_yanks(root) for root in roots]

    def lookup(self, root: int, relpath: str) -> str | None:
        return self._state[root].get(relpath.rsplit("/", 1)[-1])

    def reload(self, root: int) -> bool:
        """Re-read one root's file; True when something changed."""
        fresh = read_yanks(self.roots[root])
        changed = fresh != self._state[root]
        self._state[root] = fresh
        return changed

    def update(self, root: int, filenames: list[str], reason: str | None) -> None:
        """Yank (``reason`` a string, possibly empty) or un-yank (None) these files."""
        with self._lock:
            state = read_yanks(self.roots[root])
            for filename in filenames:
                if reason is None:
                    state.pop(filename, None)
                else:
                    state[filename] = reason
            write_yanks(self.roots[root], state)
            self._state[root] = state
