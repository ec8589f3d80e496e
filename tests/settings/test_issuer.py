"""The OAuth issuer (RFC 8414): an https address kept as the authorization server publishes it, because
clients compare the two character for character; and what PACC and Thunderbird's document say with it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from lxml import etree

from autoconfig.cli import main
from autoconfig.formats.pacc import pacc_document
from autoconfig.formats.thunderbird import compile_clientconfig
from autoconfig.settings import Settings
from tests.helpers.settings import incoming, outgoing

MakeSettings = Callable[..., Settings]
FIX = "write the issuer exactly as the authorization server publishes it"
# PACC describes only servers on implicit TLS.
IMPLICIT_TLS = {
    "incoming": incoming(port=993, security="tls"),
    "outgoing": outgoing(port=465, security="tls"),
}


def _issuer(make_settings: MakeSettings, issuer: str) -> str:
    oauth = make_settings(provider={"oauth": {"issuer": issuer}}).providers[0].oauth
    assert oauth is not None
    return oauth.issuer


@pytest.mark.parametrize(
    "issuer",
    [
        "https://auth.example.org",
        "https://auth.example.org/",  # RFC 8414 keeps it, and so must PACC
        "https://auth.example.org/realms/staff",
        "https://auth.example.org/realms/staff/",
        "https://Auth.Example.org:8443/tenant",  # the host's case too: the comparison is exact
    ],
)
def test_an_issuer_is_kept_as_written(make_settings: MakeSettings, issuer: str) -> None:
    assert _issuer(make_settings, issuer) == issuer


def test_only_the_scheme_is_written_in_lower_case(make_settings: MakeSettings) -> None:
    assert _issuer(make_settings, "HTTPS://auth.example.org/") == "https://auth.example.org/"
    assert _issuer(make_settings, "Https://auth.example.org") == "https://auth.example.org"


@pytest.mark.parametrize(
    ("issuer", "why"),
    [
        ("http://auth.example.org", "an OAuth issuer is an https address"),
        ("HTTP://auth.example.org", "an OAuth issuer is an https address"),
        ("auth.example.org", "an OAuth issuer is an https address"),
        ("https://auth.example.org/?tenant=1", "no query or fragment"),
        ("https://auth.example.org/?", "no query or fragment"),
        ("https://auth.example.org/#staff", "no query or fragment"),
        ("https:///realms/staff", "the issuer's host or port is not valid"),
        ("https://auth.example.org:99999", "the issuer's host or port is not valid"),
        ("https://%EMAILDOMAIN%/", "the issuer's host or port is not valid"),
        ("https://auth.example.org/a b", "spaces or control characters"),
    ],
)
def test_check_names_the_key_the_reason_and_the_fix(
    settings_file: Callable[..., Path], issuer: str, why: str
) -> None:
    path = settings_file(provider={"oauth": {"issuer": issuer}})
    result = CliRunner().invoke(main, ["check", "--settings", str(path)])
    assert result.exit_code == 1, result.output
    assert "providers[0].oauth.issuer" in result.output
    assert why in result.output
    assert FIX in result.output


@pytest.mark.parametrize("issuer", ["https://auth.example.org", "https://auth.example.org/realms/staff/"])
def test_pacc_advertises_the_issuer_as_written_and_thunderbird_its_host(
    make_settings: MakeSettings, issuer: str
) -> None:
    provider = make_settings(provider={**IMPLICIT_TLS, "oauth": {"issuer": issuer}}).providers[0]
    pacc = json.loads(pacc_document(provider, "example.org").body or b"")
    assert pacc["authentication"]["oauth-public"] == {"issuer": issuer}
    root = etree.fromstring(compile_clientconfig(provider).render())
    assert root.findtext("oAuth2/issuer") == "auth.example.org"
