"""How the probe reads what clients receive, on the service's own documents (built by its formats):
each reader gives back what the settings say, and Thunderbird for Android's strict rules reject what the
real parser rejects."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from autoconfig.accounts import resolve_account
from autoconfig.formats.apple import build_mobileconfig
from autoconfig.formats.outlook import MOBILESYNC_NS, NO_PROVIDER, build_error, build_pox
from autoconfig.formats.pacc import pacc_document
from autoconfig.formats.thunderbird import build_clientconfig
from autoconfig.probe.apple import mail_outcome
from autoconfig.probe.expected import MailServer, Outcome, expected_outcome
from autoconfig.probe.outlook import parse_pox, pox_outcome
from autoconfig.probe.pacc import document_outcome
from autoconfig.probe.report import Result, Status, render_text
from autoconfig.probe.thunderbird import (
    android_expected,
    android_refusals,
    desktop_outcome,
    parse_clientconfig,
)
from autoconfig.settings import Settings, load_settings, settings_from_dict
from autoconfig.version import Version
from tests.helpers.settings import provider_data, settings_data

JEAN = "jean.dupont@example.org"
# STARTTLS IMAP, and two SMTP servers: submission, and a plain relay with no authentication, which
# Thunderbird for Android rejects whole.
WITH_RELAY = settings_data(
    provider={
        "outgoing": [
            {"host": "smtp.example.org", "port": 587, "security": "starttls"},
            {"host": "relay.example.org", "port": 25, "security": "none", "auth": "none"},
        ]
    }
)


def _settings(data: dict[str, Any]) -> Settings:
    return settings_from_dict(data, source=Path("settings.toml"))


def test_thunderbird_desktop_reads_the_persons_own_document() -> None:
    settings = _settings(WITH_RELAY)
    account = resolve_account(settings, JEAN)
    config = parse_clientconfig(build_clientconfig(account.provider, account))
    assert desktop_outcome(config, "jean.dupont", "example.org") == expected_outcome(account)


def test_thunderbird_for_android_rejects_a_plain_server_and_a_byte_order_mark() -> None:
    settings = _settings(WITH_RELAY)
    account = resolve_account(settings, JEAN)
    personal = build_clientconfig(account.provider, account)
    refusals = android_refusals(personal, parse_clientconfig(personal))
    assert refusals == [
        "relay.example.org: socketType 'plain' (only SSL or STARTTLS are accepted)",
        "relay.example.org: no password among its authentication methods",
    ]
    # The answer without address leaves the relay out: nothing to reject.
    generic = build_clientconfig(account.provider)
    assert android_refusals(generic, parse_clientconfig(generic)) == []
    with_bom = b"\xef\xbb\xbf" + generic
    assert android_refusals(with_bom, parse_clientconfig(with_bom)) == [
        "something comes before <?xml (a byte-order mark or a space)"
    ]


def test_thunderbird_for_android_fills_in_a_login_the_rule_contradicts() -> None:
    # The bundled Académie: the phone fills in the local part where the rule gives jdupont.
    settings = load_settings()
    account = resolve_account(settings, "jean.dupont@ac-paris.fr")
    served, personal = android_expected(account, "jean.dupont@ac-paris.fr")
    assert served.incoming is not None
    assert personal.incoming is not None
    assert (served.incoming.login, personal.incoming.login) == ("jean.dupont", "jdupont")


def test_outlook_reads_the_pox_answer_and_the_mobilesync_error() -> None:
    settings = _settings(WITH_RELAY)
    account = resolve_account(settings, JEAN)
    assert pox_outcome(parse_pox(build_pox(account.provider, account))) == expected_outcome(account)
    error = parse_pox(build_error(NO_PROVIDER, MOBILESYNC_NS))
    assert (error.action, error.error_code) == ("error", 601)


def test_apple_reads_use_ssl_as_starttls_on_143_and_587() -> None:
    settings = _settings(WITH_RELAY)
    account = resolve_account(settings, JEAN)
    outcome, types = mail_outcome(build_mobileconfig(account, "en"))
    assert outcome == expected_outcome(account)
    assert types == ["com.apple.mail.managed"]


def test_pacc_names_hosts_on_the_standard_ports() -> None:
    data = settings_data(
        provider={
            "incoming": [{"host": "imap.example.org", "port": 993, "security": "tls"}],
            "outgoing": [{"host": "smtp.example.org", "port": 465, "security": "tls"}],
        }
    )
    account = resolve_account(_settings(data), JEAN)
    body = pacc_document(account.provider, "example.org").body
    assert body is not None
    # PACC names no login: the client has the address.
    assert document_outcome(json.loads(body)) == Outcome(
        MailServer("imap", "imap.example.org", 993, "tls", None),
        MailServer("smtp", "smtp.example.org", 465, "tls", None),
    )


def test_records_for_a_domain_leave_out_a_sub_domain_served_apart() -> None:
    data = settings_data(
        providers=[
            provider_data(),
            provider_data(id="sub.example.org", name="Sub", domains=["sub.example.org"]),
        ]
    )
    version = Version.build(_settings(data), None)
    names = {record.name for record in version.records_for("example.org")}
    assert "autoconfig.example.org." in names
    assert "_imap._tcp.example.org." in names
    assert not any(name.endswith(".sub.example.org.") for name in names)


def test_the_text_gives_each_warning_and_failure_its_fix_and_a_count() -> None:
    results = [
        Result("dns", "a", Status.OK, "fine", "never shown"),
        Result("https", "b", Status.FAIL, "broken", "mend it"),
        Result("apple", "c", Status.WARN, "odd", None),
    ]
    assert render_text(results, "probe x").splitlines() == [
        "probe x",
        "pass  dns    a  fine",
        "FAIL  https  b  broken",
        "             fix: mend it",
        "WARN  apple  c  odd",
        "1 passed, 1 warning, 1 failure",
    ]
