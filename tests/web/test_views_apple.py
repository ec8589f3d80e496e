"""The HTTP contract of /profile.mobileconfig, through the ASGI application.

Signed answers are opened with the real `openssl cms -verify`, against the development certificate
(bundled default) or the root of a test chain (a settings file with [signing]).
"""

from __future__ import annotations

import plistlib
from collections.abc import Callable
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
from tests.helpers.applecheck import check_profile, load_schema
from tests.helpers.certs import ChainFiles, cms_certificates, cms_verify, make_chain, pem
from tests.helpers.http import check_plain_sentence
from tests.helpers.settings import TWO_PROVIDERS, write_settings

SCHEMA = load_schema()
PROFILE = "/profile.mobileconfig"
JEAN = "jean.dupont@ac-paris.fr"


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
    # Module-wide, as the chain it names: written with the builder, since settings_file is per test.
    data = {**TWO_PROVIDERS, "signing": chain_files.signing_data()}
    return load_settings(write_settings(tmp_path_factory.mktemp("signed"), data))


@pytest.fixture
def signed_client(make_client: Callable[..., TestClient], signed_settings: Settings) -> TestClient:
    return make_client(signed_settings, host="autoconfig.example.org")


@pytest.fixture
def unsigned_settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


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


# A person reaches these from a guide's link: each is said in the visitor's language. In English, the
# address's fault itself; in French, the pages' sentence for it.
FR_INVALID = "Ce n'est pas une adresse électronique valide : vérifiez-la et réessayez."


REFUSALS: list[tuple[dict[str, str], int, str, str]] = [
    (
        {},
        400,
        "Add ?email= with your mail address.",
        "Ajoutez ?email= suivi de votre adresse électronique.",
    ),
    (
        {"email": ""},
        400,
        "Add ?email= with your mail address.",
        "Ajoutez ?email= suivi de votre adresse électronique.",
    ),
    (
        {"email": "jean.dupont@example.com"},
        404,
        "This service sets up addresses at ac-paris.fr only.",
        "Ce service configure uniquement les adresses en ac-paris.fr.",
    ),
    ({"email": "jean.dupont"}, 400, "The address has no @ sign.", FR_INVALID),
    (
        {"email": "jean\n.dupont@ac-paris.fr"},
        400,
        "The address holds spaces, line breaks or control characters.",
        FR_INVALID,
    ),
    (
        {"email": 'jean.dupont@ac-paris.fr"\r\nContent-Disposition: inline'},
        400,
        "The address holds spaces, line breaks or control characters.",
        FR_INVALID,
    ),
    (
        {"email": "<key>IncomingPassword</key>@ac-paris.fr"},
        400,
        "The part before the @ sign holds a character addresses cannot have.",
        FR_INVALID,
    ),
    (  # 1,000 characters
        {"email": "a" * 988 + "@ac-paris.fr"},
        400,
        "The part before the @ sign is longer than 64 characters.",
        FR_INVALID,
    ),
    ({"email": "jean.dupont@" + "a" * 2000 + ".fr"}, 400, "The address is too long.", FR_INVALID),
]
# How the visitor's language is known: the page's link, the browser, the settings' default.
LANGUAGE_WAYS: list[tuple[str, dict[str, str], dict[str, str]]] = [
    ("en", {"lang": "en"}, {}),
    ("en", {}, {"Accept-Language": "en-GB,en;q=0.9"}),
    ("fr", {"lang": "fr"}, {"Accept-Language": "en-GB"}),  # the page's choice wins
    ("fr", {}, {}),
]


@pytest.mark.parametrize("refusal", REFUSALS)
@pytest.mark.parametrize("way", LANGUAGE_WAYS)
def test_refusals_in_the_visitors_language(
    client: TestClient,
    refusal: tuple[dict[str, str], int, str, str],
    way: tuple[str, dict[str, str], dict[str, str]],
) -> None:
    params, status, says, in_french = refusal
    language, query, headers = way
    response = client.get(PROFILE, params={**params, **query}, headers=headers)
    sentence = check_plain_sentence(response, status)
    # Spaces compared as words are: the catalogue may hold a no-break space before French punctuation.
    assert " ".join(sentence.split()) == (says if language == "en" else in_french)
    assert response.headers["content-language"] == language
    assert "accept-language" in response.headers["vary"].lower()
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


def test_unsigned_without_signing(
    make_client: Callable[..., TestClient], unsigned_settings: Settings
) -> None:
    unsigned = make_client(unsigned_settings, host="autoconfig.example.org")
    response = unsigned.get(PROFILE, params={"email": "anne.marie@example.org"})
    check_profile_answer(response, "example.org.mobileconfig")
    # A plain XML property list, exactly what the generator makes.
    assert response.content == build_mobileconfig(
        resolve_account(unsigned_settings, "anne.marie@example.org"), "fr"
    )
    assert response.content.startswith(b"<?xml")
    parsed(response.content)


# --- the bundled multi-provider example ----------------------------------------------------------------


def test_multi_provider_example_unsigned(make_client: Callable[..., TestClient]) -> None:
    # The bundled multi-provider example has no [signing] and is not the default: served unsigned.
    multi = make_client(load_settings(profiles_dir() / "ile-de-france.toml"))
    response = multi.get(PROFILE, params={"email": "jean.dupont@ac-creteil.fr"})
    check_profile_answer(response, "ac-creteil.fr.mobileconfig")
    profile = parsed(response.content)
    assert profile["PayloadIdentifier"].startswith("fr.ac-creteil.autoconfig.")
    assert profile["PayloadContent"][0]["IncomingMailServerUsername"] == "jean.dupont@ac-creteil.fr"
