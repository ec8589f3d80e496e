"""Workers killed once they serve (an OOM kill, an operator's `kill -9`) against a real `autoconfig serve`:
each comes back at once, without the growing pause meant for workers that cannot start, and with two
workers the service answers every request while one at a time is killed. Every wait is bounded."""

from __future__ import annotations

import functools
import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx2

from tests.helpers.live import Server, serving, wait_for

CONFIG = "/mail/config-v1.1.xml?emailaddress=jean.dupont@ac-paris.fr"
KILLS = 5
BACK_WITHIN = 4.0  # seconds from a kill to the replacement's application started (~1 s on an idle machine)
STARTED = "Application startup complete"


@dataclass
class Load:
    outcomes: list[str] = field(default_factory=list)  # statuses, or the transport error's name
    idle: threading.Event = field(default_factory=threading.Event)  # set between requests


@contextmanager
def light_load(server: Server) -> Iterator[Load]:
    """A request every 50 ms, each on a new connection and never retried."""
    load = Load()
    stop = threading.Event()

    def client() -> None:
        while not stop.is_set():
            load.idle.clear()
            try:
                load.outcomes.append(str(httpx2.get(f"{server.base_url}{CONFIG}", timeout=5).status_code))
            except httpx2.TransportError as exc:
                load.outcomes.append(type(exc).__name__)
            load.idle.set()
            stop.wait(0.05)

    thread = threading.Thread(target=client)
    thread.start()
    try:
        yield load
    finally:
        stop.set()
        thread.join(timeout=10)


def replaced(server: Server, started: int) -> bool | None:
    return True if server.error_log().count(STARTED) > started else None


def kill_when_ready(server: Server, workers: int, load: Load) -> list[float]:
    """Kill the oldest worker with SIGKILL as soon as every worker has started, between two requests of
    the load (a request in flight on the killed worker is lost: nothing can answer it), KILLS times; the
    seconds each replacement took to start its application."""
    delays = []
    for _ in range(KILLS):
        started = server.error_log().count(STARTED)
        victim = server.workers()[0]
        load.idle.wait(5)
        os.kill(victim, signal.SIGKILL)
        killed = time.monotonic()
        wait_for(functools.partial(replaced, server, started), 30, "the replacement started")
        delays.append(time.monotonic() - killed)
        wait_for(lambda: True if len(server.workers()) == workers else None, 5, f"{workers} workers")
    return delays


def test_a_worker_killed_as_soon_as_it_serves_comes_back_at_once(tmp_path: Path) -> None:
    with serving(tmp_path / "logs") as server, light_load(server) as load:
        delays = kill_when_ready(server, 1, load)
        log = server.error_log()
        answered = load.outcomes.count("200")
    assert max(delays) < BACK_WITHIN, delays
    assert log.count("was killed by SIGKILL; starting another with the settings being served") == KILLS
    assert "growing pause" not in log
    assert answered > 0


def test_two_workers_answer_every_request_while_one_at_a_time_is_killed(tmp_path: Path) -> None:
    with serving(tmp_path / "logs", workers=2) as server, light_load(server) as load:
        delays = kill_when_ready(server, 2, load)
        # Requests after the last replacement started: ten more, however slowly a loaded machine sends.
        after = len(load.outcomes) + 10
        wait_for(lambda: len(load.outcomes) >= after or None, 10, "ten requests after the last kill")
    assert max(delays) < BACK_WITHIN, delays
    refused = [outcome for outcome in load.outcomes if outcome != "200"]
    assert len(load.outcomes) > 30
    assert refused == [], f"{len(refused)} of {len(load.outcomes)} not answered: {refused}"
