"""Where the time goes inside one process: the ASGI application called directly, no HTTP, no wrk.

    .venv/bin/python -m tests.bench.inprocess [--requests 3000] [--runs 5] [--only thunderbird json pox]
    .venv/bin/python -m tests.bench.inprocess --profile thunderbird [--requests 20000]

The service's application is built as a worker builds it under `autoconfig serve`: the bundled settings
(development signer), metrics in a multiprocess folder, access lines handed to a writer that only
appends them (as the log thread's deque does). Each request is the scope uvicorn with httptools makes
of what wrk sends (a Host header, nothing else; the POX body in one message). The constant Starlette app
of tests/bench/baseline.py answers the same bytes beside it: the table gives the lowest µs per request
of the runs (the least disturbed by the rest of the machine) for both, and their ratio.

--profile runs one endpoint's loop under cProfile and prints the 30 costliest functions by own time and
by cumulative time. Not part of the test command.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import cProfile
import os
import pstats
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import urlsplit

from autoconfig.paths import MULTIPROCESS_ENV

from .endpoints import ENDPOINTS, Endpoint

Message = MutableMapping[str, Any]
App = Callable[
    [Message, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]
]
HOT = ("thunderbird", "json", "pox", "profile-same", "guide")


def _scope(app: Any, endpoint: Endpoint) -> Message:
    target = urlsplit(endpoint.first)
    headers = [(b"host", b"127.0.0.1:8080")]
    if endpoint.body:
        headers += [(b"content-type", b"text/xml"), (b"content-length", str(len(endpoint.body)).encode())]
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "server": ("127.0.0.1", 8080),
        "client": ("127.0.0.1", 50000),
        "scheme": "http",
        "method": endpoint.method,
        "root_path": "",
        "path": target.path,
        "raw_path": target.path.encode(),
        "query_string": target.query.encode(),
        "headers": headers,
        "state": {},
        "app": app,
    }


async def _loop(app: App, endpoint: Endpoint, requests: int) -> float:
    """Seconds for `requests` requests, each with a fresh scope (uvicorn makes one per request)."""
    template = _scope(app, endpoint)
    body = {"type": "http.request", "body": endpoint.body.encode(), "more_body": False}
    statuses: list[int] = []

    async def receive() -> Message:
        return body

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    start = time.perf_counter()
    for _ in range(requests):
        scope = dict(template)
        scope["state"] = {}
        del scope["app"]  # Starlette sets it
        await app(scope, receive, send)
    elapsed = time.perf_counter() - start
    if set(statuses) != {200}:
        raise SystemExit(f"{endpoint.key}: statuses {sorted(set(statuses))}")
    return elapsed


def _apps() -> tuple[App, App, collections.deque[str]]:
    """The service's application as a worker has it, and the constant Starlette app with its answers."""
    from autoconfig.settings import load_settings  # noqa: PLC0415 - after MULTIPROCESS_ENV
    from autoconfig.web.accesslog import use_line_writer  # noqa: PLC0415
    from autoconfig.web.app import create_app  # noqa: PLC0415

    from .baseline import Answer, starlette_app  # noqa: PLC0415

    lines: collections.deque[str] = collections.deque(maxlen=10_000)
    use_line_writer(lines.append)
    service = create_app(load_settings())
    answers: dict[tuple[str, str], Answer] = {}

    async def capture() -> None:
        for endpoint in ENDPOINTS:
            if endpoint.key not in HOT:
                continue
            sent: list[Message] = []
            body = {"type": "http.request", "body": endpoint.body.encode(), "more_body": False}

            async def receive(body: Message = body) -> Message:
                return body

            async def send(message: Message, sent: list[Message] = sent) -> None:
                sent.append(message)

            scope = _scope(service, endpoint)
            del scope["app"]
            await service(scope, receive, send)
            headers = {k.decode(): v.decode("latin-1") for k, v in sent[0]["headers"]}
            headers.pop("content-length", None)
            path = urlsplit(endpoint.first).path
            answers[(endpoint.method, path)] = Answer(
                endpoint.method, path, sent[0]["status"], headers, sent[1]["body"]
            )

    _run(capture())
    return service, starlette_app(answers), lines


def _run(coroutine: Awaitable[Any]) -> Any:
    # uvloop, as under `autoconfig serve` (asyncio's own loop makes timers cost twice as much).
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        return runner.run(coroutine)  # type: ignore[arg-type]


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop  # noqa: PLC0415 - optional, as for the service
    except ImportError:
        return None
    return uvloop.new_event_loop


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--only", nargs="*", default=list(HOT[:3]))
    parser.add_argument("--profile", metavar="ENDPOINT")
    arguments = parser.parse_args()
    os.environ[MULTIPROCESS_ENV] = tempfile.mkdtemp(prefix="autoconfig-inprocess-")
    service, starlette, lines = _apps()
    chosen = {e.key: e for e in ENDPOINTS if e.key in HOT}
    if arguments.profile:
        endpoint = chosen[arguments.profile]
        _run(_loop(service, endpoint, 500))  # warm the caches
        profiler = cProfile.Profile()
        profiler.enable()
        _run(_loop(service, endpoint, arguments.requests))
        profiler.disable()
        stats = pstats.Stats(profiler, stream=sys.stdout)
        stats.sort_stats("tottime").print_stats(30)
        stats.sort_stats("cumulative").print_stats(30)
        return
    print("| endpoint | service µs | constant Starlette µs | Starlette ÷ service |")
    print("|---|---|---|---|")
    for key in arguments.only:
        endpoint = chosen[key]
        best: dict[str, float] = {}
        for _ in range(arguments.runs):
            for name, app in (("service", service), ("starlette", starlette)):
                seconds = _run(_loop(app, endpoint, arguments.requests))
                best[name] = min(best.get(name, seconds), seconds)
                lines.clear()
        service_us, starlette_us = (best[n] / arguments.requests * 1e6 for n in ("service", "starlette"))
        print(
            f"| {endpoint.name} | {service_us:.1f} | {starlette_us:.1f} | {starlette_us / service_us:.0%} |"
        )


if __name__ == "__main__":
    main()
