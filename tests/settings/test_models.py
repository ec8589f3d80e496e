"""autoconfig.settings models: the bundled profiles, the defaults and the normalisation of what the file
holds (ports, IDN, IP literals, auth, placeholders, public_url), provider_for, and frozen settings."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from pydantic import ValidationError

from autoconfig.paths import profiles_dir
from autoconfig.settings import Settings, load_settings
from tests.helpers.settings import incoming

MakeSettings = Callable[..., Settings]

# --- the bundled profiles ---------------------------------------------------------------------------------


def test_bundled_default_is_ac_paris(settings: Settings) -> None:
    assert [p.id for p in settings.providers] == ["ac-paris.fr"]
    paris = settings.providers[0]
    assert paris.name == "Académie de Paris"
    assert paris.display_short_name == "AC Paris"
    assert paris.domains == ("ac-paris.fr",)
    assert settings.service.public_url == "https://autoconfig.ac-paris.fr"
    assert settings.service.languages == ("fr", "en")
    assert settings.service.default_language == "fr"
    assert settings.signing is None


def test_ac_paris_servers(settings: Settings) -> None:
    paris = settings.providers[0]
    (imap,) = paris.incoming
    assert (imap.protocol, imap.host, imap.effective_port, imap.security) == (
        "imap",
        "imap.ac-paris.fr",
        143,
        "starttls",
    )
    assert imap.auth == ("password-cleartext",)
    (smtp,) = paris.outgoing
    assert (smtp.protocol, smtp.host, smtp.effective_port, smtp.security) == (
        "smtp",
        "smtp.ac-paris.fr",
        587,
        "starttls",
    )
    assert paris.directory is not None
    assert (paris.directory.host, paris.directory.security) == ("annuaire.ac-paris.fr", "tls")
    assert paris.directory.effective_port == 636
    assert paris.calendar is not None
    assert paris.calendar.host == "agenda.ac-paris.fr"
    assert paris.contacts is None


def test_ac_paris_login_rule(settings: Settings) -> None:
    login = settings.providers[0].login
    assert login.template == "{first:.1}{last}{n}"
    assert login.remove == ".'"
    assert login.fallback == "%EMAILLOCALPART%"
    assert login.overrides is None
    assert login.regex is not None
    match = login.regex.fullmatch("jean-pierre.dupont2")
    assert match is not None
    assert match.groupdict() == {"first": "jean", "last": "dupont", "n": "2"}
    assert login.regex.fullmatch("ce.0751234a") is None


def test_ac_paris_links_and_support(settings: Settings) -> None:
    paris = settings.providers[0]
    assert paris.links.webmail == "https://webmail.ac-paris.fr"
    (doc,) = paris.links.documentation
    assert doc.title.get("en") == "Staff mail: how to"
    assert paris.support.phone == "+33 1 44 62 40 40"
    assert paris.support.hours is not None
    assert paris.support.hours.get("fr").startswith("Du lundi au vendredi")


def test_ile_de_france_profile() -> None:
    settings = load_settings(profiles_dir() / "ile-de-france.toml")
    assert [p.id for p in settings.providers] == ["ac-paris.fr", "ac-creteil.fr", "ac-versailles.fr"]
    assert settings.summary() == "3 providers, 3 domains, 6 servers"
    creteil = settings.providers[1]
    assert (creteil.incoming[0].effective_port, creteil.incoming[0].security) == (993, "tls")
    assert (creteil.outgoing[0].effective_port, creteil.outgoing[0].security) == (465, "tls")
    assert creteil.login.fallback == "%EMAILADDRESS%"
    assert creteil.login.regex is None
    versailles = settings.providers[2]
    assert versailles.login.fallback == "%EMAILLOCALPART%"
    assert settings.providers[0].login.template == "{first:.1}{last}{n}"
    for provider in settings.providers:
        assert settings.provider_for(provider.domains[0]) is provider


# --- defaults and normalisation -----------------------------------------------------------------------


def test_defaults(make_settings: MakeSettings) -> None:
    settings = make_settings()
    service = settings.service
    assert service.public_url == "https://autoconfig.example.org"
    assert (service.languages, service.default_language) == (("fr", "en"), "fr")
    assert (service.log_addresses, service.cache_max_age) == ("redact", 3600)
    provider = settings.providers[0]
    assert provider.short_name is None
    assert provider.display_short_name == "Example"
    assert provider.incoming[0].protocol == "imap"
    assert provider.incoming[0].auth == ("password-cleartext",)
    assert provider.outgoing[0].auth == ("password-cleartext",)
    assert provider.incoming[0].username is None
    assert provider.login.fallback == "%EMAILADDRESS%"
    assert (provider.login.pattern, provider.login.template, provider.login.regex) == (None, None, None)
    assert provider.login.table == {}
    assert provider.links.webmail is None
    assert provider.links.documentation == ()
    assert (provider.calendar, provider.contacts, provider.directory) == (None, None, None)
    assert settings.summary() == "1 provider, 1 domain, 2 servers"


@pytest.mark.parametrize(
    ("protocol", "security", "port"),
    [
        ("imap", "tls", 993),
        ("imap", "starttls", 143),
        ("imap", "none", 143),
        ("pop3", "tls", 995),
        ("pop3", "starttls", 110),
        ("pop3", "none", 110),
    ],
)
def test_incoming_port_default(make_settings: MakeSettings, protocol: str, security: str, port: int) -> None:
    servers = [{"protocol": protocol, "host": "in.example.org", "security": security}]
    server = make_settings(provider={"incoming": servers}).providers[0].incoming[0]
    assert server.port is None
    assert server.protocol == protocol
    assert server.effective_port == port


@pytest.mark.parametrize(("security", "port"), [("tls", 465), ("starttls", 587), ("none", 587)])
def test_outgoing_port_default(make_settings: MakeSettings, security: str, port: int) -> None:
    servers = [{"host": "smtp.example.org", "security": security}]
    server = make_settings(provider={"outgoing": servers}).providers[0].outgoing[0]
    assert server.port is None
    assert server.effective_port == port


@pytest.mark.parametrize(("security", "port"), [("tls", 636), ("starttls", 389), ("none", 389)])
def test_directory_port_default(make_settings: MakeSettings, security: str, port: int) -> None:
    table = {"host": "ldap.example.org", "security": security, "base_dn": "ou=people,dc=example,dc=org"}
    directory = make_settings(provider={"directory": table}).providers[0].directory
    assert directory is not None
    assert directory.effective_port == port


def test_explicit_nonstandard_port_is_kept(make_settings: MakeSettings) -> None:
    settings = make_settings(provider={"incoming": incoming(port=10143, security="tls")})
    server = settings.providers[0].incoming[0]
    assert (server.port, server.effective_port, server.security) == (10143, 10143, "tls")


def test_idn_domain_and_host_become_a_labels(make_settings: MakeSettings) -> None:
    settings = make_settings(
        provider={"domains": ["Exämple.FR", "Example.org."], "incoming": incoming(host="IMAP.Exämple.fr")}
    )
    provider = settings.providers[0]
    assert provider.domains == ("xn--exmple-cua.fr", "example.org")
    assert provider.incoming[0].host == "imap.xn--exmple-cua.fr"
    assert settings.provider_for("xn--exmple-cua.fr") is provider
    assert settings.provider_for("example.org") is provider


def test_provider_for_unknown_domain(make_settings: MakeSettings) -> None:
    settings = make_settings()
    assert settings.provider_for("example.org") is settings.providers[0]
    assert settings.provider_for("example.com") is None
    assert settings.provider_for("imap.example.org") is None


def test_ip_literal_host_is_canonical(make_settings: MakeSettings) -> None:
    settings = make_settings(provider={"incoming": incoming(host="[2001:DB8::0:1]")})
    assert settings.providers[0].incoming[0].host == "2001:db8::1"


@pytest.mark.parametrize(
    ("written", "stored"),
    [
        ("password-encrypted", ("password-encrypted",)),
        (["OAuth2", "password-cleartext"], ("OAuth2", "password-cleartext")),
    ],
)
def test_auth_as_string_or_list(
    make_settings: MakeSettings, written: str | list[str], stored: tuple[str, ...]
) -> None:
    settings = make_settings(provider={"incoming": incoming(auth=written)})
    assert settings.providers[0].incoming[0].auth == stored


def test_email_domain_placeholder_in_host_and_url(make_settings: MakeSettings) -> None:
    settings = make_settings(
        provider={
            "incoming": incoming(host="Mail.%EmailDomain%"),
            "links": {"webmail": "https://webmail.%EMAILDOMAIN%/"},
        }
    )
    provider = settings.providers[0]
    assert provider.incoming[0].host == "mail.%EMAILDOMAIN%"
    assert provider.links.webmail == "https://webmail.%EMAILDOMAIN%/"


def test_public_url_loses_its_trailing_slash(make_settings: MakeSettings) -> None:
    settings = make_settings(service={"public_url": "https://example.org/autoconfig/"})
    assert settings.service.public_url == "https://example.org/autoconfig"


def test_settings_are_frozen(make_settings: MakeSettings) -> None:
    settings = make_settings()
    with pytest.raises(ValidationError, match="frozen"):
        settings.service.public_url = "https://evil.example.org"  # type: ignore[misc]
    with pytest.raises(ValidationError, match="frozen"):
        settings.providers[0].incoming[0].port = 25  # type: ignore[misc]
    assert isinstance(settings.providers[0].domains, tuple)
    assert settings.service.public_url == "https://autoconfig.example.org"
