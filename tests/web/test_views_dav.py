"""The HTTP contract of /.well-known/caldav and /.well-known/carddav (RFC 6764), through the ASGI
application: a redirect to the calendar or address book server of the provider the Host names."""

from __future__ import annotations

import plistlib
from collections.abc import Callable

import pytest
from starlette.testclient import TestClient

from autoconfig.settings import Settings
from tests.helpers.http import check_plain_sentence
from tests.helpers.settings import TWO_PROVIDERS

PROFILE = "/profile.mobileconfig"

# Two providers: example.org with calendar and contacts, example.net with neither (test_views_apple's,
# without its [signing] table, which the redirects never read).


@pytest.fixture
def two_providers_client(
    make_client: Callable[..., TestClient], make_settings: Callable[..., Settings]
) -> TestClient:
    return make_client(make_settings(TWO_PROVIDERS), host="autoconfig.example.org")


@pytest.mark.parametrize("host", ["autoconfig.ac-paris.fr", "ac-paris.fr", "AutoConfig.AC-Paris.fr:443"])
def test_caldav_redirect(client: TestClient, host: str) -> None:
    response = client.get("/.well-known/caldav", headers={"Host": host}, follow_redirects=False)
    assert response.status_code == 301
    assert response.headers["location"] == "https://agenda.ac-paris.fr/dav/"
    assert response.headers["cache-control"] == "public, max-age=86400"
    assert response.headers["x-content-type-options"] == "nosniff"


def test_redirect_ignores_the_query(client: TestClient) -> None:
    response = client.get(
        "/.well-known/caldav", params={"next": "https://evil.example/"}, follow_redirects=False
    )
    assert response.status_code == 301
    assert response.headers["location"] == "https://agenda.ac-paris.fr/dav/"


def test_carddav_not_configured(client: TestClient) -> None:
    response = client.get("/.well-known/carddav", follow_redirects=False)
    assert check_plain_sentence(response, 404) == "No address book server is configured here.\n"
    assert "location" not in response.headers


@pytest.mark.parametrize("path", ["/.well-known/caldav", "/.well-known/carddav"])
@pytest.mark.parametrize("host", ["autoconfig.example.com", "", "ac-paris.fr.evil.example"])
def test_redirect_for_an_unknown_host(client: TestClient, path: str, host: str) -> None:
    response = client.get(path, headers={"Host": host}, follow_redirects=False)
    assert check_plain_sentence(response, 404) == "This service does not configure mail for that domain.\n"


@pytest.mark.parametrize(
    ("host", "path", "location"),
    [
        ("autoconfig.example.org", "/.well-known/caldav", "https://dav.example.org/caldav/"),
        ("example.org", "/.well-known/carddav", "https://dav.example.org/carddav/"),
        ("autoconfig.example.net", "/.well-known/caldav", None),
        ("example.com", "/.well-known/carddav", None),
    ],
)
def test_redirect_for_the_provider_the_host_names(
    two_providers_client: TestClient, host: str, path: str, location: str | None
) -> None:
    response = two_providers_client.get(path, headers={"Host": host}, follow_redirects=False)
    if location is None:
        text = check_plain_sentence(response, 404)
        assert text.startswith("No ")
        assert text.endswith(" server is configured here.\n")
    else:
        assert response.status_code == 301
        assert response.headers["location"] == location


# A calendar and an address book whose URLs name the person.
PER_PERSON_DAV = {
    "calendar": {"url": "https://dav.%EMAILDOMAIN%/calendars/%EMAILLOCALPART%/"},
    "contacts": {"url": "https://contacts.example.org/dav/?user=%EMAILADDRESS%"},
}


@pytest.mark.parametrize(
    ("host", "path", "location"),
    [
        ("autoconfig.example.org", "/.well-known/caldav", "https://dav.example.org/calendars/"),
        ("example.net", "/.well-known/caldav", "https://dav.example.net/calendars/"),
        ("autoconfig.alias.example.org", "/.well-known/caldav", "https://dav.example.org/calendars/"),
        ("example.net", "/.well-known/carddav", "https://contacts.example.org/dav/"),
    ],
)
def test_redirect_without_a_person_fills_the_domain_and_stops_before_personal_parts(
    make_client: Callable[..., TestClient],
    make_settings: Callable[..., Settings],
    host: str,
    path: str,
    location: str,
) -> None:
    # A URL written for profiles (placeholders filled per person) must not reach a client as
    # "%EMAILDOMAIN%" or "%EMAILLOCALPART%": the well-known redirect has a domain but no person.
    settings = make_settings(
        provider={
            "domains": ["example.org", "example.net"],
            "aliases": ["alias.example.org"],
            **PER_PERSON_DAV,
        }
    )
    dav = make_client(settings, host=None)
    response = dav.get(path, headers={"Host": host}, follow_redirects=False)
    assert response.status_code == 301
    assert response.headers["location"] == location
    # The same settings still give each person their own URL in the profile.
    profile = plistlib.loads(dav.get(PROFILE, params={"email": "anne@example.net"}).content)
    caldav = profile["PayloadContent"][1]
    assert caldav["CalDAVPrincipalURL"] == "https://dav.example.net/calendars/anne/"
