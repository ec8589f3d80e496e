"""middleware.py: the one middleware tells the access log and the metrics how each request ended, believes
X-Forwarded-For / X-Forwarded-Proto only from `service.trusted_proxies`, and holds each request to its
deadline."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.testclient import TestClient
from starlette.types import Message, Scope

from autoconfig.settings import Settings, load_settings
from autoconfig.web.accesslog import ACCESS_LOGGER
from autoconfig.web.app import create_app
from autoconfig.web.middleware import Edge, Networks, ServiceMiddleware, forwarded_client, forwarded_scope
from tests.helpers.live import serving, wait_for
from tests.helpers.settings import settings_data, write_settings
from tests.helpers.versions import serve_again

Seen = list[tuple[str, int, float]]


async def teapot(request: Request) -> PlainTextResponse:
    await asyncio.sleep(0.02)
    return PlainTextResponse("short and stout", status_code=418)


async def boom(request: Request) -> PlainTextResponse:
    raise RuntimeError("boom")


def observed_client(seen: Seen, also: Seen | None = None, *, raise_errors: bool = False) -> TestClient:
    """A small app of its own, with observers that write down what they hear, in `seen` (and `also`)."""

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
    client = observed_client(seen, also)
    assert client.get("/teapot").status_code == 418
    assert client.get("/nowhere").status_code == 404
    assert [(path, status) for path, status, _ in seen] == [("/teapot", 418), ("/nowhere", 404)]
    assert [status for _, status, _ in also] == [418, 404]
    assert 0.02 <= seen[0][2] < 5.0
    assert seen[1][2] >= 0


def test_a_failing_handler_is_observed_as_500() -> None:
    seen: Seen = []
    assert observed_client(seen).get("/boom").status_code == 500
    assert [(path, status) for path, status, _ in seen] == [("/boom", 500)]


def test_the_error_still_reaches_the_server() -> None:
    seen: Seen = []
    client = observed_client(seen, raise_errors=True)
    with pytest.raises(RuntimeError, match="boom"):
        client.get("/boom")
    assert [status for _, status, _ in seen] == [500]


def test_lifespan_is_not_observed() -> None:
    seen: Seen = []
    with observed_client(seen):
        pass
    assert seen == []


# --- X-Forwarded-For / X-Forwarded-Proto: what they change is the client the access log and the /metrics
# check see (and the scheme), nothing for anyone else ------------------------------------------------------

PROXIES: Networks = [ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("2001:db8:1::/48")]
PROXY = "10.0.0.1"
OUTSIDER = "198.51.100.9"
REAL = "203.0.113.7"


@pytest.mark.parametrize(
    ("peer", "forwarded_for", "client"),
    [
        (OUTSIDER, REAL, OUTSIDER),  # an untrusted peer's header is not read
        (OUTSIDER, "127.0.0.1", OUTSIDER),
        (PROXY, REAL, REAL),
        (PROXY, f" {REAL} ", REAL),
        (PROXY, "", PROXY),
        (PROXY, f"{REAL}, 10.0.0.2", REAL),  # proxy behind proxy: the rightmost untrusted hop
        (PROXY, f"127.0.0.1, {REAL}, 10.9.9.9", REAL),  # whatever the client wrote on the left is ignored
        (PROXY, f"192.0.2.1, {REAL}", REAL),
        (PROXY, "10.0.0.3, 10.0.0.2", "10.0.0.3"),  # every hop a proxy: the farthest one
        # A hop that names no address: the client is unknown (never the proxy, which may be trusted).
        (PROXY, f"{REAL}, garbage", "unknown"),
        (PROXY, "unknown", "unknown"),
        (PROXY, f"unknown, {REAL}", REAL),
        (PROXY, f"{REAL}, _hidden", "unknown"),
        # A hop written with its port, as some proxies do.
        (PROXY, f"{REAL}:443", REAL),
        (PROXY, "[2001:db8:2::5]:8443", "2001:db8:2::5"),
        (PROXY, "[2001:db8:2::5", "unknown"),
        (PROXY, "[2001:db8:2::5]", "2001:db8:2::5"),
        (PROXY, "2001:db8:2::5, 2001:db8:1::9", "2001:db8:2::5"),
        (PROXY, "::ffff:203.0.113.7", REAL),
        ("2001:db8:1::1", REAL, REAL),
        ("::ffff:10.0.0.1", REAL, REAL),  # an IPv4 proxy seen through a dual-stack socket
        ("testclient", REAL, "testclient"),
        # Only the last 16 hops are read: when each is trusted and more were sent, the client is past
        # what was read, never the farthest proxy read (which the settings may trust to read /metrics).
        (PROXY, ", ".join([REAL, *["10.0.0.9"] * 20]), "unknown"),
        (PROXY, ", ".join([REAL, *["10.0.0.9"] * 16]), "unknown"),
        (PROXY, ", ".join(["10.0.0.8", *["10.0.0.9"] * 15]), "10.0.0.8"),  # 16 hops, none cut
        (PROXY, ", ".join([*["10.0.0.9"] * 10, REAL, *["10.0.0.9"] * 15]), REAL),
    ],
)
def test_forwarded_client(peer: str, forwarded_for: str, client: str) -> None:
    assert forwarded_client(peer, forwarded_for, PROXIES) == client


def test_nothing_is_trusted_without_trusted_proxies() -> None:
    assert forwarded_client("127.0.0.1", REAL, []) == "127.0.0.1"


# --- through the application -------------------------------------------------------------------------


def behind(trusted: list[str]) -> dict[str, Any]:
    """The minimal settings, logging in JSON (the client is read back from each line), trusting these
    proxies."""
    return settings_data(service={"log_format": "json", "trusted_proxies": trusted})


MakeSettings = Callable[..., Settings]
MakeClient = Callable[..., TestClient]
Clients = Callable[[], list[str]]


@pytest.fixture
def from_peer(make_settings: MakeSettings, make_client: MakeClient) -> Callable[[str], TestClient]:
    """A client connecting from this peer address, sending no Host, of an app that trusts the proxies in
    10.0.0.0/8 and logs in JSON."""
    settings = make_settings(behind(["10.0.0.0/8"]))
    return lambda peer: make_client(settings, host=None, client=(peer, 50000))


@pytest.fixture
def access_clients(caplog: pytest.LogCaptureFixture) -> Iterator[Clients]:
    """The client address of every access line written so far in the test."""
    with caplog.at_level(logging.INFO, logger=ACCESS_LOGGER):
        yield lambda: [
            json.loads(r.getMessage())["client"] for r in caplog.records if r.name == ACCESS_LOGGER
        ]


Headers = list[tuple[str, str]]


@pytest.mark.parametrize(
    ("peer", "headers", "expected"),
    [
        # A trusted proxy names the real client: the log shows it, and it is not on loopback.
        (PROXY, [("X-Forwarded-For", REAL)], (REAL, 404)),
        # A trusted proxy on behalf of a client on loopback (Prometheus behind the same proxy).
        (PROXY, [("X-Forwarded-For", "127.0.0.1")], ("127.0.0.1", 200)),
        # A spoofed header from an untrusted peer changes nothing.
        (OUTSIDER, [("X-Forwarded-For", "127.0.0.1")], (OUTSIDER, 404)),
        (OUTSIDER, [("X-Forwarded-For", f"127.0.0.1, {PROXY}")], (OUTSIDER, 404)),
        # The client wrote its own header; the proxy appended the peer it saw.
        (PROXY, [("X-Forwarded-For", f"127.0.0.1, {REAL}")], (REAL, 404)),
        # The client wrote its own header line; the proxy added another (HAProxy's option forwardfor).
        (PROXY, [("X-Forwarded-For", "127.0.0.1"), ("X-Forwarded-For", REAL)], (REAL, 404)),
        (PROXY, [], (PROXY, 404)),
    ],
)
def test_the_access_log_and_the_metrics_check_see_the_forwarded_client(
    from_peer: Callable[[str], TestClient],
    access_clients: Clients,
    peer: str,
    headers: Headers,
    expected: tuple[str, int],
) -> None:
    seen, metrics = expected
    client = from_peer(peer)
    assert client.get("/mail/config-v1.1.xml", headers=headers).status_code == 404  # no Host: unknown
    assert client.get("/metrics", headers=headers).status_code == metrics
    assert access_clients() == [seen, seen]


def test_loopback_is_not_a_proxy_unless_listed(
    make_settings: MakeSettings, make_client: MakeClient, access_clients: Clients
) -> None:
    client = make_client(make_settings(behind([])), host=None, client=("127.0.0.1", 50000))
    # Someone on the machine cannot pass for someone else, and cannot lock Prometheus out either.
    assert client.get("/metrics", headers={"X-Forwarded-For": REAL}).status_code == 200
    assert access_clients() == ["127.0.0.1"]


@pytest.mark.parametrize(
    ("peer", "headers", "scheme"),
    [
        (PROXY, [("X-Forwarded-Proto", "https")], "https"),
        (PROXY, [("X-Forwarded-Proto", " HTTPS ")], "https"),
        (PROXY, [("X-Forwarded-Proto", "gopher")], "http"),
        (PROXY, [("X-Forwarded-Proto", "http"), ("X-Forwarded-Proto", "https")], "https"),
        (PROXY, [], "http"),
        (OUTSIDER, [("X-Forwarded-Proto", "https")], "http"),
    ],
)
def test_the_scheme_follows_a_trusted_proxy_only(peer: str, headers: Headers, scheme: str) -> None:
    raw = [(name.lower().encode(), value.encode()) for name, value in headers]
    scope = {"type": "http", "scheme": "http", "client": (peer, 50000), "headers": raw}
    assert forwarded_scope(scope, PROXIES)["scheme"] == scheme


@pytest.mark.parametrize("hop", ["unknown", "garbage", "203.0.113.7, _obfuscated", "[::1"])
def test_an_unusable_hop_from_a_trusted_proxy_reads_no_metrics(
    make_settings: MakeSettings, make_client: MakeClient, access_clients: Clients, hop: str
) -> None:
    # The proxy itself is trusted and, on loopback, allowed to read /metrics by default: a hop that names
    # nobody must not turn the request into the proxy's own.
    client = make_client(make_settings(behind(["127.0.0.1/32"])), host=None, client=("127.0.0.1", 50000))
    assert client.get("/metrics", headers={"X-Forwarded-For": hop}).status_code == 404
    assert client.get("/healthz", headers={"X-Forwarded-For": hop}).json() == {"status": "ok"}
    assert access_clients() == ["unknown", "unknown"]


def test_trusted_proxies_follow_a_reload(
    make_settings: MakeSettings, make_client: MakeClient, access_clients: Clients
) -> None:
    app = create_app(make_settings(behind([])))
    client = make_client(app, host=None, client=(PROXY, 50000))
    client.get("/healthz", headers={"X-Forwarded-For": REAL})
    path = app.state.served.settings.source
    write_settings(path.parent, behind(["10.0.0.1/32"]), path.name)
    serve_again(app)
    client.get("/healthz", headers={"X-Forwarded-For": REAL})
    assert access_clients() == [PROXY, REAL]


# --- a real server --------------------------------------------------------------------------------


def _log_clients(log: str, marker: str) -> list[str]:
    return [json.loads(line)["client"] for line in log.splitlines() if marker in line]


@pytest.mark.parametrize(("trusted", "metrics"), [(["127.0.0.1/32"], 404), ([], 200)])
def test_a_real_server_trusts_only_its_settings(
    tmp_path: Path, settings_file: Callable[..., Path], trusted: list[str], metrics: int
) -> None:
    with serving(tmp_path / "logs", settings=settings_file(behind(trusted))) as server:
        spoof = {"X-Forwarded-For": REAL}
        marker = "marker-forwarded"
        assert server.get(f"/?{marker}=1", headers=spoof).status_code == 200
        assert server.get(f"/metrics?{marker}=2", headers=spoof).status_code == metrics
        log = wait_for(lambda: log if (log := server.access_log()).count(marker) >= 2 else None, 5)
    # uvicorn's own proxy-header handling is off: only the settings decide.
    expected = REAL if trusted else "127.0.0.1"
    assert _log_clients(log, marker) == [expected, expected]


@pytest.mark.parametrize("hop", ["unknown", "203.0.113.7, garbage", "[2001:db8::1"])
def test_a_real_server_behind_a_proxy_fails_closed(
    tmp_path: Path, settings_file: Callable[..., Path], hop: str
) -> None:
    # The proxy on loopback is trusted; a hop it passes on that names nobody must not make the request
    # the proxy's own, which the default metrics_networks lets read /metrics and the health details.
    with serving(tmp_path / "logs", settings=settings_file(behind(["127.0.0.1/32"]))) as server:
        headers = {"X-Forwarded-For": hop}
        assert server.get("/metrics?marker-hop=1", headers=headers).status_code == 404
        assert server.get("/healthz?marker-hop=2", headers=headers).json() == {"status": "ok"}
        log = wait_for(lambda: log if (log := server.access_log()).count("marker-hop") >= 2 else None, 5)
    assert _log_clients(log, "marker-hop") == ["unknown", "unknown"]


# --- the request deadline --------------------------------------------------------------------------


def _slow_app(seconds: float) -> Starlette:
    async def slow(request: Request) -> Response:
        await asyncio.sleep(seconds)
        return Response("late")

    async def fast(request: Request) -> Response:
        return Response("on time")

    async def stalls_midway(request: Request) -> StreamingResponse:
        async def chunks() -> object:
            yield b"first "
            await asyncio.sleep(seconds)
            yield b"never"

        return StreamingResponse(chunks())  # type: ignore[arg-type]

    app = Starlette(
        routes=[Route("/slow", slow), Route("/fast", fast), Route("/stalls", stalls_midway)],
    )
    app.add_middleware(ServiceMiddleware, edge_of=lambda scope: Edge((), 0.2), observers=[])
    return app


def test_a_request_past_its_deadline_is_503() -> None:
    with TestClient(_slow_app(2.0)) as client:
        started = time.monotonic()
        late = client.get("/slow")
        elapsed = time.monotonic() - started
        on_time = client.get("/fast")
    assert late.status_code == 503
    assert late.headers["retry-after"] == "1"
    assert late.headers["cache-control"] == "no-store"
    assert late.text == "The request took too long; try again.\n"
    assert elapsed < 1.5
    assert on_time.status_code == 200


def test_an_answer_already_under_way_is_cut_not_doubled() -> None:
    with TestClient(_slow_app(2.0)) as client:
        response = client.get("/stalls")
    assert response.status_code == 200
    assert response.content == b"first "


def test_a_slow_body_meets_the_deadline_on_a_real_server(
    tmp_path: Path, settings_file: Callable[..., Path]
) -> None:
    path = settings_file(service={"request_timeout": 0.5})
    assert load_settings(path).service.request_timeout == 0.5
    with (
        serving(tmp_path / "logs", settings=path) as server,
        socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock,
    ):
        # Declares 200 bytes, sends 10, then nothing: the server must not wait for ever.
        sock.sendall(
            b"POST /autodiscover/autodiscover.xml HTTP/1.1\r\nHost: autoconfig.example.org\r\n"
            b"Content-Type: text/xml\r\nContent-Length: 200\r\n\r\n<Autodisco"
        )
        started = time.monotonic()
        answer = sock.recv(4096)
        elapsed = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 503 ")
    assert b"retry-after: 1" in answer.lower()
    assert 0.3 < elapsed < 3


def _deadline_app() -> Starlette:
    """Sleeps `?sleep=` seconds, with the deadline `?deadline=` says (a reload may shorten it)."""

    async def sleeps(request: Request) -> Response:
        await asyncio.sleep(float(request.query_params["sleep"]))
        return Response("on time")

    def edge_of(scope: Scope) -> Edge:
        query = dict(part.split("=") for part in scope["query_string"].decode().split("&"))
        return Edge((), float(query["deadline"]))

    app = Starlette(routes=[Route("/sleep", sleeps)])
    app.add_middleware(ServiceMiddleware, edge_of=edge_of, observers=[])
    return app


async def _timed(app: Starlette, sleep: float, deadline: float) -> tuple[int, float]:
    """The status of one request to `app`, and when it was answered."""
    statuses: list[int] = []
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/sleep",
        "query_string": f"sleep={sleep}&deadline={deadline}".encode(),
        "headers": [(b"host", b"autoconfig.example.org")],
        "http_version": "1.1",
    }

    async def receive() -> Message:
        await asyncio.sleep(10)
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    await app(scope, receive, send)
    return statuses[0], time.monotonic()


def test_requests_in_flight_each_meet_their_own_deadline() -> None:
    # One timer serves every request in flight: each expires at its own deadline, not the others'; a
    # deadline shorter than one already running (a reload shortened it) is kept too.
    app = _deadline_app()

    async def together() -> tuple[float, list[tuple[int, float]]]:
        started = time.monotonic()
        long_first = asyncio.ensure_future(_timed(app, 0.9, 5.0))
        await asyncio.sleep(0.05)
        answers = await asyncio.gather(
            _timed(app, 5.0, 0.3), _timed(app, 5.0, 0.6), _timed(app, 0.1, 0.3), _timed(app, 5.0, 0.3)
        )
        return started, [await long_first, *answers]

    started, answers = asyncio.run(together())
    statuses = [status for status, _ in answers]
    assert statuses == [200, 503, 503, 200, 503]
    after = [at - started for _, at in answers]
    assert 0.9 < after[0] < 4  # answered: its deadline is 5 s
    assert 0.34 < after[1] < after[2]  # 0.05 + 0.3, before 0.05 + 0.6
    assert 0.34 < after[4] < after[2]
    assert 0.64 < after[2] < 4
    assert after[3] < after[1]


def test_deadlines_hold_on_each_event_loop_the_app_runs_on() -> None:
    app = _deadline_app()
    for _ in range(3):  # a new loop each time, as a new TestClient has
        status, _ = asyncio.run(_timed(app, 5.0, 0.2))
        assert status == 503
