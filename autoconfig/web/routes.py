"""THE route table: every path the service answers, with its methods, view, metric label,
cache policy, and whether `autoconfig render` exports it. The router, the metrics, the static export and
the docs' endpoint table all read it; a route cannot be added without a label and a policy.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, lru_cache

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from autoconfig.formats import pacc
from autoconfig.paths import templates_dir

from . import guides, operations, views
from .families import client_family
from .loaded import loaded
from .pages import DEVICES
from .reading import query_value

OTHER = "other"  # the label and family of a request no route answers


@dataclass(frozen=True)
class CachePolicy:
    """What an answer's Cache-Control says, from the request, the answer and the settings."""

    name: str
    description: str  # for the docs
    header: Callable[[Request, Response], str | None]


def _max_age(request: Request) -> int:
    return loaded(request).settings.service.cache_max_age


CONFIG = CachePolicy(
    "config",
    "`public, max-age=<cache_max_age>`; `private` with `?emailaddress=`; errors `no-store`",
    lambda request, response: (
        f"{'public' if query_value(request, 'emailaddress') is None else 'private'}, "
        f"max-age={_max_age(request)}"
        if response.status_code == 200
        else "no-store"
    ),
)
PERSONAL = CachePolicy(
    "personal",
    "`private, max-age=<cache_max_age>`; errors `no-store`",
    lambda request, response: (
        f"private, max-age={_max_age(request)}" if response.status_code == 200 else "no-store"
    ),
)
PRIVATE = CachePolicy("private", "`private, no-store`", lambda request, response: "private, no-store")
PAGE = CachePolicy(
    "page",
    "`public, max-age=300`; errors `private, no-store` (they show the address typed)",
    lambda request, response: "public, max-age=300" if response.status_code == 200 else "private, no-store",
)
REDIRECT = CachePolicy(
    "redirect", "`public, max-age=86400`", lambda request, response: "public, max-age=86400"
)
NO_STORE = CachePolicy("no-store", "`no-store`", lambda request, response: "no-store")
STATIC = CachePolicy("static", "validators only (`ETag`, `Last-Modified`)", lambda request, response: None)

GUIDE_DEVICES = DEVICES
Label = str | Callable[[str], str]  # a metric label, or one chosen from the path


def _guide_label(path: str) -> str:
    """`guide_<device>` for a device's guide, `guide` for the one the browser's device picks: the funnel
    tells the Android guide's visits from the others."""
    device = path.removeprefix("/guide").strip("/")
    return f"guide_{device}" if device in GUIDE_DEVICES else "guide"


@dataclass(frozen=True)
class Endpoint:
    paths: tuple[str, ...]
    methods: tuple[str, ...]
    view: views.View | None  # None: the static files
    label: Label  # the `endpoint` label of the metrics
    cache: CachePolicy
    summary: str  # the docs' endpoint table
    any_case: bool = False  # Outlook asks /Autodiscover/Autodiscover.xml, others lower case
    export: bool = False  # `autoconfig render` writes it for every domain (it needs no address)


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        ("/mail/config-v1.1.xml", "/.well-known/autoconfig/mail/config-v1.1.xml"),
        ("GET",),
        views.clientconfig,
        "clientconfig",
        CONFIG,
        "Thunderbird autoconfig document (`?emailaddress=`, or the domain from `Host`)",
        export=True,
    ),
    Endpoint(
        ("/autodiscover/autodiscover.xml",),
        ("GET", "POST"),
        views.autodiscover_xml,
        "autodiscover_xml",
        PRIVATE,
        "Outlook POX autodiscover (POST; GET answers an error); the path in any casing",
        any_case=True,
    ),
    Endpoint(
        ("/autodiscover/autodiscover.json", "/autodiscover/autodiscover.json/v1.0/{address}"),
        ("GET",),
        views.autodiscover_json,
        "autodiscover_json",
        PERSONAL,
        "where the POX endpoint is (`?Email=…&Protocol=AutodiscoverV1`, or the address in the path)",
        any_case=True,
    ),
    Endpoint(
        ("/profile.mobileconfig",),
        ("GET",),
        views.mobileconfig,
        "mobileconfig",
        PRIVATE,
        "one person's Apple profile (`?email=…`, `&lang=fr` or `en`)",
    ),
    Endpoint(
        (pacc.WELL_KNOWN_PATH,),
        ("GET",),
        views.pacc,
        "pacc",
        CONFIG,
        "PACC document of the domain `ua-auto-config.<domain>` (or `?domain=`) names; 404 for a provider "
        "it cannot describe (STARTTLS only)",
    ),
    # Calendar and contacts clients discover with PROPFIND as often as with GET.
    Endpoint(
        ("/.well-known/caldav",),
        ("GET", "PROPFIND"),
        views.dav_redirect("caldav"),
        "dav",
        REDIRECT,
        "301 to the provider's CalDAV server (RFC 6764)",
    ),
    Endpoint(
        ("/.well-known/carddav",),
        ("GET", "PROPFIND"),
        views.dav_redirect("carddav"),
        "dav",
        REDIRECT,
        "301 to the provider's CardDAV server (RFC 6764)",
    ),
    Endpoint(
        ("/",),
        ("GET",),
        guides.landing,
        "landing",
        PAGE,
        "landing page: one field, the person's address",
    ),
    Endpoint(
        ("/guide", "/guide/{device}"),
        ("GET",),
        guides.guide,
        _guide_label,
        PRIVATE,
        "the guide for the device the browser names, or for `ios`, `android`, `macos`, `thunderbird`, "
        "`outlook`, `other` (`?email=…`)",
    ),
    Endpoint(("/static",), ("GET",), None, "static", STATIC, "the pages' stylesheet, script and icon"),
    Endpoint(("/healthz",), ("GET",), operations.healthz, "health", NO_STORE, "health, for the IT team"),
    Endpoint(
        ("/metrics",),
        ("GET",),
        operations.metrics,
        "metrics",
        NO_STORE,
        "Prometheus metrics, allowed networks only",
    ),
)


def _with_cache(view: views.View, policy: CachePolicy) -> views.View:
    async def answer(request: Request) -> Response:
        response = await view(request)
        value = policy.header(request, response)
        if value is not None:
            response.headers["Cache-Control"] = value
        return response

    answer.__name__ = answer.__qualname__ = view.__name__
    answer.__doc__ = view.__doc__
    return answer


def starlette_routes(endpoints: tuple[Endpoint, ...] = ENDPOINTS) -> list[BaseRoute]:
    """The router's routes, in the table's order."""
    routes: list[BaseRoute] = []
    for endpoint in endpoints:
        if endpoint.view is None:
            directory = templates_dir() / "static"
            routes.append(Mount(endpoint.paths[0], StaticFiles(directory=directory), name="static"))
            continue
        for path in endpoint.paths:
            route = Route(path, _with_cache(endpoint.view, endpoint.cache), methods=list(endpoint.methods))
            if endpoint.any_case:
                route.path_regex = re.compile(route.path_regex.pattern, re.IGNORECASE)
            routes.append(route)
    return routes


@cache
def _matchers() -> tuple[tuple[re.Pattern[str], Endpoint], ...]:
    matchers = []
    for endpoint, route in zip(_expanded(), starlette_routes(), strict=True):
        assert isinstance(route, Route | Mount)  # noqa: S101 - starlette_routes makes only these
        matchers.append((route.path_regex, endpoint))
    return tuple(matchers)


def _expanded() -> list[Endpoint]:
    # One entry per route starlette_routes makes: a path each, one for the static mount.
    return [e for e in ENDPOINTS for _ in (e.paths if e.view is not None else e.paths[:1])]


def endpoint_for(path: str) -> Endpoint | None:
    """The table's entry for a path, whatever the method (a 405 is counted under its endpoint)."""
    for regex, endpoint in _matchers():
        if regex.match(path):
            return endpoint
    return None


def classify(path: str, user_agent: str) -> tuple[str, str]:
    """The metric labels of a request: its endpoint, and the client family."""
    label = _label_cached(path) if len(path) <= _CACHED_PATH else _label(path)
    return label, client_family(user_agent, label)


# The same paths come again and again: matching each against the table's patterns once is enough.
_CACHED_PATH = 256


@lru_cache(maxsize=1024)
def _label_cached(path: str) -> str:
    return _label(path)


def _label(path: str) -> str:
    endpoint = endpoint_for(path)
    if endpoint is None:
        return OTHER
    return endpoint.label if isinstance(endpoint.label, str) else endpoint.label(path)


def exported_paths() -> tuple[str, ...]:
    """What `autoconfig render` writes for each domain, relative to the domain's web root."""
    return tuple(path.lstrip("/") for e in ENDPOINTS if e.export for path in e.paths)


ENDPOINTS_HEAD = """\
# Endpoint reference

Every path the service answers, generated from its route table (`autoconfig/web/routes.py`) by
`autoconfig reference endpoints`: do not edit this file by hand (a test compares it with the command's
output). What each client does with them is in [the clients guide](../clients.md).

Every answer carries `X-Content-Type-Options: nosniff`, `Referrer-Policy: no-referrer`,
`X-Frame-Options: DENY`, a `Permissions-Policy` and a strict `Content-Security-Policy`. Errors a view
raises (a malformed address: 400; a domain no provider serves: 404) are one plain-text sentence with
`Cache-Control: no-store`; an unexpected failure is a plain-text 500 whose details stay in the log.

The `endpoint` label counts the request in `autoconfig_requests_total`, beside the client's `family`
(from its User-Agent) and the `outcome`: see [the setup funnel](../funnel.md).
"""


def endpoint_reference() -> str:
    """The endpoint reference, in Markdown: path, methods, answer, metric labels and cache policy."""
    lines = [
        ENDPOINTS_HEAD,
        "| path | methods | answer | `endpoint` label | Cache-Control |",
        "|---|---|---|---|---|",
    ]
    for endpoint in ENDPOINTS:
        paths = "<br>".join(f"`{p}/…`" if endpoint.view is None else f"`{p}`" for p in endpoint.paths)
        methods = ", ".join((*endpoint.methods, "HEAD") if "GET" in endpoint.methods else endpoint.methods)
        labels = (
            f"`{endpoint.label}`"
            if isinstance(endpoint.label, str)
            else "`guide`, or `guide_<device>` for a device's guide"
        )
        lines.append(
            f"| {paths} | {methods} | {endpoint.summary} | {labels} | {endpoint.cache.description} |"
        )
    return "\n".join(lines) + "\n"
