"""autoconfig.settings: the bundled profiles load, and every kind of mistake is reported plainly.

Error tests assert on the rendered report, as a person reads it: the file, the key path, the value
found, the reason and the fix, with every problem of a file in one report.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest
from pydantic import ValidationError

from autoconfig.errors import Problem, SettingsError
from autoconfig.paths import profiles_dir
from autoconfig.settings import (
    Localized,
    Settings,
    iter_keys,
    load_settings,
    settings_warnings,
)
from tests.helpers.settings import MINIMAL_TOML as MINIMAL

WriteSettings = Callable[..., Path]

DOMAINS = 'domains = ["example.org"]'
IMAP = 'host = "imap.example.org"\nport = 143\nsecurity = "starttls"'
SMTP = 'host = "smtp.example.org"\nport = 587\nsecurity = "starttls"'
# The [[providers]] block of MINIMAL, to append a second provider.
PROVIDER = MINIMAL[MINIMAL.index("[[providers]]") :]


def edit(*pairs: tuple[str, str], text: str = MINIMAL) -> str:
    """MINIMAL with each `old` replaced by `new`; each `old` must occur exactly once."""
    for old, new in pairs:
        assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times"
        text = text.replace(old, new)
    return text


def with_login(login: str) -> str:
    return edit((DOMAINS, f"{DOMAINS}\nlogin = {login}"))


def load_error(path: Path) -> SettingsError:
    with pytest.raises(SettingsError) as info:
        load_settings(path)
    return info.value


def problem_lines(problem: Problem) -> list[str]:
    return problem.render().splitlines()


def assert_problem(
    error: SettingsError, *, path: str, found: str | None, says: str, fix: str, count: int = 1
) -> None:
    """The report holds `count` problems, one of them at `path` with that value, reason and fix."""
    text = error.render()
    header = text.splitlines()[0]
    assert header == f"{error.source}: {count} problem{'s' if count != 1 else ''}", text
    assert len(error.problems) == count, text
    where = f"  {path}" if found is None else f"  {path}: found {found}"
    matches = [p for p in error.problems if problem_lines(p)[0] == where]
    assert matches, f"no problem at {where!r} in:\n{text}"
    lines = problem_lines(matches[0])
    assert says in lines[1], text
    assert lines[2].startswith("    fix: "), text
    assert fix in lines[2], text
    assert "Traceback" not in text


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
    assert paris.support.phone == "01 44 62 40 40"
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


def test_digest_is_sha256_of_the_file(write_toml: WriteSettings) -> None:
    path = write_toml(MINIMAL)
    assert load_settings(path).digest == hashlib.sha256(path.read_bytes()).hexdigest()
    other = write_toml(MINIMAL + "# a comment changes the digest\n", "other.toml")
    assert load_settings(other).digest != load_settings(path).digest


def test_bundled_digest(settings: Settings) -> None:
    bundled = (profiles_dir() / "ac-paris.toml").read_bytes()
    assert settings.digest == hashlib.sha256(bundled).hexdigest()


# --- defaults and normalisation -----------------------------------------------------------------------


def test_defaults(write_toml: WriteSettings) -> None:
    settings = load_settings(write_toml(MINIMAL))
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
def test_incoming_port_default(write_toml: WriteSettings, protocol: str, security: str, port: int) -> None:
    text = edit((IMAP, f'protocol = "{protocol}"\nhost = "in.example.org"\nsecurity = "{security}"'))
    server = load_settings(write_toml(text)).providers[0].incoming[0]
    assert server.port is None
    assert server.protocol == protocol
    assert server.effective_port == port


@pytest.mark.parametrize(("security", "port"), [("tls", 465), ("starttls", 587), ("none", 587)])
def test_outgoing_port_default(write_toml: WriteSettings, security: str, port: int) -> None:
    text = edit((SMTP, f'host = "smtp.example.org"\nsecurity = "{security}"'))
    server = load_settings(write_toml(text)).providers[0].outgoing[0]
    assert server.port is None
    assert server.effective_port == port


@pytest.mark.parametrize(("security", "port"), [("tls", 636), ("starttls", 389), ("none", 389)])
def test_directory_port_default(write_toml: WriteSettings, security: str, port: int) -> None:
    text = MINIMAL + f'[providers.directory]\nhost = "ldap.example.org"\nsecurity = "{security}"\n'
    text += 'base_dn = "ou=people,dc=example,dc=org"\n'
    directory = load_settings(write_toml(text)).providers[0].directory
    assert directory is not None
    assert directory.effective_port == port


def test_explicit_nonstandard_port_is_kept(write_toml: WriteSettings) -> None:
    text = edit(('port = 143\nsecurity = "starttls"', 'port = 10143\nsecurity = "tls"'))
    server = load_settings(write_toml(text)).providers[0].incoming[0]
    assert (server.port, server.effective_port, server.security) == (10143, 10143, "tls")


def test_idn_domain_and_host_become_a_labels(write_toml: WriteSettings) -> None:
    text = edit(
        (DOMAINS, 'domains = ["Exämple.FR", "Example.org."]'),
        ('host = "imap.example.org"', 'host = "IMAP.Exämple.fr"'),
    )
    settings = load_settings(write_toml(text))
    provider = settings.providers[0]
    assert provider.domains == ("xn--exmple-cua.fr", "example.org")
    assert provider.incoming[0].host == "imap.xn--exmple-cua.fr"
    assert settings.provider_for("xn--exmple-cua.fr") is provider
    assert settings.provider_for("example.org") is provider


def test_provider_for_unknown_domain(write_toml: WriteSettings) -> None:
    settings = load_settings(write_toml(MINIMAL))
    assert settings.provider_for("example.org") is settings.providers[0]
    assert settings.provider_for("example.com") is None
    assert settings.provider_for("imap.example.org") is None


def test_ip_literal_host_is_canonical(write_toml: WriteSettings) -> None:
    text = edit(('host = "imap.example.org"', 'host = "[2001:DB8::0:1]"'))
    assert load_settings(write_toml(text)).providers[0].incoming[0].host == "2001:db8::1"


@pytest.mark.parametrize(
    ("written", "stored"),
    [
        ('"password-encrypted"', ("password-encrypted",)),
        ('["OAuth2", "password-cleartext"]', ("OAuth2", "password-cleartext")),
    ],
)
def test_auth_as_string_or_list(write_toml: WriteSettings, written: str, stored: tuple[str, ...]) -> None:
    text = edit((IMAP, f"{IMAP}\nauth = {written}"))
    assert load_settings(write_toml(text)).providers[0].incoming[0].auth == stored


def test_email_domain_placeholder_in_host_and_url(write_toml: WriteSettings) -> None:
    text = edit(('host = "imap.example.org"', 'host = "Mail.%EmailDomain%"'))
    text += '[providers.links]\nwebmail = "https://webmail.%EMAILDOMAIN%/"\n'
    provider = load_settings(write_toml(text)).providers[0]
    assert provider.incoming[0].host == "mail.%EMAILDOMAIN%"
    assert provider.links.webmail == "https://webmail.%EMAILDOMAIN%/"


def test_public_url_loses_its_trailing_slash(write_toml: WriteSettings) -> None:
    text = edit(('"https://autoconfig.example.org"', '"https://example.org/autoconfig/"'))
    assert load_settings(write_toml(text)).service.public_url == "https://example.org/autoconfig"


def test_signing_paths_are_relative_to_the_settings_file(write_toml: WriteSettings) -> None:
    path = write_toml(MINIMAL + '[signing]\ncertificate = "tls/cert.pem"\nkey = "tls/key.pem"\n')
    (path.parent / "tls").mkdir()
    for name in ("cert.pem", "key.pem"):
        (path.parent / "tls" / name).write_text("-----BEGIN-----\n", encoding="ascii")
    settings = load_settings(path)
    assert settings.signing is not None
    assert settings.signing.certificate == path.parent / "tls" / "cert.pem"
    assert settings.signing.key.is_absolute()
    assert settings.signing.chain == ()


def test_overrides_table(write_toml: WriteSettings) -> None:
    path = write_toml(with_login('{ overrides = "overrides.csv" }'))
    (path.parent / "overrides.csv").write_text(
        "\ufeffaddress,login,name\n"
        "Jean.Dupont@Exämple.FR,jdupont2,Jean Dupont\n"
        "ce.0751234a@example.org,ce0751234a,\n",
        encoding="utf-8",
    )
    table = load_settings(path).providers[0].login.table
    assert dict(table) == {
        "jean.dupont@xn--exmple-cua.fr": ("jdupont2", "Jean Dupont"),
        "ce.0751234a@example.org": ("ce0751234a", None),
    }


def test_localized_text_by_language(write_toml: WriteSettings) -> None:
    text = MINIMAL + '[providers.support]\nhours = { fr = "9 h - 17 h", en = "9 am - 5 pm" }\n'
    text += 'postal_address = "1 rue de l\'Exemple"\n'
    support = load_settings(write_toml(text)).providers[0].support
    assert support.hours is not None
    assert support.hours.items() == (("fr", "9 h - 17 h"), ("en", "9 am - 5 pm"))
    assert support.hours.get("en") == "9 am - 5 pm"
    assert support.postal_address == "1 rue de l'Exemple"


def test_localized_get_fallbacks() -> None:
    texts = Localized((("fr", "bonjour"), ("pt-BR", "olá"), ("en-GB", "hello")))
    assert texts.get("fr") == "bonjour"
    assert texts.get("fr-CA") == "bonjour"  # primary subtag
    assert texts.get("pt-PT") == "olá"  # another region of the same language
    assert texts.get("en") == "hello"
    assert texts.get("de") == "bonjour"  # none fits: the first
    anywhere = Localized((("fr", "bonjour"), (None, "hi")))
    assert anywhere.get("de") == "hi"  # the text for any language beats the first
    assert anywhere.get("fr") == "bonjour"
    assert Localized(((None, "one text"),)).get("en") == "one text"


def test_settings_are_frozen(write_toml: WriteSettings) -> None:
    settings = load_settings(write_toml(MINIMAL))
    with pytest.raises(ValidationError, match="frozen"):
        settings.service.public_url = "https://evil.example.org"  # type: ignore[misc]
    with pytest.raises(ValidationError, match="frozen"):
        settings.providers[0].incoming[0].port = 25  # type: ignore[misc]
    assert isinstance(settings.providers[0].domains, tuple)
    assert settings.service.public_url == "https://autoconfig.example.org"


def test_iter_keys_lists_every_key() -> None:
    keys = dict(iter_keys())
    for key in (
        "service",
        "service.public_url",
        "service.default_language",
        "signing.certificate",
        "signing.chain",
        "providers.id",
        "providers.domains",
        "providers.login.pattern",
        "providers.login.overrides",
        "providers.incoming.port",
        "providers.incoming.protocol",
        "providers.outgoing.auth",
        "providers.links.documentation.title",
        "providers.support.hours",
        "providers.calendar.url",
        "providers.contacts.username",
        "providers.directory.base_dn",
    ):
        assert key in keys, key
    assert all(description for description in keys.values()), [k for k, d in keys.items() if not d]
    paths = [path for path, _ in iter_keys()]
    assert len(paths) == len(set(paths))
    assert "providers.incoming.effective_port" not in keys


def test_warning_without_signing(write_toml: WriteSettings) -> None:
    notes = settings_warnings(load_settings(write_toml(MINIMAL)))
    assert len(notes) == 1
    assert notes[0].startswith("no [signing]: Apple profiles will be served unsigned")


def test_no_warning_with_signing(write_toml: WriteSettings) -> None:
    path = write_toml(MINIMAL + '[signing]\ncertificate = "cert.pem"\nkey = "key.pem"\n')
    (path.parent / "cert.pem").write_text("x", encoding="ascii")
    (path.parent / "key.pem").write_text("x", encoding="ascii")
    assert settings_warnings(load_settings(path)) == []


def test_warning_for_cleartext_password_without_encryption(write_toml: WriteSettings) -> None:
    text = edit(
        ('port = 587\nsecurity = "starttls"', 'port = 587\nsecurity = "none"\nauth = "password-encrypted"'),
        ('port = 143\nsecurity = "starttls"', 'port = 143\nsecurity = "none"'),
    )
    text += '\n[[providers.incoming]]\nprotocol = "pop3"\nhost = "pop.example.org"\nsecurity = "none"\n'
    notes = settings_warnings(load_settings(write_toml(text)))
    unencrypted = [n for n in notes if "unencrypted" in n]
    assert unencrypted == [
        'providers[0].incoming[0]: passwords would cross the network unencrypted (security = "none" '
        "with password-cleartext)",
        'providers[0].incoming[1]: passwords would cross the network unencrypted (security = "none" '
        "with password-cleartext)",
    ]


# --- reading the file ---------------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.toml"
    error = load_error(path)
    assert error.source == str(path)
    assert_problem(
        error,
        path="(top level)",
        found=None,
        says="cannot read the file: No such file or directory",
        fix="check the path given to --settings",
    )


def test_file_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes(MINIMAL.replace("Example", "Exemple café").encode("latin-1"))
    line = MINIMAL.splitlines().index('name = "Example"') + 1
    assert_problem(
        load_error(path),
        path="(top level)",
        found=None,
        says=f"the file is not UTF-8 text: line {line} holds the byte 0xe9",
        fix="save it as UTF-8",
    )


def test_toml_syntax_error_names_the_line(write_toml: WriteSettings) -> None:
    text = edit(("port = 587", "port = 587\nsecurity starttls"))
    line = text.splitlines().index("security starttls") + 1
    error = load_error(write_toml(text))
    assert_problem(
        error,
        path="(top level)",
        found=None,
        says=f"not valid TOML: Expected '=' after a key in a key/value pair (at line {line}, column 10)",
        fix="correct the syntax there",
    )


def test_empty_file_asks_for_the_required_tables(write_toml: WriteSettings) -> None:
    error = load_error(write_toml("# nothing yet\n"))
    assert_problem(
        error, path="service", found=None, says="this key is required", fix="add it: The service", count=2
    )
    assert_problem(
        error, path="providers", found=None, says="this key is required", fix="add it: Mail", count=2
    )


# --- one problem, each kind ---------------------------------------------------------------------------

# (id, settings text, key path, found as shown, reason, fix)
ONE_PROBLEM: list[tuple[str, str, str, str | None, str, str]] = [
    (
        "unknown top-level table",
        "[provider]\nname = 'x'\n" + MINIMAL,
        "provider",
        None,
        "unknown key",
        "did you mean 'providers'? remove it, or use one of: service, signing, providers",
    ),
    (
        "unknown provider key",
        edit(('name = "Example"', 'name = "Example"\nshortname = "Ex"')),
        "providers[0].shortname",
        None,
        "unknown key",
        "did you mean 'short_name'?",
    ),
    (
        "unknown key without a close match",
        edit(("[service]", "[service]\nzzz = 1")),
        "service.zzz",
        None,
        "unknown key",
        "remove it, or use one of: public_url, languages, default_language, log_addresses, cache_max_age",
    ),
    (
        "missing host",
        edit(('host = "imap.example.org"\n', "")),
        "providers[0].incoming[0].host",
        None,
        "this key is required",
        "add it: The server's DNS name",
    ),
    (
        "missing public_url",
        edit(('public_url = "https://autoconfig.example.org"', 'languages = ["fr"]')),
        "service.public_url",
        None,
        "this key is required",
        "add it: The service's public address",
    ),
    (
        "port as a string",
        edit(("port = 143", 'port = "143"')),
        "providers[0].incoming[0].port",
        '"143"',
        "input should be a valid integer",
        "write a whole number without quotes",
    ),
    (
        "port as a boolean",
        edit(("port = 587", "port = true")),
        "providers[0].outgoing[0].port",
        "true",
        "input should be a valid integer",
        "write a whole number without quotes",
    ),
    (
        "port as a decimal",
        edit(("port = 143", "port = 143.0")),
        "providers[0].incoming[0].port",
        "143.0",
        "valid integer",
        "write a whole number without quotes",
    ),
    (
        "host as a number",
        edit(('host = "imap.example.org"', "host = 42")),
        "providers[0].incoming[0].host",
        "42",
        "input should be a valid string",
        "write it as text in double quotes",
    ),
    (
        "port too large",
        edit(("port = 143", "port = 70000")),
        "providers[0].incoming[0].port",
        "70000",
        "less than or equal to 65535",
        "use a smaller number",
    ),
    (
        "port zero",
        edit(("port = 587", "port = 0")),
        "providers[0].outgoing[0].port",
        "0",
        "greater than or equal to 1",
        "use a larger number",
    ),
    (
        "cache_max_age as a string",
        edit(("[service]", '[service]\ncache_max_age = "60"')),
        "service.cache_max_age",
        '"60"',
        "valid integer",
        "write a whole number without quotes",
    ),
    (
        "security ssl",
        edit((IMAP, IMAP.replace("starttls", "ssl"))),
        "providers[0].incoming[0].security",
        '"ssl"',
        "this value is not allowed",
        "use one of 'starttls', 'tls' or 'none'",
    ),
    (
        "protocol pop",
        edit((IMAP, f'{IMAP}\nprotocol = "pop"')),
        "providers[0].incoming[0].protocol",
        '"pop"',
        "this value is not allowed",
        "use one of 'imap' or 'pop3'",
    ),
    (
        "auth misspelt in a list",
        edit((SMTP, f'{SMTP}\nauth = ["password-cleartext", "oauth2"]')),
        "providers[0].outgoing[0].auth[1]",
        '"oauth2"',
        "this value is not allowed",
        "'OAuth2'",
    ),
    (
        "ui language not offered",
        edit(("[service]", '[service]\nlanguages = ["fr", "de"]')),
        "service.languages[1]",
        '"de"',
        "this value is not allowed",
        "use one of 'fr' or 'en'",
    ),
    (
        "bad domain",
        edit((DOMAINS, 'domains = ["example.org", "intranet"]')),
        "providers[0].domains[1]",
        '"intranet"',
        "this is not a mail domain: it has no dot",
        "write a domain such as ac-paris.fr",
    ),
    (
        "bad provider id",
        edit(('id = "example.org"', 'id = "example_org.fr"')),
        "providers[0].id",
        '"example_org.fr"',
        "the part 'example_org' is not a DNS label",
        "write a domain such as ac-paris.fr",
    ),
    (
        "host with a port",
        edit(('host = "imap.example.org"', 'host = "imap.example.org:993"')),
        "providers[0].incoming[0].host",
        '"imap.example.org:993"',
        "this is not a host name",
        "write the server's DNS name, such as imap.example.org, without scheme or port",
    ),
    (
        "host with a scheme",
        edit(('host = "smtp.example.org"', 'host = "smtps://smtp.example.org"')),
        "providers[0].outgoing[0].host",
        '"smtps://smtp.example.org"',
        "this is not a host name",
        "without scheme or port",
    ),
    (
        "url without scheme",
        MINIMAL + '[providers.links]\nwebmail = "webmail.example.org"\n',
        "providers[0].links.webmail",
        '"webmail.example.org"',
        "this is not an absolute http(s) address",
        "write an absolute address such as https://webmail.example.org/",
    ),
    (
        "url with a space",
        MINIMAL + '[providers.links]\npassword_reset = "https://example.org/reset password"\n',
        "providers[0].links.password_reset",
        '"https://example.org/reset password"',
        "the address holds spaces or control characters",
        "write an absolute address",
    ),
    (
        "url with a bad port",
        MINIMAL + '[providers.calendar]\nurl = "https://dav.example.org:99999/"\n',
        "providers[0].calendar.url",
        '"https://dav.example.org:99999/"',
        "the address's host or port is not valid",
        "write an absolute address",
    ),
    (
        "public url with a query",
        edit(('"https://autoconfig.example.org"', '"https://autoconfig.example.org/?x=1"')),
        "service.public_url",
        '"https://autoconfig.example.org/?x=1"',
        "must not have a query or fragment",
        "write only scheme, host and optional path",
    ),
    (
        "bad phone",
        MINIMAL + '[providers.support]\nphone = "call the helpdesk"\n',
        "providers[0].support.phone",
        '"call the helpdesk"',
        "this is not a phone number",
        "such as 01 44 62 40 40 or +33 1 44 62 40 40",
    ),
    (
        "bad distinguished name",
        MINIMAL + '[providers.directory]\nhost = "ldap.example.org"\nbase_dn = "example.org"\n',
        "providers[0].directory.base_dn",
        '"example.org"',
        "this is not an LDAP distinguished name",
        "write it as ou=people,dc=example,dc=org",
    ),
    (
        "bad language tag in a text table",
        MINIMAL + '[providers.support]\nhours = { French = "9 h - 17 h" }\n',
        "providers[0].support.hours",
        "a table",
        "'French' is not a language tag",
        'a table of languages such as { fr = "…", en = "…" }',
    ),
    (
        "text table with a number",
        MINIMAL + "[providers.support]\nhours = { fr = 9 }\n",
        "providers[0].support.hours",
        "a table",
        "the text for 'fr' is not text",
        'write "text", or a table of languages',
    ),
    (
        "control character in text",
        edit(('name = "Example"', 'name = "Exa\\tmple"')),
        "providers[0].name",
        "'Exa\\tmple'",
        "the text holds control characters or line breaks",
        "write it on one line",
    ),
    (
        "line break in text",
        edit(('name = "Example"', 'name = """Example\nMail"""')),
        "providers[0].name",
        "'Example\\nMail'",
        "the text holds control characters or line breaks",
        "write it on one line",
    ),
    (
        "empty text",
        edit(('name = "Example"', 'name = "Example"\nshort_name = "  "')),
        "providers[0].short_name",
        '"  "',
        "the text is empty",
        "write the text, or remove the key",
    ),
    (
        "993 with starttls",
        edit(("port = 143", "port = 993")),
        "providers[0].incoming[0].security",
        '"starttls"',
        'port 993 is IMAP over implicit TLS, but security is "starttls"',
        'write security = "tls", or use the port your server really offers with STARTTLS',
    ),
    (
        "143 with tls",
        edit(('port = 143\nsecurity = "starttls"', 'port = 143\nsecurity = "tls"')),
        "providers[0].incoming[0].security",
        '"tls"',
        'port 143 is IMAP started in plain and upgraded with STARTTLS, but security is "tls"',
        'write security = "starttls", or the implicit-TLS port',
    ),
    (
        "465 with none",
        edit(('port = 587\nsecurity = "starttls"', 'port = 465\nsecurity = "none"')),
        "providers[0].outgoing[0].security",
        '"none"',
        'port 465 is SMTP submission over implicit TLS, but security is "none"',
        'write security = "tls"',
    ),
    (
        "389 with tls in the directory",
        MINIMAL + '[providers.directory]\nhost = "ldap.example.org"\nport = 389\nsecurity = "tls"\n'
        'base_dn = "dc=example,dc=org"\n',
        "providers[0].directory.security",
        '"tls"',
        "port 389 is LDAP started in plain",
        'write security = "starttls"',
    ),
    (
        "pattern without template",
        with_login("{ pattern = '^(?P<first>[a-z]+)$' }"),
        "providers[0].login.template",
        None,
        "pattern is set but template is not; pattern and template go together",
        "give both pattern and template, or neither to always use fallback",
    ),
    (
        "template without pattern",
        with_login('{ template = "{localpart}" }'),
        "providers[0].login.pattern",
        None,
        "template is set but pattern is not",
        "give both pattern and template",
    ),
    (
        "regex that does not compile",
        with_login("{ pattern = '^(?P<first>[a-z]+$', template = \"{first}\" }"),
        "providers[0].login.pattern",
        '"^(?P<first>[a-z]+$"',
        "the regular expression does not compile: missing ), unterminated subpattern",
        "in TOML write it between single quotes",
    ),
    (
        "regex without a named group",
        with_login("{ pattern = '^([a-z]+)\\.([a-z]+)$', template = \"{localpart}\" }"),
        "providers[0].login.pattern",
        '"^([a-z]+)\\.([a-z]+)$"',
        "the regular expression has no named group",
        "name the parts the template uses, such as (?P<first>[a-z]+)",
    ),
    (
        "template with an unknown field",
        with_login("{ pattern = '^(?P<first>[a-z]+)$', template = \"{frist}\" }"),
        "providers[0].login.template",
        '"{frist}"',
        "{frist} is not a field the template can use",
        "use only {name} or {name:.N} with a name from: address, domain, first, localpart",
    ),
    (
        "template with a conversion",
        with_login("{ pattern = '^(?P<first>[a-z]+)$', template = \"{first!r}\" }"),
        "providers[0].login.template",
        '"{first!r}"',
        "{first!r} is not a field the template can use",
        "use only {name} or {name:.N}",
    ),
    (
        "template with attribute access",
        with_login("{ pattern = '^(?P<first>[a-z]+)$', template = \"{first.__class__}\" }"),
        "providers[0].login.template",
        '"{first.__class__}"',
        "{first.__class__} is not a field the template can use",
        "use only {name} or {name:.N}",
    ),
    (
        "template with indexing",
        with_login("{ pattern = '^(?P<first>[a-z]+)$', template = \"{first[0]}\" }"),
        "providers[0].login.template",
        '"{first[0]}"',
        "{first[0]} is not a field the template can use",
        "use only {name} or {name:.N}",
    ),
    (
        "template with a bad spec",
        with_login("{ pattern = '^(?P<first>[a-z]+)$', template = \"{first:>20}\" }"),
        "providers[0].login.template",
        '"{first:>20}"',
        "{first:>20} is not a field the template can use",
        "use only {name} or {name:.N}",
    ),
    (
        "template with a nested spec",
        with_login("{ pattern = '^(?P<first>[a-z]+)$', template = \"{first:.{first}}\" }"),
        "providers[0].login.template",
        '"{first:.{first}}"',
        "is not a field the template can use",
        "use only {name} or {name:.N}",
    ),
    (
        "template not closed",
        with_login("{ pattern = '^(?P<first>[a-z]+)$', template = \"{first\" }"),
        "providers[0].login.template",
        '"{first"',
        "the template is malformed: expected '}' before end of string",
        "use only {name} or {name:.N}",
    ),
    (
        "template without a field",
        with_login("{ pattern = '^(?P<first>[a-z]+)$', template = \"admin\" }"),
        "providers[0].login.template",
        '"admin"',
        "the template uses no field",
        "use only {name} or {name:.N}",
    ),
    (
        # Regression: the field name once collided with the error's own context and was replaced by it.
        "template field named like the report's parts",
        with_login("{ pattern = '^(?P<first>[a-z]+)$', template = \"{fix}\" }"),
        "providers[0].login.template",
        '"{fix}"',
        "{fix} is not a field the template can use",
        "with a name from: address, domain, first, localpart",
    ),
    (
        "fallback placeholder without its closing %",
        with_login('{ fallback = "%EMAILADDRESS" }'),
        "providers[0].login.fallback",
        '"%EMAILADDRESS"',
        "'%EMAILADDRESS' is not a placeholder mail clients know",
        "use %EMAILADDRESS%, %EMAILLOCALPART% or %EMAILDOMAIN%, spelt exactly",
    ),
    (
        "fallback placeholder misspelt",
        with_login('{ fallback = "%EMAILADRESS%" }'),
        "providers[0].login.fallback",
        '"%EMAILADRESS%"',
        "'%EMAILADRESS%' is not a placeholder mail clients know",
        "spelt exactly",
    ),
    (
        "fallback placeholder in lower case",
        with_login('{ fallback = "%emaillocalpart%" }'),
        "providers[0].login.fallback",
        '"%emaillocalpart%"',
        "is not a placeholder mail clients know",
        "spelt exactly",
    ),
    (
        "server username with a space",
        edit((SMTP, f'{SMTP}\nusername = "%EMAILLOCALPART% x"')),
        "providers[0].outgoing[0].username",
        '"%EMAILLOCALPART% x"',
        "a login cannot hold spaces or control characters",
        "remove them",
    ),
    (
        "default language not among languages",
        edit(("[service]", '[service]\nlanguages = ["en"]')),
        "service.default_language",
        '"fr"',
        'default_language is not among languages = ["en"]',
        "add it to languages, or choose one of them",
    ),
    (
        "duplicate domain across providers",
        MINIMAL
        + PROVIDER.replace('id = "example.org"', 'id = "example.net"').replace(
            DOMAINS, 'domains = ["example.net", "Example.ORG"]'
        ),
        "providers[1].domains[1]",
        '"Example.ORG"',
        "this domain is listed in providers[0] already; a domain belongs to one provider",
        "remove the repeated domain",
    ),
    (
        "duplicate domain within a provider",
        edit((DOMAINS, 'domains = ["example.org", "example.net", "example.org."]')),
        "providers[0].domains[2]",
        '"example.org."',
        "this domain is listed earlier in this provider already",
        "remove the repeated domain",
    ),
    (
        "duplicate provider id",
        MINIMAL + PROVIDER.replace(DOMAINS, 'domains = ["example.net"]'),
        "providers[1].id",
        '"example.org"',
        "providers[0] has the same id",
        "give every provider its own id",
    ),
    (
        "empty domains",
        edit((DOMAINS, "domains = []")),
        "providers[0].domains",
        "[]",
        "this list is empty",
        "add at least one entry",
    ),
    (
        "empty languages",
        edit(("[service]", '[service]\nlanguages = []\ndefault_language = "fr"')),
        "service.languages",
        "[]",
        "this list is empty",
        "add at least one entry",
    ),
    (
        "empty auth",
        edit((IMAP, f"{IMAP}\nauth = []")),
        "providers[0].incoming[0].auth",
        "[]",
        "this list is empty",
        "add at least one entry",
    ),
    (
        "empty incoming",
        edit((f"[[providers.incoming]]\n{IMAP}\n", "incoming = []\n")),
        "providers[0].incoming",
        "[]",
        "this list is empty",
        "add at least one entry",
    ),
    (
        "providers with single brackets",
        edit(
            ("[[providers]]", "[providers]"),
            (f"[[providers.incoming]]\n{IMAP}\n\n[[providers.outgoing]]\n{SMTP}\n", ""),
        ),
        "providers",
        "a table",
        "this must be a list",
        "write each entry as its own [[providers]] table (two brackets), even when there is one",
    ),
    (
        "incoming with single brackets",
        edit(("[[providers.incoming]]", "[providers.incoming]")),
        "providers[0].incoming",
        "a table",
        "this must be a list",
        "write each entry as its own [[providers.incoming]] table",
    ),
    (
        "domains as a string",
        edit((DOMAINS, 'domains = "example.org"')),
        "providers[0].domains",
        '"example.org"',
        "this must be a list",
        'write it in brackets, as a list of one: ["example.org"]',
    ),
    (
        "a table where a value goes",
        edit(('name = "Example"', 'name = "Example"\nlogin = "%EMAILADDRESS%"')),
        "providers[0].login",
        '"%EMAILADDRESS%"',
        "valid dictionary or instance of LoginRule",
        "write a table: [name] or { key = value }",
    ),
]


@pytest.mark.parametrize("case", [pytest.param(case, id=case[0]) for case in ONE_PROBLEM])
def test_one_problem(write_toml: WriteSettings, case: tuple[str, str, str, str | None, str, str]) -> None:
    _, text, path, found, says, fix = case
    settings_file = write_toml(text)
    error = load_error(settings_file)
    assert error.source == str(settings_file)
    assert_problem(error, path=path, found=found, says=says, fix=fix)


def test_misspelt_key_is_both_unknown_and_missing(write_toml: WriteSettings) -> None:
    error = load_error(write_toml(edit(('host = "imap', 'hots = "imap'))))
    assert_problem(
        error,
        path="providers[0].incoming[0].hots",
        found=None,
        says="unknown key",
        fix="did you mean 'host'? remove it, or use one of: host, port, security, auth, username, protocol",
        count=2,
    )
    assert_problem(
        error,
        path="providers[0].incoming[0].host",
        found=None,
        says="this key is required",
        fix="add it",
        count=2,
    )


def test_list_of_tables_at_top_level_misspelt(write_toml: WriteSettings) -> None:
    # [[provider]] then [[providers.incoming]]: the second makes a `providers` table, not a list.
    error = load_error(write_toml(edit(("[[providers]]", "[[provider]]"))))
    assert_problem(
        error, path="provider", found=None, says="unknown key", fix="did you mean 'providers'?", count=2
    )
    assert_problem(
        error, path="providers", found="a table", says="this must be a list", fix="[[providers]]", count=2
    )


def test_overrides_file_missing(write_toml: WriteSettings) -> None:
    path = write_toml(with_login('{ overrides = "exceptions.csv" }'))
    assert_problem(
        load_error(path),
        path="providers[0].login.overrides",
        found='"exceptions.csv"',
        says=f"no readable file at {path.parent / 'exceptions.csv'}",
        fix="write a path to an existing file; relative paths start from the settings file's folder",
    )


def test_overrides_without_header(write_toml: WriteSettings) -> None:
    path = write_toml(with_login('{ overrides = "exceptions.csv" }'))
    csv_file = path.parent / "exceptions.csv"
    csv_file.write_text("jean.dupont@example.org,jdupont\n", encoding="utf-8")
    assert_problem(
        load_error(path),
        path="providers[0].login.overrides",
        found=f'"{csv_file}"',
        says="exceptions.csv has no header with address and login",
        fix="write a CSV file whose first line is address,login (or address,login,name)",
    )


def test_overrides_bad_lines_are_named(write_toml: WriteSettings) -> None:
    path = write_toml(with_login('{ overrides = "exceptions.csv" }'))
    (path.parent / "exceptions.csv").write_text(
        "address,login\n"
        "jean.dupont@example.org,jdupont\n"  # 2: fine
        "no-at-sign,x\n"  # 3: no @
        "marie.curie@example.org,\n"  # 4: no login
        "paul@intranet,paul\n"  # 5: not a domain
        "ok@example.org,ok\n"  # 6: fine
        'tab@example.org,"t\tb"\n',  # 7: control character
        encoding="utf-8",
    )
    assert_problem(
        load_error(path),
        path="providers[0].login.overrides",
        found=f'"{path.parent / "exceptions.csv"}"',
        says="exceptions.csv: lines 3, 4, 5, 7 have no address of the form name@domain, no login, "
        "or control characters",
        fix="one person a line",
    )


def test_overrides_one_bad_line(write_toml: WriteSettings) -> None:
    path = write_toml(with_login('{ overrides = "exceptions.csv" }'))
    (path.parent / "exceptions.csv").write_text("address,login\nnobody,x\n", encoding="utf-8")
    error = load_error(path)
    assert "exceptions.csv: line 2 has no address" in error.render()


def test_overrides_many_bad_lines_are_counted(write_toml: WriteSettings) -> None:
    path = write_toml(with_login('{ overrides = "exceptions.csv" }'))
    (path.parent / "exceptions.csv").write_text("address,login\n" + "nobody,x\n" * 12, encoding="utf-8")
    error = load_error(path)
    assert "lines 2, 3, 4, 5, 6, 7, 8, 9, 10, 11 and 2 more have no address" in error.render()


def test_signing_files_missing(write_toml: WriteSettings) -> None:
    path = write_toml(MINIMAL + '[signing]\ncertificate = "tls/cert.pem"\nkey = "tls/key.pem"\n')
    error = load_error(path)
    for key, name in (("certificate", "cert.pem"), ("key", "key.pem")):
        assert_problem(
            error,
            path=f"signing.{key}",
            found=f'"tls/{name}"',
            says=f"no readable file at {path.parent / 'tls' / name}",
            fix="relative paths start from the settings file's folder",
            count=2,
        )


def test_signing_chain_must_be_a_list(write_toml: WriteSettings) -> None:
    path = write_toml(MINIMAL + '[signing]\ncertificate = "c.pem"\nkey = "k.pem"\nchain = "ca.pem"\n')
    for name in ("c.pem", "k.pem", "ca.pem"):
        (path.parent / name).write_text("x", encoding="ascii")
    assert_problem(
        load_error(path),
        path="signing.chain",
        found='"ca.pem"',
        says="this must be a list",
        fix='write it in brackets, as a list of one: ["ca.pem"]',
    )


def test_signing_path_must_be_text(write_toml: WriteSettings) -> None:
    path = write_toml(MINIMAL + '[signing]\ncertificate = 1\nkey = "k.pem"\n')
    (path.parent / "k.pem").write_text("x", encoding="ascii")
    assert_problem(
        load_error(path), path="signing.certificate", found="1", says="this must be text", fix="double quotes"
    )


# --- all problems at once -----------------------------------------------------------------------------


def test_every_problem_in_one_report(write_toml: WriteSettings) -> None:
    text = edit(
        ("https://autoconfig.example.org", "autoconfig.example.org"),
        ('name = "Example"', 'nmae = "Example"'),
        ("port = 143", 'port = "143"'),
        (
            IMAP.replace("port = 143", 'port = "143"'),
            IMAP.replace("port = 143", 'port = "143"') + "\nauth = []",
        ),
        ('port = 587\nsecurity = "starttls"', 'port = 587\nsecurity = "ssl"'),
    )
    text += PROVIDER  # the same id and domain again
    error = load_error(write_toml(text))
    expected = [
        ("service.public_url", '"autoconfig.example.org"', "not an absolute http(s) address"),
        ("providers[0].name", None, "this key is required"),
        ("providers[0].incoming[0].port", '"143"', "valid integer"),
        ("providers[0].incoming[0].auth", "[]", "this list is empty"),
        ("providers[0].outgoing[0].security", '"ssl"', "this value is not allowed"),
        ("providers[0].nmae", None, "unknown key"),
        ("providers[1].id", '"example.org"', "providers[0] has the same id"),
        ("providers[1].domains[0]", '"example.org"', "listed in providers[0] already"),
    ]
    assert error.render().splitlines()[0] == f"{error.source}: {len(expected)} problems"
    for path, found, says in expected:
        assert_problem(error, path=path, found=found, says=says, fix="", count=len(expected))
    assert [p.path for p in error.problems] == [path for path, _, _ in expected]


def test_cross_checks_skip_values_already_reported(write_toml: WriteSettings) -> None:
    text = MINIMAL + PROVIDER.replace('id = "example.org"', 'id = "not a domain"').replace(
        DOMAINS, 'domains = ["not a domain", "example.net"]'
    )
    error = load_error(write_toml(text))
    assert [p.path for p in error.problems] == ["providers[1].id", "providers[1].domains[0]"]
    assert all("this is not a mail domain" in p.message for p in error.problems)


def test_problem_render_layout(write_toml: WriteSettings) -> None:
    path = write_toml(edit(("port = 143", "port = 70000")))
    assert load_error(path).render() == (
        f"{path}: 1 problem\n"
        "  providers[0].incoming[0].port: found 70000\n"
        "    input should be less than or equal to 65535\n"
        "    fix: use a smaller number"
    )
