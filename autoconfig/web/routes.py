"""THE route table: every path the service answers, with its methods, view, metric label,
cache policy, and whether `autoconfig render` exports it. The router, the metrics, the static export and
the docs' endpoint table all read it; a route cannot be added without a label and a policy.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route, Router
from starlette.staticfiles import StaticFiles
from starlette.types import Lifespan, Receive, Scope, Send

from autoconfig.caches import memoize
from autoconfig.formats import pacc
from autoconfig.paths import templates_dir

from . import guides, monitoring, views
from .families import client_family
from .pages import DEVICES
from .request_values import query_value
from .served import serving

OTHER = "other"  # the label and family of a request no route answers


@dataclass(frozen=True)
class CachePolicy:
    """What an answer's Cache-Control says, from the request, the answer and the settings."""

    name: str
    description: str  # for the docs
    header: Callable[[Request, Response], str | None]


def _max_age(request: Request) -> int:
    return serving(request).settings.service.cache_max_age


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
    Endpoint(("/healthz",), ("GET",), monitoring.healthz, "health", NO_STORE, "health, for the IT team"),
    Endpoint(
        ("/metrics",),
        ("GET",),
        monitoring.metrics,
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
            raw = response.raw_headers
            if any(name == b"cache-control" for name, _ in raw):
                response.headers["Cache-Control"] = value  # replaced where it stands
            else:
                raw.append((b"cache-control", value.encode("latin-1")))  # as headers[...] = would
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


@memoize("route_table")  # the table is a constant of the code: right for any version
def _matchers() -> tuple[tuple[re.Pattern[str], Endpoint, BaseRoute], ...]:
    matchers = []
    for endpoint, route in zip(_expanded(), starlette_routes(), strict=True):
        assert isinstance(route, Route | Mount)  # noqa: S101 - starlette_routes makes only these
        matchers.append((route.path_regex, endpoint, route))
    return tuple(matchers)


def _expanded() -> list[Endpoint]:
    # One entry per route starlette_routes makes: a path each, one for the static mount.
    return [e for e in ENDPOINTS for _ in (e.paths if e.view is not None else e.paths[:1])]


def endpoint_for(path: str) -> Endpoint | None:
    """The table's entry for a path, whatever the method (a 405 is counted under its endpoint)."""
    return _match(path).endpoint


class Match(NamedTuple):
    """What the table says of a path: the first route whose pattern it matches (the index of a Route in
    starlette_routes(), None for none or the static files), its path parameters, its entry and label."""

    route: int | None
    params: tuple[tuple[str, Any], ...]
    endpoint: Endpoint | None
    label: str


def classify(path: str, user_agent: str) -> tuple[str, str]:
    """The metric labels of a request: its endpoint, and the client family."""
    label = _match(path).label
    return label, client_family(user_agent, label)


# The same paths come again and again: matching each against the table's patterns once is enough. A
# Match holds no settings: right for any version.
@memoize("route_matches", max_chars=256)
def _match(path: str) -> Match:
    for index, (regex, endpoint, route) in enumerate(_matchers()):
        found = regex.match(path)
        if found is None:
            continue
        label = endpoint.label if isinstance(endpoint.label, str) else endpoint.label(path)
        if not isinstance(route, Route):
            return Match(None, (), endpoint, label)
        params = tuple((k, route.param_convertors[k].convert(v)) for k, v in found.groupdict().items())
        return Match(index, params, endpoint, label)
    return Match(None, (), None, OTHER)


class TableRouter(Router):
    """Starlette's router over starlette_routes(), which finds a path's route in one lookup once it has
    seen the path: the first route whose pattern the path matches is the one Starlette's loop would pick
    when it takes the method (every route before it answers Match.NONE), and its view is called as
    Starlette's request_response calls it. Anything else (another method, the static files, no route, a
    root path) goes through Starlette's loop as before."""

    def __init__(self, lifespan: Lifespan[Any] | None = None) -> None:
        # A trailing slash is no route: Starlette's redirect to the slashless path would build its
        # Location from the Host header (in http, carrying the address). Links never come from headers.
        super().__init__(routes=starlette_routes(), redirect_slashes=False, lifespan=lifespan)

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope.get("root_path"):
            match = _match(scope["path"])
            if match.route is not None:
                route = self.routes[match.route]
                assert isinstance(route, Route)  # noqa: S101 - _match names Routes only
                if route.methods is None or scope["method"] in route.methods:
                    if "router" not in scope:
                        scope["router"] = self
                    path_params = dict(scope.get("path_params", {}))
                    path_params.update(match.params)
                    scope["route"] = route
                    scope["endpoint"] = route.endpoint
                    scope["path_params"] = path_params
                    # What route.handle does for a method it takes (request_response), but for the
                    # second wrapper of the exception handlers: the application's own, around the
                    # router, catches what this one would, with the same handlers.
                    request = Request(scope, receive, send)
                    response = await route.endpoint(request)
                    await response(scope, receive, send)
                    return
        await super().app(scope, receive, send)


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
