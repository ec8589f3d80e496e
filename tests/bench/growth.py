"""Growth: how the Thunderbird document's speed, the load time and the workers' memory follow the size of
what the service holds, one dimension at a time, at 2 workers.

- distinct addresses (1, 1,000, 100,000): repeats hit the caches, 100,000 people mostly miss them;
- providers (1, 100, 2,000, two domains each past the Académie);
- rows of the login rule's overrides file (0, 35,000), asked for a person in the file;
- the directory lookup off or on, against a real slapd on loopback (tests/helpers/ldap_server.py), for
  one person (cached after the first search) and for 100,000 (a search each, mostly not found).

Load time is said twice: `autoconfig check` (a process reading and checking the files, Python's start
included) and the time from `autoconfig serve` to every worker answering.
"""

from __future__ import annotations

import contextlib
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.ldap_server import Slapd, slapd_missing

from .endpoints import Endpoint, thunderbird
from .load import Run, drive, next_salt
from .processes import BenchError, fetch, log_problems, problems_said, rss_mb, running, say, start_service
from .settings_files import (
    OVERRIDDEN,
    PROFILE,
    bundled_data,
    generated,
    with_directory,
    with_overrides,
    with_providers,
)

WORKERS = 2
CHECK_SECONDS = 300.0


@dataclass(frozen=True)
class Case:
    dimension: str
    value: str
    endpoint: Endpoint
    settings: Callable[[Path], Path]  # writes the settings in the folder it is given; their path


@dataclass
class Grown:
    case: Case
    check_seconds: float
    ready_seconds: float
    runs: list[Run]
    at_rest: list[float]
    after: list[float] = field(default_factory=list)
    lookups: dict[str, float] = field(default_factory=dict)  # directory lookups by result, all workers
    problems: list[str] = field(default_factory=list)  # the service's warnings and errors

    def rps(self) -> float:
        return statistics.median(r.rps for r in self.runs)

    def as_json(self) -> dict[str, Any]:
        return {
            "dimension": self.case.dimension,
            "value": self.case.value,
            "addresses": self.case.endpoint.addresses,
            "check_seconds": self.check_seconds,
            "ready_seconds": self.ready_seconds,
            "rps": [r.rps for r in self.runs],
            "rps_median": self.rps(),
            "p99_ms": [r.p99_ms for r in self.runs],
            "errors": sum(r.errors for r in self.runs),
            "rss_at_rest_mb": self.at_rest,
            "rss_after_load_mb": self.after,
            "directory_lookups": self.lookups,
            "service_log": self.problems,
        }


# Each builder writes its settings in the folder it is given, and returns the file's path.
Builder = Callable[[Path], Path]


def bundled(folder: Path) -> Path:
    return PROFILE


def providers(count: int) -> Builder:
    return lambda folder: generated(folder, with_providers(count))


def overrides(rows: int) -> Builder:
    return lambda folder: generated(folder, with_overrides(folder, rows) if rows else bundled_data())


def directory(url: Callable[[], str] | None) -> Builder:
    # The bundled data either way, with a certificate of its own: on and off differ by the lookup alone.
    return lambda folder: generated(folder, with_directory(url()) if url else bundled_data())


def cases(directory_url: Callable[[], str]) -> list[Case]:
    """Every row of the table. `directory_url` starts slapd the first time a row needs it."""
    people = {1: "1 address", 100_000: "100,000 addresses"}
    return [
        *(Case("addresses", f"{n:,}", thunderbird(n), bundled) for n in (1, 1_000, 100_000)),
        *(Case("providers", f"{n:,}", thunderbird(1), providers(n)) for n in (1, 100, 2_000)),
        Case("overrides rows", "0", thunderbird(1), overrides(0)),
        Case("overrides rows", "35,000", thunderbird(1, OVERRIDDEN), overrides(35_000)),
        *(Case("directory lookup", f"off, {people[n]}", thunderbird(n), directory(None)) for n in people),
        *(
            Case("directory lookup", f"on, {people[n]}", thunderbird(n), directory(directory_url))
            for n in people
        ),
    ]


def directory_lookups(url: str) -> dict[str, float]:
    """What the directory answered, from /metrics: a lookup that fell back to the rule (directory slow
    or down) is fast for the wrong reason, and must show."""
    _, _, body = fetch(url + "/metrics")
    found = re.findall(
        r'^autoconfig_directory_lookups_total\{result="(\w+)"\} ([\d.e+]+)$', body.decode(), re.M
    )
    return {result: float(count) for result, count in found}


def check_seconds(settings: Path) -> float:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "autoconfig", "check", "--settings", str(settings)],
        capture_output=True,
        text=True,
        timeout=CHECK_SECONDS,
        check=False,
    )
    if done.returncode != 0:
        raise BenchError(f"autoconfig check refused {settings}:\n{done.stdout}{done.stderr}")
    return time.monotonic() - started


def measure(case: Case, folder: Path, args: Any, work: Path) -> Grown:
    settings = case.settings(folder)
    checked = check_seconds(settings)
    with running(start_service(settings, WORKERS, work, "growth"), "/healthz") as service:
        pids = service.workers()
        grown = Grown(case, checked, service.ready_seconds, [], [rss_mb(p) for p in pids])
        if args.warmup:
            drive(service.url, case.endpoint, args.warmup, args.connections, work=work, salt=next_salt())
        for _ in range(args.rounds):
            grown.runs.append(
                drive(
                    service.url, case.endpoint, args.duration, args.connections, work=work, salt=next_salt()
                )
            )
        grown.after = [rss_mb(p) for p in pids]
        grown.lookups = directory_lookups(service.url)
        grown.problems = log_problems(service)
    say(f"growth, {case.dimension} {case.value}: {grown.rps():,.0f} req/s, RSS {grown.after}")
    return grown


@contextlib.contextmanager
def lazy_slapd(work: Path) -> Iterator[Callable[[], str]]:
    """A function that starts slapd the first time it is called, and its URL; slapd stops on the way out."""
    started: list[Slapd] = []

    def url() -> str:
        if not started:
            if (missing := slapd_missing()) is not None:
                raise BenchError(missing)
            try:
                server = Slapd(work / "slapd")  # seeds its database with slapadd
                started.append(server)
                server.start()
            except (pytest.fail.Exception, subprocess.SubprocessError) as exc:
                raise BenchError(f"slapd: {exc}") from None
        return started[0].url

    try:
        yield url
    finally:
        for server in started:
            server.stop()


def run(args: Any, work: Path) -> list[Grown]:
    with lazy_slapd(work) as directory_url:
        rows = [c for c in cases(directory_url) if not args.only or any(w in c.dimension for w in args.only)]
        return [measure(case, work / f"growth-{i}", args, work) for i, case in enumerate(rows)]


def table(grown: list[Grown]) -> list[str]:
    lines = [
        "| dimension | value | `autoconfig check` s | start to answering s | Thunderbird XML req/s "
        "| p99 ms | errors | RSS per worker at rest | RSS per worker after the load | directory lookups |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for g in grown:
        p99 = statistics.median(r.p99_ms for r in g.runs)
        errors = sum(r.errors for r in g.runs)
        lines.append(
            f"| {g.case.dimension} | {g.case.value} | {g.check_seconds:.2f} | {g.ready_seconds:.2f} "
            f"| {g.rps():,.0f} | {p99:.2f} | {errors} | {_mb(g.at_rest)} | {_mb(g.after)} "
            f"| {_lookups(g.lookups)} |"
        )
    said = [f"- {g.case.dimension} {g.case.value}: {line}" for g in grown for line in g.problems]
    return [*lines, *problems_said(said)]


def _lookups(lookups: dict[str, float]) -> str:
    return ", ".join(f"{result} {count:,.0f}" for result, count in sorted(lookups.items()) if count)


def _mb(values: list[float]) -> str:
    return " ; ".join(f"{v:.1f}" for v in values) + " MB"
