"""The project's image, built with podman from a clean copy of the checkout, and run without an OCI runtime.

Running containers is refused on the test machines (crun cannot set rlimits), so the image's root
filesystem is mounted (`podman create` + `podman mount`) and run as `docker run --read-only` would: in a
private mount namespace, the root read-only, `/tmp` and the state folder writable, settings bound
read-only, `/proc` and a minimal `/dev`, as the image's user, with the image's environment. Everything a
namespace mounts disappears with its last process, so a failed test leaves no mount behind.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.debian import root_digest

BASE_REPOSITORY = "localhost/autoconfig-test-base"
IMAGE_REPOSITORY = "localhost/autoconfig-test"
# What Docker puts in a container's environment when the image sets no PATH.
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# What python:3.11-slim declares besides its files, so that the local base behaves like it.
BASE_CHANGES = (f"ENV PATH={DEFAULT_PATH}", "ENV LANG=C.UTF-8", 'CMD ["python3"]')
BUILD_TIMEOUT = 900  # pip downloads the dependencies from PyPI on every build
PODMAN_TIMEOUT = 120
TOOLS = ("podman", "unshare", "chroot", "mount", "tar", "git")


def require_tools() -> None:
    """Skip the calling test where the image cannot be built or run (tests/run installs the tools)."""
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} missing (tests/run installs podman and debootstrap)")
    if os.geteuid() != 0:
        pytest.skip("building and running the image needs root: podman's storage, mounts, chroot")


def podman(*args: str, timeout: float = PODMAN_TIMEOUT) -> str:
    result = subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout, check=False)
    if result.returncode != 0:
        pytest.fail(f"podman {' '.join(args)} exited with {result.returncode}:\n{result.stderr}")
    return result.stdout.strip()


# --- the base -----------------------------------------------------------------------------------------


def base_image(root: Path) -> str:
    """The bootstrapped root as an image, imported once per root (tagged by its digest) and kept."""
    reference = f"{BASE_REPOSITORY}:{root_digest(root)}"
    exists = subprocess.run(["podman", "image", "exists", reference], check=False, timeout=PODMAN_TIMEOUT)
    if exists.returncode == 0:
        return reference
    changes = [arg for change in BASE_CHANGES for arg in ("--change", change)]
    with subprocess.Popen(
        ["tar", "-C", str(root), "--exclude=./.complete", "-c", "."], stdout=subprocess.PIPE
    ) as tar:
        podman_import = subprocess.run(
            ["podman", "import", *changes, "-", reference],
            stdin=tar.stdout,
            capture_output=True,
            text=True,
            timeout=PODMAN_TIMEOUT,
            check=False,
        )
        tar.wait(timeout=PODMAN_TIMEOUT)
    assert tar.returncode == 0, f"tar of {root} failed"
    assert podman_import.returncode == 0, podman_import.stderr
    # Bases of earlier roots (another package list, another CA bundle) would only take space.
    for tag in podman("images", "--format", "{{.Repository}}:{{.Tag}}", BASE_REPOSITORY).splitlines():
        if tag != reference:
            _quietly("rmi", tag)
    return reference


# --- the build ----------------------------------------------------------------------------------------


def build_context(checkout: Path, destination: Path) -> Path:
    """The checkout as a clone would hold it once the work tree is committed: tracked and new files with
    the work tree's contents, nothing git ignores (.venv, caches, built wheels), modes as git records
    them (0644 or 0755, whatever the work tree's umask made).

    Not HEAD alone: a Dockerfile or module being changed must be built with the modules it imports,
    new ones included. In CI's fresh clone both are the same.
    """
    modes: dict[str, str] = {}
    for entry in _git_files(checkout, "--stage"):
        meta, _, name = entry.partition("\t")
        modes[name] = meta.split()[0]
    for name in _git_files(checkout, "--others", "--exclude-standard"):
        modes[name] = "100755" if os.access(checkout / name, os.X_OK) else "100644"
    for name, mode in sorted(modes.items()):
        source, target = checkout / name, destination / name
        if mode == "160000" or not os.path.lexists(source):  # a submodule, or deleted in the work tree
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if mode == "120000":
            target.symlink_to(os.readlink(source))
            continue
        shutil.copyfile(source, target)
        target.chmod(0o755 if mode == "100755" else 0o644)
    return destination


def _git_files(checkout: Path, *options: str) -> list[str]:
    listed = subprocess.run(
        ["git", "-C", str(checkout), "ls-files", "-z", *options], capture_output=True, check=True, timeout=60
    )
    return [os.fsdecode(entry) for entry in listed.stdout.split(b"\0") if entry]


@dataclass(frozen=True)
class Healthcheck:
    command: list[str]  # exec form, whatever the Dockerfile wrote
    interval: float
    timeout: float
    start_period: float
    retries: int


@dataclass(frozen=True)
class Image:
    """The project's built image, as `podman inspect` describes it."""

    reference: str
    user: str
    env: dict[str, str]
    entrypoint: list[str]
    cmd: list[str]
    exposed: list[str]
    healthcheck: Healthcheck | None
    build_seconds: float = 0.0


def build_image(context: Path, base: str, reference: str, log: Path) -> Image:
    """`podman build` of the context's Dockerfile on `base`, every step run again (no layer cache).

    `--format docker` keeps HEALTHCHECK (the OCI format has no such field); `--isolation chroot` needs no
    OCI runtime; `--layers=false` leaves no intermediate images behind; `--pull=never` reaches no
    registry (the base is local).
    """
    started = time.monotonic()
    with log.open("wb") as out:
        result = subprocess.run(
            [
                "podman", "build", "--isolation", "chroot", "--network", "host", "--format", "docker",
                "--pull=never", "--layers=false", "--no-cache", "--build-arg", f"BASE_IMAGE={base}",
                "--tag", reference, str(context),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=BUILD_TIMEOUT,
            check=False,
        )  # fmt: skip
    seconds = time.monotonic() - started
    if result.returncode != 0:
        tail = log.read_text(errors="replace")[-6000:]
        pytest.fail(f"podman build exited with {result.returncode}:\n{tail}")
    return inspect_image(reference, seconds)


def _seconds(nanoseconds: Any) -> float:
    return int(nanoseconds or 0) / 1e9


def _healthcheck(described: Mapping[str, Any] | None) -> Healthcheck | None:
    if not described or not described.get("Test") or described["Test"] == ["NONE"]:
        return None
    kind, *command = described["Test"]
    if kind == "CMD-SHELL":
        command = ["/bin/sh", "-c", *command]
    return Healthcheck(
        command=command,
        interval=_seconds(described.get("Interval")),
        timeout=_seconds(described.get("Timeout")),
        start_period=_seconds(described.get("StartPeriod")),
        retries=int(described.get("Retries") or 0),
    )


def inspect_image(reference: str, build_seconds: float = 0.0) -> Image:
    (described,) = json.loads(podman("image", "inspect", reference))
    config = described.get("Config") or {}
    env = dict(item.partition("=")[::2] for item in config.get("Env") or [])
    env.setdefault("PATH", DEFAULT_PATH)
    return Image(
        reference=reference,
        user=config.get("User") or "0",
        env=env,
        entrypoint=list(config.get("Entrypoint") or []),
        cmd=list(config.get("Cmd") or []),
        exposed=sorted(config.get("ExposedPorts") or {}),
        # Docker keeps it in Config; podman 4 lifts it to the top level.
        healthcheck=_healthcheck(config.get("Healthcheck") or described.get("Healthcheck")),
        build_seconds=build_seconds,
    )


def _quietly(*args: str) -> None:
    """A clean-up step: what fails here must not hide the test's own failure."""
    subprocess.run(["podman", *args], capture_output=True, check=False, timeout=PODMAN_TIMEOUT)


def remove_image(reference: str) -> None:
    _quietly("rmi", "--force", reference)


# --- running the image's filesystem -------------------------------------------------------------------


@dataclass(frozen=True)
class Container:
    id: str
    root: Path  # the container's root filesystem, mounted on the host

    def changes(self) -> list[str]:
        """What differs from the image in the container's filesystem (`podman diff`)."""
        return podman("diff", self.id).splitlines()


@contextmanager
def mounted_container(image: Image) -> Iterator[Container]:
    """A container made from the image (never started) with its root filesystem mounted."""
    # --no-healthcheck: nothing to schedule (podman would ask systemd for a timer); the test runs the
    # image's HEALTHCHECK command itself.
    container = podman("create", "--no-healthcheck", image.reference)
    try:
        yield Container(container, Path(podman("mount", container)))
    finally:
        _quietly("unmount", container)
        _quietly("rm", "--force", container)


def with_port(command: list[str], port: int) -> list[str]:
    """The command with the value after --port replaced."""
    index = command.index("--port")
    return [*command[: index + 1], str(port), *command[index + 2 :]]


# Runs in the new mount namespace, as root, then becomes the image's process. Arguments: the image's
# root, the empty folder to build the view in, the state and /tmp folders, the number of read-only binds
# then each (path inside, folder outside); the rest is the command (env -i ... chroot ...).
_SANDBOX = r"""
image=$1 root=$2 state=$3 tmp=$4 binds=$5
shift 5
mount --bind "$image" "$root"
mount -o remount,bind,ro "$root"
mount -t proc -o nosuid,nodev,noexec proc "$root/proc"
mount -t tmpfs -o nosuid,mode=0755,size=1m dev "$root/dev"
for node in null zero full random urandom tty; do
    : > "$root/dev/$node"
    mount --bind "/dev/$node" "$root/dev/$node"
done
mkdir "$root/dev/shm"
mount -t tmpfs -o nosuid,nodev,mode=1777,size=64m shm "$root/dev/shm"
mount -o remount,bind,ro "$root/dev"
mount --bind "$tmp" "$root/tmp"
mount --bind "$state" "$root/var/lib/autoconfig"
while [ "$binds" -gt 0 ]; do
    mount --bind "$2" "$root$1"
    mount -o remount,bind,ro "$root$1"
    shift 2
    binds=$((binds - 1))
done
exec "$@"
"""


@dataclass(frozen=True)
class Sandbox:
    """The image's filesystem as `docker run --read-only --tmpfs /tmp -v STATE:/var/lib/autoconfig`
    shows it (with /dev/shm, which Docker gives too), for commands run as the image's user."""

    image: Image
    container: Container
    view: Path  # an empty folder: the private namespace mounts the view there
    state: Path  # /var/lib/autoconfig
    tmp: Path  # /tmp
    read_only: dict[str, Path] = field(default_factory=dict)  # path inside -> folder outside

    def command(self, argv: list[str], env: Mapping[str, str] | None = None) -> list[str]:
        """The host command that runs `argv` in the view, as the image's user with the image's
        environment (and `env` added, as `docker run -e`)."""
        uid, _, gid = self.image.user.partition(":")
        environment = {**self.image.env, **(env or {})}
        binds = [str(part) for inside, outside in self.read_only.items() for part in (inside, outside)]
        return [
            _host("unshare"), "--mount", "--propagation", "private", "--",
            _host("sh"), "-euc", _SANDBOX, "sandbox",
            str(self.container.root), str(self.view), str(self.state), str(self.tmp),
            str(len(self.read_only)), *binds,
            # env runs on the host, with absolute paths: the image needs neither env nor a shell.
            _host("env"), "-i", *(f"{name}={value}" for name, value in environment.items()),
            # Docker's USER uid:gid gives no supplementary groups beyond the gid.
            _host("chroot"), f"--userspec={uid}:{gid or uid}", f"--groups={gid or uid}", str(self.view),
            *argv,
        ]  # fmt: skip


def _host(tool: str) -> str:
    found = shutil.which(tool)
    assert found is not None, f"{tool} is missing"
    return found


def new_sandbox(
    image: Image, container: Container, folder: Path, read_only: Mapping[str, Path] | None = None
) -> Sandbox:
    """A sandbox with fresh state and /tmp folders under `folder`, as Docker makes them: the state
    volume owned by the image's user, /tmp a sticky world-writable folder."""
    uid, _, gid = image.user.partition(":")
    view, state, tmp = folder / "view", folder / "state", folder / "tmp"
    for path in (view, state, tmp):
        path.mkdir(parents=True)
    os.chown(state, int(uid), int(gid or uid))
    state.chmod(0o755)  # the Dockerfile's /var/lib/autoconfig, which a new volume copies
    tmp.chmod(0o1777)
    return Sandbox(image, container, view, state, tmp, dict(read_only or {}))
