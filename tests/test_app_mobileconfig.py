"""The HTTP contract of /profile.mobileconfig and /.well-known/caldav|carddav, through the ASGI application.

Signed answers are opened with the real `openssl cms -verify`, against the development certificate
(bundled default) or the root of a test chain (a settings file with [signing]).
"""

from __future__ import annotations

import plistlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from starlette.testclient import TestClient

from autoconfig.accounts import resolve_account
from autoconfig.formats.apple import MEDIA_TYPE, build_mobileconfig
from autoconfig.formats.signing import signer_for
from autoconfig.paths import profiles_dir
from autoconfig.settings import Settings, load_settings
from autoconfig.web.app import create_app
from tests.helpers.applecheck import check_profile, load_schema
from tests.helpers.certs import ChainFiles, cms_certificates, cms_verify, make_chain, pem
from tests.helpers.http import check_plain_sentence
from tests.helpers.settings import MINIMAL_TOML as MINIMAL

SCHEMA = load_schema()
PROFILE = "/profile.mobileconfig"
JEAN = "jean.dupont@ac-paris.fr"
HOST = {"Host": "autoconfig.ac-paris.fr"}

# Two providers: example.org with calendar and contacts, example.net with neither.
TWO_PROVIDERS = """
[service]
public_url = "https://autoconfig.example.org"

[[providers]]
id = "example.org"
name = "Example"
domains = ["example.org"]

[[providers.incoming]]
host = "imap.example.org"
security = "tls"

[[providers.outgoing]]
host = "smtp.example.org"
security = "tls"

[providers.calendar]
url = "https://dav.example.org/caldav/"

[providers.contacts]
url = "https://dav.example.org/carddav/"

[[providers]]
id = "example.net"
name = "Example Net"
domains = ["example.net", "example.com"]

[[providers.incoming]]
protocol = "pop3"
host = "pop.example.net"
security = "tls"

[[providers.outgoing]]
host = "smtp.example.net"
security = "tls"
"""


@pytest.fixture(scope="module")
def client(settings: Settings) -> Iterator[TestClient]:
    """The bundled default: signed with the development certificate made in the state folder."""
    with TestClient(create_app(settings), headers=HOST) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def dev_ca(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Path:
    signer = signer_for(settings)
    assert signer is not None
    assert signer.development
    path = tmp_path_factory.mktemp("dev-ca") / "dev.pem"
    path.write_bytes(pem(signer.certificate))
    return path


Opener = Callable[[Any], bytes]


@pytest.fixture(scope="module")
def dev_open(dev_ca: Path, tmp_path_factory: pytest.TempPathFactory) -> Opener:
    """Opens an answer signed with the development certificate."""
    folder = tmp_path_factory.mktemp("dev-open")
    return lambda response: opened(response, dev_ca, folder)


@pytest.fixture(scope="module")
def chain_files(tmp_path_factory: pytest.TempPathFactory) -> ChainFiles:
    return make_chain("ec").write(tmp_path_factory.mktemp("chain"))


@pytest.fixture(scope="module")
def signed_settings(chain_files: ChainFiles, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    path = tmp_path_factory.mktemp("signed") / "settings.toml"
    path.write_text(TWO_PROVIDERS + "\n" + chain_files.signing_toml(), encoding="utf-8")
    return load_settings(path)


@pytest.fixture(scope="module")
def signed_client(signed_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(signed_settings), headers={"Host": "autoconfig.example.org"}) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def unsigned_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    path = tmp_path_factory.mktemp("unsigned") / "settings.toml"
    path.write_text(MINIMAL, encoding="utf-8")
    return load_settings(path)


def opened(response: Any, ca: Path, folder: Path) -> bytes:
    """The plist inside a signed answer, after `openssl cms -verify` against `ca`."""
    result = cms_verify(response.content, ca, folder)
    assert result.returncode == 0, result.stderr.decode()
    content: bytes = result.stdout
    return content


def parsed(content: bytes) -> dict[str, Any]:
    profile = plistlib.loads(content)
    assert isinstance(profile, dict)
    assert check_profile(profile, SCHEMA) == []
    return profile


def check_profile_answer(response: Any, filename: str) -> None:
    assert response.status_code == 200
    assert response.headers["content-type"] == MEDIA_TYPE == "application/x-apple-aspen-config"
    assert response.headers["content-disposition"] == f'attachment; filename="{filename}"'
    assert response.headers["cache-control"] == "private, no-store"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert int(response.headers["content-length"]) == len(response.content)
    assert "set-cookie" not in response.headers


# --- the bundled default, signed with the development certificate ---------------------------------------


def test_profile_answer(client: TestClient, settings: Settings, dev_ca: Path, dev_open: Opener) -> None:
    response = client.get(PROFILE, params={"email": JEAN})
    check_profile_answer(response, "ac-paris.fr.mobileconfig")
    content = dev_open(response)
    # The signed content is the generator's plist, byte for byte, in the default language.
    assert content == build_mobileconfig(resolve_account(settings, JEAN), "fr")
    profile = parsed(content)
    assert profile["PayloadDisplayName"] == "Messagerie Académie de Paris"
    assert [p["PayloadType"] for p in profile["PayloadContent"]] == [
        "com.apple.mail.managed",
        "com.apple.caldav.account",
        "com.apple.ldap.account",
    ]
    [carried] = cms_certificates(response.content)
    assert carried.public_bytes(serialization.Encoding.PEM) == dev_ca.read_bytes()


@pytest.mark.parametrize("key", ["email", "emailaddress", "EMAIL", "EmailAddress"])
def test_address_parameter_spellings(client: TestClient, dev_open: Opener, key: str) -> None:
    response = client.get(PROFILE, params={key: JEAN})
    check_profile_answer(response, "ac-paris.fr.mobileconfig")
    mail = parsed(dev_open(response))["PayloadContent"][0]
    assert mail["EmailAddress"] == JEAN
    assert mail["IncomingMailServerUsername"] == "jdupont"


@pytest.mark.parametrize(
    ("query", "accept_language", "display_name"),
    [
        ({}, None, "Messagerie Académie de Paris"),
        ({"lang": "en"}, None, "Académie de Paris mail"),
        ({"lang": "EN-gb"}, "fr", "Académie de Paris mail"),
        ({"lang": "fr"}, "en", "Messagerie Académie de Paris"),
        ({}, "en-GB,en;q=0.9,fr;q=0.8", "Académie de Paris mail"),
        ({}, "fr;q=0.2, en;q=0.7", "Académie de Paris mail"),
        ({}, "de-DE,de;q=0.9", "Messagerie Académie de Paris"),
        ({"lang": "de"}, "en", "Académie de Paris mail"),
        ({"lang": "<script>"}, None, "Messagerie Académie de Paris"),
    ],
)
def test_language(
    client: TestClient,
    dev_open: Opener,
    query: dict[str, str],
    accept_language: str | None,
    display_name: str,
) -> None:
    headers = {} if accept_language is None else {"Accept-Language": accept_language}
    response = client.get(PROFILE, params={"email": JEAN, **query}, headers=headers)
    profile = parsed(dev_open(response))
    assert profile["PayloadDisplayName"] == display_name


def test_identifiers_stable_across_requests_and_casing(client: TestClient, dev_open: Opener) -> None:
    def ids(address: str) -> list[str]:
        profile = parsed(dev_open(client.get(PROFILE, params={"email": address})))
        payloads = [profile, *profile["PayloadContent"]]
        return [p["PayloadUUID"] for p in payloads] + [p["PayloadIdentifier"] for p in payloads]

    jean = ids(JEAN)
    assert ids(JEAN) == jean
    assert ids("Jean.Dupont@AC-PARIS.fr") == jean
    other = ids("marie.martin@ac-paris.fr")
    assert set(other).isdisjoint(jean)


@pytest.mark.parametrize("address", ["o'neil&co@ac-paris.fr", "a/b?c=d#e@ac-paris.fr", "x%22y@ac-paris.fr"])
def test_metacharacters_in_the_address(client: TestClient, dev_open: Opener, address: str) -> None:
    response = client.get(PROFILE, params={"email": address})
    # The file name is the provider's id, never anything from the request.
    check_profile_answer(response, "ac-paris.fr.mobileconfig")
    mail = parsed(dev_open(response))["PayloadContent"][0]
    assert mail["EmailAddress"] == address


# --- refusals -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "status", "says"),
    [
        ({}, 400, "Add ?email= with your mail address."),
        ({"email": ""}, 400, "Add ?email= with your mail address."),
        ({"email": "jean.dupont@example.com"}, 404, "This service does not configure mail for that domain."),
        ({"email": "jean.dupont"}, 400, "The address has no @ sign."),
        (
            {"email": "jean\n.dupont@ac-paris.fr"},
            400,
            "The address holds spaces, line breaks or control characters.",
        ),
        (
            {"email": 'jean.dupont@ac-paris.fr"\r\nContent-Disposition: inline'},
            400,
            "The address holds spaces, line breaks or control characters.",
        ),
        (
            {"email": "<key>IncomingPassword</key>@ac-paris.fr"},
            400,
            "The part before the @ sign holds a character addresses cannot have.",
        ),
        (  # 1,000 characters
            {"email": "a" * 988 + "@ac-paris.fr"},
            400,
            "The part before the @ sign is longer than 64 characters.",
        ),
        ({"email": "jean.dupont@" + "a" * 2000 + ".fr"}, 400, "The address is too long."),
    ],
)
def test_refusals(client: TestClient, params: dict[str, str], status: int, says: str) -> None:
    response = client.get(PROFILE, params=params)
    assert check_plain_sentence(response, status) == says + "\n"
    assert "content-disposition" not in response.headers


def test_only_get(client: TestClient) -> None:
    response = client.post(PROFILE, params={"email": JEAN})
    assert response.status_code == 405


# --- a settings file with [signing]: the configured chain ------------------------------------------------


def test_signed_with_the_configured_chain(
    signed_client: TestClient, signed_settings: Settings, chain_files: ChainFiles, tmp_path: Path
) -> None:
    response = signed_client.get(PROFILE, params={"email": "anne.marie@example.org", "lang": "en"})
    check_profile_answer(response, "example.org.mobileconfig")
    content = opened(response, chain_files.root, tmp_path)
    assert content == build_mobileconfig(resolve_account(signed_settings, "anne.marie@example.org"), "en")
    profile = parsed(content)
    assert [p["PayloadType"] for p in profile["PayloadContent"]] == [
        "com.apple.mail.managed",
        "com.apple.caldav.account",
        "com.apple.carddav.account",
    ]
    carried = {c.subject.rfc4514_string() for c in cms_certificates(response.content)}
    assert carried == {
        c.subject.rfc4514_string()
        for c in x509.load_pem_x509_certificates(chain_files.fullchain.read_bytes())
    }


def test_each_provider_its_own_file_name_and_payloads(
    signed_client: TestClient, chain_files: ChainFiles, tmp_path: Path
) -> None:
    response = signed_client.get(PROFILE, params={"emailaddress": "Anne@EXAMPLE.COM"})
    check_profile_answer(response, "example.net.mobileconfig")
    profile = parsed(opened(response, chain_files.root, tmp_path))
    [mail] = profile["PayloadContent"]
    assert mail["EmailAccountType"] == "EmailTypePOP"
    assert mail["IncomingMailServerHostName"] == "pop.example.net"
    assert profile["PayloadIdentifier"].startswith("net.example.autoconfig.")


def test_unsigned_without_signing(unsigned_settings: Settings) -> None:
    with TestClient(create_app(unsigned_settings), headers={"Host": "autoconfig.example.org"}) as unsigned:
        response = unsigned.get(PROFILE, params={"email": "anne.marie@example.org"})
    check_profile_answer(response, "example.org.mobileconfig")
    # A plain XML property list, exactly what the generator makes.
    assert response.content == build_mobileconfig(
        resolve_account(unsigned_settings, "anne.marie@example.org"), "fr"
    )
    assert response.content.startswith(b"<?xml")
    parsed(response.content)


# --- /.well-known/caldav and /.well-known/carddav (RFC 6764) ---------------------------------------------


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
    signed_client: TestClient, host: str, path: str, location: str | None
) -> None:
    response = signed_client.get(path, headers={"Host": host}, follow_redirects=False)
    if location is None:
        text = check_plain_sentence(response, 404)
        assert text.startswith("No ")
        assert text.endswith(" server is configured here.\n")
    else:
        assert response.status_code == 301
        assert response.headers["location"] == location


def test_multi_provider_example_unsigned() -> None:
    # The bundled multi-provider example has no [signing] and is not the default: served unsigned.
    settings = load_settings(profiles_dir() / "ile-de-france.toml")
    with TestClient(create_app(settings), headers=HOST) as multi:
        response = multi.get(PROFILE, params={"email": "jean.dupont@ac-creteil.fr"})
    check_profile_answer(response, "ac-creteil.fr.mobileconfig")
    profile = parsed(response.content)
    assert profile["PayloadIdentifier"].startswith("fr.ac-creteil.autoconfig.")
    assert profile["PayloadContent"][0]["IncomingMailServerUsername"] == "jean.dupont@ac-creteil.fr"


PER_PERSON_DAV = """
[providers.calendar]
url = "https://dav.%EMAILDOMAIN%/calendars/%EMAILLOCALPART%/"

[providers.contacts]
url = "https://contacts.example.org/dav/?user=%EMAILADDRESS%"
"""


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
    tmp_path: Path, host: str, path: str, location: str
) -> None:
    # A URL written for profiles (placeholders filled per person) must not reach a client as
    # "%EMAILDOMAIN%" or "%EMAILLOCALPART%": the well-known redirect has a domain but no person.
    text = MINIMAL.replace('domains = ["example.org"]', 'domains = ["example.org", "example.net"]')
    text = text.replace('name = "Example"', 'name = "Example"\naliases = ["alias.example.org"]')
    settings_path = tmp_path / "settings.toml"
    settings_path.write_text(text + PER_PERSON_DAV, encoding="utf-8")
    with TestClient(create_app(load_settings(settings_path))) as dav:
        response = dav.get(path, headers={"Host": host}, follow_redirects=False)
        assert response.status_code == 301
        assert response.headers["location"] == location
        # The same settings still give each person their own URL in the profile.
        profile = plistlib.loads(dav.get(PROFILE, params={"email": "anne@example.net"}).content)
    caldav = profile["PayloadContent"][1]
    assert caldav["CalDAVPrincipalURL"] == "https://dav.example.net/calendars/anne/"
