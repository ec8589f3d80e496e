"""Soak: hold load on every endpoint, hostile requests mixed in, and watch errors and each worker's memory.

    .venv/bin/python -m tests.bench.bench --soak [SECONDS]     # 600 by default
    .venv/bin/python -m tests.bench.soak [SECONDS]             # the same

Runs `autoconfig serve --workers 2` twice, on the bundled settings and on 2,000 providers. Each worker's
resident memory (VmRSS) is read at rest, then every `--soak-every` seconds under load from
`--soak-concurrency` clients, each sending in turn a cycle of ordinary and hostile requests with the
status each must get (any other status, timeout or connection error is an error), and at rest again once
the load stops. The cycle's person changes every round, so the caches meet new people all along.
Targets: 80 MB per worker (120 MB with 2,000 providers), and no growth beyond `--soak-flat` MB from the
end of the first minute (or the first sample, for runs shorter than two minutes) to the end.
"""

from __future__ import annotations

import asyncio
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2

from .endpoints import OUTLOOK_BODY
from .hostile import PEAK_LIMIT_MB, SETTLE_MB, Phase, mb_by_worker
from .processes import log_problems, problems_said, rss_mb, running, say, start_service
from .settings_files import PROFILE, generated, with_providers

BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
    '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]>'
    "<Autodiscover><Request><EMailAddress>&d;</EMailAddress></Request></Autodiscover>"
)
XXE = (
    '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    "<Autodiscover><Request><EMailAddress>&x;</EMailAddress></Request></Autodiscover>"
)
WORKERS = 2
WARM_UP_SECONDS = 60.0


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    expected: frozenset[int]
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()


def calls(round_: int) -> list[Call]:
    """One cycle; the person changes every round so that the profile cache sees new people too."""
    person = f"agent.{round_ % 5000}@ac-paris.fr"
    ok, bad, unknown = frozenset({200}), frozenset({400}), frozenset({404})
    return [
        Call("GET", f"/mail/config-v1.1.xml?emailaddress={person}", ok),
        Call(
            "GET",
            "/.well-known/autoconfig/mail/config-v1.1.xml",
            ok,
            headers=(("Host", "autoconfig.ac-paris.fr"),),
        ),
        Call(
            "POST",
            "/Autodiscover/Autodiscover.xml",
            ok,
            OUTLOOK_BODY.encode(),
            (("Content-Type", "text/xml"),),
        ),
        Call("GET", f"/autodiscover/autodiscover.json/v1.0/{person}?Protocol=AutodiscoverV1", ok),
        Call("GET", f"/profile.mobileconfig?email={person}", ok),
        Call("GET", f"/guide/android?email={person}", ok),
        Call("GET", "/", ok),
        Call("GET", "/healthz", ok),
        # Hostile or wrong: each has its one right answer.
        Call("POST", "/autodiscover/autodiscover.xml", ok, BILLION_LAUGHS.encode()),  # Error 600 in a 200
        Call("POST", "/autodiscover/autodiscover.xml", ok, XXE.encode()),
        Call("POST", "/autodiscover/autodiscover.xml", frozenset({413}), b"<a>" + b"x" * 20000 + b"</a>"),
        Call("GET", "/mail/config-v1.1.xml?emailaddress=%3Cscript%3E@ac-paris.fr", bad),
        Call("GET", "/mail/config-v1.1.xml?emailaddress=a%0d%0aSet-Cookie:x@ac-paris.fr", bad),
        Call("GET", "/mail/config-v1.1.xml?emailaddress=" + "a" * 1000 + "@ac-paris.fr", bad),
        Call("GET", "/mail/config-v1.1.xml?emailaddress=someone@example.com", unknown),
        Call("GET", "/static/../autoconfig/web/app.py", unknown),
        Call("GET", "/autodiscover/autodiscover.json?Email=a@ac-paris.fr&Protocol=ActiveSync", bad),
    ]


@dataclass
class Tally:
    done: int = 0
    errors: int = 0
    last_error: str = ""


async def client(base: str, deadline: float, tally: Tally, offset: int) -> None:
    async with httpx2.AsyncClient(base_url=base, timeout=10) as http:
        round_ = offset
        while time.monotonic() < deadline:
            for call in calls(round_):
                try:
                    answer = await http.request(
                        call.method, call.path, content=call.body or None, headers=dict(call.headers)
                    )
                    status = answer.status_code
                except httpx2.HTTPError as exc:
                    status, problem = -1, repr(exc)
                else:
                    problem = f"{call.method} {call.path[:60]} -> {status}"
                tally.done += 1
                if status not in call.expected:
                    tally.errors += 1
                    tally.last_error = problem
            round_ += 1


@dataclass
class Soak:
    """One settings file's soak: memory by worker (MB), in the order of `pids`."""

    label: str
    limit_mb: float
    pids: list[int]
    at_rest: list[float]
    samples: list[tuple[float, list[float]]] = field(default_factory=list)  # (seconds, RSS by worker)
    after: list[float] = field(default_factory=list)
    tally: Tally = field(default_factory=Tally)
    problems: list[str] = field(default_factory=list)  # the service's warnings and errors

    def peak(self) -> list[float]:
        return [
            max(column)
            for column in zip(self.at_rest, *(s for _, s in self.samples), self.after, strict=False)
        ]

    def growth(self) -> float:
        """The most any worker grew from the end of the warm-up to the end of the load."""
        if not self.samples:
            return 0.0
        warm = next((s for t, s in self.samples if t >= WARM_UP_SECONDS), self.samples[0][1])
        end = self.samples[-1][1]
        return max(b - a for a, b in zip(warm, end, strict=False))

    def as_json(self) -> dict[str, Any]:
        return {
            "settings": self.label,
            "limit_mb": self.limit_mb,
            "at_rest_mb": self.at_rest,
            "under_load_mb": [{"seconds": t, "rss_mb": s} for t, s in self.samples],
            "after_load_mb": self.after,
            "requests": self.tally.done,
            "errors": self.tally.errors,
            "last_error": self.tally.last_error,
            "growth_after_warm_up_mb": self.growth(),
            "service_log": self.problems,
        }


async def hold_load(base: str, soak: Soak, seconds: float, concurrency: int, every: float) -> None:
    started = time.monotonic()
    deadline = started + seconds
    tasks = [asyncio.create_task(client(base, deadline, soak.tally, i * 1000)) for i in range(concurrency)]
    try:
        while (left := deadline - time.monotonic()) > 0:
            await asyncio.sleep(min(every, left))
            rss = [rss_mb(pid) for pid in soak.pids]
            elapsed = time.monotonic() - started
            soak.samples.append((elapsed, rss))
            note = f"  last error: {soak.tally.last_error}" if soak.tally.errors else ""
            done = f"{soak.tally.done:9,d} requests {soak.tally.errors} errors"
            say(f"  {elapsed:5.0f} s {done} RSS {_mb(rss)}{note}")
        # The clients finish the request they are in (10 s at most each, their timeout).
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=30)
    finally:
        for task in tasks:
            task.cancel()


def soak_one(label: str, settings: Path, limit_mb: float, args: Any, work: Path) -> Soak:
    with running(start_service(settings, WORKERS, work, "soak"), "/healthz") as service:
        pids = service.workers()
        time.sleep(2)  # the workers' start-up allocations settle
        soak = Soak(label, limit_mb, pids, [rss_mb(pid) for pid in pids])
        say(f"soak, {label}: workers {pids}, at rest {_mb(soak.at_rest)}")
        asyncio.run(hold_load(service.url, soak, args.soak, args.soak_concurrency, args.soak_every))
        time.sleep(5)  # the connections close, and the last answers are freed
        soak.after = [rss_mb(pid) for pid in pids]
        soak.problems = log_problems(service)
    return soak


def run(args: Any, work: Path) -> list[Soak]:
    many = generated(work / "soak-2000", with_providers(2000))
    return [
        soak_one("bundled ac-paris.toml", PROFILE, 80.0, args, work),
        soak_one("2,000 providers", many, 120.0, args, work),
    ]


def table(soaks: list[Soak], flat_mb: float) -> list[str]:
    lines = [
        "| settings | requests | errors | RSS at rest | under load: start / max / end | after the load "
        "| growth after warm-up | target |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for soak in soaks:
        loads = [s for _, s in soak.samples] or [[float("nan")] * len(soak.pids)]
        load = " ; ".join(
            f"{first:.1f} / {max(column):.1f} / {last:.1f}"
            for first, last, column in zip(loads[0], loads[-1], zip(*loads, strict=False), strict=False)
        )
        verdict = met(soak, flat_mb)
        lines.append(
            f"| {soak.label} | {soak.tally.done:,} | {soak.tally.errors} | {_mb(soak.at_rest)} | {load} "
            f"| {_mb(soak.after)} | {soak.growth():+.1f} MB | {verdict} |"
        )
    said = [f"- {soak.label}: {line}" for soak in soaks for line in soak.problems]
    return [*lines, *problems_said(said)]


def met(soak: Soak, flat_mb: float) -> str:
    highest = max(soak.peak(), default=float("nan"))
    size = "met" if highest <= soak.limit_mb else "NOT met"
    flat = "flat" if soak.growth() <= flat_mb else "NOT flat"
    return f"≤ {soak.limit_mb:.0f} MB: {size} (peak {highest:.1f}); {flat} (≤ {flat_mb:g} MB)"


def failed(soaks: list[Soak], flat_mb: float) -> bool:
    return any(
        s.tally.errors or max(s.peak(), default=0.0) > s.limit_mb or s.growth() > flat_mb for s in soaks
    )


def _mb(values: list[float]) -> str:
    return " ; ".join(f"{v:.1f}" for v in values) + " MB" if values else "-"


# --- the hostile mix's table (tests/bench/hostile.py) ---------------------------------------------------


def _verdict(ok: bool) -> str:
    return "met" if ok else "**NOT met**"


def hostile_rows(phase: Phase, settle: float) -> list[tuple[str, str, str, str]]:
    """(what, target, measured, verdict) for one phase."""
    attack, normal, logged = phase.attack, phase.normal, phase.logged
    if phase.name == "rest":
        answered = f"{normal.share(normal.answered):.1%} ({normal.answered:,} of {normal.done:,})"
        return [
            ("RSS per worker at rest", "", mb_by_worker(phase.rest), ""),
            ("normal requests answered", "100 %", answered, _verdict(normal.answered == normal.done)),
        ]
    got = ", ".join(f"{what} x {n:,}" for what, n in attack.answers.most_common(4))
    sent = f"{attack.kills} SIGKILLs; " if attack.kills else ""
    sent += f"{attack.requests:,} attacking requests on {attack.connections:,} connections"
    sent += f", {attack.sent / 2**20:,.1f} MiB; got: {got}"
    if phase.attack.replaced_after:
        gaps = ", ".join(f"{s:.1f}" for s in attack.replaced_after[:12])
        sent += f"; a replacement answered after {gaps} s"
    highest = max(phase.peak.values(), default=math.nan)
    back = (
        f"{mb_by_worker(phase.settled)}, after {phase.settle_seconds:.1f} s"
        if phase.settle_seconds is not None
        else f"{mb_by_worker(phase.settled)} at {settle:g} s"
    )
    per = attack.requests + attack.kills or 1
    said = f"{logged.excess / per:.1f} ({logged.total / per:.1f} in all: {logged.access / per:.1f} in "
    said += f"access lines, {logged.lifecycle / per:.1f} in workers' deaths and starts)"
    share = f"{normal.share(normal.answered):.1%} ({normal.answered:,} of {normal.done:,}; "
    share += f"first try {normal.share(normal.first_try):.1%})"
    return [
        ("attack", "", sent, ""),
        (
            "peak RSS per worker",
            f"< {PEAK_LIMIT_MB:.0f} MB",
            mb_by_worker(phase.peak),
            _verdict(highest < PEAK_LIMIT_MB),
        ),
        (
            "settled RSS per worker",
            f"≤ rest + {SETTLE_MB:.0f} MB within {settle:g} s",
            back,
            _verdict(phase.settle_seconds is not None),
        ),
        ("normal requests answered (one retry)", "100 %", share, _verdict(normal.answered == normal.done)),
        (
            "log bytes per attacking request",
            "0 after the first line per condition",
            said,
            _verdict(logged.excess == 0),
        ),
    ]


def hostile_table(phases: list[Phase], settle: float) -> list[str]:
    lines = ["| phase | what | target | measured | verdict |", "|---|---|---|---|---|"]
    for phase in phases:
        lines += [
            f"| {phase.name} | {what} | {target} | {measured} | {verdict} |"
            for what, target, measured, verdict in hostile_rows(phase, settle)
        ]
    said = [
        f"- {phase.name}: {n} x {what}"
        for phase in phases
        for what, n in phase.logged.conditions.most_common(3)
    ]
    failures = [
        f"- {phase.name}: last failed normal request: {phase.normal.last_failure}"
        for phase in phases
        if phase.normal.answered < phase.normal.done
    ]
    return [*lines, *problems_said(said), *failures]


def hostile_failed(phases: list[Phase]) -> bool:
    return any("NOT met" in row[3] for phase in phases for row in hostile_rows(phase, 0))


def main() -> None:
    from .bench import main as bench_main  # noqa: PLC0415 - bench imports this module

    rest = sys.argv[1:]
    seconds = [rest.pop(0)] if rest and rest[0].replace(".", "", 1).isdigit() else []
    bench_main(["--soak", *seconds, *rest])


if __name__ == "__main__":
    main()
