"""A counting UDP relay between the service and Knot: the DNS questions the service sends, seen on the wire.

The service's resolver is pointed at the relay, which passes each question to Knot and its answer back,
except, while `silent`, the questions for names under `silent_zone`: those it keeps without a word, as an
attacker's name servers that never answer would, so that each such lookup runs to its deadline while
other domains are still answered. It counts the questions, keeps when each arrived (for the most questions
in any window of the lookup's deadline), and, forwarding, the most questions waiting for Knot's answer at
once. Question ids are rewritten to the relay's own, so that two clients' equal ids cannot cross. It runs
in a thread of the benchmark, on the same cores as the service: its cost is said beside the figures.
"""

from __future__ import annotations

import bisect
import selectors
import socket
import threading
import time
from dataclasses import dataclass

LOOPBACK = "127.0.0.1"
FORGET_SECONDS = 10.0  # a question Knot never answered stops counting as waiting


@dataclass
class Count:
    """The relay's figures at one moment: differences of two are a phase's."""

    questions: int
    at: float


class Relay:
    def __init__(self, upstream: str, silent_zone: str) -> None:
        host, _, port = upstream.rpartition(":")
        self.upstream = (host, int(port))
        self.front = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.front.bind((LOOPBACK, 0))
        self.back = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.back.bind((LOOPBACK, 0))
        self.silent = False
        self._silent_suffix = (
            b"".join(len(label).to_bytes(1, "big") + label.encode() for label in silent_zone.split("."))
            + b"\x00"
        )
        self.questions = 0
        self.arrivals: list[float] = []  # monotonic times, in order
        self.most_waiting = 0
        self._waiting: dict[int, tuple[bytes, tuple[str, int], float]] = {}  # our id: theirs, client, when
        self._next_id = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="dns-relay", daemon=True)

    @property
    def address(self) -> str:
        """`IP:PORT`, for the settings' [service.resolver] servers."""
        return f"{LOOPBACK}:{self.front.getsockname()[1]}"

    def __enter__(self) -> Relay:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.front.close()
        self.back.close()

    def count(self) -> Count:
        with self._lock:
            return Count(self.questions, time.monotonic())

    def most_in_window(self, start: Count, end: Count, seconds: float) -> int:
        """The most questions that arrived within any `seconds` between two counts."""
        with self._lock:
            times = self.arrivals[
                bisect.bisect_left(self.arrivals, start.at) : bisect.bisect_right(self.arrivals, end.at)
            ]
        most, first = 0, 0
        for last, moment in enumerate(times):
            while moment - times[first] > seconds:
                first += 1
            most = max(most, last - first + 1)
        return most

    def reset_most_waiting(self) -> None:
        with self._lock:
            self.most_waiting = len(self._waiting)

    def _run(self) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self.front, selectors.EVENT_READ, self._question)
            selector.register(self.back, selectors.EVENT_READ, self._answer)
            while not self._stop.is_set():
                for key, _ in selector.select(0.2):
                    key.data()

    def _question(self) -> None:
        data, client = self.front.recvfrom(65535)
        now = time.monotonic()
        with self._lock:
            self.questions += 1
            self.arrivals.append(now)
            if len(data) < 12 or (self.silent and self._silent_suffix in data[12:].lower()):
                return
            for ours, (_, _, when) in list(self._waiting.items()):
                if now - when > FORGET_SECONDS:
                    del self._waiting[ours]
            self._next_id = (self._next_id + 1) & 0xFFFF
            self._waiting[self._next_id] = (data[:2], client, now)
            self.most_waiting = max(self.most_waiting, len(self._waiting))
            question = self._next_id.to_bytes(2, "big") + data[2:]
        self.back.sendto(question, self.upstream)

    def _answer(self) -> None:
        data, _ = self.back.recvfrom(65535)
        with self._lock:
            waiting = self._waiting.pop(int.from_bytes(data[:2], "big"), None)
        if waiting is not None:
            theirs, client, _ = waiting
            self.front.sendto(theirs + data[2:], client)
