"""Soak: hold load on every endpoint, hostile requests mixed in, and watch errors and memory over time.

    .venv/bin/python -m tests.bench.soak [--minutes 10] [--concurrency 16]

Starts `autoconfig serve --workers 2` on profiles/ac-paris.toml on loopback and sends, from
`concurrency` clients in turn, a cycle of ordinary and hostile requests, each with the status it must
get. Every other status, timeout or connection error counts as an error. Every `--every` seconds it
prints the requests done, the errors, and each worker's resident memory. Exits 1 on any error or on
memory growth after the first minute beyond `--growth` MB. Not part of the test command.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

import httpx2

from .bench import OUTLOOK_BODY, ROOT, free_port, stop, wait_for, worker_rss_mb

BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
    '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]>'
    "<Autodiscover><Request><EMailAddress>&d;</EMailAddress></Request></Autodiscover>"
)
XXE = (
    '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    "<Autodiscover><Request><EMailAddress>&x;</EMailAddress></Request></Autodiscover>"
)


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


async def soak(
    base: str, pid: int, seconds: float, concurrency: int, every: float
) -> tuple[Tally, list[list[float]]]:
    tally = Tally()
    deadline = time.monotonic() + seconds
    tasks = [asyncio.create_task(client(base, deadline, tally, i * 1000)) for i in range(concurrency)]
    samples = []
    started = time.monotonic()
    while any(not t.done() for t in tasks):
        await asyncio.sleep(min(every, max(0.1, deadline - time.monotonic())))
        rss = worker_rss_mb(pid)
        samples.append(rss)
        elapsed = time.monotonic() - started
        note = f"  last error: {tally.last_error}" if tally.errors else ""
        print(
            f"{elapsed:7.0f} s  {tally.done:9,d} requests  {tally.errors} errors  workers' RSS {rss} MB"
            + note,
            flush=True,
        )
    await asyncio.gather(*tasks)
    return tally, samples


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--every", type=float, default=30.0, help="seconds between reports")
    parser.add_argument(
        "--growth", type=float, default=8.0, help="MB of growth per worker allowed after warm-up"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as state:
        port = free_port()
        env = {**os.environ, "AUTOCONFIG_STATE_DIR": state}
        command = [
            sys.executable,
            "-m",
            "autoconfig",
            "serve",
            "--port",
            str(port),
            "--workers",
            "2",
            "--log-level",
            "warning",
        ]
        service = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        base = f"http://127.0.0.1:{port}"
        try:
            wait_for(f"{base}/healthz")
            tally, samples = asyncio.run(
                soak(base, service.pid, args.minutes * 60, args.concurrency, args.every)
            )
        finally:
            stop(service)
    warm = next((s for i, s in enumerate(samples) if (i + 1) * args.every >= 60), samples[0])
    growth = max((b - a for a, b in zip(warm, samples[-1], strict=False)), default=0.0)
    print(
        f"\n{tally.done:,d} requests, {tally.errors} errors; "
        f"worker memory after warm-up grew {growth:.1f} MB at most"
    )
    if tally.errors or growth > args.growth:
        sys.exit(1)


if __name__ == "__main__":
    main()
