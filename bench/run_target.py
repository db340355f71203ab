"""What every mode requests in a corpus: the ``Target`` picked from its manifest.

A typical project page (a legacy-named project with about six files), the chain-00 download,
the projects the visibility samples drop and upload into, the projects the spot checks read,
and the wrk Lua script that requests project pages at random over every project.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import corpus


@dataclass
class Target:
    """What to request in a corpus."""

    simple_path: str
    project: str  # normalized
    project_path: str
    download_path: str
    download_file: Path
    spread_script: Path
    drop_project: str
    upload_project: str
    check_projects: list[dict[str, Any]]
    project_names: set[str]


WRK_LUA = """\
local paths = {}
for line in io.lines("%(paths)s") do paths[#paths + 1] = line end
local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("thread_id", counter)
end
function init(args)
  math.randomseed(503 + (thread_id or 0))
end
function request()
  return wrk.format("GET", paths[math.random(#paths)])
end
"""


def make_target(corpus_dir: Path, run_dir: Path) -> Target:
    manifest = corpus.load_manifest(corpus_dir)
    plist: list[dict[str, Any]] = manifest["project_list"]  # type: ignore[assignment]
    others = [p for p in plist if not p["name"].startswith("chain-")]
    # A typical page: the first legacy-named project with six files (or the closest).
    legacy = [p for p in others if p["name"] != p["normalized"]] or others
    typical = min(legacy, key=lambda p: (abs(len(p["files"]) - 6), plist.index(p)))
    plain = [p for p in others if p["name"] == p["normalized"] and len(p["files"]) <= 8]
    drop_project, upload_project = plain[0]["normalized"], plain[1]["normalized"]
    paths = run_dir / f"paths-{manifest['files']}.txt"
    paths.write_text("".join(f"/simple/{p['normalized']}/\n" for p in plist))
    script = run_dir / f"spread-{manifest['files']}.lua"
    script.write_text(WRK_LUA % {"paths": str(paths)})
    step = max(1, len(others) // 25)
    check_projects = [*plist[:2], typical, *others[::step][:25]]
    download = str(manifest["download"])
    return Target(
        simple_path="/simple/",
        project=typical["normalized"],
        project_path=f"/simple/{typical['normalized']}/",
        download_path=f"/packages/{download}",
        download_file=corpus_dir / "packages" / download,
        spread_script=script,
        drop_project=drop_project,
        upload_project=upload_project,
        check_projects=check_projects,
        project_names={p["normalized"] for p in plist},
    )
