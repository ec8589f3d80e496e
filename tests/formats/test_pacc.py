"""PACC (draft-ietf-mailmaint-pacc-03): the document read back against the draft's fields, its refusal for
providers it cannot describe truthfully, stable bytes, the digest `dns` prints, and OAuth advertised."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from lxml import etree
from starlette.testclient import TestClient

from autoconfig.cli import main
from autoconfig.formats import pacc
from autoconfig.formats.dns import dns_records
from autoconfig.formats.pacc import pacc_document
from autoconfig.formats.thunderbird import compile_clientconfig
from autoconfig.settings import Settings, load_settings
from tests.helpers.settings import incoming, outgoing, settings_data, write_settings

MakeSettings = Callable[..., Settings]
MakeClient = Callable[..., TestClient]
PATH = "/.well-known/user-agent-configuration.json"
# The draft's keys (revision -03): top level, per protocol, authentication, information.
TOP = {"protocols", "authentication", "info"}
HOST_PROTOCOLS = {"imap", "pop3", "submit", "managesieve"}
URL_PROTOCOLS = {"jmap", "caldav", "carddav", "webdav"}
IMPLICIT_TLS = {
    "incoming": incoming(port=993, security="tls"),
    "outgoing": outgoing(port=465, security="tls"),
}
ISSUER = "https://auth.example.org"


def read_document(body: bytes) -> dict[str, Any]:
    """The document as a PACC client reads it, checked key by key against the draft's schema."""
    document: dict[str, Any] = json.loads(body.decode("utf-8"))
    assert set(document) <= TOP
    assert {"protocols", "info"} <= set(document)
    for key, entry in document["protocols"].items():
        assert key in HOST_PROTOCOLS | URL_PROTOCOLS, key
        if key in HOST_PROTOCOLS:
            assert set(entry) == {"host"}
            assert ":" not in entry["host"]  # a host, never host:port
        else:
            assert set(entry) == {"url"}
            assert entry["url"].startswith("https://")
    authentication = document.get("authentication", {})
    assert set(authentication) <= {"password", "oauth-public"}
    if "oauth-public" in authentication:
        assert set(authentication["oauth-public"]) == {"issuer"}
    provider = document["info"]["provider"]
    assert set(provider) <= {"name", "shortName", "logo"}
    assert 0 < len(provider["name"]) <= 60
    assert len(provider.get("shortName", "")) <= 20
    assert set(document["info"].get("help", {})) <= {"documentation", "developer", "contact"}
    return document


def test_the_document_names_hosts_for_implicit_tls_only(make_settings: MakeSettings) -> None:
    settings = make_settings(
        provider={
            **IMPLICIT_TLS,
            "calendar": {"url": "https://dav.example.org/cal/"},
            "contacts": {"url": "https://dav.%EMAILDOMAIN%/card/"},
            "links": {"documentation": [{"url": "https://help.example.org/mail", "title": "Help"}]},
            "support": {"email": "helpdesk@example.org", "url": "https://help.example.org/ticket"},
            "short_name": "Ex",
        }
    )
    document = read_document(pacc_document(settings.providers[0], "example.org").body or b"")
    assert document == {
        "protocols": {
            "imap": {"host": "imap.example.org"},
            "submit": {"host": "smtp.example.org"},
            "caldav": {"url": "https://dav.example.org/cal/"},
            "carddav": {"url": "https://dav.example.org/card/"},
        },
        "authentication": {"password": True},
        "info": {
            "provider": {"name": "Example", "shortName": "Ex"},
            "help": {
                "documentation": "https://help.example.org/mail",
                "contact": ["https://help.example.org/ticket", "mailto:helpdesk@example.org"],
            },
        },
    }


@pytest.mark.parametrize(
    "servers",
    [
        {},  # the minimal settings: IMAP 143 and submission 587, with STARTTLS
        {"incoming": incoming(port=993, security="tls")},  # IMAP fine, submission on 587
        {"outgoing": outgoing(port=465, security="tls")},  # submission fine, IMAP on 143
        {"incoming": incoming(port=10993, security="tls"), "outgoing": outgoing(port=465, security="tls")},
    ],
    ids=["starttls-only", "no-implicit-submission", "no-implicit-imap", "non-standard-port"],
)
def test_what_pacc_cannot_describe_is_never_published(
    make_settings: MakeSettings, servers: dict[str, Any]
) -> None:
    settings = make_settings(provider=servers)
    document = pacc_document(settings.providers[0], "example.org")
    assert document.body is None
    assert document.reason is not None
    assert "implicit TLS on the standard ports" in document.reason
    assert "offer IMAP on 993 and submission on 465" in document.reason
    # `dns` says it where the record would be.
    (note,) = [r for r in dns_records(settings) if r.name == "_ua-auto-config.example.org."]
    assert (note.type, note.comment) == ("NOTE", f"no PACC document: {document.reason}")


def test_servers_it_cannot_describe_are_left_out_of_a_document(make_settings: MakeSettings) -> None:
    mixed = {
        "incoming": [*incoming(), *incoming(host="imaps.example.org", port=993, security="tls")],
        "outgoing": [*outgoing(), *outgoing(host="smtps.example.org", port=465, security="tls")],
        "calendar": {"url": "https://dav.example.org:8443/cal/"},  # a port: not expressible
        "contacts": {"url": "https://dav.example.org/%EMAILADDRESS%/"},  # a person: not expressible
    }
    document = read_document(
        pacc_document(make_settings(provider=mixed).providers[0], "example.org").body or b""
    )
    assert document["protocols"] == {
        "imap": {"host": "imaps.example.org"},
        "submit": {"host": "smtps.example.org"},
    }


def test_the_bytes_are_stable_and_the_digest_is_theirs(settings_file: Callable[..., Path]) -> None:
    data = settings_data(provider=IMPLICIT_TLS)
    first = pacc_document(load_settings(settings_file(data)).providers[0], "example.org")
    again = pacc_document(load_settings(settings_file(data)).providers[0], "example.org")
    assert first.body == again.body
    assert first.body is not None
    assert first.body == json.dumps(json.loads(first.body), sort_keys=True, separators=(",", ":")).encode()
    expected = base64.b64encode(hashlib.sha256(first.body).digest()).decode()
    assert first.txt_record == f"v=UAAC1; a=sha256; d={expected}"


def test_the_revision_names_live_in_one_place(
    make_settings: MakeSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    provider = make_settings(provider=IMPLICIT_TLS).providers[0]
    assert "submit" in json.loads(pacc_document(provider, "example.org").body or b"")["protocols"]
    monkeypatch.setattr(pacc, "REVISION", pacc.REVISIONS["02"])
    assert "smtp" in json.loads(pacc_document(provider, "example.org").body or b"")["protocols"]


def test_oauth_is_advertised_in_pacc_and_in_thunderbirds_document(make_settings: MakeSettings) -> None:
    oauth = {
        "issuer": ISSUER,
        "scopes": ["openid", "email"],
        "authorization_url": f"{ISSUER}/authorize",
        "token_url": f"{ISSUER}/token",
    }
    provider = make_settings(provider={**IMPLICIT_TLS, "oauth": oauth}).providers[0]
    document = read_document(pacc_document(provider, "example.org").body or b"")
    assert document["authentication"] == {"password": True, "oauth-public": {"issuer": ISSUER}}
    root = etree.fromstring(compile_clientconfig(provider).render())
    for server in root.iter("incomingServer", "outgoingServer"):
        assert [e.text for e in server.findall("authentication")] == ["OAuth2", "password-cleartext"]
    element = root.find("oAuth2")
    assert element is not None
    assert [(child.tag, child.text) for child in element] == [
        ("issuer", "auth.example.org"),
        ("scope", "openid email"),
        ("authURL", f"{ISSUER}/authorize"),
        ("tokenURL", f"{ISSUER}/token"),
    ]


def test_an_issuer_must_be_https(settings_file: Callable[..., Path]) -> None:
    result = CliRunner().invoke(
        main,
        [
            "check",
            "--settings",
            str(settings_file(provider={"oauth": {"issuer": "http://auth.example.org"}})),
        ],
    )
    assert result.exit_code == 1
    assert "providers[0].oauth.issuer" in result.output
    assert "an OAuth issuer is an https address" in result.output


# --- served, and published -------------------------------------------------------------------------------


def test_the_document_is_served_for_the_domain_the_host_or_the_query_names(
    make_settings: MakeSettings, make_client: MakeClient
) -> None:
    settings = make_settings(provider={**IMPLICIT_TLS, "aliases": ["example.net"]})
    client = make_client(settings, host=None)
    expected = pacc_document(settings.providers[0], "example.org").body
    by_host = client.get(PATH, headers={"Host": "ua-auto-config.example.org"})
    assert by_host.status_code == 200
    assert by_host.headers["content-type"] == "application/json"
    assert by_host.content == expected
    assert client.get(PATH, params={"domain": "EXAMPLE.org"}, headers={"Host": "x"}).content == expected
    alias = client.get(PATH, headers={"Host": "ua-auto-config.example.net"})
    assert alias.content == pacc_document(settings.providers[0], "example.net").body
    assert client.get(PATH, headers={"Host": "ua-auto-config.unknown.example"}).status_code == 404


def test_a_provider_pacc_cannot_describe_gets_404_with_the_reason(make_client: MakeClient) -> None:
    response = make_client(host="ua-auto-config.ac-paris.fr").get(PATH)
    assert response.status_code == 404
    assert response.headers["cache-control"] == "no-store"
    assert response.text.startswith("No PACC document is published for ac-paris.fr: PACC describes only")


def test_dns_gives_both_digests_and_the_steps_when_the_document_changes(tmp_path: Path) -> None:
    old = write_settings(tmp_path, settings_data(provider=IMPLICIT_TLS), "old.toml")
    changed = {**IMPLICIT_TLS, "incoming": incoming(host="mail.example.org", port=993, security="tls")}
    new = write_settings(tmp_path, settings_data(provider=changed), "new.toml")
    zone = CliRunner().invoke(main, ["dns", "--settings", str(new), "--previous", str(old)]).output
    lines = [line for line in zone.splitlines() if line.startswith("_ua-auto-config.example.org.")]
    new_digest = pacc_document(load_settings(new).providers[0], "example.org").digest
    old_digest = pacc_document(load_settings(old).providers[0], "example.org").digest
    assert [new_digest in lines[0], old_digest in lines[1]] == [True, True]
    assert "remove this record once the new settings serve" in lines[1]
    assert "; The PACC document changes for example.org." in zone
    assert "publish the new TXT record beside the old one" in zone
    unchanged = CliRunner().invoke(main, ["dns", "--settings", str(new), "--previous", str(new)]).output
    assert "changes for" not in unchanged


def test_dns_and_check_say_why_a_starttls_provider_has_no_document() -> None:
    zone = CliRunner().invoke(main, ["dns"]).output
    assert "; _ua-auto-config.ac-paris.fr. no PACC document: PACC describes only implicit TLS" in zone
    assert "ua-auto-config.ac-paris.fr." not in zone.replace("_ua-auto-config.ac-paris.fr.", "")
