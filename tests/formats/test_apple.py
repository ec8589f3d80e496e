"""Apple profiles: every profile is parsed back with plistlib and checked key by key against schema.json."""

from __future__ import annotations

import copy
import datetime as dt
import plistlib
import re
import tomllib
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from autoconfig.accounts import resolve_account
from autoconfig.errors import RequestError
from autoconfig.formats.apple import build_mobileconfig, build_payloads, profile_identifier, profile_uuid
from autoconfig.paths import profiles_dir
from autoconfig.settings import Provider, Settings, load_settings
from tests.helpers.applecheck import check_profile, load_schema
from tests.helpers.settings import settings_data

MakeSettings = Callable[..., Settings]
Server = dict[str, Any]  # one [[providers.incoming]] or [[providers.outgoing]] table

SCHEMA = load_schema()
JEAN = "jean.dupont@ac-paris.fr"
MAIL, CALDAV, CARDDAV, LDAP = (
    "com.apple.mail.managed",
    "com.apple.caldav.account",
    "com.apple.carddav.account",
    "com.apple.ldap.account",
)
PAYLOAD_KEYS = {
    "PayloadType",
    "PayloadVersion",
    "PayloadIdentifier",
    "PayloadUUID",
    "PayloadDisplayName",
    "PayloadDescription",
    "PayloadOrganization",
}
IMAP_STARTTLS: Server = {"protocol": "imap", "host": "imap.example.org", "port": 143, "security": "starttls"}
SMTP_STARTTLS: Server = {"host": "smtp.example.org", "port": 587, "security": "starttls"}


def example_data(
    incoming: Sequence[Server] = (IMAP_STARTTLS,), outgoing: Sequence[Server] = (SMTP_STARTTLS,), **extra: Any
) -> dict[str, Any]:
    """One provider, example.org, with these servers and extra keys (calendar, contacts…)."""
    return settings_data(
        provider={
            "domains": ["example.org", "example.net"],
            "aliases": ["alias.example.org"],
            "login": {"fallback": "%EMAILLOCALPART%"},
            "incoming": list(incoming),
            "outgoing": list(outgoing),
            **extra,
        }
    )


def profile_of(settings: Settings, address: str = JEAN, language: str = "fr") -> dict[str, Any]:
    """The profile as a device reads it: the plist bytes parsed back."""
    data = plistlib.loads(build_mobileconfig(resolve_account(settings, address), language))
    assert isinstance(data, dict)
    return data


def by_type(profile: dict[str, Any]) -> dict[str, dict[str, Any]]:
    content = profile["PayloadContent"]
    found = {payload["PayloadType"]: payload for payload in content}
    assert len(found) == len(content), "one payload per type"
    return found


def conforms(profile: dict[str, Any]) -> None:
    violations = check_profile(profile, SCHEMA)
    assert violations == []


@pytest.fixture
def example(make_settings: MakeSettings) -> Callable[..., Settings]:
    """Settings from `example_data(...)`, written to a fresh folder."""

    def make(
        incoming: Sequence[Server] = (IMAP_STARTTLS,),
        outgoing: Sequence[Server] = (SMTP_STARTTLS,),
        **extra: Any,
    ) -> Settings:
        return make_settings(example_data(incoming, outgoing, **extra))

    return make


# --- the checker itself: it must find what it is there to find ---------------------------------------


def test_checker_accepts_a_conforming_profile(settings: Settings) -> None:
    assert check_profile(profile_of(settings), SCHEMA) == []


def _mutated(settings: Settings, change: Callable[[dict[str, Any]], None]) -> list[str]:
    profile = copy.deepcopy(profile_of(settings))
    change(profile)
    return check_profile(profile, SCHEMA)


def _mail(profile: dict[str, Any]) -> dict[str, Any]:
    return by_type(profile)[MAIL]


def _ldap(profile: dict[str, Any]) -> dict[str, Any]:
    return by_type(profile)[LDAP]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        pytest.param(
            lambda p: p.pop("PayloadUUID"), "PayloadUUID: required key missing", id="top-level-required"
        ),
        pytest.param(
            lambda p: p.update(PayloadType="Profile"),
            "PayloadType: 'Profile' is not one of ['Configuration']",
            id="top-level-enum",
        ),
        pytest.param(
            lambda p: p.update(PayloadVersion=True),
            "PayloadVersion: expected integer, found boolean True",
            id="boolean-is-no-integer",
        ),
        pytest.param(
            lambda p: p.update(PayloadRemovalDisallowed=0),
            "PayloadRemovalDisallowed: expected boolean, found integer 0",
            id="integer-is-no-boolean",
        ),
        pytest.param(
            lambda p: p.update(RemovalDate="2030-01-01"),
            "RemovalDate: expected date, found string '2030-01-01'",
            id="date",
        ),
        pytest.param(
            lambda p: p.update(DurationUntilRemoval=3600),
            "DurationUntilRemoval: expected real, found integer 3600",
            id="real",
        ),
        pytest.param(
            lambda p: p.update(EncryptedPayloadContent="secret"),
            "EncryptedPayloadContent: expected data, found string 'secret'",
            id="data",
        ),
        pytest.param(
            lambda p: p.update(ConsentText={"en": 1}),
            "ConsentText.en: expected string, found integer 1",
            id="dictionary-value-type",
        ),
        pytest.param(
            lambda p: p.update(PayloadContent={}),
            "PayloadContent: expected array, found dictionary {}",
            id="array",
        ),
        pytest.param(
            lambda p: p.update({"Password": "x"}), "Password: unknown key", id="top-level-unknown-key"
        ),
        pytest.param(
            lambda p: _mail(p).pop("IncomingMailServerHostName"),
            "PayloadContent[0] (com.apple.mail.managed).IncomingMailServerHostName: required key missing",
            id="payload-required",
        ),
        pytest.param(
            lambda p: _mail(p).pop("PayloadIdentifier"),
            "PayloadContent[0] (com.apple.mail.managed).PayloadIdentifier: required key missing",
            id="common-required",
        ),
        pytest.param(
            lambda p: _mail(p).update(EmailAccountType="EmailTypeExchange"),
            "PayloadContent[0] (com.apple.mail.managed).EmailAccountType: 'EmailTypeExchange' is not one of "
            "['EmailTypeIMAP', 'EmailTypePOP']",
            id="payload-enum",
        ),
        pytest.param(
            lambda p: _mail(p).update(IncomingMailServerPortNumber="143"),
            "PayloadContent[0] (com.apple.mail.managed).IncomingMailServerPortNumber: expected integer, "
            "found string '143'",
            id="payload-type",
        ),
        pytest.param(
            lambda p: _mail(p).update(IncomingMailServerSSL=True),
            "PayloadContent[0] (com.apple.mail.managed).IncomingMailServerSSL: unknown key",
            id="payload-unknown-key",
        ),
        pytest.param(
            lambda p: _mail(p).update(PayloadVersion=2),
            "PayloadContent[0] (com.apple.mail.managed).PayloadVersion: 2 is not one of [1]",
            id="common-enum",
        ),
        pytest.param(
            lambda p: _mail(p).update(SMIMESigningCertificateUUID="not-a-uuid"),
            "PayloadContent[0] (com.apple.mail.managed).SMIMESigningCertificateUUID: 'not-a-uuid' does not "
            "match ^[0-9A-Za-z]{8}-[0-9A-Za-z]{4}-[0-9A-Za-z]{4}-[0-9A-Za-z]{4}-[0-9A-Za-z]{12}$",
            id="format",
        ),
        pytest.param(
            lambda p: _ldap(p)["LDAPSearchSettings"][0].update(LDAPSearchSettingScope="Everything"),
            "PayloadContent[2] (com.apple.ldap.account).LDAPSearchSettings[0].LDAPSearchSettingScope: "
            "'Everything' is not one of ['LDAPSearchSettingScopeBase', 'LDAPSearchSettingScopeOneLevel', "
            "'LDAPSearchSettingScopeSubtree']",
            id="nested-enum",
        ),
        pytest.param(
            lambda p: _ldap(p)["LDAPSearchSettings"][0].pop("LDAPSearchSettingSearchBase"),
            "PayloadContent[2] (com.apple.ldap.account).LDAPSearchSettings[0].LDAPSearchSettingSearchBase: "
            "required key missing",
            id="nested-required",
        ),
        pytest.param(
            lambda p: _ldap(p)["LDAPSearchSettings"].append("ou=people"),
            "PayloadContent[2] (com.apple.ldap.account).LDAPSearchSettings[1]: expected dictionary, "
            "found string 'ou=people'",
            id="nested-item-type",
        ),
        pytest.param(
            lambda p: _ldap(p)["LDAPSearchSettings"][0].update(LDAPSearchSettingFilter="(uid=*)"),
            "PayloadContent[2] (com.apple.ldap.account).LDAPSearchSettings[0].LDAPSearchSettingFilter: "
            "unknown key",
            id="nested-unknown-key",
        ),
        pytest.param(
            lambda p: p["PayloadContent"][1].update(PayloadType="com.apple.eas.account"),
            "PayloadContent[1].PayloadType: 'com.apple.eas.account' is not an allowed payload type "
            "(com.apple.mail.managed, com.apple.caldav.account, com.apple.carddav.account, "
            "com.apple.ldap.account)",
            id="payload-type-not-allowed",
        ),
        pytest.param(
            lambda p: _mail(p).update(PayloadUUID=p["PayloadUUID"].lower()),
            "PayloadUUID: <uuid> is used by more than one payload",
            id="duplicate-uuid",
        ),
        pytest.param(
            lambda p: _ldap(p).update(PayloadIdentifier=_mail(p)["PayloadIdentifier"]),
            "PayloadIdentifier: <mail-id> is used by more than one payload",
            id="duplicate-identifier",
        ),
    ],
)
def test_checker_reports_each_violation(
    settings: Settings, change: Callable[[dict[str, Any]], None], expected: str
) -> None:
    profile = profile_of(settings)
    expected = expected.replace("<uuid>", repr(profile["PayloadUUID"].lower()))
    expected = expected.replace("<mail-id>", repr(_mail(profile)["PayloadIdentifier"]))
    assert _mutated(settings, change) == [expected]


@pytest.mark.parametrize(
    ("secret", "where", "index"),
    [
        ("IncomingPassword", MAIL, 0),
        ("OutgoingPassword", MAIL, 0),
        ("CalDAVPassword", CALDAV, 1),
        ("LDAPAccountPassword", LDAP, 2),
    ],
)
def test_checker_reports_secret_keys(settings: Settings, secret: str, where: str, index: int) -> None:
    def add_secret(profile: dict[str, Any]) -> None:
        by_type(profile)[where][secret] = "hunter2"

    assert _mutated(settings, add_secret) == [
        f"PayloadContent[{index}].{secret}: a secret key must never be in a profile"
    ]


def test_checker_finds_secrets_at_any_depth(settings: Settings) -> None:
    def hide(profile: dict[str, Any]) -> None:
        profile["ConsentText"] = {"CardDAVPassword": "x"}

    assert _mutated(settings, hide) == [
        "ConsentText.CardDAVPassword: a secret key must never be in a profile"
    ]


def test_checker_accepts_optional_types_when_right(settings: Settings) -> None:
    def add(profile: dict[str, Any]) -> None:
        profile.update(
            RemovalDate=dt.datetime(2030, 1, 1, 12, 0),
            DurationUntilRemoval=3600.0,
            EncryptedPayloadContent=b"\x00",
            ConsentText={"default": "ok"},
            TargetDeviceType=1,
            PayloadScope="User",
        )

    assert _mutated(settings, add) == []


def test_checker_reports_a_non_dictionary() -> None:
    assert check_profile([], SCHEMA) == ["(profile): expected a dictionary, found array"]


# --- the bundled default, key by key --------------------------------------------------------------------


@pytest.mark.parametrize("language", ["fr", "en"])
@pytest.mark.parametrize(
    "address", [JEAN, "ce.0751234a@ac-paris.fr", "Élodie.Le-Bihan2@AC-Paris.fr", "o'neil&co+tag@ac-paris.fr"]
)
def test_bundled_profiles_conform_to_the_schema(settings: Settings, address: str, language: str) -> None:
    profile = profile_of(settings, address, language)
    conforms(profile)
    assert set(by_type(profile)) == {MAIL, CALDAV, LDAP}  # calendar and directory; no contacts


def test_top_level(settings: Settings, paris: Provider) -> None:
    profile = profile_of(settings)
    account = resolve_account(settings, JEAN)
    assert profile["PayloadType"] == "Configuration"
    assert profile["PayloadVersion"] == 1
    assert profile["PayloadRemovalDisallowed"] is False
    assert profile["PayloadUUID"] == str(profile_uuid(paris, account)).upper()
    assert profile["PayloadIdentifier"] == profile_identifier(paris, account)
    assert profile["PayloadIdentifier"] == f"fr.ac-paris.autoconfig.{profile['PayloadUUID'].lower()}"
    assert profile["PayloadOrganization"] == "Académie de Paris"
    assert [p["PayloadType"] for p in profile["PayloadContent"]] == [MAIL, CALDAV, LDAP]


def test_mail_payload_key_by_key(settings: Settings) -> None:
    profile = profile_of(settings)
    mail = by_type(profile)[MAIL]
    root = profile["PayloadIdentifier"]
    assert {k: v for k, v in mail.items() if k not in {"PayloadUUID"}} == {
        "PayloadType": MAIL,
        "PayloadVersion": 1,
        "PayloadIdentifier": f"{root}.mail",
        "PayloadDisplayName": "Messagerie Académie de Paris",
        "PayloadDescription": "Messagerie Académie de Paris",
        "PayloadOrganization": "Académie de Paris",
        "EmailAccountType": "EmailTypeIMAP",
        "EmailAccountDescription": "Académie de Paris",
        "EmailAccountName": "Jean Dupont",
        "EmailAddress": JEAN,
        "IncomingMailServerHostName": "imap.ac-paris.fr",
        "IncomingMailServerPortNumber": 143,
        "IncomingMailServerUseSSL": True,
        "IncomingMailServerAuthentication": "EmailAuthPassword",
        "IncomingMailServerUsername": "jdupont",
        "OutgoingMailServerHostName": "smtp.ac-paris.fr",
        "OutgoingMailServerPortNumber": 587,
        "OutgoingMailServerUseSSL": True,
        "OutgoingMailServerAuthentication": "EmailAuthPassword",
        "OutgoingMailServerUsername": "jdupont",
        "OutgoingPasswordSameAsIncomingPassword": True,
    }


def test_caldav_and_ldap_payloads_key_by_key(settings: Settings) -> None:
    payloads = by_type(profile_of(settings, "marie.martin-durand2@ac-paris.fr", "en"))
    caldav = {k: v for k, v in payloads[CALDAV].items() if k not in PAYLOAD_KEYS}
    assert caldav == {
        "CalDAVAccountDescription": "Académie de Paris calendar",
        "CalDAVHostName": "agenda.ac-paris.fr",
        "CalDAVPort": 443,
        "CalDAVUseSSL": True,
        "CalDAVPrincipalURL": "https://agenda.ac-paris.fr/dav/",
        "CalDAVUsername": "mmartin-durand2",
    }
    ldap = {k: v for k, v in payloads[LDAP].items() if k not in PAYLOAD_KEYS}
    assert ldap == {
        "LDAPAccountDescription": "Académie de Paris directory",
        "LDAPAccountHostName": "annuaire.ac-paris.fr",
        "LDAPAccountUseSSL": True,
        "LDAPAccountUserName": "mmartin-durand2",
        "LDAPSearchSettings": [
            {
                "LDAPSearchSettingDescription": "Académie de Paris directory",
                "LDAPSearchSettingSearchBase": "ou=ac-paris,ou=education,o=gouv,c=fr",
                "LDAPSearchSettingScope": "LDAPSearchSettingScopeSubtree",
            }
        ],
    }


def test_no_password_anywhere(settings: Settings) -> None:
    raw = build_mobileconfig(resolve_account(settings, JEAN), "fr")
    profile = plistlib.loads(raw)
    keys = [k for payload in [profile, *profile["PayloadContent"]] for k in payload]
    assert [k for k in keys if "Password" in k] == ["OutgoingPasswordSameAsIncomingPassword"]
    for secret in SCHEMA["policy"]["secretKeys"]:
        assert f"<key>{secret}</key>".encode() not in raw


def test_name_absent_when_the_address_names_no_one(settings: Settings) -> None:
    mail = by_type(profile_of(settings, "ce.0751234a@ac-paris.fr"))[MAIL]
    assert "EmailAccountName" not in mail
    assert mail["IncomingMailServerUsername"] == "ce.0751234a"  # the fallback: the local part


def test_accented_address_gets_its_name_and_login(settings: Settings) -> None:
    mail = by_type(profile_of(settings, "élodie.le-bihan2@ac-paris.fr"))[MAIL]
    assert mail["EmailAddress"] == "élodie.le-bihan2@ac-paris.fr"
    assert mail["EmailAccountName"] == "Élodie Le Bihan"
    assert mail["IncomingMailServerUsername"] == "ele-bihan2"


# --- languages ------------------------------------------------------------------------------------------


def test_texts_are_localised(settings: Settings) -> None:
    french, english = profile_of(settings, language="fr"), profile_of(settings, language="en")
    assert french["PayloadDisplayName"] == "Messagerie Académie de Paris"
    assert english["PayloadDisplayName"] == "Académie de Paris mail"
    assert french["PayloadDescription"] == (
        f"Configure la messagerie, l'agenda, l'annuaire de {JEAN}. "
        "Le mot de passe vous sera demandé à l'installation."
    )
    assert english["PayloadDescription"] == (
        f"Sets up mail, the calendar, the directory for {JEAN}. "
        "You will be asked for the password when installing."
    )
    assert french["PayloadOrganization"] == english["PayloadOrganization"] == "Académie de Paris"
    assert [p["PayloadDisplayName"] for p in french["PayloadContent"]] == [
        "Messagerie Académie de Paris",
        "Agenda Académie de Paris",
        "Annuaire Académie de Paris",
    ]
    assert [p["PayloadDisplayName"] for p in english["PayloadContent"]] == [
        "Académie de Paris mail",
        "Académie de Paris calendar",
        "Académie de Paris directory",
    ]
    # Only the words change: the same profile replaces the other whatever language it was fetched in.
    assert french["PayloadUUID"] == english["PayloadUUID"]
    assert french["PayloadIdentifier"] == english["PayloadIdentifier"]


def test_description_shows_an_idn_domain_in_unicode(example: Callable[..., Settings]) -> None:
    settings = example(domains=["example.org", "exämple.net"])
    profile = profile_of(settings, "anne.marie@EXÄMPLE.net", "en")
    assert profile["PayloadDescription"].startswith("Sets up mail for anne.marie@exämple.net.")
    assert by_type(profile)[MAIL]["EmailAddress"] == "anne.marie@xn--exmple-cua.net"


# --- identifiers ------------------------------------------------------------------------------------------


def _ids(profile: dict[str, Any]) -> list[tuple[str, str]]:
    return [(p["PayloadIdentifier"], p["PayloadUUID"]) for p in [profile, *profile["PayloadContent"]]]


def test_same_bytes_on_every_call(settings: Settings) -> None:
    account = resolve_account(settings, JEAN)
    first = build_mobileconfig(account, "fr")
    assert first == build_mobileconfig(resolve_account(settings, JEAN), "fr")
    assert first.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE plist')
    assert plistlib.loads(first) == build_payloads(account, "fr")


@pytest.mark.parametrize(
    "spelling", ["Jean.Dupont@ac-paris.fr", "JEAN.DUPONT@AC-PARIS.FR", "jean.dupont@Ac-Paris.Fr"]
)
def test_identifiers_stable_in_any_casing(settings: Settings, spelling: str) -> None:
    assert _ids(profile_of(settings, spelling)) == _ids(profile_of(settings, JEAN))


def test_identifiers_unique_within_a_profile_and_well_formed(settings: Settings) -> None:
    ids = _ids(profile_of(settings))
    identifiers, uuids = [i for i, _ in ids], [u for _, u in ids]
    assert len(set(identifiers)) == len(identifiers) == 4
    assert len(set(uuids)) == len(uuids) == 4
    for value in uuids:
        assert str(uuid.UUID(value)).upper() == value
    root = identifiers[0]
    assert identifiers[1:] == [f"{root}.mail", f"{root}.caldav", f"{root}.ldap"]
    # The address itself never appears in an identifier.
    assert all("dupont" not in identifier for identifier in identifiers)


def test_identifiers_differ_between_people_and_providers() -> None:
    multi = load_settings(profiles_dir() / "ile-de-france.toml")
    profiles = [
        profile_of(multi, "jean.dupont@ac-paris.fr"),
        profile_of(multi, "jean.dupond@ac-paris.fr"),
        profile_of(multi, "jean.dupont2@ac-paris.fr"),
        profile_of(multi, "jean.dupont@ac-creteil.fr"),
        profile_of(multi, "jean.dupont@ac-versailles.fr"),
    ]
    every_id = [value for profile in profiles for pair in _ids(profile) for value in pair]
    assert len(set(every_id)) == len(every_id)
    assert profiles[3]["PayloadIdentifier"].startswith("fr.ac-creteil.autoconfig.")
    for profile in profiles:
        conforms(profile)


def test_identifiers_depend_on_provider_and_address_only(
    settings: Settings, make_settings: MakeSettings
) -> None:
    # Other settings (servers, names, a calendar removed) keep the identifiers: re-installing replaces.
    data = tomllib.loads((profiles_dir() / "ac-paris.toml").read_text(encoding="utf-8"))
    paris = data["providers"][0]
    paris["name"] = "Rectorat de Paris"
    paris["incoming"][0]["host"] = "mail.ac-paris.fr"
    # The bundled file's tables from [providers.calendar] on: the calendar, then the directory.
    del paris["calendar"], paris["directory"]
    other = make_settings(data)
    before, after = profile_of(settings), profile_of(other)
    assert after["PayloadOrganization"] == "Rectorat de Paris"
    assert after["PayloadIdentifier"] == before["PayloadIdentifier"]
    assert after["PayloadUUID"] == before["PayloadUUID"]
    assert _ids(after)[1] == _ids(before)[1]  # the mail payload


def test_alias_address_is_the_same_mailbox(example: Callable[..., Settings]) -> None:
    settings = example()
    canonical = profile_of(settings, "anne@example.org")
    alias = profile_of(settings, "Anne@alias.example.org")
    assert _ids(alias) == _ids(canonical)
    assert by_type(alias)[MAIL]["EmailAddress"] == "Anne@example.org"


# --- what the settings say, in the profile ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("incoming", "account_type", "port", "ssl"),
    [
        (IMAP_STARTTLS, "EmailTypeIMAP", 143, True),
        ({"protocol": "imap", "host": "imap.example.org", "security": "tls"}, "EmailTypeIMAP", 993, True),
        ({"protocol": "imap", "host": "imap.example.org", "security": "none"}, "EmailTypeIMAP", 143, False),
        ({"protocol": "pop3", "host": "pop.example.org", "security": "tls"}, "EmailTypePOP", 995, True),
        (
            {"protocol": "pop3", "host": "pop.example.org", "port": 110, "security": "starttls"},
            "EmailTypePOP",
            110,
            True,
        ),
        ({"protocol": "pop3", "host": "pop.example.org", "security": "none"}, "EmailTypePOP", 110, False),
    ],
)
def test_incoming_server(
    example: Callable[..., Settings], incoming: Server, account_type: str, port: int, ssl: bool
) -> None:
    profile = profile_of(example(incoming=[incoming]), "anne@example.org")
    conforms(profile)
    mail = by_type(profile)[MAIL]
    assert mail["EmailAccountType"] == account_type
    assert mail["IncomingMailServerPortNumber"] == port
    assert mail["IncomingMailServerUseSSL"] is ssl


def test_the_first_incoming_server_decides(example: Callable[..., Settings]) -> None:
    pop3: Server = {"protocol": "pop3", "host": "pop.example.org", "security": "tls"}
    imap_first = [IMAP_STARTTLS, pop3]
    pop_first = [pop3, IMAP_STARTTLS]
    assert by_type(profile_of(example(incoming=imap_first), "a@example.org"))[MAIL]["EmailAccountType"] == (
        "EmailTypeIMAP"
    )
    mail = by_type(profile_of(example(incoming=pop_first), "a@example.org"))[MAIL]
    assert mail["EmailAccountType"] == "EmailTypePOP"
    assert mail["IncomingMailServerHostName"] == "pop.example.org"


@pytest.mark.parametrize(
    ("outgoing", "port", "ssl"),
    [
        (SMTP_STARTTLS, 587, True),
        ({"host": "smtp.example.org", "security": "tls"}, 465, True),
        ({"host": "smtp.example.org", "port": 25, "security": "none"}, 25, False),
    ],
)
def test_outgoing_server(example: Callable[..., Settings], outgoing: Server, port: int, ssl: bool) -> None:
    mail = by_type(profile_of(example(outgoing=[outgoing]), "anne@example.org"))[MAIL]
    assert mail["OutgoingMailServerPortNumber"] == port
    assert mail["OutgoingMailServerUseSSL"] is ssl
    assert mail["OutgoingPasswordSameAsIncomingPassword"] is True


@pytest.mark.parametrize(
    ("auth", "apple"),
    [
        ("password-cleartext", "EmailAuthPassword"),
        (["password-encrypted", "password-cleartext"], "EmailAuthCRAMMD5"),
        (["OAuth2", "password-cleartext"], "EmailAuthPassword"),
        ("OAuth2", "EmailAuthPassword"),
        (["GSSAPI", "NTLM"], "EmailAuthNTLM"),
        ("none", "EmailAuthNone"),
    ],
)
def test_authentication(example: Callable[..., Settings], auth: str | list[str], apple: str) -> None:
    profile = profile_of(example(incoming=[{**IMAP_STARTTLS, "auth": auth}]), "anne@example.org")
    conforms(profile)
    mail = by_type(profile)[MAIL]
    assert mail["IncomingMailServerAuthentication"] == apple
    assert mail["OutgoingMailServerAuthentication"] == "EmailAuthPassword"


def test_domain_placeholder_and_usernames_filled_per_person(example: Callable[..., Settings]) -> None:
    settings = example(
        incoming=[{"host": "imap.%EMAILDOMAIN%", "security": "tls", "username": "%EMAILADDRESS%"}],
        outgoing=[{"host": "smtp.%EMAILDOMAIN%", "security": "tls", "username": "out-%EMAILLOCALPART%"}],
    )
    for domain in ("example.org", "example.net"):
        mail = by_type(profile_of(settings, f"Anne.Marie@{domain}"))[MAIL]
        assert mail["IncomingMailServerHostName"] == f"imap.{domain}"
        assert mail["OutgoingMailServerHostName"] == f"smtp.{domain}"
        assert mail["IncomingMailServerUsername"] == f"Anne.Marie@{domain}"
        assert mail["OutgoingMailServerUsername"] == "out-Anne.Marie"
        assert mail["EmailAddress"] == f"Anne.Marie@{domain}"
        assert mail["EmailAccountName"] == "Anne Marie"


CALENDAR = {"calendar": {"url": "https://dav.example.org/cal/"}}
CONTACTS = {"contacts": {"url": "https://dav.example.org:8443/card/", "username": "%EMAILADDRESS%"}}
DIRECTORY = {"directory": {"host": "ldap.example.org", "security": "none", "base_dn": "dc=example,dc=org"}}


@pytest.mark.parametrize("calendar", [False, True])
@pytest.mark.parametrize("contacts", [False, True])
@pytest.mark.parametrize("directory", [False, True])
def test_payloads_exactly_when_configured(
    example: Callable[..., Settings], calendar: bool, contacts: bool, directory: bool
) -> None:
    extra = {
        **(CALENDAR if calendar else {}),
        **(CONTACTS if contacts else {}),
        **(DIRECTORY if directory else {}),
    }
    profile = profile_of(example(**extra), "anne.marie@example.org", "en")
    conforms(profile)
    expected = [MAIL] + [CALDAV] * calendar + [CARDDAV] * contacts + [LDAP] * directory
    assert [p["PayloadType"] for p in profile["PayloadContent"]] == expected
    extras = (", the calendar" * calendar) + (", contacts" * contacts) + (", the directory" * directory)
    assert profile["PayloadDescription"].startswith(f"Sets up mail{extras} for anne.marie@example.org.")


def test_dav_and_directory_payloads(example: Callable[..., Settings]) -> None:
    settings = example(**CALENDAR, **CONTACTS, **DIRECTORY)
    payloads = by_type(profile_of(settings, "anne.marie@example.org", "en"))
    card = {k: v for k, v in payloads[CARDDAV].items() if k not in PAYLOAD_KEYS}
    assert card == {
        "CardDAVAccountDescription": "Example contacts",
        "CardDAVHostName": "dav.example.org",
        "CardDAVPort": 8443,
        "CardDAVUseSSL": True,
        "CardDAVPrincipalURL": "https://dav.example.org:8443/card/",
        "CardDAVUsername": "anne.marie@example.org",
    }
    assert payloads[CALDAV]["CalDAVUsername"] == "anne.marie"
    assert payloads[CALDAV]["CalDAVPort"] == 443
    assert payloads[LDAP]["LDAPAccountUseSSL"] is False
    assert payloads[LDAP]["LDAPSearchSettings"][0]["LDAPSearchSettingSearchBase"] == "dc=example,dc=org"


def test_dav_url_placeholders_filled_and_escaped(example: Callable[..., Settings]) -> None:
    calendar = {"url": "http://dav.%EMAILDOMAIN%/cal/%EMAILLOCALPART%/"}
    payload = by_type(profile_of(example(calendar=calendar), "a&b?c#d/e@example.net"))[CALDAV]
    assert payload["CalDAVHostName"] == "dav.example.net"
    assert payload["CalDAVPort"] == 80
    assert payload["CalDAVUseSSL"] is False
    # In the URL the local part is data: its &, ?, # and / are percent-encoded.
    assert payload["CalDAVPrincipalURL"] == "http://dav.example.net/cal/a%26b%3Fc%23d%2Fe/"
    assert payload["CalDAVUsername"] == "a&b?c#d/e"


# --- hostile addresses ----------------------------------------------------------------------------------


@pytest.mark.parametrize("local", ["o'neil&co", "a&amp", "x'&'y", "%EMAILDOMAIN%", "{first}{0}", "a/b?c=d#e"])
def test_metacharacters_stay_data(settings: Settings, local: str) -> None:
    address = f"{local}@ac-paris.fr"
    raw = build_mobileconfig(resolve_account(settings, address), "fr")
    profile = plistlib.loads(raw)
    conforms(profile)
    mail = by_type(profile)[MAIL]
    assert mail["EmailAddress"] == address
    assert mail["IncomingMailServerUsername"] == local  # the fallback, filled in one pass
    assert f"{local}@ac-paris.fr" in profile["PayloadDescription"]
    # Escaped by plistlib: every ampersand in the file starts an entity.
    assert re.findall(rb"&(?!amp;|lt;|gt;)", raw) == []


@pytest.mark.parametrize(
    "address",
    [
        "jean\n.dupont@ac-paris.fr",
        "jean.dupont@ac-paris.fr\r\nX-Header: 1",
        "<plist>@ac-paris.fr",
        "a</string><key>IncomingPassword</key>@ac-paris.fr",
        '"jean dupont"@ac-paris.fr',
        "a" * 1000 + "@ac-paris.fr",
        "a" * 65 + "@ac-paris.fr",
        "jean.dupont@" + "a" * 1000 + ".fr",
        "jean\x00@ac-paris.fr",
        "x]]>y@ac-paris.fr",
        "a;b@ac-paris.fr",
    ],
)
def test_hostile_addresses_refused_before_any_profile(settings: Settings, address: str) -> None:
    with pytest.raises(RequestError) as info:
        resolve_account(settings, address)
    assert info.value.status == 400
    assert address not in info.value.message


_ATOM = st.text(alphabet=st.sampled_from("abcXYZ0189!#$%&'*+-/=?^_`{|}~éßœÅ漢"), min_size=1, max_size=12)


@hypothesis_settings(max_examples=60, deadline=None)
@given(atoms=st.lists(_ATOM, min_size=1, max_size=4))
def test_any_valid_local_part_gives_a_conforming_profile(settings: Settings, atoms: list[str]) -> None:
    local = ".".join(atoms)
    if len(local.encode("utf-8")) > 64:
        return
    account = resolve_account(settings, f"{local}@ac-paris.fr")
    profile = plistlib.loads(build_mobileconfig(account, "en"))
    conforms(profile)
    assert by_type(profile)[MAIL]["EmailAddress"] == f"{local}@ac-paris.fr"
    assert profile["PayloadUUID"] == str(profile_uuid(account.provider, account)).upper()


# --- the profile serialised once per provider and language ------------------------------------------------

LOCAL_PARTS = [
    "jean.dupont",
    "Jean.Dupont2",
    "o'neil.smith",
    "a&b<c>d",
    '"quoted"',
    "éloïse.müller",
    "secretariat",
    "x",
]


def _settings_files() -> list[Any]:
    from tests.helpers.paths import ROOT  # noqa: PLC0415 - the golden data's own folder

    return [*sorted(profiles_dir().glob("*.toml")), ROOT / "tests/data/golden/rich.toml"]


@pytest.mark.parametrize("path", _settings_files(), ids=lambda path: path.stem)
@pytest.mark.parametrize("language", ["fr", "en", "de"])
def test_every_profile_is_the_bytes_plistlib_writes(path: Any, language: str) -> None:
    settings = load_settings(path)
    domains = [domain for provider in settings.providers for domain in (*provider.domains, *provider.aliases)]
    checked = 0
    for address in (f"{local}@{domain}" for local in LOCAL_PARTS for domain in domains):
        try:
            account = resolve_account(settings, address)
        except RequestError:
            continue  # refused as an address: no profile
        reference = plistlib.dumps(build_payloads(account, language), fmt=plistlib.FMT_XML, sort_keys=True)
        assert build_mobileconfig(account, language) == reference, address
        checked += 1
    assert checked >= len(domains) * (len(LOCAL_PARTS) - 2)


@given(local=st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=30))
@hypothesis_settings(max_examples=200, deadline=None)
def test_any_values_are_escaped_as_plistlib_escapes_them(local: str) -> None:
    settings = load_settings()
    try:
        account = resolve_account(settings, f"{local}@ac-paris.fr")
    except RequestError:
        return
    try:
        reference = plistlib.dumps(build_payloads(account, "en"), fmt=plistlib.FMT_XML, sort_keys=True)
    except ValueError:
        with pytest.raises(ValueError, match="control characters"):
            build_mobileconfig(account, "en")
        return
    assert build_mobileconfig(account, "en") == reference
