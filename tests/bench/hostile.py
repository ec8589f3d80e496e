"""Hostile mix: four attackers beside normal traffic, one phase each and then all together.

    .venv/bin/python -m tests.bench.bench --hostile [SECONDS]   # each attack's length, 10 s by default
    .venv/bin/python -m tests.bench.hostile [SECONDS]           # the same

One `autoconfig serve --workers 2` on the bundled settings. Normal clients run all along, each request on
a new connection (GETs of Thunderbird's file, autodiscover.json, a guide page and the landing page). After
a warm-up that gives each worker's rest level, each phase runs its attack for SECONDS, then waits up to
`--hostile-settle` seconds (30) for every worker to come back within 10 MB of its rest level:

- heads: connections each sending an endless request head (`X-A: aaaa…`, 64 KiB at a time), a new one
  whenever the service answers or closes;
- pipelining: 40 clients with a 4 KiB receive buffer pipelining `GET /guide/android?emailaddress=…` and
  never reading;
- disconnects: POST /autodiscover/autodiscover.xml announcing 4,000 bytes, sending 100, closing (10,000
  would be refused with 413 before any body is read: the POX limit is 8 KiB);
- kills: SIGKILL one worker, wait until its replacement answers, kill that one, one worker at a time.

Per phase: each worker's peak and settled resident memory, the share of normal requests answered 200
(first try, and with one retry of a GET whose connection failed before any answer, as browsers do), and
the log bytes per attacking request: what the service wrote to stdout and stderr during the phase, less
the access lines of the normal traffic, divided by the attacking requests (kills for the kill phase). The
target counts only what is not an access line and not a worker's death or start, beyond the first line of
each condition. A 431, a 408, a reset or a close is an attacker's expected answer: it is tallied, not an
error. Not part of the test command.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import re
import signal
import socket
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, cast

from .processes import (
    Logged,
    Running,
    account,
    answering_worker,
    log_between,
    log_size,
    rss_mb,
    running,
    say,
    start_service,
)
from .settings_files import PROFILE

WORKERS = 2
PEAK_LIMIT_MB = 150.0
SETTLE_MB = 10.0
WARM_UP_SECONDS = 5.0
SAMPLE_SECONDS = 0.5
TIMEOUT = 10.0  # seconds for a normal request, and for an attacker's connect
HEAD_CONNECTIONS = 8
HEAD_CHUNK = b"a" * 65536
PIPELINERS = 40
PIPELINE_RCVBUF = 4096
DISCONNECTERS = 8
REPLACEMENT_SECONDS = 30.0  # the supervisor's longest pause between starts
NORMAL_CLIENTS = 4
NORMAL_PAUSE = 0.02  # seconds between a client's requests: light traffic, the attackers get the cores
NORMAL = (
    "/mail/config-v1.1.xml?emailaddress=normal.{n}@ac-paris.fr",
    "/autodiscover/autodiscover.json/v1.0/normal.{n}@ac-paris.fr?Protocol=AutodiscoverV1",
    "/guide/ios?email=normal.{n}@ac-paris.fr",
    "/",
)
# Access lines of the normal traffic and of the benchmark's own /healthz: not the attackers'.
NORMAL_ACCESS = re.compile(
    r'^\S+ \S+ "GET (/mail/config-v1\.1\.xml|/autodiscover/autodiscover\.json/|/guide/ios\?|/healthz|/[ "])'
)


@dataclass
class Attack:
    requests: int = 0  # attacking requests
    kills: int = 0
    connections: int = 0
    sent: int = 0  # bytes
    answers: Counter[str] = field(default_factory=Counter)  # what the attackers got back
    replaced_after: list[float] = field(default_factory=list)  # kill phase: seconds to a new answer


@dataclass
class Normal:
    done: int = 0
    first_try: int = 0
    answered: int = 0
    last_failure: str = ""

    def share(self, answered: int) -> float:
        return answered / self.done if self.done else math.nan


@dataclass
class Phase:
    name: str
    rest: dict[int, float]
    attack: Attack = field(default_factory=Attack)
    normal: Normal = field(default_factory=Normal)
    peak: dict[int, float] = field(default_factory=dict)
    settled: dict[int, float] = field(default_factory=dict)
    settle_seconds: float | None = None  # None: not back within the window
    logged: Logged = field(default_factory=Logged)

    def rest_of(self, pid: int) -> float:
        # A replacement worker is held to the rest level of the workers measured at rest.
        return self.rest.get(pid, max(self.rest.values(), default=math.nan))

    def is_settled(self, rss: dict[int, float]) -> bool:
        return len(rss) >= WORKERS and all(mb <= self.rest_of(pid) + SETTLE_MB for pid, mb in rss.items())

    def as_json(self) -> dict[str, Any]:
        return {k: (dict(v.__dict__) if hasattr(v, "__dict__") else v) for k, v in self.__dict__.items()}


@dataclass
class State:
    service: Running
    phase: Phase
    latest: dict[int, float] = field(default_factory=dict)


# --- normal traffic --------------------------------------------------------------------------------------


async def _get(port: int, target: str) -> int:
    """One GET on a new connection, read to its end; its status. ConnectionError before any answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
        line = await reader.readline()
        if not line.startswith(b"HTTP/1.1 "):
            raise ConnectionError("closed before any answer")
        await reader.read()
        return int(line.split()[1])
    finally:
        writer.transport.abort()


async def normal_client(state: State, stop: asyncio.Event, offset: int) -> None:
    n = offset
    while not stop.is_set():
        tally, target = state.phase.normal, NORMAL[n % len(NORMAL)].format(n=n)
        n += 1
        tally.done += 1
        for attempt in (1, 2):
            try:
                status = await asyncio.wait_for(_get(state.service.port, target), TIMEOUT)
            except (ConnectionError, OSError) as exc:
                tally.last_failure = f"GET {target[:40]}: {exc!r}"
                continue  # once more: the request never reached an application
            except TimeoutError:
                tally.last_failure = f"GET {target[:40]}: no answer in {TIMEOUT:g} s"
            else:
                if status == 200:
                    tally.first_try += attempt == 1
                    tally.answered += 1
                else:
                    tally.last_failure = f"GET {target[:40]}: {status}"
            break
        await asyncio.sleep(NORMAL_PAUSE)


async def sampler(state: State, stop: asyncio.Event) -> None:
    while not stop.is_set():
        pids = await asyncio.to_thread(state.service.workers)
        state.latest = {pid: mb for pid in pids if not math.isnan(mb := rss_mb(pid))}
        peak = state.phase.peak
        for pid, mb in state.latest.items():
            peak[pid] = max(mb, peak.get(pid, 0.0))
        await asyncio.sleep(SAMPLE_SECONDS)


# --- the attackers ---------------------------------------------------------------------------------------


def _left(deadline: float) -> float:
    return deadline - time.monotonic()


def _outcome(answer: asyncio.Task[bytes] | None, error: BaseException | None) -> str:
    if answer is not None and answer.done() and not answer.cancelled() and answer.exception() is None:
        line = answer.result()
        return line.split(b" ")[1].decode(errors="replace") if line.startswith(b"HTTP/") else "closed"
    if error is not None and not isinstance(error, TimeoutError):
        return type(error).__name__
    return "no answer"


async def _connect(port: int, rcvbuf: int = 0) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:  # before connecting: the window the client announces follows it
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.setblocking(False)
    try:
        await asyncio.wait_for(asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port)), TIMEOUT)
    except BaseException:
        sock.close()
        raise
    return await asyncio.open_connection(sock=sock)


async def huge_head(service: Running, deadline: float, attack: Attack) -> None:
    """One endless head at a time: a new connection when the service answers, closes or resets."""
    while _left(deadline) > 0:
        answer, error = None, None
        attack.requests += 1
        attack.connections += 1
        try:
            reader, writer = await _connect(service.port)
        except (OSError, TimeoutError) as exc:
            attack.answers[_outcome(None, exc)] += 1
            await asyncio.sleep(0.1)
            continue
        answer = asyncio.create_task(reader.readline())
        try:
            writer.write(b"GET /hostile-head HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A: ")
            while not answer.done() and _left(deadline) > 0:
                writer.write(HEAD_CHUNK)
                await asyncio.wait_for(writer.drain(), max(0.01, _left(deadline)))
                attack.sent += len(HEAD_CHUNK)
            await asyncio.wait({answer}, timeout=0.05)
        except (OSError, TimeoutError) as exc:
            error = exc
        finally:
            attack.answers[_outcome(answer, error)] += 1
            writer.transport.abort()
            answer.cancel()


def _pipelined(n: int) -> bytes:
    return (
        f"GET /guide/android?emailaddress=agent.{n}@ac-paris.fr HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
    )


PIPELINE_BATCH = b"".join(_pipelined(n) for n in range(32))


async def pipeline(service: Running, deadline: float, attack: Attack) -> None:
    """Requests written as fast as the service reads them, answers never read (a new connection when the
    service closes this one)."""
    size = len(PIPELINE_BATCH) // 32
    while _left(deadline) > 0:
        attack.connections += 1
        error: BaseException | None = None
        try:
            _, writer = await _connect(service.port, PIPELINE_RCVBUF)
        except (OSError, TimeoutError) as exc:
            attack.answers[_outcome(None, exc)] += 1
            await asyncio.sleep(0.1)
            continue
        # Nothing read, not even by asyncio into its own buffer: the answers stay in the 4 KiB one.
        cast(asyncio.Transport, writer.transport).pause_reading()
        written = 0
        try:
            while _left(deadline) > 0:
                writer.write(PIPELINE_BATCH)
                written += len(PIPELINE_BATCH)
                await asyncio.wait_for(writer.drain(), max(0.01, _left(deadline)))
        except (OSError, TimeoutError) as exc:
            error = exc
        finally:
            # What still sits in the client's own buffer never reached the service.
            sent = written - writer.transport.get_write_buffer_size()
            attack.sent += sent
            attack.requests += sent // size
            stalled = error is None or isinstance(error, TimeoutError)
            attack.answers["never read" if stalled else _outcome(None, error)] += 1
            writer.transport.abort()


MID_BODY = (
    b"POST /autodiscover/autodiscover.xml HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/xml\r\n"
    b"Content-Length: 4000\r\n\r\n<Autodiscover>" + b"x" * 86
)


async def disconnect_mid_body(service: Running, deadline: float, attack: Attack) -> None:
    while _left(deadline) > 0:
        attack.requests += 1
        attack.connections += 1
        try:
            _, writer = await _connect(service.port)
            writer.write(MID_BODY)
            await writer.drain()
            attack.sent += len(MID_BODY)
            await asyncio.sleep(0.01)  # the service has read the head and started on the body
            writer.close()
            with contextlib.suppress(OSError):
                await asyncio.wait_for(writer.wait_closed(), 1)
            attack.answers["closed mid-body"] += 1
        except (OSError, TimeoutError) as exc:
            attack.answers[_outcome(None, exc)] += 1


async def kill_workers(service: Running, deadline: float, attack: Attack) -> None:
    """SIGKILL a worker; once a replacement answers, SIGKILL that one: soon after it started. The last
    replacement is awaited past the deadline (REPLACEMENT_SECONDS at most): its delay is the back-off."""
    victim: int | None = None
    while _left(deadline) > 0:
        before = await asyncio.to_thread(service.workers)
        if len(before) < WORKERS:  # one at a time
            await asyncio.sleep(0.1)
            continue
        victim = victim if victim in before else before[0]
        with contextlib.suppress(ProcessLookupError):
            os.kill(victim, signal.SIGKILL)
        killed, attack.kills = time.monotonic(), attack.kills + 1
        victim = None
        while victim is None and _left(deadline + REPLACEMENT_SECONDS) > 0:
            new = [p for p in await asyncio.to_thread(service.workers) if p not in before]
            if new and await asyncio.to_thread(answering_worker, service.port, 2.0) == new[0]:
                victim = new[0]
                attack.replaced_after.append(time.monotonic() - killed)
            else:
                await asyncio.sleep(0.05)
        attack.answers["replaced" if victim else f"not replaced in {REPLACEMENT_SECONDS:g} s"] += 1


Attacker = Callable[[Running, float, Attack], Awaitable[None]]
PHASES: dict[str, list[Attacker]] = {
    "heads": [huge_head] * HEAD_CONNECTIONS,
    "pipelining": [pipeline] * PIPELINERS,
    "disconnects": [disconnect_mid_body] * DISCONNECTERS,
    "kills": [kill_workers],
}
PHASES["all together"] = [a for attackers in list(PHASES.values()) for a in attackers]


# --- phases ----------------------------------------------------------------------------------------------


async def run_phase(state: State, name: str, seconds: float, settle: float) -> Phase:
    phase = Phase(name, state.phase.rest)
    state.phase = phase
    start = log_size(state.service)
    deadline = time.monotonic() + seconds
    say(f"hostile: {name} for {seconds:g} s")
    await asyncio.gather(*(attacker(state.service, deadline, phase.attack) for attacker in PHASES[name]))
    stopped = time.monotonic()
    while (waited := time.monotonic() - stopped) < settle:
        await asyncio.sleep(SAMPLE_SECONDS)
        if waited >= 2 and phase.is_settled(state.latest):
            phase.settle_seconds = waited
            break
    phase.settled = dict(state.latest)
    phase.logged = account(NORMAL_ACCESS, log_between(state.service, start, log_size(state.service)), WORKERS)
    normal = f"{phase.normal.answered:,} of {phase.normal.done:,}"
    say(f"  peak {mb_by_worker(phase.peak)}, settled {mb_by_worker(phase.settled)}, normal answered {normal}")
    return phase


async def hold(service: Running, seconds: float, settle: float) -> list[Phase]:
    state = State(service, Phase("rest", {}))
    stop = asyncio.Event()
    tasks = [asyncio.create_task(sampler(state, stop))]
    tasks += [asyncio.create_task(normal_client(state, stop, i * 100_000)) for i in range(NORMAL_CLIENTS)]
    try:
        await asyncio.sleep(WARM_UP_SECONDS)
        rest = state.phase
        rest.rest = dict(state.latest)
        rest.settled = dict(state.latest)
        say(f"hostile: workers at rest {mb_by_worker(rest.rest)}")
        return [rest] + [await run_phase(state, name, seconds, settle) for name in PHASES]
    finally:
        stop.set()
        await asyncio.wait(tasks, timeout=TIMEOUT + 1)
        for task in tasks:
            task.cancel()


def run(args: Any, work: Any) -> list[Phase]:
    with running(start_service(PROFILE, WORKERS, work, "hostile"), "/healthz") as service:
        time.sleep(2)  # the workers' start-up allocations settle
        return asyncio.run(hold(service, args.hostile, args.hostile_settle))


def mb_by_worker(values: dict[int, float]) -> str:
    shown = [f"{mb:.1f}" for _, mb in sorted(values.items())]
    more = f" (+{len(shown) - 4} more)" if len(shown) > 4 else ""
    return " ; ".join(shown[:4]) + more + " MB" if shown else "-"


def main() -> None:
    from .bench import main as bench_main  # noqa: PLC0415 - bench imports this module

    rest = sys.argv[1:]
    seconds = [rest.pop(0)] if rest and rest[0].replace(".", "", 1).isdigit() else []
    bench_main(["--hostile", *seconds, *rest])


if __name__ == "__main__":
    main()
