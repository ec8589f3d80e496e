"""The route table: every route the application answers comes from it, with a metric label, a client
family and a cache policy; the router, the metrics and `autoconfig render` read it."""

from __future__ import annotations

import re
from collections.abc import Callable, MutableMapping
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from starlette.routing import BaseRoute, Match, Mount, Route, Router
from starlette.testclient import TestClient

from autoconfig.cli import main
from autoconfig.settings import Settings
from autoconfig.web import routes
from autoconfig.web.app import create_app
from autoconfig.web.routes import (
    ENDPOINTS,
    GUIDE_DEVICES,
    CachePolicy,
    Endpoint,
    classify,
    endpoint_for,
    exported_paths,
    starlette_routes,
)

POLICIES = {value.name: value for value in vars(routes).values() if isinstance(value, CachePolicy)}
# The endpoint label stays a small fixed set: a new one is a decision, made here.
LABELS = {
    "clientconfig",
    "pacc",
    "autodiscover_xml",
    "autodiscover_json",
    "mobileconfig",
    "dav",
    "landing",
    "guide",
    "static",
    "health",
    "metrics",
}
GUIDES = {f"guide_{device}" for device in GUIDE_DEVICES}


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e.paths[0])
def test_every_entry_has_a_label_a_policy_and_a_summary(endpoint: Endpoint) -> None:
    labels = (
        {endpoint.label}
        if isinstance(endpoint.label, str)
        else {
            endpoint.label(path) for path in ("/guide", "/guide/", "/guide/android", "/guide/x", "/guide/ios")
        }
    )
    assert labels <= LABELS | GUIDES
    assert isinstance(endpoint.cache, CachePolicy)
    assert endpoint.cache is POLICIES[endpoint.cache.name]
    assert endpoint.summary.strip()
    assert endpoint.methods
    assert all(path.startswith("/") for path in endpoint.paths)


def test_the_application_answers_only_the_tables_routes(settings: Settings) -> None:
    app = create_app(settings)
    served = [r for r in app.routes if isinstance(r, Route | Mount)]
    assert len(served) == len(app.routes)
    for route in served:
        endpoint = endpoint_for(route.path if isinstance(route, Route) else route.path + "/x")
        assert endpoint is not None, route.path
        assert route.path.rstrip("/") in {p.rstrip("/") for p in endpoint.paths}
    table_paths = {p for e in ENDPOINTS for p in e.paths}
    assert {r.path for r in served} == table_paths


def test_a_new_route_without_a_label_or_policy_cannot_be_declared() -> None:
    with pytest.raises(TypeError):
        Endpoint(("/new",), ("GET",), None)  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("path", "user_agent", "labels"),
    [
        ("/mail/config-v1.1.xml", "Thunderbird/128.0", ("clientconfig", "thunderbird")),
        (
            "/.well-known/autoconfig/mail/config-v1.1.xml",
            "okhttp/4.12.0",
            ("clientconfig", "thunderbird_android"),
        ),
        ("/Autodiscover/Autodiscover.xml", "Microsoft Office/16.0", ("autodiscover_xml", "outlook")),
        ("/autodiscover/autodiscover.json/v1.0/a@b.fr", "", ("autodiscover_json", "unknown")),
        (
            "/profile.mobileconfig",
            "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X)",
            ("mobileconfig", "apple_ios"),
        ),
        ("/.well-known/carddav", "", ("dav", "unknown")),
        ("/", "", ("landing", "unknown")),
        ("/guide/android", "", ("guide_android", "unknown")),
        ("/guide", "Mozilla/5.0 (Linux; Android 14)", ("guide", "browser")),
        ("/guide/ios", "Mozilla/5.0 (Linux; Android 14)", ("guide_ios", "browser")),
        ("/guide/nothing", "", ("guide", "unknown")),
        ("/static/style.css", "", ("static", "unknown")),
        ("/healthz", "", ("health", "unknown")),
        ("/metrics", "", ("metrics", "unknown")),
        ("/wp-login.php", "", ("other", "unknown")),
    ],
)
def test_metrics_labels_come_from_the_table(path: str, user_agent: str, labels: tuple[str, str]) -> None:
    assert classify(path, user_agent) == labels


def test_the_static_export_writes_the_paths_that_need_no_address() -> None:
    assert exported_paths() == ("mail/config-v1.1.xml", ".well-known/autoconfig/mail/config-v1.1.xml")


def test_render_writes_the_tables_exported_paths(tmp_path: Path, settings_file: Callable[..., Path]) -> None:
    result = CliRunner().invoke(
        main, ["render", "--settings", str(settings_file()), "--out", str(tmp_path / "out")]
    )
    assert result.exit_code == 0, result.output
    written = sorted(str(p.relative_to(tmp_path / "out")) for p in (tmp_path / "out").rglob("*.xml"))
    assert written == sorted(f"example.org/{path}" for path in exported_paths())


@pytest.mark.parametrize(
    ("path", "headers", "expected"),
    [
        ("/mail/config-v1.1.xml", {}, "public, max-age=3600"),
        ("/mail/config-v1.1.xml?emailaddress=jean.dupont@ac-paris.fr", {}, "private, max-age=3600"),
        ("/mail/config-v1.1.xml?emailaddress=jean.dupont@example.com", {}, "no-store"),
        (
            "/autodiscover/autodiscover.json?Email=jean.dupont@ac-paris.fr&Protocol=AutodiscoverV1",
            {},
            "private, max-age=3600",
        ),
        ("/autodiscover/autodiscover.json?Email=jean.dupont@ac-paris.fr&Protocol=Rest", {}, "no-store"),
        ("/autodiscover/autodiscover.xml", {}, "private, no-store"),
        ("/profile.mobileconfig?email=jean.dupont@ac-paris.fr", {}, "private, no-store"),
        ("/.well-known/caldav", {}, "public, max-age=86400"),
        ("/", {}, "public, max-age=300"),
        ("/guide/android?email=jean.dupont@ac-paris.fr", {}, "private, no-store"),
        ("/guide/android?email=nobody@example.com", {}, "private, no-store"),
        ("/healthz", {}, "no-store"),
        ("/metrics", {}, "no-store"),
    ],
)
def test_each_answer_carries_its_routes_cache_policy(
    client: TestClient, path: str, headers: dict[str, str], expected: str
) -> None:
    response = client.get(path, headers=headers, follow_redirects=False)
    assert response.headers["cache-control"] == expected


def test_static_files_carry_validators_and_no_policy(client: TestClient) -> None:
    response = client.get("/static/style.css")
    assert response.status_code == 200
    assert "cache-control" not in response.headers
    assert response.headers["etag"]
    assert re.match(r"\w{3}, \d{2} \w{3} \d{4}", response.headers["last-modified"])


# --- the router's shortcut: a path's route in one lookup, the very route Starlette's loop would pick ---

PATHS = [
    "/mail/config-v1.1.xml",
    "/.well-known/autoconfig/mail/config-v1.1.xml",
    "/autodiscover/autodiscover.xml",
    "/Autodiscover/Autodiscover.xml",
    "/AUTODISCOVER/AUTODISCOVER.JSON",
    "/autodiscover/autodiscover.json/v1.0/jean.dupont@ac-paris.fr",
    "/Autodiscover/Autodiscover.json/v1.0/a@b.fr",
    "/autodiscover/autodiscover.json/v1.0/",
    "/profile.mobileconfig",
    "/Profile.mobileconfig",
    "/.well-known/caldav",
    "/.well-known/carddav",
    "/",
    "/guide",
    "/guide/android",
    "/guide/",
    "/guide/a/b",
    "/static/style.css",
    "/static",
    "/healthz",
    "/healthz/",
    "/metrics",
    "/mail/config-v1.1.xml/",
    "/wp-login.php",
]
METHODS = ["GET", "HEAD", "POST", "PROPFIND", "DELETE"]


def _starlettes_choice(
    scope: dict[str, object], table: list[BaseRoute]
) -> tuple[BaseRoute, MutableMapping[str, Any]] | None:
    """The route and child scope Starlette's own loop picks: the first full match, else the first partial."""
    partial = None
    for route in table:
        match, child = route.matches(scope)
        if match is Match.FULL:
            return route, child
        if match is Match.PARTIAL and partial is None:
            partial = (route, child)
    return partial


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("method", METHODS)
def test_the_shortcut_picks_the_route_starlette_would(path: str, method: str) -> None:
    scope: dict[str, object] = {"type": "http", "path": path, "method": method, "root_path": ""}
    table = starlette_routes()
    found = routes._match(path)
    choice = _starlettes_choice(scope, table)
    if found.route is None:  # no route, or the static files: Starlette's loop decides
        assert choice is None or isinstance(choice[0], Mount)
        return
    route = table[found.route]
    assert isinstance(route, Route)
    assert choice is not None
    if route.methods is not None and method not in route.methods:  # 405: Starlette's loop decides
        assert choice[1]["endpoint"] is route.endpoint
        return
    assert choice[0] is route
    assert choice[1] == {"endpoint": route.endpoint, "path_params": dict(found.params)}


def test_the_shortcut_answers_what_starlettes_router_answers(settings: Settings) -> None:
    shortcut = create_app(settings)
    plain = create_app(settings)
    plain.router = Router(routes=starlette_routes(), redirect_slashes=False)
    assert type(shortcut.router) is not Router
    host = {"Host": "autoconfig.ac-paris.fr"}
    with TestClient(shortcut, headers=host) as fast, TestClient(plain, headers=host) as slow:
        for path in PATHS:
            for method in METHODS:
                query = {"emailaddress": "jean.dupont@ac-paris.fr", "email": "jean.dupont@ac-paris.fr"}
                answers = [
                    client.request(method, path, params=query, follow_redirects=False)
                    for client in (fast, slow)
                ]
                a, b = answers
                assert (a.status_code, a.headers.keys()) == (b.status_code, b.headers.keys()), (method, path)
                if not path.lower().startswith("/profile"):  # a signature differs each time
                    assert (a.content, dict(a.headers)) == (b.content, dict(b.headers)), (method, path)
