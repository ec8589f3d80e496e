"""Limits under pressure: the signed-profile cache and signing gate, and the request deadline."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from autoconfig.formats.signing import Signer, development_signer
from autoconfig.settings import Settings, load_settings
from autoconfig.web.app import create_app
from autoconfig.web.metrics import PROFILES_SIGNED
from autoconfig.web.middleware import Edge, ServiceMiddleware
from autoconfig.web.profiles import BusyError, SignedProfiles
from tests.helpers.live import serving
from tests.helpers.settings import MINIMAL_TOML as MINIMAL

JEAN = "jean.dupont@ac-paris.fr"


@pytest.fixture(scope="module")
def signer() -> Signer:
    return development_signer()


def signed_so_far() -> float:
    return PROFILES_SIGNED._value.get()  # type: ignore[no-any-return]


def test_a_repeat_is_served_from_the_cache_without_signing_again(signer: Signer) -> None:
    profiles = SignedProfiles(signer)
    built: list[str] = []

    def unsigned() -> bytes:
        built.append("once")
        return b"<plist/>"

    before = signed_so_far()
    first = asyncio.run(profiles.get(("jean.dupont@ac-paris.fr", "fr"), unsigned))
    second = asyncio.run(profiles.get(("jean.dupont@ac-paris.fr", "fr"), unsigned))
    assert first == second
    assert built == ["once"]
    assert signed_so_far() - before == 1
    # Another language is another profile.
    asyncio.run(profiles.get(("jean.dupont@ac-paris.fr", "en"), unsigned))
    assert built == ["once", "once"]


def test_the_cache_is_bounded_and_forgets_the_oldest(signer: Signer) -> None:
    profiles = SignedProfiles(signer, entries=3)

    async def fill() -> list[bytes]:
        return [await profiles.get((f"p{i}@ac-paris.fr", "fr"), lambda: b"<plist/>") for i in range(5)]

    asyncio.run(fill())
    assert list(profiles._cache) == [
        ("p2@ac-paris.fr", "fr"),
        ("p3@ac-paris.fr", "fr"),
        ("p4@ac-paris.fr", "fr"),
    ]


def test_signing_is_one_at_a_time_and_other_work_runs_between(signer: Signer) -> None:
    profiles = SignedProfiles(signer)
    active = 0
    most = 0
    ticks: list[int] = []

    def unsigned() -> bytes:
        nonlocal active, most
        active += 1
        most = max(most, active)
        active -= 1
        return b"<plist/>"

    async def other_work() -> None:
        # Stands for the XML endpoints: it must get turns while 40 profiles are being signed.
        for i in range(40):
            ticks.append(i)
            await asyncio.sleep(0)

    async def flood() -> None:
        jobs = [profiles.get((f"p{i}@ac-paris.fr", "fr"), unsigned) for i in range(40)]
        await asyncio.gather(other_work(), *jobs)

    asyncio.run(flood())
    assert most == 1
    assert len(ticks) == 40


def test_past_the_queue_the_answer_is_busy(signer: Signer) -> None:
    profiles = SignedProfiles(signer, queue=0)
    with pytest.raises(BusyError) as caught:
        asyncio.run(profiles.get((JEAN, "fr"), lambda: b"<plist/>"))
    assert caught.value.status == 503


def test_the_profile_endpoint_signs_a_person_once(settings: Settings) -> None:
    with TestClient(create_app(settings)) as client:
        before = signed_so_far()
        first = client.get("/profile.mobileconfig", params={"email": "cache.test@ac-paris.fr"})
        second = client.get("/profile.mobileconfig", params={"email": "cache.test@AC-PARIS.FR"})
        assert signed_so_far() - before == 1
        # Another spelling of the local part is shown in the profile: it is signed for itself, and
        # nobody receives the spelling someone else typed.
        other = client.get("/profile.mobileconfig", params={"email": "Cache.Test@ac-paris.fr"})
        assert signed_so_far() - before == 2
    assert first.status_code == second.status_code == other.status_code == 200
    assert first.content == second.content
    assert b"Cache.Test@ac-paris.fr" in other.content
    assert b"Cache.Test@ac-paris.fr" not in first.content


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
    tmp_path: Path, write_toml: Callable[[str], Path]
) -> None:
    path = write_toml(
        MINIMAL.replace(
            'public_url = "https://autoconfig.example.org"',
            'public_url = "https://autoconfig.example.org"\nrequest_timeout = 0.5',
        )
    )
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
