"""Benchmark: the service against constant apps on the fastest uvicorn stack, driven by wrk on loopback.

    .venv/bin/python -m tests.bench.bench [--duration 5] [--rounds 3] [--workers 1 2] [--json FILE]
    .venv/bin/python -m tests.bench.bench --growth [--duration 5] [--rounds 3]
    .venv/bin/python -m tests.bench.bench --soak [SECONDS]        # 600 by default
    .venv/bin/python -m tests.bench.bench --hostile [SECONDS]     # 10 s per attack by default
    .venv/bin/python -m tests.bench.bench --hosted [--duration 5] [--rounds 3]
    .venv/bin/python -m tests.bench.bench --flood [SECONDS] [--rounds 3]   # 10 s per phase by default

The main table. For 1 and then 2 worker processes: `autoconfig serve --workers N` on the bundled
settings (profiles/ac-paris.toml, development ECDSA P-256 signer; access log and metrics on, the
defaults), and two baselines with as many processes, each on its own SO_REUSEPORT socket as the
service's workers: a constant Starlette app and a bare ASGI app, both on uvicorn with uvloop and
httptools (tests/bench/baseline.py), answering the very bytes and headers the service answered first.
For each endpoint, rounds alternate the three (the order turning each round, so that the machine's
drift hits all alike); medians are printed with the ratios and the issue's targets, which are shares of
the Starlette baseline at 2 workers. During each run `ss` tells how wrk's keep-alive connections, and
so the answers, were split between the workers.

--growth, --soak, --hostile, --hosted and --flood: see tests/bench/growth.py, soak.py, hostile.py, hosted.py
and flood.py (the last two: knotd too).

Needs `wrk` (not for --soak and --hostile) and `ss` (Debian: wrk, iproute2), uvloop and httptools in the
venv; slapd for --growth.
wrk shares the machine's cores with the servers: ratios matter, absolute figures drift. Progress goes to
standard error, tables to standard output. Not part of the test command.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from . import flood, growth, hosted, hostile, soak
from .baseline import Answer, save_answers
from .endpoints import ENDPOINTS, THUNDERBIRD_PATH, Endpoint
from .load import WRK_THREADS, Run, drive, next_salt, spread_text
from .processes import (
    BenchError,
    Running,
    fetch,
    loaded_libraries,
    log_problems,
    running,
    say,
    start_baseline,
    start_service,
    stopped_on_signals,
)
from .settings_files import PROFILE

ROLES = ("service", "starlette", "raw")
COMPARED_HEADERS = ("content-type", "cache-control")
SIZE_SLACK = 4  # bytes: an ECDSA signature's DER encoding is a byte or two shorter or longer, at random
# The server writes these itself, per request and connection (urllib asks for `connection: close`,
# which a constant answer must not repeat to wrk's keep-alive connections).
NOT_CAPTURED = frozenset({"date", "content-length", "connection", "keep-alive", "transfer-encoding"})


# --- the machine and the stacks -------------------------------------------------------------------------


def machine() -> list[str]:
    return [
        f"- machine: {os.cpu_count()} cores ({_cpu_model()}), Linux {platform.release()}; {load_average()}",
        f"- Python {platform.python_version()}; " + ", ".join(f"{p} {_version(p)}" for p in _PACKAGES),
        f"- {_wrk_version()}; baselines on uvicorn with loop=uvloop, http=httptools",
    ]


_PACKAGES = ("uvicorn", "uvloop", "httptools", "h11", "starlette")


def load_average() -> str:
    """The machine's load average: other work on the same cores (a test suite) skews the absolute
    figures, and the rounds' alternation only evens it out between the servers."""
    try:
        one, five, fifteen = Path("/proc/loadavg").read_text().split()[:3]
    except (OSError, ValueError):
        return "load average unknown"
    return f"load average {one} {five} {fifteen} (1, 5, 15 min)"


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "unknown CPU"


def _wrk_version() -> str:
    if shutil.which("wrk") is None:
        return "wrk not installed"
    done = subprocess.run(["wrk", "-v"], capture_output=True, text=True, timeout=10, check=False)
    return (done.stdout + done.stderr).splitlines()[0].split(" Copyright")[0].strip()


def service_stack(service: Running) -> str:
    """Which event loop and HTTP implementation the service's workers run. Asked of the service first;
    when it does not say, the libraries its workers have loaded tell (uvicorn's loop="auto" imports uvloop
    only to use it, and the service picks httptools whenever it can import it)."""
    _, _, body = fetch(service.url + "/healthz")
    with contextlib.suppress(ValueError):
        said = {k: v for k, v in json.loads(body).items() if k in ("server", "runtime", "loop", "http")}
        if said:
            return f"{said} (from /healthz)"
    maps = [loaded_libraries(pid) for pid in service.workers()]
    if not maps or not all(maps):
        return "unknown"
    loop = "uvloop" if all("/uvloop/" in m for m in maps) else "asyncio"
    http = "httptools" if all("/httptools/" in m for m in maps) else "h11"
    return (
        f"unknown from the service itself (it does not say); its workers have loaded loop={loop}, http={http}"
    )


def detect_stack(work: Path) -> str:
    with running(start_service(PROFILE, 1, work, "stack"), "/healthz") as service:
        return service_stack(service)


# --- capture and checks ---------------------------------------------------------------------------------


def request_of(endpoint: Endpoint) -> tuple[bytes | None, dict[str, str]]:
    if not endpoint.body:
        return None, {}
    return endpoint.body.encode(), {"Content-Type": "text/xml"}


def capture(service: Running, endpoints: Sequence[Endpoint]) -> list[Answer]:
    """The service's answer to each endpoint's first request, for the baselines to serve. Endpoints on
    one path (the same person, a new one) share its first answer: the baselines route by path."""
    answers: dict[tuple[str, str], Answer] = {}
    for endpoint in endpoints:
        path = urlsplit(endpoint.path).path
        if (endpoint.method, path) in answers:
            continue
        data, headers = request_of(endpoint)
        status, got, body = fetch(service.url + endpoint.first, data, headers)
        if status != 200:
            raise BenchError(f"the service answered {status} to {endpoint.method} {endpoint.first}")
        kept = {k: v for k, v in got.items() if k.lower() not in NOT_CAPTURED}
        answers[(endpoint.method, path)] = Answer(endpoint.method, path, status, kept, body)
    return list(answers.values())


def check_same(service: Running, baseline: Running, endpoints: Sequence[Endpoint]) -> None:
    """Refuse to compare with a baseline that answers other bytes: size, type and caching must match."""
    for endpoint in endpoints:
        data, headers = request_of(endpoint)
        mine, theirs = (fetch(s.url + endpoint.first, data, headers) for s in (service, baseline))
        for name in COMPARED_HEADERS:
            if _header(mine[1], name) != _header(theirs[1], name):
                raise BenchError(f"{baseline.name}: {name} differs on {endpoint.name}")
        if mine[0] != theirs[0] or abs(len(mine[2]) - len(theirs[2])) > SIZE_SLACK:
            raise BenchError(
                f"{baseline.name}: {theirs[0]}, {len(theirs[2])} bytes on {endpoint.name}, "
                f"where the service answers {mine[0]}, {len(mine[2])} bytes"
            )


def _header(headers: dict[str, str], name: str) -> str | None:
    return next((v for k, v in headers.items() if k.lower() == name), None)


# --- the paired rounds ----------------------------------------------------------------------------------


@dataclass
class Row:
    endpoint: Endpoint
    workers: int
    runs: dict[str, list[Run]] = field(default_factory=lambda: {role: [] for role in ROLES})

    def median(self, role: str, figure: str = "rps") -> float:
        return float(statistics.median(getattr(r, figure) for r in self.runs[role]))

    def ratio(self, role: str) -> float:
        return self.median("service") / self.median(role)

    def met(self) -> bool | None:
        target = self.endpoint.target
        return None if target is None else self.ratio("starlette") >= target

    def as_json(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint.key,
            "name": self.endpoint.name,
            "workers": self.workers,
            "target": self.endpoint.target,
            "met": self.met(),
            "ratio_starlette": self.ratio("starlette"),
            "ratio_raw": self.ratio("raw"),
            "runs": {
                role: [{**r.__dict__, "spread": _spread_json(r)} for r in runs]
                for role, runs in self.runs.items()
            },
        }


def _spread_json(run: Run) -> dict[str, dict[str, int]]:
    return {str(pid): share.__dict__ for pid, share in run.spread.items()}


def paired(
    endpoint: Endpoint, servers: dict[str, Running], workers: int, args: argparse.Namespace, work: Path
) -> Row:
    row = Row(endpoint, workers)
    if args.warmup:
        for server in servers.values():
            drive(server.url, endpoint, args.warmup, args.connections, work=work, salt=next_salt())
    for round_ in range(args.rounds):
        turn = round_ % len(ROLES)
        for role in ROLES[turn:] + ROLES[:turn]:
            run = drive(
                servers[role].url, endpoint, args.duration, args.connections, work=work, salt=next_salt()
            )
            row.runs[role].append(run)
            say(f"  {workers} worker(s), {endpoint.name}, round {round_ + 1}: {role} {run.rps:,.0f} req/s")
    return row


def measure_workers(
    workers: int, args: argparse.Namespace, work: Path, problems: dict[str, list[str]]
) -> list[Row]:
    endpoints = [e for e in ENDPOINTS if not args.only or e.key in args.only]
    with contextlib.ExitStack() as stack:
        service = stack.enter_context(running(start_service(PROFILE, workers, work), "/healthz"))
        folder = work / f"answers-{workers}"
        save_answers(folder, capture(service, endpoints))
        servers = {"service": service}
        for app in ("starlette", "raw"):
            baseline = start_baseline(app, folder, workers, work)
            servers[app] = stack.enter_context(running(baseline, THUNDERBIRD_PATH))
            check_same(service, servers[app], endpoints)
        say(f"{workers} worker(s): service {service.workers()}, baselines ready")
        rows = [paired(endpoint, servers, workers, args, work) for endpoint in endpoints]
        problems[f"{workers} worker(s)"] = log_problems(service)
        return rows


# --- tables ---------------------------------------------------------------------------------------------


def main_table(rows: list[Row]) -> list[str]:
    lines = [
        "| endpoint | workers | service req/s | Starlette req/s | raw ASGI req/s | service ÷ Starlette "
        "| service ÷ raw ASGI | service p50 / p99 ms | errors | target (2 workers), met? |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        errors = sum(r.errors for runs in row.runs.values() for r in runs)
        latency = f"{row.median('service', 'p50_ms'):.2f} / {row.median('service', 'p99_ms'):.2f}"
        lines.append(
            f"| {row.endpoint.name} | {row.workers} | {row.median('service'):,.0f} "
            f"| {row.median('starlette'):,.0f} | {row.median('raw'):,.0f} | {row.ratio('starlette'):.0%} "
            f"| {row.ratio('raw'):.0%} | {latency} | {errors} | {_target(row)} |"
        )
    return lines


def _target(row: Row) -> str:
    if row.endpoint.target is None:
        return ""
    verdict = "met" if row.met() else "**not met**"
    return f"≥ {row.endpoint.target:.0%}: {verdict}"


def spread_table(rows: list[Row]) -> list[str]:
    lines = [
        "| endpoint | workers | service | Starlette baseline | raw ASGI baseline |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        if row.workers < 2:
            continue
        cells = [" ; ".join(spread_text(r.spread, row.workers) for r in row.runs[role]) for role in ROLES]
        lines.append(f"| {row.endpoint.name} | {row.workers} | " + " | ".join(cells) + " |")
    return lines


# --- modes ----------------------------------------------------------------------------------------------


def run_main(args: argparse.Namespace, work: Path, report: dict[str, Any]) -> None:
    rows: list[Row] = []
    problems: dict[str, list[str]] = {}
    for workers in args.workers:
        rows += measure_workers(workers, args, work, problems)
    runs = f"{args.rounds} rounds x {args.duration:g} s (after {args.warmup:g} s of warm-up), medians"
    print(f"- wrk: {WRK_THREADS} threads, {args.connections} keep-alive connections; {runs}\n")
    print("\n".join(main_table(rows)))
    print("\nHow wrk's connections and the answers split between the workers, round by round:\n")
    print("\n".join(spread_table(rows)))
    print_problems(problems)
    report["main"] = [row.as_json() for row in rows]
    report["service_log"] = problems


def print_problems(problems: dict[str, list[str]]) -> None:
    print("\nWarnings and errors in the service's log while measuring:", end="")
    print(" none" if not any(problems.values()) else "")
    for what, lines in problems.items():
        for line in lines:
            print(f"- {what}: {line}")


def run_growth(args: argparse.Namespace, work: Path, report: dict[str, Any]) -> None:
    grown = growth.run(args, work)
    runs = f"{args.rounds} runs x {args.duration:g} s, medians"
    print(f"- {growth.WORKERS} workers; wrk {args.connections} keep-alive connections, {runs}\n")
    print("\n".join(growth.table(grown)))
    report["growth"] = [g.as_json() for g in grown]


def run_soak(args: argparse.Namespace, work: Path, report: dict[str, Any]) -> bool:
    soaks = soak.run(args, work)
    load = f"{args.soak_concurrency} clients for {args.soak:g} s, memory sampled every {args.soak_every:g} s"
    print(f"- {soak.WORKERS} workers; {load}\n")
    print("\n".join(soak.table(soaks, args.soak_flat)))
    report["soak"] = [s.as_json() for s in soaks]
    return not soak.failed(soaks, args.soak_flat)


def run_hostile(args: argparse.Namespace, work: Path, report: dict[str, Any]) -> bool:
    phases = hostile.run(args, work)
    normal = f"{hostile.NORMAL_CLIENTS} normal clients"
    print(f"- {hostile.WORKERS} workers; {normal}; each attack {args.hostile:g} s\n")
    print("\n".join(soak.hostile_table(phases, args.hostile_settle)))
    report["hostile"] = [p.as_json() for p in phases]
    return not soak.hostile_failed(phases)


def arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per wrk run (whole seconds)")
    parser.add_argument("--rounds", type=int, default=3, help="runs per server and endpoint (medians)")
    parser.add_argument(
        "--warmup", type=float, default=1.0, help="seconds of wrk before the rounds (0: none)"
    )
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    keys = ", ".join(e.key for e in ENDPOINTS)
    parser.add_argument(
        "--only",
        nargs="*",
        default=[],
        help=f"main table: these endpoints ({keys}); --growth: the dimensions holding one of these words "
        "(addresses, providers, overrides, directory)",
    )
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--growth", action="store_true", help="the growth table instead of the main one")
    mode.add_argument("--soak", type=float, nargs="?", const=600.0, metavar="SECONDS", help="the memory soak")
    mode.add_argument(
        "--hostile", type=float, nargs="?", const=10.0, metavar="SECONDS", help="the hostile mix"
    )
    mode.add_argument("--hosted", action="store_true", help="the hosted-domain row")
    mode.add_argument("--flood", type=float, nargs="?", const=10.0, metavar="SECONDS", help="random domains")
    parser.add_argument(
        "--hostile-settle", type=float, default=30.0, help="seconds for memory to come back after an attack"
    )
    parser.add_argument("--soak-every", type=float, default=10.0, help="seconds between memory samples")
    parser.add_argument("--soak-concurrency", type=int, default=16)
    parser.add_argument("--soak-flat", type=float, default=8.0, help="MB a worker may grow after 1 min")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = arguments(argv)
    for tool in ("ss",) if args.soak is not None or args.hostile is not None else ("wrk", "ss"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is needed: apt-get install {'wrk' if tool == 'wrk' else 'iproute2'}")
    ok = True
    report: dict[str, Any] = {"machine": machine(), "arguments": {k: str(v) for k, v in vars(args).items()}}
    print("\n".join(report["machine"]), flush=True)
    try:
        with stopped_on_signals(), tempfile.TemporaryDirectory(prefix="autoconfig-bench-") as temporary:
            work = Path(temporary)
            report["stack"] = detect_stack(work)
            print(f"- the service's stack: {report['stack']}", flush=True)
            if args.growth:
                run_growth(args, work, report)
            elif args.soak is not None:
                ok = run_soak(args, work, report)
            elif args.hostile is not None:
                ok = run_hostile(args, work, report)
            elif args.hosted:
                hosted.run_row(args, work, report)
            elif args.flood is not None:
                flood.run_flood(args, work, report)
            else:
                run_main(args, work, report)
    except BenchError as exc:
        raise SystemExit(f"benchmark stopped: {exc}") from None
    except KeyboardInterrupt as exc:
        say(f"interrupted ({str(exc) or 'Ctrl-C'}): what the benchmark started is stopped")
        raise SystemExit(130) from None
    finally:
        report["load_at_end"] = load_average()
        print(f"\n- at the end: {report['load_at_end']}")
        if args.json:
            args.json.write_text(json.dumps(report, indent=1, default=str) + "\n", encoding="utf-8")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
