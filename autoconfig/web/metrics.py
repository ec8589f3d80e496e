"""Prometheus metrics: requests by endpoint, client family and status, latency, signing, reloads.

With several workers, each process writes its values in PROMETHEUS_MULTIPROC_DIR (set by `autoconfig
serve` before the workers start) and /metrics adds them up, so every scrape sees the whole service.

A request does not write there itself: counting and timing it in prometheus-client's multiprocess values
costs a lock and an mmap write per value, three times a request, and was a fifth of what the service adds
to a constant answer. The counts are kept in this process's memory and published to those values at most
PUBLISH_SECONDS after a request, before every /metrics answer this process gives, and when the worker
stops: a scrape shows every request the answering worker answered before it, and another worker's at most
PUBLISH_SECONDS late. A worker killed with SIGKILL loses what it had not published yet.
"""

from __future__ import annotations

import asyncio
import bisect
import math
import os
import weakref
from collections import Counter as Tally
from collections.abc import Callable
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from starlette.types import Scope

from autoconfig.paths import MULTIPROCESS_ENV

from .funnel import Funnel, outcome_of

MEDIA_TYPE = CONTENT_TYPE_LATEST

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
REQUESTS = Counter(
    "autoconfig_requests",
    "Requests answered, by endpoint, client family, outcome and HTTP status.",
    ["endpoint", "family", "outcome", "status"],
)
LATENCY = Histogram(
    "autoconfig_request_duration_seconds",
    "Time to answer a request, by endpoint.",
    ["endpoint"],
    buckets=LATENCY_BUCKETS,
)
PROFILES_SIGNED = Counter("autoconfig_profiles_signed", "Apple profiles signed.")
SIGNING_TIME = Histogram(
    "autoconfig_signing_duration_seconds",
    "Time to sign one Apple profile.",
    buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05),
)
RELOADS = Counter(
    "autoconfig_settings_reloads", "Settings reloads (SIGHUP or a change on disk), by result.", ["result"]
)
LAST_LOAD = Gauge(
    "autoconfig_settings_loaded_timestamp_seconds",
    "When the settings being served were last loaded (Unix time).",
    multiprocess_mode="max",
)
SIGNING_EXPIRY = Gauge(
    "autoconfig_signing_certificate_expiry_timestamp_seconds",
    "When the certificate that signs Apple profiles expires (Unix time); absent when profiles are unsigned.",
    multiprocess_mode="livemax",
)


def exposition() -> bytes:
    """The current values in Prometheus' text format, summed over all worker processes: nothing when the
    folder was removed (the supervisor makes it again and the processes write their values there anew),
    what is there when it was made again, never an error."""
    publish()
    folder = os.environ.get(MULTIPROCESS_ENV)
    if folder:
        registry = CollectorRegistry()
        try:
            multiprocess.MultiProcessCollector(registry, path=folder)  # type: ignore[no-untyped-call]
            return generate_latest(registry)
        except (OSError, ValueError):  # no folder (ValueError), or a file listed, then removed
            return generate_latest(CollectorRegistry())
    return generate_latest(REGISTRY)


# The metric labels of a request: its endpoint (from the route table) and its client family.
Classifier = Callable[[str, str], tuple[str, str]]


PUBLISH_SECONDS = 1.0
_UPPER_BOUNDS = (*LATENCY_BUCKETS, float("inf"))  # as prometheus-client adds +Inf
_SUM = len(_UPPER_BOUNDS)  # where a pending row keeps the sum of the seconds observed
_LIVE: weakref.WeakSet[RequestMetrics] = weakref.WeakSet()  # every application's, in this process


def publish() -> None:
    """Publish what every RequestMetrics of this process counted and has not published yet."""
    for observer in list(_LIVE):
        observer.publish()


class RequestMetrics:
    """The observer (see middleware.py) that counts and times every answer, by endpoint, family and
    outcome, and counts it in the setup funnel."""

    def __init__(self, classify: Classifier, funnel: Funnel) -> None:
        self.classify = classify
        self.funnel = funnel
        # Not yet published: requests by their labels, and per endpoint a row of counts by latency
        # bucket with the sum of the seconds last. Label values come from closed lists: both stay small.
        self._requests: dict[tuple[str, str, str, int], int] = {}
        self._latency: dict[str, list[float]] = {}
        self._scheduled = False
        # The funnel's hour of what is held: a request after it ends publishes what was held first.
        self._hour = 0
        self._hour_ends = -math.inf
        funnel.catch_up = self.publish
        # Each label set's metric child, resolved once.
        self._request_children: dict[tuple[str, str, str, int], Any] = {}
        self._latency_children: dict[str, Any] = {}
        _LIVE.add(self)

    def __call__(self, scope: Scope, status: int, seconds: float) -> None:
        user_agent = ""
        for name, value in scope.get("headers", ()):
            if name == b"user-agent":
                user_agent = value.decode("latin-1")
                break
        endpoint, family = self.classify(scope.get("path", ""), user_agent)
        outcome = outcome_of(scope, status, endpoint)
        now = self.funnel.clock()
        if now >= self._hour_ends:
            self.publish()  # what is held belongs to the hour that ended
            self._hour = int(now // 3600)
            self._hour_ends = (self._hour + 1) * 3600
        key = (endpoint, family, outcome, status)
        requests = self._requests
        requests[key] = requests.get(key, 0) + 1
        row = self._latency.get(endpoint)
        if row is None:
            row = self._latency[endpoint] = [0.0] * (_SUM + 1)
        row[bisect.bisect_left(_UPPER_BOUNDS, seconds)] += 1  # the first bound at or above, as observe()
        row[_SUM] += seconds
        if not self._scheduled:
            self._schedule()

    def _schedule(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # counted outside a loop (a test): publish now
            self.publish()
            return
        self._scheduled = True
        loop.call_later(PUBLISH_SECONDS, self.publish)

    def publish(self) -> None:
        """Add what was counted since the last time to prometheus-client's values (in multiprocess mode,
        this process's files): the same totals, buckets and sums as one observe() per request. What
        cannot be written (the folder removed, not yet made again) stays held for the next time."""
        self._scheduled = False
        requests, self._requests = self._requests, {}
        latency, self._latency = self._latency, {}
        if not requests:
            return
        funnel: Tally[tuple[str, str, str]] = Tally()
        for key, count in requests.items():
            counter = self._request_children.get(key)
            if counter is None:
                try:  # a new child opens its place in this process's file
                    counter = REQUESTS.labels(*key[:3], str(key[3]))
                except (OSError, ValueError):
                    self._requests[key] = self._requests.get(key, 0) + count
                    continue
                self._request_children[key] = counter
            counter.inc(count)
            endpoint, family, outcome, _ = key
            funnel[(family, endpoint, outcome)] += count
        for endpoint, row in latency.items():
            histogram = self._latency_children.get(endpoint)
            if histogram is None:
                try:
                    histogram = LATENCY.labels(endpoint)
                except (OSError, ValueError):
                    self._latency[endpoint] = row
                    continue
                self._latency_children[endpoint] = histogram
            # observe() in bulk: its own values, bucket by bucket, and the sum.
            histogram._sum.inc(row[_SUM])
            for index, observed in enumerate(row[:_SUM]):
                if observed:
                    histogram._buckets[index].inc(observed)
        self.funnel.add(self._hour, funnel)
