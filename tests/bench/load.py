"""Load with wrk, and what the kernel says about who answered it.

wrk keeps its connections open (keep-alive) for the whole run, so which worker accepted which
connection decides how the work is shared: `ss` is asked, near the middle and near the end of each
run, for the server's established connections on the port, with their owner's pid and the bytes
each has sent. The bytes sent per worker, over the same answer, are its share of the answers.
"""

from __future__ import annotations

import re
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from .endpoints import Endpoint
from .processes import BenchError, ss

WRK_THREADS = 2
_salt = int(time.time()) % 100_000


def next_salt() -> int:
    """A number for the next run's script: one sequence for the whole benchmark, so that every run's
    new people are new, and a cycle of addresses starts where no earlier run left the caches warm."""
    global _salt  # noqa: PLW0603
    _salt += 1
    return _salt


@dataclass(frozen=True)
class Share:
    """One worker's part of a run: connections it holds, bytes it sent on them."""

    connections: int
    bytes_sent: int


@dataclass
class Run:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    requests: int
    spread: dict[int, Share] = field(default_factory=dict)  # by pid


def drive(url: str, endpoint: Endpoint, duration: float, connections: int, *, work: Path, salt: int) -> Run:
    """One wrk run against `url`, its figures, and the workers' shares of it."""
    script = work / f"{endpoint.key}-{salt}.lua"
    script.write_text(endpoint.lua(salt), encoding="utf-8")
    seconds = max(1, round(duration))
    command = [
        "wrk",
        f"-t{WRK_THREADS}",
        f"-c{connections}",
        f"-d{seconds}s",
        "--latency",
        "-s",
        str(script),
        url,
    ]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as wrk:
        try:
            spread = _sample_spread(port_of(url), wrk, seconds)
            out, err = wrk.communicate(timeout=seconds + 30)
        except BaseException:
            wrk.kill()
            raise
    if wrk.returncode != 0:
        raise BenchError(f"wrk failed ({wrk.returncode}) on {url}: {err.strip()}")
    run = parse_wrk(out)
    run.spread = spread
    return run


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1].split("/", 1)[0])


def _sample_spread(port: int, wrk: subprocess.Popen[str], seconds: int) -> dict[int, Share]:
    """The last of two looks at the connections, while wrk still holds them all: a connection's bytes
    only grow, so the later look counts more of the run."""
    started = time.monotonic()
    spread: dict[int, Share] = {}
    for moment in (seconds / 2, max(seconds / 2, seconds - 0.4)):
        time.sleep(max(0.0, started + moment - time.monotonic()))
        if wrk.poll() is not None:
            break
        spread = connections_by_pid(port) or spread
    return spread


def connections_by_pid(port: int) -> dict[int, Share]:
    """Established connections on the server's side of `port`, summed by the pid that owns them."""
    lines = ss("-tpi", "state", "established", f"( sport = :{port} )")
    shares: dict[int, Share] = {}
    for socket_text in _per_socket(lines):
        pid = re.search(r"pid=(\d+)", socket_text)
        sent = re.search(r"bytes_sent:(\d+)", socket_text)
        if pid is None:
            continue
        before = shares.get(int(pid.group(1)), Share(0, 0))
        shares[int(pid.group(1))] = Share(
            before.connections + 1, before.bytes_sent + (int(sent.group(1)) if sent else 0)
        )
    return shares


def _per_socket(lines: list[str]) -> list[str]:
    # ss -i writes each socket's details on the indented line after it.
    sockets: list[str] = []
    for line in lines:
        if line[:1].isspace() and sockets:
            sockets[-1] += " " + line.strip()
        else:
            sockets.append(line)
    return sockets


def parse_wrk(out: str) -> Run:
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in", out)
    if rps is None or total is None:
        raise BenchError(f"cannot read wrk's output:\n{out}")
    errors = 0
    if found := re.search(r"Non-2xx or 3xx responses: (\d+)", out):
        errors += int(found.group(1))
    if found := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out):
        errors += sum(int(g) for g in found.groups())
    return Run(float(rps.group(1)), _latency(out, "50%"), _latency(out, "99%"), errors, int(total.group(1)))


def _latency(out: str, percentile: str) -> float:
    found = re.search(rf"^\s+{re.escape(percentile)}\s+([\d.]+)(us|ms|s)\s*$", out, flags=re.M)
    if found is None:
        return float("nan")
    value, unit = float(found.group(1)), found.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


def spread_text(spread: dict[int, Share], workers: int) -> str:
    """'17/15 conn., 52/48 %': connections, then shares of the bytes answered, by worker, busiest
    first (pids mean nothing from one run to the next). A worker that got nothing counts as 0."""
    if not spread:
        return "(not seen)"
    shares = sorted(spread.values(), key=lambda s: (-s.connections, -s.bytes_sent))
    shares += [Share(0, 0)] * (workers - len(shares))
    total = sum(s.bytes_sent for s in shares) or 1
    connections = "/".join(str(s.connections) for s in shares)
    answered = "/".join(f"{100 * s.bytes_sent / total:.0f}" for s in shares)
    return f"{connections} conn., {answered} %"
