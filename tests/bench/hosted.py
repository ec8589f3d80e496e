"""Hosted domains: the Thunderbird document for a customer domain found through its MX, beside the same
document for a domain the settings list, and the constant Starlette baseline.

    .venv/bin/python -m tests.bench.bench --hosted [--duration 5] [--rounds 3]
    .venv/bin/python -m tests.bench.bench --flood [SECONDS]       # see tests/bench/flood.py

The lab: Knot on loopback (tests/helpers/probe_lab.py), authoritative for customer.example (MX 10
mx1.mail.hoster.example, TTL 3600) and flood.test (empty: every name under it is NXDOMAIN); a counting
relay in front of it (tests/bench/dnsrelay.py); `autoconfig serve --workers 2` on profiles/hoster.toml,
its resolver pointed at the relay, with max_in_flight 16, cache_entries 1000 and a 1 s deadline.

The row: GET /mail/config-v1.1.xml?emailaddress=user@customer.example with Host
autoconfig.mail.hoster.example (the name Thunderbird derives from the MX), after a first request that
leaves the MX in each worker's cache; paired, round by round in turning order, with the same request for
user@hoster.example (the hoster's own, listed domain) and with two Starlette baselines answering each
document as a constant. The ratios are medians of each round's ratio: the machine's drift hits a round's
runs alike. The relay says how many DNS questions the service sent while measuring (none, once cached).
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.helpers.probe_lab import knot
from tests.helpers.settings import write_settings

from .baseline import Answer, save_answers
from .dnsrelay import Relay
from .endpoints import THUNDERBIRD_PATH, Endpoint
from .load import Run, drive, next_salt
from .processes import BenchError, Running, fetch, log_problems, problems_said, running, say, start_baseline
from .processes import start_service as start_process

HOSTER = Path(__file__).resolve().parents[2] / "profiles" / "hoster.toml"
WORKERS = 2
HOSTER_HOST = "autoconfig.mail.hoster.example"
CUSTOMER_DOMAIN = "customer.example"
FLOOD_ZONE = "flood.test"
MAX_IN_FLIGHT = 16
CACHE_ENTRIES = 1000
RESOLVER_TIMEOUT = 1.0


def _zone(name: str, *records: str) -> str:
    head = [
        f"{name}. 3600 IN SOA ns.{name}. hostmaster.{name}. 1 3600 600 86400 60",
        f"{name}. 3600 IN NS ns.{name}.",
    ]
    return "\n".join([*head, *records]) + "\n"


ZONES = {
    CUSTOMER_DOMAIN: _zone(CUSTOMER_DOMAIN, f"{CUSTOMER_DOMAIN}. 3600 IN MX 10 mx1.mail.hoster.example."),
    FLOOD_ZONE: _zone(FLOOD_ZONE),
}


def _endpoint(key: str, name: str, person: str) -> Endpoint:
    return Endpoint(key, name, "GET", THUNDERBIRD_PATH, "emailaddress", person=person, host=HOSTER_HOST)


HOSTED = _endpoint("hosted", "Thunderbird XML, hosted domain (MX cached)", f"user@{CUSTOMER_DOMAIN}")
CONFIGURED = _endpoint("configured", "Thunderbird XML, configured domain", "user@hoster.example")
ROLES = ("hosted", "configured", "starlette-hosted", "starlette-configured")


def settings_file(folder: Path, resolver: str) -> Path:
    """profiles/hoster.toml, its resolver the relay, with the small bounds the flood is to hold to."""
    data = tomllib.loads(HOSTER.read_text(encoding="utf-8"))
    data["service"]["resolver"] = {
        "servers": [resolver],
        "timeout": RESOLVER_TIMEOUT,
        "max_in_flight": MAX_IN_FLIGHT,
        "cache_entries": CACHE_ENTRIES,
    }
    return write_settings(folder, data)


@dataclass
class Lab:
    service: Running
    relay: Relay


@contextlib.contextmanager
def lab(work: Path) -> Iterator[Lab]:
    with contextlib.ExitStack() as stack:
        upstream = stack.enter_context(knot(work / "knot", ZONES))
        relay = stack.enter_context(Relay(upstream, FLOOD_ZONE))
        settings = settings_file(work / "hoster", relay.address)
        service = stack.enter_context(running(start_process(settings, WORKERS, work, "hosted"), "/healthz"))
        say(f"hosted: Knot at {upstream}, relay at {relay.address}, service workers {service.workers()}")
        yield Lab(service, relay)


def get(server: Running, endpoint: Endpoint) -> tuple[int, dict[str, str], bytes]:
    return fetch(server.url + endpoint.first, headers={"Host": HOSTER_HOST})


# --- the row --------------------------------------------------------------------------------------------


@dataclass
class HostedRow:
    runs: dict[str, list[Run]] = field(default_factory=lambda: {role: [] for role in ROLES})
    questions: int = 0  # DNS questions the service sent during the warm-up and the rounds
    problems: list[str] = field(default_factory=list)

    def median(self, role: str, figure: str = "rps") -> float:
        return float(statistics.median(getattr(r, figure) for r in self.runs[role]))

    def paired(self, role: str, other: str) -> float:
        """The median of the rounds' ratios of `role` to `other`."""
        return statistics.median(
            a.rps / b.rps for a, b in zip(self.runs[role], self.runs[other], strict=True)
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "runs": {role: [r.__dict__ | {"spread": None} for r in runs] for role, runs in self.runs.items()},
            "hosted_to_configured": self.paired("hosted", "configured"),
            "hosted_to_starlette": self.paired("hosted", "starlette-hosted"),
            "configured_to_starlette": self.paired("configured", "starlette-configured"),
            "dns_questions": self.questions,
        }


def capture(service: Running, endpoint: Endpoint, folder: Path) -> Path:
    status, headers, body = get(service, endpoint)
    if status != 200:
        raise BenchError(f"the service answered {status} to {endpoint.name}")
    if endpoint is HOSTED and f"<domain>{CUSTOMER_DOMAIN}</domain>".encode() not in body:
        raise BenchError(f"the hosted document does not list {CUSTOMER_DOMAIN}")
    kept = {k: v for k, v in headers.items() if k.lower() not in ("date", "content-length", "connection")}
    save_answers(folder, [Answer("GET", THUNDERBIRD_PATH, status, kept, body)])
    return folder


def measure_row(args: argparse.Namespace, work: Path) -> HostedRow:
    row = HostedRow()
    endpoints = {"hosted": HOSTED, "configured": CONFIGURED}
    with lab(work) as hoster, contextlib.ExitStack() as stack:
        servers = {"hosted": hoster.service, "configured": hoster.service}
        for key, endpoint in endpoints.items():
            answers = capture(hoster.service, endpoint, work / f"answers-{key}")
            baseline = start_baseline("starlette", answers, WORKERS, work)
            servers[f"starlette-{key}"] = stack.enter_context(running(baseline, THUNDERBIRD_PATH))
            theirs, mine = get(servers[f"starlette-{key}"], endpoint), get(hoster.service, endpoint)
            if theirs[0] != 200 or abs(len(theirs[2]) - len(mine[2])) > 4:
                raise BenchError(f"the Starlette baseline does not answer {endpoint.name} as the service")
        start = hoster.relay.count()
        for role in ROLES if args.warmup else ():
            endpoint = endpoints[role.removeprefix("starlette-")]
            drive(servers[role].url, endpoint, args.warmup, args.connections, work=work, salt=next_salt())
        for round_ in range(args.rounds):
            turn = round_ % len(ROLES)
            for role in ROLES[turn:] + ROLES[:turn]:
                endpoint = endpoints[role.removeprefix("starlette-")]
                url = servers[role].url
                run = drive(url, endpoint, args.duration, args.connections, work=work, salt=next_salt())
                row.runs[role].append(run)
                say(f"  hosted row, round {round_ + 1}: {role} {run.rps:,.0f} req/s")
        row.questions = hoster.relay.count().questions - start.questions
        row.problems = log_problems(hoster.service)
    return row


def row_table(row: HostedRow) -> list[str]:
    lines = [
        "| request | service req/s | Starlette req/s | service ÷ Starlette | service p50 / p99 ms | errors |",
        "|---|---|---|---|---|---|",
    ]
    for role, endpoint in (("hosted", HOSTED), ("configured", CONFIGURED)):
        base = f"starlette-{role}"
        errors = sum(r.errors for r in row.runs[role] + row.runs[base])
        latency = f"{row.median(role, 'p50_ms'):.2f} / {row.median(role, 'p99_ms'):.2f}"
        lines.append(
            f"| {endpoint.name} | {row.median(role):,.0f} | {row.median(base):,.0f} "
            f"| {row.paired(role, base):.0%} | {latency} | {errors} |"
        )
    lines += [
        "",
        f"- hosted ÷ configured: {row.paired('hosted', 'configured'):.0%} (median of the rounds' ratios; "
        f"ratio of the medians {row.median('hosted') / row.median('configured'):.0%})",
        f"- DNS questions the service sent during the warm-up and the rounds: {row.questions}",
    ]
    return lines + problems_said(row.problems)


def run_row(args: argparse.Namespace, work: Path, report: dict[str, Any]) -> None:
    row = measure_row(args, work)
    runs = f"{args.rounds} rounds x {args.duration:g} s (after {args.warmup:g} s of warm-up)"
    print(f"- {WORKERS} workers; wrk {args.connections} keep-alive connections; {runs}\n")
    print("\n".join(row_table(row)))
    report["hosted"] = row.as_json()
