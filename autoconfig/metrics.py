"""Prometheus metrics: requests by endpoint, client family and status, latency, signing, reloads.

With several workers, each process writes its values in PROMETHEUS_MULTIPROC_DIR (set by `autoconfig
serve` before the workers start) and /metrics adds them up, so every scrape sees the whole service.
"""

from __future__ import annotations

import os
import re

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from starlette.types import Scope

from .observe import header

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
MEDIA_TYPE = CONTENT_TYPE_LATEST

REQUESTS = Counter(
    "autoconfig_requests",
    "Requests answered, by endpoint, client family and HTTP status.",
    ["endpoint", "family", "status"],
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
RELOADS = Counter("autoconfig_settings_reloads", "Settings reloads (SIGHUP), by result.", ["result"])

# (path pattern, endpoint), first match wins; the endpoint label stays a small fixed set.
_ENDPOINTS = (
    (re.compile(r"^(/\.well-known/autoconfig)?/mail/config-v1\.1\.xml$"), "clientconfig"),
    (re.compile(r"^/autodiscover/autodiscover\.xml$", re.IGNORECASE), "autodiscover_xml"),
    (re.compile(r"^/autodiscover/autodiscover\.json(/.*)?$", re.IGNORECASE), "autodiscover_json"),
    (re.compile(r"^/profile\.mobileconfig$"), "mobileconfig"),
    (re.compile(r"^/\.well-known/(caldav|carddav)$"), "dav"),
    (re.compile(r"^/(guide(/[^/]*)?)?$"), "pages"),
    (re.compile(r"^/static/"), "static"),
    (re.compile(r"^/healthz$"), "health"),
    (re.compile(r"^/metrics$"), "metrics"),
)
_FAMILIES = {
    "clientconfig": "thunderbird",
    "autodiscover_xml": "outlook",
    "autodiscover_json": "outlook",
    "mobileconfig": "apple",
}


def endpoint_of(path: str) -> str:
    for pattern, endpoint in _ENDPOINTS:
        if pattern.match(path):
            return endpoint
    return "other"


def family_of(endpoint: str, user_agent: str, path: str = "") -> str:
    """Thunderbird, Outlook, Apple, the Android guide pages, or other: from the path and the User-Agent.

    A page is Android's when its path names the Android guide (/guide/android), or when it names no
    device (/, /guide) and the browser is an Android one: those show the Android guide.
    """
    if endpoint in _FAMILIES:
        return _FAMILIES[endpoint]
    if endpoint == "pages":
        device = path.removeprefix("/guide/") if path.startswith("/guide/") else ""
        if device == "android" or (not device and "android" in user_agent.lower()):
            return "android_page"
    return "other"


def exposition() -> bytes:
    """The current values in Prometheus' text format, summed over all worker processes."""
    if os.environ.get(MULTIPROCESS_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest(REGISTRY)


def record_request(scope: Scope, status: int, seconds: float) -> None:
    """The observer (see observe.py) that counts and times every answer."""
    path = scope.get("path", "")
    endpoint = endpoint_of(path)
    family = family_of(endpoint, header(scope, b"user-agent"), path)
    REQUESTS.labels(endpoint, family, str(status)).inc()
    LATENCY.labels(endpoint).observe(seconds)
