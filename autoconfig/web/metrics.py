"""Prometheus metrics: requests by endpoint, client family and status, latency, signing, reloads.

With several workers, each process writes its values in PROMETHEUS_MULTIPROC_DIR (set by `autoconfig
serve` before the workers start) and /metrics adds them up, so every scrape sees the whole service.
"""

from __future__ import annotations

import os
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

REQUESTS = Counter(
    "autoconfig_requests",
    "Requests answered, by endpoint, client family, outcome and HTTP status.",
    ["endpoint", "family", "outcome", "status"],
)
LATENCY = Histogram(
    "autoconfig_request_duration_seconds",
    "Time to answer a request, by endpoint.",
    ["endpoint"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
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


class RequestMetrics:
    """The observer (see middleware.py) that counts and times every answer, by endpoint, family and
    outcome, and counts it in the setup funnel."""

    def __init__(self, classify: Classifier, funnel: Funnel) -> None:
        self.classify = classify
        self.funnel = funnel
        # Label values come from closed lists: resolving each child once keeps the lookups off the
        # request path, and the dictionaries bounded.
        self._requests: dict[tuple[str, str, str, int], Any] = {}
        self._latency: dict[str, Any] = {}

    def __call__(self, scope: Scope, status: int, seconds: float) -> None:
        user_agent = ""
        for name, value in scope.get("headers", ()):
            if name == b"user-agent":
                user_agent = value.decode("latin-1")
                break
        endpoint, family = self.classify(scope.get("path", ""), user_agent)
        outcome = outcome_of(scope, status, endpoint)
        key = (endpoint, family, outcome, status)
        counter = self._requests.get(key)
        if counter is None:
            counter = self._requests[key] = REQUESTS.labels(endpoint, family, outcome, str(status))
        counter.inc()
        latency = self._latency.get(endpoint)
        if latency is None:
            latency = self._latency[endpoint] = LATENCY.labels(endpoint)
        latency.observe(seconds)
        self.funnel.count(family, endpoint, outcome)
