"""The random-domain flood: new customer domains, each a lookup, against the lookup cap and the MX cache,
while a second client measures a configured domain's Thunderbird document.

    .venv/bin/python -m tests.bench.bench --flood [SECONDS]   # each measuring run, 10 s by default

The lab of tests/bench/hosted.py (2 workers, max_in_flight 16, cache_entries 1000, a 1 s deadline). Each
round runs three phases, in turning order:

- alone: the measuring client only;
- NXDOMAIN: wrk on 32 connections asks for user@<new name>.flood.test on Host
  autoconfig.mail.hoster.example, a new domain each request, which Knot answers NXDOMAIN;
- silent: the same, but the relay drops the questions for flood.test, as an attacker's name servers
  that never answer would: each lookup holds its place in the cap for the whole deadline.

The measuring client is wrk on 8 connections for user@hoster.example, started a second after the flood
and ending before it. A third client asks for user@customer.example (a real customer, its MX cached until
the flood evicts it) once every 0.2 s on a new connection, and tallies the answers. The relay counts the
DNS questions (and the most within any 1 s, the deadline, which the cap bounds at 2 x 16 lookups, times
the tries each makes, when no answer comes); each worker's resident memory is sampled every 0.5 s, from
before the first phase to a few seconds after the last.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .hosted import (
    CONFIGURED,
    FLOOD_ZONE,
    HOSTED,
    HOSTER_HOST,
    MAX_IN_FLIGHT,
    RESOLVER_TIMEOUT,
    WORKERS,
    Lab,
    get,
    lab,
)
from .hostile import mb_by_worker
from .load import Run, drive, next_salt, parse_wrk
from .processes import BenchError, log_problems, problems_said, rss_mb, say

PHASES = ("alone", "NXDOMAIN", "silent")
FLOOD_CONNECTIONS = 32
MEASURE_CONNECTIONS = 8
LEAD_SECONDS = 1.0  # the flood runs this long before the measuring client starts, and after it ends
SAMPLE_SECONDS = 0.5
CUSTOMER_PAUSE = 0.2
END_SETTLE_SECONDS = 5.0


def flood_script(salt: int) -> str:
    """wrk's script: a new domain each request, and a tally of the statuses (503s with Retry-After apart)."""
    target = f"{THUNDERBIRD_TARGET}?emailaddress=user@f{salt}t"
    return (
        f'wrk.headers["Host"] = "{HOSTER_HOST}"\n'
        "local threads = {}\n"
        "function setup(thread)\n"
        "  table.insert(threads, thread)\n"
        "  thread:set('id', #threads)\n"
        "end\n"
        "local counter = 0\n"
        "statuses = {}\n"
        "function request()\n"
        "  counter = counter + 1\n"
        f'  return wrk.format(nil, "{target}" .. id .. "n" .. counter .. ".{FLOOD_ZONE}")\n'
        "end\n"
        "function response(status, headers, body)\n"
        "  local key = tostring(status)\n"
        "  if status == 503 then\n"
        "    key = '503 without Retry-After'\n"
        "    for name, _ in pairs(headers) do\n"
        "      if string.lower(name) == 'retry-after' then key = '503' end\n"
        "    end\n"
        "  end\n"
        "  statuses[key] = (statuses[key] or 0) + 1\n"
        "end\n"
        "function done(summary, latency, requests)\n"
        "  for _, thread in ipairs(threads) do\n"
        "    for key, n in pairs(thread:get('statuses')) do\n"
        "      io.write(string.format('status %s: %d\\n', key, n))\n"
        "    end\n"
        "  end\n"
        "end\n"
    )


THUNDERBIRD_TARGET = CONFIGURED.path


@dataclass
class PhaseRun:
    phase: str
    measured: Run
    flood: Run | None = None
    statuses: Counter[str] = field(default_factory=Counter)  # the flood's answers
    questions: int = 0
    most_in_deadline: int = 0  # DNS questions within any RESOLVER_TIMEOUT seconds
    most_waiting: int = 0  # questions Knot had not answered yet, at most (NXDOMAIN phase)
    customer: Counter[str] = field(default_factory=Counter)
    peak: dict[int, float] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["measured"] = self.measured.__dict__ | {"spread": None}
        out["flood"] = self.flood.__dict__ | {"spread": None} if self.flood else None
        return out


@dataclass
class Watch:
    """What runs beside the phases: the memory sampler and the real customer's client."""

    lab: Lab
    current: PhaseRun | None = None
    start: dict[int, float] = field(default_factory=dict)
    peak: dict[int, float] = field(default_factory=dict)
    latest: dict[int, float] = field(default_factory=dict)
    stop: threading.Event = field(default_factory=threading.Event)

    def sample(self) -> None:
        while not self.stop.wait(SAMPLE_SECONDS):
            self.latest = {pid: rss_mb(pid) for pid in self.lab.service.workers()}
            for peaks in (self.peak, self.current.peak if self.current else {}):
                for pid, mb in self.latest.items():
                    peaks[pid] = max(mb, peaks.get(pid, 0.0))

    def customer(self) -> None:
        while not self.stop.wait(CUSTOMER_PAUSE):
            try:
                status = str(get(self.lab.service, HOSTED)[0])
            except OSError as exc:
                status = type(exc).__name__
            if self.current is not None:
                self.current.customer[status] += 1


def run_phase(watch: Watch, phase: str, seconds: float, work: Path) -> PhaseRun:
    relay = watch.lab.relay
    relay.silent = phase == "silent"
    relay.reset_most_waiting()
    start = relay.count()
    flood = None
    if phase != "alone":
        script = work / f"flood-{next_salt()}.lua"
        script.write_text(flood_script(next_salt()), encoding="utf-8")
        length = round(seconds + 2 * LEAD_SECONDS)
        command = ["wrk", "-t2", f"-c{FLOOD_CONNECTIONS}", f"-d{length}s", "--latency", "-s", str(script)]
        flood = subprocess.Popen([*command, watch.lab.service.url], stdout=subprocess.PIPE, text=True)
        time.sleep(LEAD_SECONDS)
    try:
        measured = drive(
            watch.lab.service.url, CONFIGURED, seconds, MEASURE_CONNECTIONS, work=work, salt=next_salt()
        )
        out = flood.communicate(timeout=seconds + 60)[0] if flood else ""
    finally:
        if flood and flood.poll() is None:
            flood.kill()
    end = relay.count()
    result = watch.current or PhaseRun(phase, measured)
    result.measured = measured
    if flood is not None:
        result.flood = parse_wrk(out)
        for key, n in re.findall(r"^status (.+): (\d+)$", out, re.M):  # a line per wrk thread
            result.statuses[key] += int(n)
    result.questions = end.questions - start.questions
    result.most_in_deadline = relay.most_in_window(start, end, RESOLVER_TIMEOUT)
    result.most_waiting = relay.most_waiting
    return result


def run(args: argparse.Namespace, work: Path) -> tuple[list[PhaseRun], Watch, list[str]]:
    runs: list[PhaseRun] = []
    with lab(work) as hoster:
        watch = Watch(hoster)
        if get(hoster.service, HOSTED)[0] != 200 or get(hoster.service, CONFIGURED)[0] != 200:
            raise BenchError("the lab does not answer the customer or the configured domain with 200")
        time.sleep(2)  # the workers' start-up allocations settle
        watch.start = {pid: rss_mb(pid) for pid in hoster.service.workers()}
        threads = [threading.Thread(target=t, daemon=True) for t in (watch.sample, watch.customer)]
        for thread in threads:
            thread.start()
        try:
            for round_ in range(args.rounds):
                turn = round_ % len(PHASES)
                for phase in PHASES[turn:] + PHASES[:turn]:
                    watch.current = PhaseRun(phase, measured=Run(0, 0, 0, 0, 0))
                    done = run_phase(watch, phase, args.flood, work)
                    watch.current = None
                    runs.append(done)
                    say(
                        f"  flood round {round_ + 1}, {phase}: configured {done.measured.rps:,.0f} req/s, "
                        f"{done.questions} DNS questions, flood {dict(done.statuses)}"
                    )
                    time.sleep(RESOLVER_TIMEOUT + 0.5)  # the last lookups end before the next phase
            time.sleep(END_SETTLE_SECONDS)
        finally:
            watch.stop.set()
            for thread in threads:
                thread.join(timeout=15)
        problems = log_problems(hoster.service)
    return runs, watch, problems


# --- the table -------------------------------------------------------------------------------------------


def _median(values: list[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def table(runs: list[PhaseRun], watch: Watch) -> list[str]:
    alone = [r for r in runs if r.phase == "alone"]
    lines = [
        "| phase | configured req/s | ÷ alone (paired) | configured p50 / p99 ms | configured errors "
        "| flood req/s | flood answers | DNS questions | most in any 1 s | customer's answers |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for phase in PHASES:
        mine = [r for r in runs if r.phase == phase]
        paired = _median([r.measured.rps / a.measured.rps for r, a in zip(mine, alone, strict=True)])
        p50, p99 = (_median([getattr(r.measured, f) for r in mine]) for f in ("p50_ms", "p99_ms"))
        rps = _median([r.measured.rps for r in mine])
        errors = sum(r.measured.errors for r in mine)
        floods = [r.flood.rps for r in mine if r.flood]
        statuses = sum((r.statuses for r in mine), Counter())
        total = sum(statuses.values())
        answers = ", ".join(f"{k} {n / total:.1%}" for k, n in sorted(statuses.items())) if total else "-"
        customer = sum((r.customer for r in mine), Counter())
        lines.append(
            f"| {phase} | {rps:,.0f} | {paired:.0%} | {p50:.2f} / {p99:.2f} | {errors} "
            f"| {_median(floods):,.0f} | {answers} | {sum(r.questions for r in mine):,} "
            f"| {max(r.most_in_deadline for r in mine)} | {dict(sorted(customer.items()))} |"
        )
    bound = WORKERS * MAX_IN_FLIGHT
    peaks = "; ".join(f"{r.phase} {mb_by_worker(r.peak)}" for r in runs)
    return [
        *lines,
        "",
        f"- the cap: at most {bound} lookups under way ({WORKERS} workers x max_in_flight {MAX_IN_FLIGHT}),"
        f" so, when none is answered, at most {bound} x the tries a lookup makes within its"
        f" {RESOLVER_TIMEOUT:g} s deadline (a question each) in any {RESOLVER_TIMEOUT:g} s",
        f"- questions Knot had not answered yet, at most (NXDOMAIN phases): "
        f"{max((r.most_waiting for r in runs if r.phase == 'NXDOMAIN'), default=0)}",
        f"- workers' resident memory: start {mb_by_worker(watch.start)}, peak {mb_by_worker(watch.peak)}, "
        f"end {mb_by_worker(watch.latest)} ({END_SETTLE_SECONDS:g} s after the last phase)",
        f"- peaks by phase: {peaks}",
    ]


def run_flood(args: argparse.Namespace, work: Path, report: dict[str, Any]) -> None:
    runs, watch, problems = run(args, work)
    what = f"flood wrk {FLOOD_CONNECTIONS} connections, measuring wrk {MEASURE_CONNECTIONS} connections"
    print(f"- {WORKERS} workers; {what}; {args.rounds} rounds x {args.flood:g} s per phase\n")
    print("\n".join(table(runs, watch) + problems_said(problems)))
    report["flood"] = {
        "runs": [r.as_json() for r in runs],
        "rss_start": watch.start,
        "rss_peak": watch.peak,
        "rss_end": watch.latest,
    }
