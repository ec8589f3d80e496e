"""middleware.py: the one middleware tells the access log and the metrics how each request ended."""

from __future__ import annotations

import asyncio

import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient
from starlette.types import Scope

from autoconfig.web.middleware import Edge, ServiceMiddleware

Seen = list[tuple[str, int, float]]


async def teapot(request: Request) -> PlainTextResponse:
    await asyncio.sleep(0.02)
    return PlainTextResponse("short and stout", status_code=418)


async def boom(request: Request) -> PlainTextResponse:
    raise RuntimeError("boom")


def make_client(seen: Seen, also: Seen | None = None, *, raise_errors: bool = False) -> TestClient:
    def observer(scope: Scope, status: int, seconds: float) -> None:
        seen.append((scope["path"], status, seconds))

    observers = [observer]
    if also is not None:
        observers.append(lambda scope, status, seconds: also.append(("second", status, seconds)))
    app = Starlette(
        routes=[Route("/teapot", teapot), Route("/boom", boom)],
        middleware=[Middleware(ServiceMiddleware, edge_of=lambda scope: Edge((), 10.0), observers=observers)],
    )
    return TestClient(app, raise_server_exceptions=raise_errors)


def test_each_observer_hears_of_each_answer_once_with_its_status_and_time() -> None:
    seen: Seen = []
    also: Seen = []
    client = make_client(seen, also)
    assert client.get("/teapot").status_code == 418
    assert client.get("/nowhere").status_code == 404
    assert [(path, status) for path, status, _ in seen] == [("/teapot", 418), ("/nowhere", 404)]
    assert [status for _, status, _ in also] == [418, 404]
    assert 0.02 <= seen[0][2] < 5.0
    assert seen[1][2] >= 0


def test_a_failing_handler_is_observed_as_500() -> None:
    seen: Seen = []
    assert make_client(seen).get("/boom").status_code == 500
    assert [(path, status) for path, status, _ in seen] == [("/boom", 500)]


def test_the_error_still_reaches_the_server() -> None:
    seen: Seen = []
    client = make_client(seen, raise_errors=True)
    with pytest.raises(RuntimeError, match="boom"):
        client.get("/boom")
    assert [status for _, status, _ in seen] == [500]


def test_lifespan_is_not_observed() -> None:
    seen: Seen = []
    with make_client(seen):
        pass
    assert seen == []
