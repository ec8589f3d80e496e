"""Real `autoconfig serve` processes for the operations tests: start on a free loopback port, read the
logs, send signals, wait (bounded) for a condition, stop with the workers."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import httpx2
import pytest

from tests.helpers.paths import ROOT

STARTUP_TIMEOUT = 30.0  # generous: a loaded 2-core machine starts Python slowly; a healthy start takes ~2 s
T = TypeVar("T")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for(check: Callable[[], T | None], timeout: float = 10.0, what: str = "the condition") -> T:
    """Call `check` every 50 ms until it returns something other than None; fail after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found is not None:
            return found
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen within {timeout:.0f} s")
        time.sleep(0.05)


@dataclass
class Server:
    port: int
    process: subprocess.Popen[bytes]
    stdout: Path  # the access log
    stderr: Path  # everything else

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def get(self, path: str, headers: dict[str, str] | None = None) -> httpx2.Response:
        """One request on a new connection (so that, with several workers, any worker may answer)."""
        return httpx2.get(f"{self.base_url}{path}", headers=headers, timeout=10)

    def access_log(self) -> str:
        return self.stdout.read_text(errors="replace")

    def error_log(self) -> str:
        return self.stderr.read_text(errors="replace")

    def logs(self) -> str:
        return self.access_log() + self.error_log()

    def wait_for_log(self, needle: str, timeout: float = 10.0, *, after: int = 0) -> str:
        """The error log once it holds `needle` past its first `after` characters."""
        return wait_for(
            lambda: text if needle in (text := self.error_log())[after:] else None,
            timeout,
            f"{needle!r} in the log:\n{self.error_log()[after:]}",
        )

    def wait_for_any_log(self, needle: str, timeout: float = 5.0) -> str:
        """Both logs once either holds `needle` (access lines are written as the answer leaves)."""
        return wait_for(
            lambda: text if needle in (text := self.logs()) else None, timeout, f"{needle!r} in the logs"
        )

    def hangup(self) -> None:
        os.kill(self.process.pid, signal.SIGHUP)

    def workers(self) -> list[int]:
        """The worker processes' ids (the supervisor's children that serve, not its resource tracker)."""
        found = subprocess.run(
            ["pgrep", "-P", str(self.process.pid)], capture_output=True, text=True, check=False
        )
        pids = []
        for pid in found.stdout.split():
            try:
                command = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if b"multiprocessing.spawn" in command:
                pids.append(int(pid))
        return pids

    def wait_for_workers(
        self, count: int, *, besides: tuple[int, ...] = (), timeout: float = 15.0
    ) -> list[int]:
        """The worker ids once `count` workers that are not in `besides` have started their application."""

        def started() -> list[int] | None:
            pids = [pid for pid in self.workers() if pid not in besides]
            return pids if len(pids) == count else None

        pids = wait_for(started, timeout, f"{count} workers")
        wait_for(
            lambda: (
                True if all(f"Started server process [{pid}]" in self.error_log() for pid in pids) else None
            ),
            timeout,
            "the workers' applications started",
        )
        return pids


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)  # its own process group: the workers go too
            process.wait(timeout=10)


@contextmanager
def serving(
    folder: Path,
    *options: str,
    settings: Path | None = None,
    workers: int = 1,
    env: dict[str, str] | None = None,
    nofile: int | None = None,
) -> Iterator[Server]:
    """`autoconfig serve` on a free port until the app answers; its logs in `folder`. `nofile`: a hard
    limit on its file descriptors, as some container runtimes set."""
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    environment = {k: v for k, v in os.environ.items() if k != "AUTOCONFIG_SETTINGS"}
    environment.update(env or {})
    command = [sys.executable, "-m", "autoconfig", "serve", "--port", str(port), "--workers", str(workers)]
    if settings is not None:
        command += ["--settings", str(settings)]
    command += options
    if nofile is not None:
        command = ["prlimit", f"--nofile={nofile}:{nofile}", "--", *command]
    stdout, stderr = folder / "access.log", folder / "error.log"
    with stdout.open("wb") as out, stderr.open("wb") as err:
        process = subprocess.Popen(
            command, cwd=ROOT, env=environment, stdout=out, stderr=err, start_new_session=True
        )
    server = Server(port, process, stdout, stderr)
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            if process.poll() is not None:
                pytest.fail(f"autoconfig serve exited with {process.returncode}:\n{server.logs()}")
            try:
                # An answer from the app itself (any status), not merely an open socket.
                httpx2.get(f"{server.base_url}/startup-probe", timeout=1.0)
                break
            except httpx2.TransportError:
                if time.monotonic() > deadline:
                    pytest.fail(
                        f"autoconfig serve did not answer in {STARTUP_TIMEOUT:.0f} s:\n{server.logs()}"
                    )
                time.sleep(0.1)
        # The probe proves one worker; wait for every one to have started its application, and for its
        # lines to be in the log (written off the event loop): a test that reads the log from here on
        # sees only what came after.
        wait_for(
            lambda: True if server.error_log().count("Application startup complete") >= workers else None,
            STARTUP_TIMEOUT,
            f"{workers} workers starting",
        )
        yield server
    finally:
        stop(process)
