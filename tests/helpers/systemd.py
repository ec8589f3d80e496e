"""The systemd unit as systemd reads it, and a Debian root to install it in without PID 1 systemd.

`Unit` reads a unit file's sections (repeated keys kept in order, an empty assignment resets the list,
as systemd does). `Machine` is a copy of a debootstrapped root with its own mount namespace: a holder
process keeps the namespace (with /proc and /dev mounted in the root) alive, every command enters it,
and stopping the holder drops the mounts with it, so none is ever left behind on the host.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

COMMAND_TIMEOUT = 60
INSTALL_TIMEOUT = 600
# What install.sh sees of the host's environment: a clean one, but the way to PyPI (a proxy, a mirror).
PASSED_ENVIRONMENT = ("http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY")
PASSED_PREFIXES = ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_DEFAULT_TIMEOUT", "PIP_TRUSTED_HOST")


@dataclass(frozen=True)
class Unit:
    sections: dict[str, dict[str, list[str]]]

    @classmethod
    def read(cls, path: Path) -> Unit:
        sections: dict[str, dict[str, list[str]]] = {}
        current: dict[str, list[str]] = {}
        for raw in path.read_text(encoding="utf-8").splitlines():
            line = raw.strip()
            if not line or line.startswith(("#", ";")):
                continue
            if line.startswith("[") and line.endswith("]"):
                current = sections.setdefault(line[1:-1], {})
                continue
            key, _, value = line.partition("=")
            values = current.setdefault(key.strip(), [])
            if value.strip():
                values.append(value.strip())
            else:
                values.clear()  # `Key=` resets a list setting
        return cls(sections)

    def values(self, key: str, section: str = "Service") -> list[str]:
        return self.sections.get(section, {}).get(key, [])

    def value(self, key: str, section: str = "Service") -> str:
        (found,) = self.values(key, section)
        return found

    def environment(self) -> dict[str, str]:
        pairs: dict[str, str] = {}
        for line in self.values("Environment"):
            for word in shlex.split(line):
                name, _, value = word.partition("=")
                pairs[name] = value
        return pairs

    def command(self, key: str, **variables: str) -> list[str]:
        """An Exec line as systemd runs it: no prefix (`-`, `@`, `+`, `!`), `$NAME` words replaced."""
        line = self.value(key)
        assert line[0] not in "-@+!:", f"{key} has a prefix this reader does not model: {line}"
        return [variables.get(word[1:], word) if word.startswith("$") else word for word in shlex.split(line)]


def get_in_network_of(pid: int, url: str) -> bytes | None:
    """GET `url` from inside the network namespace of process `pid` (a private one, where the service
    may take its own port 8080); None when nothing answers (yet)."""
    script = (
        "import sys, urllib.request\n"
        "with urllib.request.urlopen(sys.argv[1], timeout=5) as answer:\n"
        "    sys.stdout.buffer.write(answer.read())"
    )
    result = subprocess.run(
        ["nsenter", f"--target={pid}", "--net", "--", sys.executable, "-c", script, url],
        capture_output=True,
        timeout=15,
        check=False,
    )
    return result.stdout if result.returncode == 0 else None


def host_environment() -> dict[str, str]:
    passed = {k: v for k, v in os.environ.items() if k in PASSED_ENVIRONMENT or k in PASSED_PREFIXES}
    return {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": "/root",
        "LANG": "C.UTF-8",
        **passed,
    }


@dataclass
class Machine:
    """A Debian root in `root`, entered through the mount namespace of process `holder`."""

    root: Path
    holder: subprocess.Popen[bytes]
    started: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def enter(self, *command: str) -> list[str]:
        return ["nsenter", f"--target={self.holder.pid}", "--mount", "--", *command]

    def run(
        self, *command: str, user: str | None = None, timeout: float = COMMAND_TIMEOUT, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """A command inside the root (as root, or as `user` with that user's groups)."""
        userspec = [f"--userspec={user}:{user}"] if user else []
        result = subprocess.run(
            self.enter("chroot", *userspec, str(self.root), *command),
            env=host_environment(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check:
            assert result.returncode == 0, f"{command} exited {result.returncode}:\n{result.stderr}"
        return result

    def start(
        self, command: list[str], *, user: str, env: dict[str, str], log: Path
    ) -> subprocess.Popen[bytes]:
        """A long-running command inside the root, in a network namespace of its own with loopback up
        (so that it may take its fixed port whatever else this machine runs); its pid is the command's
        own: nsenter, unshare, sh and chroot all exec the next one."""
        inner = (
            "ip link set lo up && exec chroot --userspec={user}:{user} {root} env -i {env} {command}".format(
                user=user,
                root=shlex.quote(str(self.root)),
                env=" ".join(shlex.quote(f"{k}={v}") for k, v in env.items()),
                command=" ".join(shlex.quote(word) for word in command),
            )
        )
        with log.open("wb") as out:
            process = subprocess.Popen(
                self.enter("unshare", "--net", "--", "sh", "-c", inner),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.started.append(process)
        return process

    def fetch(self, process: subprocess.Popen[bytes], url: str) -> str | None:
        """GET `url` from inside `process`'s network namespace; None when nothing answers yet."""
        body = get_in_network_of(process.pid, url)
        return None if body is None else body.decode()

    def stop(self, process: subprocess.Popen[bytes]) -> None:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=25)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


@contextmanager
def machine(image: Path, folder: Path) -> Iterator[Machine]:
    """A copy of `image` in `folder`, with /proc and /dev mounted inside it in a private namespace."""
    root = folder / "root"
    subprocess.run(["cp", "-a", str(image), str(root)], check=True, timeout=COMMAND_TIMEOUT)
    holder = subprocess.Popen(
        ["unshare", "--mount", "--propagation=private", "--", "sleep", "3600"], start_new_session=True
    )
    found = Machine(root, holder)
    try:
        _wait_for_namespace(holder)
        for mount in (
            ["mount", "-t", "proc", "proc", str(root / "proc")],
            ["mount", "--rbind", "/dev", str(root / "dev")],
        ):
            subprocess.run(found.enter(*mount), check=True, timeout=COMMAND_TIMEOUT)
        yield found
    finally:
        for process in found.started:
            found.stop(process)
        holder.kill()  # the last process in the namespace: its mounts go with it
        holder.wait(timeout=10)
        with suppress(OSError):
            shutil.rmtree(root)


def _wait_for_namespace(holder: subprocess.Popen[bytes]) -> None:
    # unshare has made the namespace once it has exec'd sleep.
    deadline = time.monotonic() + 10
    while Path(f"/proc/{holder.pid}/comm").read_text().strip() != "sleep":
        assert time.monotonic() < deadline, "unshare did not start"
        time.sleep(0.02)
    own = os.readlink("/proc/self/ns/mnt")
    assert os.readlink(f"/proc/{holder.pid}/ns/mnt") != own
