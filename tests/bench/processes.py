"""Starting, watching and stopping what the benchmark runs: the service, the baselines, slapd.

Every process is started in a session of its own, so that a Ctrl-C reaches the benchmark alone, which
then stops them in order (the service gracefully, through its supervisor) instead of racing them. Every
wait has a deadline; what does not stop in time is killed, its whole process group with it.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tests.helpers.live import free_port
from tests.helpers.paths import ROOT

STARTUP_SECONDS = 180.0  # 2,000 providers or 35,000 overrides take a while to load in every worker
STOP_SECONDS = 30.0  # the service gives requests in flight 10 s, then its workers 5 more
COMMAND_SECONDS = 10.0
# No proxy between the benchmark and loopback, whatever the environment says.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def say(text: str) -> None:
    """Progress, on standard error: standard output holds the tables alone."""
    print(text, file=sys.stderr, flush=True)


class BenchError(Exception):
    """Something the benchmark needs did not happen: said as it is, exit status 1."""


@dataclass
class Running:
    """A server on a port, made of one process or several (the supervisor and its workers, or one
    baseline process per worker)."""

    name: str
    port: int
    processes: list[subprocess.Popen[bytes]]
    worker_count: int
    log: Path
    started: float = field(default_factory=time.monotonic)
    ready_seconds: float = float("nan")  # from the start to every worker answering
    ready_at_byte: int = 0  # the log's size then: what follows was logged while measuring

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def workers(self) -> list[int]:
        """The pids that listen on the port: the service's workers, not its supervisor nor the
        multiprocessing resource tracker, which are its children too."""
        return listeners(self.port)


def spawn(command: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    with log.open("ab") as output:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            command,
            cwd=ROOT,
            env={**os.environ, **(env or {})},
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop(process: subprocess.Popen[bytes], seconds: float = STOP_SECONDS) -> None:
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=seconds)
    # What the process started (a supervisor's workers) shares its group: none outlives it.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5)


def stop_all(running: Running) -> None:
    for process in running.processes:
        stop(process)


def fetch(
    url: str, data: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, data=data, headers=headers or {}, method="POST" if data else "GET")
    try:
        with OPENER.open(request, timeout=COMMAND_SECONDS) as answer:
            return answer.status, dict(answer.headers.items()), answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers.items()), exc.read()


def wait_until_answers(running: Running, path: str, seconds: float = STARTUP_SECONDS) -> None:
    """Wait until every worker listens and `path` answers 200 (asked several times, each on a new
    connection, which the kernel gives to any worker); note how long that took from the start."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        _check_alive(running)
        if len(running.workers()) >= running.worker_count and _answers(running.url + path):
            running.ready_seconds = time.monotonic() - running.started
            with contextlib.suppress(OSError):
                running.ready_at_byte = running.log.stat().st_size
            return
        time.sleep(0.05)
    raise BenchError(f"{running.name} did not answer {path} within {seconds:.0f} s{_log_tail(running)}")


def _answers(url: str) -> bool:
    try:
        return all(fetch(url)[0] == 200 for _ in range(4))
    except OSError:
        return False


def _check_alive(running: Running) -> None:
    for process in running.processes:
        if process.poll() is not None:
            raise BenchError(f"{running.name} exited with status {process.returncode}{_log_tail(running)}")


def _log_tail(running: Running, size: int = 4096) -> str:
    try:
        with running.log.open("rb") as log:
            log.seek(max(0, running.log.stat().st_size - size))
            tail = log.read().decode(errors="replace")
    except OSError:
        return ""
    return ":\n" + "\n".join(tail.splitlines()[-15:])


def start_service(settings: Path, workers: int, work: Path, name: str = "service") -> Running:
    """`autoconfig serve` with the defaults the issue measures: access log and metrics on. The access
    lines go to a file, as they would to journald or a container's log, not to /dev/null."""
    port = free_port()
    log = work / f"{name}-{port}.log"
    command = [sys.executable, "-m", "autoconfig", "serve", "--settings", str(settings)]
    command += ["--port", str(port), "--workers", str(workers)]
    process = spawn(command, log, {"AUTOCONFIG_STATE_DIR": str(work / "state")})
    return Running(name, port, [process], workers, log)


def start_baseline(app: str, answers: Path, workers: int, work: Path) -> Running:
    port = free_port()
    log = work / f"baseline-{app}-{port}.log"
    command = [sys.executable, "-m", "tests.bench.baseline", "--app", app]
    command += ["--port", str(port), "--answers", str(answers)]
    processes = [spawn(command, log) for _ in range(workers)]
    return Running(f"{app} baseline", port, processes, workers, log)


@contextlib.contextmanager
def running(server: Running, ready_path: str) -> Iterator[Running]:
    """The server, once it answers; stopped on the way out, whatever happened."""
    try:
        wait_until_answers(server, ready_path)
        yield server
    finally:
        stop_all(server)


# --- what the kernel says about the processes -----------------------------------------------------------

_PID = re.compile(r"pid=(\d+)")


def ss(*arguments: str) -> list[str]:
    out = subprocess.run(
        ["ss", "-Hn", *arguments], capture_output=True, text=True, check=True, timeout=COMMAND_SECONDS
    ).stdout
    return out.splitlines()


def listeners(port: int) -> list[int]:
    pids = {int(p) for line in ss("-tlp", f"( sport = :{port} )") for p in _PID.findall(line)}
    return sorted(pids)


def log_problems(running: Running, most: int = 5) -> list[str]:
    """The warnings and errors logged since the server was ready (the settings' own warnings come
    before), each said once with its count: a worker that restarted, refused connections or timed out
    requests would make the figures mean something else."""
    counts: dict[str, int] = {}
    with contextlib.suppress(OSError), running.log.open("rb") as log:
        log.seek(running.ready_at_byte)
        for line in log.read().decode(errors="replace").splitlines():
            if " WARNING " in line or " ERROR " in line:
                what = re.sub(r"^\S+ \S+ ", "", line.strip())[:200]  # without its date and time
                what = re.sub(r"(worker|process) \[?\d+\]?", r"\1 N", what)
                counts[what] = counts.get(what, 0) + 1
    return [f"{n} x {what}" for what, n in sorted(counts.items(), key=lambda item: -item[1])[:most]]


def answering_worker(port: int, timeout: float = 5.0) -> int | None:
    """The pid of the worker that answered a `/healthz` on a new connection (the kernel picks it), read
    from `ss` while the connection is still open; None when nothing answered."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
            if not sock.recv(4096).startswith(b"HTTP/1.1 "):
                return None
            mine = sock.getsockname()[1]
            pids = {
                int(p)
                for line in ss("-tnp", f"( sport = :{port} and dport = :{mine} )")
                for p in _PID.findall(line)
            }
    except OSError:
        return None
    return pids.pop() if len(pids) == 1 else None


def log_size(running: Running) -> int:
    try:
        return running.log.stat().st_size
    except OSError:
        return 0


def log_between(running: Running, start: int, end: int) -> str:
    """What the service wrote to its standard output and error between two sizes of its log."""
    with contextlib.suppress(OSError), running.log.open("rb") as log:
        log.seek(start)
        return log.read(max(0, end - start)).decode(errors="replace")
    return ""


# `date client "METHOD target" status time`; "- -" when the request was refused before its head was read
_ACCESS = re.compile(r'^\S+ \S+ "[^"\n]*" \d{3} ')
_LIFECYCLE = re.compile(
    r"Started server process|application startup|worker \[?\d+\]? .*(killed|exited)", re.I
)
_RECORD = re.compile(r"\n(?=\d{4}-\d\d-\d\d[ T]\d)")


@dataclass
class Logged:
    total: int = 0  # bytes, less the normal traffic's access lines
    access: int = 0  # the attackers' access lines
    lifecycle: int = 0  # workers' deaths and starts
    excess: int = 0  # anything else, beyond the first line of each condition in each worker
    conditions: Counter[str] = field(default_factory=Counter)


def account(normal: re.Pattern[str], text: str, workers: int = 1) -> Logged:
    """A stretch of the service's log, by kind: what matches `normal` (the access lines of ordinary
    traffic) is left out; a record is a dated line and the lines that continue it (a traceback). The
    lines carry no pid: each condition's first `workers` lines are taken as each worker's first."""
    logged = Logged()
    firsts: Counter[str] = Counter()
    for record in filter(None, _RECORD.split(text)):
        size = len(record.encode()) + 1
        if normal.match(record):
            continue
        logged.total += size
        if _ACCESS.match(record):
            logged.access += size
        elif _LIFECYCLE.search(record.split("\n", 1)[0]):
            logged.lifecycle += size
        else:
            first = record.split("\n", 1)[0]
            condition = re.sub(r"\d+", "N", re.sub(r"^\S+ \S+ ", "", first))[:160]
            logged.conditions[condition] += 1
            logged.excess += size - (len(first.encode()) + 1 if firsts[condition] < workers else 0)
            firsts[condition] += 1
    return logged


def rss_mb(pid: int) -> float:
    """Resident memory (VmRSS) of one process, in MB; NaN once it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return float("nan")
    found = re.search(r"^VmRSS:\s+(\d+) kB", status, flags=re.M)
    return int(found.group(1)) / 1024 if found else float("nan")


def loaded_libraries(pid: int) -> str:
    """The shared objects a process has mapped (its /proc maps), to tell which event loop and HTTP
    parser it runs when it does not say."""
    try:
        return Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return ""


@contextlib.contextmanager
def stopped_on_signals() -> Iterator[None]:
    """SIGTERM and SIGHUP end the benchmark as Ctrl-C does: through every `finally`, which stop what
    was started."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    previous = {s: signal.signal(s, interrupt) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def problems_said(said: list[str]) -> list[str]:
    """The lines that close a table: what the service's log said while it was measured."""
    heading = "Warnings and errors in the service's log while measuring:"
    return ["", heading + (" none" if not said else ""), *said]
