"""The setup funnel: what each client family asked, and how it was answered, over the last 24 hours.

Prometheus counts for ever (`autoconfig_requests_total`, with the same labels); this is the one-screen
view /healthz gives the IT team: per family, how many requests were answered, answered without an
address (`generic`: the person must correct the login), for an unknown domain, refused, failed, or left
by their client before they were read (`disconnected`), and at which endpoints. Counts are kept by the
hour. Each worker keeps its own (metrics.py adds its requests, in bulk, at most a second late and before
each summary) and writes them, at most every two seconds, to a file in the metrics folder, where any
worker reads the others' to answer /healthz.
Labels come from closed lists (families.py, the route table, OUTCOMES): never anything a client wrote.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from starlette.types import Scope

from autoconfig.paths import write_private

from .middleware import CLIENT_CLOSED

ANSWERED = "answered"
HOSTED = "hosted"  # answered for a domain not in the settings, whose MX is a hosting provider's
GENERIC = "generic"  # a Thunderbird document without an address: the login is a placeholder
UNKNOWN_DOMAIN = "unknown_domain"
REFUSED = "refused"  # a malformed request, an address refused, a protocol Outlook cannot use here
ERROR = "error"
DISCONNECTED = "disconnected"  # the client left before its request was read (status 499)
OUTCOMES = (ANSWERED, GENERIC, UNKNOWN_DOMAIN, REFUSED, ERROR, DISCONNECTED, HOSTED)

HOURS = 24
FLUSH_SECONDS = 2.0
_STATE_KEY = "autoconfig.outcome"  # where a view says what a 200 meant (see say)
_FILE_PREFIX = "funnel-"

Key = tuple[str, str, str]  # family, endpoint, outcome


def say(scope: Scope, outcome: str) -> None:
    """For a view whose status does not tell the outcome (a POX error is a 200, as Exchange answers)."""
    scope.setdefault("state", {})[_STATE_KEY] = outcome


def outcome_of(scope: Scope, status: int, endpoint: str) -> str:
    """The outcome of an answered request: what the view said, else what its status means."""
    if status >= 500:
        return ERROR
    if status == CLIENT_CLOSED:
        return DISCONNECTED
    state = scope.get("state")
    said = state.get(_STATE_KEY) if isinstance(state, dict) else None
    if said in OUTCOMES:
        return str(said)
    if status == 404 and endpoint != "other":
        return UNKNOWN_DOMAIN
    if status >= 400:
        return REFUSED
    return ANSWERED


class Funnel:
    """One process's counts by the hour, and the summary of every process's."""

    def __init__(
        self, folder: str | None = None, clock: Callable[[], float] = time.time, name: str | None = None
    ) -> None:
        self.folder = Path(folder) if folder else None  # None: one process, nothing to share
        self.clock = clock
        self.hours: dict[int, Counter[Key]] = {}
        self._flush_pending = False
        name = name or str(os.getpid())
        self._path = self.folder / f"{_FILE_PREFIX}{name}.json" if self.folder else None
        # Called before the counts are read: whoever counts for this funnel in bulk (metrics.py) adds
        # what it holds.
        self.catch_up: Callable[[], None] | None = None

    def count(self, family: str, endpoint: str, outcome: str) -> None:
        self.add(int(self.clock() // 3600), {(family, endpoint, outcome): 1})

    def add(self, hour: int, counts: Mapping[Key, int]) -> None:
        """Count requests answered in `hour` (hours since the epoch), several at a time."""
        bucket = self.hours.get(hour)
        if bucket is None:
            bucket = self.hours[hour] = Counter()
            for old in [h for h in self.hours if h <= hour - HOURS]:
                del self.hours[old]
        bucket.update(counts)
        if self._path is not None and not self._flush_pending:
            self._schedule_flush()

    def _schedule_flush(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # counted outside a loop (a test): write now
            self.flush()
            return
        self._flush_pending = True
        loop.call_later(FLUSH_SECONDS, self.flush)

    def flush(self) -> None:
        """Write this process's counts for the others to read (atomically: a reader never sees half)."""
        self._flush_pending = False
        if self._path is None:
            return
        document = {
            str(hour): [[*key, n] for key, n in bucket.items()] for hour, bucket in self.hours.items()
        }
        # A full or read-only folder loses the shared view, never a request.
        with contextlib.suppress(OSError):
            write_private(self._path, json.dumps(document).encode("utf-8"))

    def _all_hours(self) -> list[dict[int, Counter[Key]]]:
        if self.catch_up is not None:
            self.catch_up()
        processes = [self.hours]
        if self.folder is None:
            return processes
        with contextlib.suppress(OSError):
            for path in self.folder.glob(f"{_FILE_PREFIX}*.json"):
                if path != self._path:
                    processes.append(_read(path))
        return processes

    def summary(self) -> dict[str, Any]:
        """Per family: the outcomes and the endpoints asked, over the current hour and the 23 before."""
        since = int(self.clock() // 3600) - HOURS + 1
        totals: Counter[Key] = Counter()
        for hours in self._all_hours():
            for hour, bucket in hours.items():
                if hour >= since:
                    totals.update(bucket)
        families: dict[str, dict[str, Any]] = {}
        for (family, endpoint, outcome), n in sorted(totals.items()):
            entry = families.setdefault(family, {"requests": 0, "outcomes": {}, "endpoints": {}})
            entry["requests"] += n
            entry["outcomes"][outcome] = entry["outcomes"].get(outcome, 0) + n
            entry["endpoints"][endpoint] = entry["endpoints"].get(endpoint, 0) + n
        return {"hours": HOURS, "families": families}


def _read(path: Path) -> dict[int, Counter[Key]]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        return {
            int(hour): Counter({(str(f), str(e), str(o)): int(n) for f, e, o, n in rows})
            for hour, rows in document.items()
        }
    except (OSError, ValueError, TypeError):  # a file being replaced, or not ours: skip it this time
        return {}


def summary_table(summary: dict[str, Any]) -> list[str]:
    """The summary as text lines, one per family (`autoconfig healthcheck --clients`)."""
    families: dict[str, dict[str, Any]] = summary.get("families") or {}
    lines = [f"clients over the last {summary.get('hours', HOURS)} hours"]
    if not families:
        return [*lines, "  no requests"]
    lines.append(f"  {'family':<20}{'requests':>9}" + "".join(f"{o:>16}" for o in OUTCOMES) + "  endpoints")
    for family, entry in families.items():
        outcomes = entry.get("outcomes", {})
        endpoints = ", ".join(f"{e} {n}" for e, n in sorted(entry.get("endpoints", {}).items(), key=_most))
        counts = "".join(f"{outcomes.get(o, 0):>16}" for o in OUTCOMES)
        lines.append(f"  {family:<20}{entry.get('requests', 0):>9}{counts}  {endpoints}")
    return lines


def _most(item: tuple[str, int]) -> tuple[int, str]:
    return -item[1], item[0]
