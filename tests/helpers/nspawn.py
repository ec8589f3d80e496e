"""A Debian root booted with a real systemd as PID 1 of a container (systemd-nspawn), for the tests that run
a unit as systemd runs it: its sandbox, its reload, its stop.

PID 1 of this machine is not systemd, so nspawn runs with `--register=no --keep-unit` (no machined, no
system bus) and `--private-network` (the container sees loopback only). With no systemd above it, nspawn
makes its cgroups (`payload`, `supervisor`) under its own: each container is first moved into a cgroup
of its own, named after it, so that two at once do not share one, and so that what is left of it after
a stop (a process, a cgroup) is found and removed. Commands enter the container's namespaces with
nsenter: systemctl and journalctl inside talk to its systemd, and the host's Python fetches URLs from
inside its network namespace.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers.systemd import get_in_network_of

BOOT_TIMEOUT = 60
HALT_TIMEOUT = 30
COMMAND_TIMEOUT = 60
CGROUPS = Path("/sys/fs/cgroup")
# nspawn keeps a folder per container here for `machinectl bind`; it removes it only from a tmpfs.
PROPAGATE = Path("/run/systemd/nspawn/propagate")
INSIDE_ENVIRONMENT = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", "SYSTEMD_PAGER": ""}


def hierarchies() -> list[Path]:
    """The cgroup hierarchies nspawn makes its cgroups in: the unified one alone (cgroup v2), or the
    named `systemd` one and the unified one beside it (hybrid; v1 controllers are left alone)."""
    if (CGROUPS / "cgroup.controllers").exists():
        return [CGROUPS]
    return [path for path in (CGROUPS / "systemd", CGROUPS / "unified") if (path / "cgroup.procs").exists()]


@dataclass
class Container:
    name: str
    process: subprocess.Popen[bytes]  # systemd-nspawn
    leader: int  # the container's PID 1, as the host numbers it
    log: Path  # nspawn's output and the container's console
    boot_seconds: float

    def run(
        self, *command: str, check: bool = True, timeout: float = COMMAND_TIMEOUT
    ) -> subprocess.CompletedProcess[str]:
        """A command inside the container, as its root, in all its namespaces."""
        result = subprocess.run(
            ["nsenter", f"--target={self.leader}", "--all", "--", *command],
            env=INSIDE_ENVIRONMENT,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check:
            assert result.returncode == 0, (
                f"{command} exited {result.returncode}:\n{result.stdout}{result.stderr}"
            )
        return result

    def systemctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run("systemctl", "--no-pager", *args, check=check)

    def show(self, unit: str, prop: str) -> str:
        return self.systemctl("show", "--value", f"--property={prop}", unit).stdout.strip()

    def journal(self, unit: str) -> str:
        """The unit's journal since the boot, messages only (`-o cat`), systemd's own lines included."""
        return self.run("journalctl", "--no-pager", "--boot", "--output=cat", f"--unit={unit}").stdout

    def read(self, path: str) -> str:
        return self.run("cat", path).stdout

    def get(self, url: str) -> bytes | None:
        """GET `url` from inside the container's network namespace; None when nothing answers (yet)."""
        return get_in_network_of(self.leader, url)


def skip_without_nspawn() -> None:
    if shutil.which("systemd-nspawn") is None:
        pytest.skip("systemd-nspawn is missing (tests/run installs systemd-container)")
    if os.geteuid() != 0:
        pytest.skip("systemd-nspawn needs root (tests/run is run as root or with sudo)")
    if not hierarchies():
        pytest.skip(f"no cgroup hierarchy for systemd under {CGROUPS}")


@contextmanager
def booted(root: Path, name: str, log: Path) -> Iterator[Container]:
    """`root` booted by its own /sbin/init (systemd) until `systemctl is-system-running` says it is up;
    halted and every trace of it (process, cgroup, nspawn's folder) removed on the way out."""
    skip_without_nspawn()
    cgroups = [hierarchy / name for hierarchy in hierarchies()]
    for cgroup in cgroups:
        cgroup.mkdir()
    command = [
        "systemd-nspawn", "--boot", f"--directory={root}", f"--machine={name}",
        "--register=no", "--keep-unit", "--private-network", "--console=pipe",
        # Nothing of the host in the container's files or the host's in the container's.
        "--link-journal=no", "--resolv-conf=off", "--timezone=off",
    ]  # fmt: skip
    # The shell moves itself (so nspawn, which it becomes) into the container's own cgroups.
    enter = " && ".join(f'echo $$ > "{cgroup}/cgroup.procs"' for cgroup in cgroups)
    started = time.monotonic()
    with log.open("wb") as out:
        process = subprocess.Popen(
            ["sh", "-c", f'{enter} && exec "$@"', "sh", *command],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        leader = _wait_for_leader(process, log, started)
        container = Container(name, process, leader, log, 0.0)
        _wait_until_up(container, started)
        container.boot_seconds = time.monotonic() - started
        yield container
    finally:
        _halt(process)
        _remove(cgroups)
        with suppress(OSError):
            shutil.rmtree(PROPAGATE / name)
    _assert_nothing_left(root, cgroups)


def _wait_for_leader(process: subprocess.Popen[bytes], log: Path, started: float) -> int:
    """The container's PID 1: the child of nspawn running systemd."""
    while True:
        if process.poll() is not None:
            pytest.fail(f"systemd-nspawn exited {process.returncode} before booting:\n{log.read_text()}")
        with suppress(OSError):
            children = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()
            for child in map(int, children):
                if Path(f"/proc/{child}/comm").read_text().strip() == "systemd":
                    return child
        if time.monotonic() - started > BOOT_TIMEOUT:
            pytest.fail(f"no systemd in the container after {BOOT_TIMEOUT} s:\n{log.read_text()}")
        time.sleep(0.05)


def _wait_until_up(container: Container, started: float) -> None:
    # The bus socket appears some time after PID 1 starts: until then systemctl cannot say anything.
    while True:
        state = container.systemctl("is-system-running", check=False).stdout.strip()
        if state in ("running", "degraded"):
            return
        if container.process.poll() is not None or time.monotonic() - started > BOOT_TIMEOUT:
            failed = container.systemctl("--failed", check=False).stdout
            pytest.fail(
                f"the container did not boot in {BOOT_TIMEOUT} s (state {state!r}):\n{failed}\n"
                f"{container.log.read_text()}"
            )
        time.sleep(0.2)


def _halt(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM asks nspawn to halt the container (its systemd stops every unit); a second one ends it
    at once; SIGKILL is for an nspawn that does not listen."""
    for signum, wait in ((signal.SIGTERM, HALT_TIMEOUT), (signal.SIGTERM, 10), (signal.SIGKILL, 10)):
        if process.poll() is not None:
            return
        process.send_signal(signum)
        with suppress(subprocess.TimeoutExpired):
            process.wait(timeout=wait)
    process.wait(timeout=1)


def _remove(cgroups: list[Path]) -> None:
    """Kill whatever is still in the container's cgroups, then remove them, innermost first."""
    deadline = time.monotonic() + 10
    for cgroup in cgroups:
        while cgroup.exists():
            for procs in cgroup.rglob("cgroup.procs"):
                for pid in procs.read_text().split():
                    with suppress(ProcessLookupError):
                        os.kill(int(pid), signal.SIGKILL)
            for folder in sorted((p for p in cgroup.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
                with suppress(OSError):
                    folder.rmdir()
            with suppress(OSError):
                cgroup.rmdir()
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)


def _assert_nothing_left(root: Path, cgroups: list[Path]) -> None:
    left = [str(cgroup) for cgroup in cgroups if cgroup.exists()]
    assert not left, f"cgroups left behind: {left}"
    mounts = Path("/proc/self/mountinfo").read_text().split("\n")
    held = [line for line in mounts if f" {root}" in line or str(PROPAGATE) in line]
    assert not held, f"mounts left behind: {held}"
