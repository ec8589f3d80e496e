"""Thunderbird's account export (format version 1) for Thunderbird for Android: read back as the Android
importer reads it (QrCodePayloadAdapter, QrCodePayloadValidator), field by field."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest

from autoconfig.accounts import resolve_account
from autoconfig.formats.thunderbird_qr import COMFORTABLE_LENGTH, android_export
from autoconfig.settings import Settings
from tests.helpers.settings import incoming, outgoing, provider_data, settings_data

# What Thunderbird 140 writes for this account (../shared/CLIENTS.md, QR export).
JEAN_DUPONT = (
    '[1,[1,1],[0,"imap.ac-paris.fr",143,2,1,"jdupont","jean.dupont@ac-paris.fr",""],'
    '[[[0,"smtp.ac-paris.fr",587,2,1,"jdupont",""],["jean.dupont@ac-paris.fr","Jean Dupont"]]]]'
)
_HOST = re.compile(
    r"^(?=.{1,255}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)


def read_like_android(payload: str) -> dict[str, Any]:
    """The payload as Thunderbird for Android's importer takes it, or an AssertionError saying why it
    would reject the whole code: version 1, strings never null, legal host names, ports 1 to 65535,
    socket codes 0 to 3, authentication codes 0, 1, 2, 5, 6, no line break in a value, an ASCII address."""
    data = json.loads(payload)
    assert isinstance(data, list)
    version, (part, count), incoming_server, groups = data
    assert version == 1
    assert (part, count) == (1, 1)
    protocol, host, port, socket, auth, username, account_name, password = incoming_server
    assert protocol in (0, 1)
    ((outgoing_server, *identities),) = groups
    smtp_protocol, smtp_host, smtp_port, smtp_socket, smtp_auth, smtp_username, smtp_password = (
        outgoing_server
    )
    assert smtp_protocol == 0
    assert identities
    for name in (host, smtp_host):
        assert _HOST.match(name), name
    for number in (port, smtp_port):
        assert isinstance(number, int)
        assert 1 <= number <= 65535
    assert {socket, smtp_socket} <= {0, 1, 2, 3}
    assert {auth, smtp_auth} <= {0, 1, 2, 5, 6}
    texts = [username, account_name, password, smtp_username, smtp_password]
    texts += [text for identity in identities for text in identity]
    for text in texts:
        assert isinstance(text, str), "a null makes the importer refuse the whole code"
        assert "\r" not in text
        assert "\n" not in text
    for email, _ in identities:
        assert email.isascii()
        assert email.count("@") == 1
    return {
        "incoming": incoming_server,
        "outgoing": outgoing_server,
        "identities": identities,
        "passwords": (password, smtp_password),
    }


def test_jean_dupont_is_exported_as_thunderbird_writes_him(settings: Settings) -> None:
    export = android_export(resolve_account(settings, "jean.dupont@ac-paris.fr"))
    assert export.reason is None
    assert export.payload == JEAN_DUPONT
    read = read_like_android(JEAN_DUPONT)
    assert read["passwords"] == ("", "")


@pytest.mark.parametrize(
    ("address", "login", "name"),
    [
        ("jean-pierre.dupont2@ac-paris.fr", "jdupont2", "Jean-Pierre Dupont"),
        ("Marie.Curie@AC-Paris.fr", "mcurie", "Marie Curie"),
        ("ce.0751234a@ac-paris.fr", "ce.0751234a", ""),
        ("pierre.d'alembert@ac-paris.fr", "pdalembert", "Pierre d'Alembert"),
    ],
)
def test_each_person_gets_their_login_and_name(
    settings: Settings, address: str, login: str, name: str
) -> None:
    account = resolve_account(settings, address)
    payload = android_export(account).payload
    assert payload is not None
    read = read_like_android(payload)
    assert read["incoming"][5] == login
    assert read["outgoing"][5] == login
    assert read["incoming"][6] == account.address
    assert read["identities"] == [[account.address, name]]


def test_an_address_in_other_letters_is_not_exported(settings: Settings) -> None:
    export = android_export(resolve_account(settings, "élodie.mérand@ac-paris.fr"))
    assert export.payload is None
    assert export.reason is not None
    assert "ASCII" in export.reason


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        # Implicit TLS (3), POP3 (1), password-encrypted (2), OAuth2 listed first (6).
        ({"incoming": incoming(protocol="pop3", port=995, security="tls")}, (1, 995, 3, 1)),
        ({"incoming": incoming(auth=["password-encrypted", "password-cleartext"])}, (0, 143, 2, 2)),
        ({"incoming": incoming(auth=["OAuth2", "password-cleartext"])}, (0, 143, 2, 6)),
        ({"incoming": incoming(auth=["NTLM", "password-cleartext"])}, (0, 143, 2, 1)),
        ({"incoming": incoming(port=993, security="tls", auth="TLS-client-cert")}, (0, 993, 3, 5)),
    ],
)
def test_servers_and_methods_are_coded(
    make_settings: Callable[..., Settings], changes: dict[str, Any], expected: tuple[int, int, int, int]
) -> None:
    account = resolve_account(make_settings(provider=changes), "jean@example.org")
    payload = android_export(account).payload
    assert payload is not None
    protocol, _, port, socket, auth, *_ = read_like_android(payload)["incoming"]
    assert (protocol, port, socket, auth) == expected


def test_smtp_without_authentication_is_coded_none(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(
        provider={"outgoing": outgoing(port=25, security="starttls", auth="client-IP-address")}
    )
    payload = android_export(resolve_account(settings, "jean@example.org")).payload
    assert payload is not None
    assert read_like_android(payload)["outgoing"][4] == 0


@pytest.mark.parametrize("method", ["NTLM", "GSSAPI"])
def test_a_method_the_importer_refuses_is_never_exported(
    make_settings: Callable[..., Settings], method: str
) -> None:
    settings = make_settings(provider={"outgoing": outgoing(auth=method)})
    export = android_export(resolve_account(settings, "jean@example.org"))
    assert export.payload is None
    assert export.reason is not None
    assert "NTLM" in export.reason


def test_hosts_logins_and_aliases_are_filled_for_the_person(make_settings: Callable[..., Settings]) -> None:
    data = settings_data(
        providers=[
            provider_data(
                domains=["example.org", "example.net"],
                aliases=["example.fr"],
                incoming=incoming(host="imap.%EMAILDOMAIN%", username="%EMAILLOCALPART%+imap"),
                outgoing=outgoing(username="%EMAILADDRESS%"),
            )
        ]
    )
    settings = make_settings(data)
    read = read_like_android(android_export(resolve_account(settings, "Jean@EXAMPLE.net")).payload or "")
    assert read["incoming"][1:3] == ["imap.example.net", 143]
    assert read["incoming"][5] == "Jean+imap"
    assert read["outgoing"][5] == "Jean@example.net"
    # At an alias domain the person keeps the address they use; the servers are the main domain's.
    aliased = read_like_android(android_export(resolve_account(settings, "jean@example.fr")).payload or "")
    assert aliased["identities"] == [["jean@example.fr", ""]]
    assert aliased["incoming"][1] == "imap.example.org"


def test_the_bundled_export_is_short_enough_to_scan(settings: Settings) -> None:
    longest = "jean-christophe.de-la-rochefoucauld-montmorency99@ac-paris.fr"
    payload = android_export(resolve_account(settings, longest)).payload
    assert payload is not None
    read_like_android(payload)
    assert len(payload) < COMFORTABLE_LENGTH
