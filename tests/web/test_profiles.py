"""profiles.py: signed Apple profiles under pressure: the cache, the one-at-a-time signing gate, and the
busy answer past its queue."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable

import pytest
from starlette.testclient import TestClient

from autoconfig.errors import BusyError
from autoconfig.formats.signing import Signer, development_signer
from autoconfig.settings import Settings
from autoconfig.web.app import create_app
from autoconfig.web.metrics import PROFILES_SIGNED
from autoconfig.web.profiles import SignedProfiles

JEAN = "jean.dupont@ac-paris.fr"
MakeClient = Callable[..., TestClient]


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
    assert caught.value.headers == {"Retry-After": "1"}


def test_the_busy_answer_says_when_to_come_back(
    make_settings: Callable[..., Settings], make_client: MakeClient
) -> None:
    app = create_app(make_settings())
    assert app.state.served.profiles is None  # unsigned settings: a signer with no room in its queue
    app.state.served = dataclasses.replace(
        app.state.served, profiles=SignedProfiles(development_signer(), queue=0)
    )
    client = make_client(app, host="autoconfig.example.org")
    # Said in the visitor's language, like every error of the profile's link.
    for language, says in (
        ("en", "The service is busy; try again in a moment."),
        ("fr", "Le service est occupé ; réessayez dans un instant."),
    ):
        response = client.get(f"/profile.mobileconfig?email=jean@example.org&lang={language}")
        assert response.status_code == 503
        assert response.headers["retry-after"] == "1"
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["content-language"] == language
        assert " ".join(response.text.split()) == says


def test_the_profile_endpoint_signs_a_person_once(settings: Settings, make_client: MakeClient) -> None:
    # An application of its own (not the shared one): its cache holds nobody yet.
    client = make_client(settings, host=None)
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
