"""podman for the deployment tests (tests/deploy): the locally made base image, images built
once per session, and containers that never outlive the test that started them.

The machine's podman settings come from ``CONTAINERS_CONF`` (the make targets point it at
deploy/container/containers.conf: runc, cgroupfs, ulimits this VM can grant). Ports are
published on loopback only and read back with ``podman port``.
"""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from support.processes import forbidden_in_unit_run

REPO = Path(__file__).resolve().parents[2]
BASE_IMAGE = "localhost/dynopypi-base:bookworm"
LABEL = "dynopypi-test"  # every test container carries it, with this session's id
SESSION = uuid.uuid4().hex[:12]


def podman_path() -> str:
    forbidden_in_unit_run("podman")
    path = shutil.which("podman")
    assert path, "podman is required: apt-get install -y podman runc debootstrap (see .ci/run)"
    return path


def podman(
    *args: str | Path, timeout: float = 120, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run ``podman args``; with ``check`` a failure shows the command and its output."""
    result = subprocess.run(
        [podman_path(), *(str(a) for a in args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    if check:
        assert result.returncode == 0, explain(result)
    return result


def explain(result: subprocess.CompletedProcess[str]) -> str:
    return (
        f"{result.args} -> {result.returncode}\n--- stdout ---\n{result.stdout[-6000:]}\n"
        f"--- stderr ---\n{result.stderr[-6000:]}"
    )


def ensure_base_image() -> None:
    """The debootstrapped Debian base (made once, then kept in podman's store)."""
    forbidden_in_unit_run("debootstrap (the base image)")
    script = REPO / "deploy" / "container" / "base-image.sh"
    result = subprocess.run(
        [str(script), BASE_IMAGE], capture_output=True, text=True, timeout=900, check=False
    )
    assert result.returncode == 0, explain(result)


def image_id(tag: str) -> str | None:
    result = podman("image", "inspect", "--format", "{{.Id}}", tag, check=False)
    return result.stdout.strip() if result.returncode == 0 else None


def build(containerfile: Path, tag: str, context: Path = REPO, stages: Sequence[str] = ()) -> None:
    """``podman build`` FROM the local base; layers are cached, so a rebuild takes seconds.

    Each of ``stages`` is tagged too (``TAG-STAGE``), so its cached layers survive; the image
    a tag named before is removed once the tag moves, so that repeated runs on one machine
    do not pile up old images.
    """
    ensure_base_image()
    for stage in (*stages, None):
        name = tag if stage is None else f"{tag}-{stage}"
        target = () if stage is None else ("--target", stage)
        old = image_id(name)
        podman(
            "build", "--format", "docker", "--build-arg", f"BASE={BASE_IMAGE}", *target,
            "-f", containerfile, "-t", name, context, timeout=1200,
        )  # fmt: skip
        if old is not None and old != image_id(name):
            podman("rmi", old, check=False)  # still in use by a container: kept


def leftovers() -> list[str]:
    """Containers of this session that still exist (running or not)."""
    result = podman("ps", "-a", "--filter", f"label={LABEL}={SESSION}", "--format", "{{.Names}}")
    return result.stdout.split()


class Container:
    """``podman run -d`` as a context manager: removed (with its anonymous volumes) on exit."""

    def __init__(self, image: str, *run_args: str, command: Sequence[str] = ()) -> None:
        self.name = f"dynopypi-test-{SESSION}-{uuid.uuid4().hex[:6]}"
        self.image = image
        self.run_args = run_args
        self.command = tuple(command)

    def __enter__(self) -> Container:
        podman(
            "run", "-d", "--name", self.name, "--label", f"{LABEL}={SESSION}",
            *self.run_args, self.image, *self.command,
        )  # fmt: skip
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        podman("rm", "--force", "--volumes", "--time", "0", self.name, check=False)

    def port(self, container_port: int) -> int:
        """The loopback port published for ``container_port``."""
        out = podman("port", self.name, str(container_port)).stdout.strip()
        return int(out.rsplit(":", 1)[1])

    def address(self) -> str:
        """Its address on podman's network, where the other containers reach it."""
        template = "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}"
        return podman("inspect", self.name, "--format", template).stdout.split()[0]

    def logs(self) -> str:
        result = podman("logs", self.name, check=False)
        return f"--- podman logs {self.name} ---\n{result.stdout}{result.stderr}"

    def state(self, field: str) -> str:
        return podman("inspect", self.name, "--format", "{{.State." + field + "}}").stdout.strip()

    def stop(self, timeout: int) -> float:
        """``podman stop -t timeout`` (SIGTERM, then SIGKILL); the seconds it took."""
        start = time.monotonic()
        podman("stop", "--time", str(timeout), self.name, timeout=timeout + 60)
        return time.monotonic() - start

    def exec(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return podman("exec", self.name, *args, timeout=timeout, check=False)
