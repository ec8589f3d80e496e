"""autoconfig.settings.report: every kind of mistake is reported plainly, every problem of a file in one
report, and the warnings `check` prints about settings that load.

Error tests assert on the rendered report, as a person reads it: the file, the key path, the value
found, the reason and the fix, with every problem of a file in one report.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from autoconfig.settings import Settings, load_settings, settings_warnings
from tests.helpers.settings import incoming, outgoing, provider_data, settings_data
from tests.helpers.settings_checks import assert_problem, edit_toml, load_error

SettingsFile = Callable[..., Path]
MakeSettings = Callable[..., Settings]
WriteToml = Callable[..., Path]


def with_login(**rule: Any) -> dict[str, Any]:
    """The minimal settings with a login rule for the provider."""
    return settings_data(provider={"login": rule})


def with_provider(**changes: Any) -> dict[str, Any]:
    """The minimal settings with these keys of the provider changed, added or (None) removed."""
    return settings_data(provider=changes)


# --- one problem, each kind ---------------------------------------------------------------------------

# (id, settings data, key path, found as shown, reason, fix)
ONE_PROBLEM: list[tuple[str, dict[str, Any], str, str | None, str, str]] = [
    (
        # Built by hand: settings_data's own `provider` keyword changes the provider, not a [provider] table.
        "unknown top-level table",
        {"provider": {"name": "x"}, **settings_data()},
        "provider",
        None,
        "unknown key",
        "did you mean 'providers'? remove it, or use one of: service, signing, providers",
    ),
    (
        "unknown provider key",
        with_provider(shortname="Ex"),
        "providers[0].shortname",
        None,
        "unknown key",
        "did you mean 'short_name'?",
    ),
    (
        "unknown key without a close match",
        settings_data(service={"zzz": 1}),
        "service.zzz",
        None,
        "unknown key",
        "remove it, or use one of: public_url, languages, default_language, log_addresses, cache_max_age",
    ),
    (
        "missing host",
        with_provider(incoming=incoming(host=None)),
        "providers[0].incoming[0].host",
        None,
        "this key is required",
        "add it: The server's DNS name",
    ),
    (
        "missing public_url",
        settings_data(service={"public_url": None, "languages": ["fr"]}),
        "service.public_url",
        None,
        "this key is required",
        "add it: The service's public address",
    ),
    (
        "port as a string",
        with_provider(incoming=incoming(port="143")),
        "providers[0].incoming[0].port",
        '"143"',
        "input should be a valid integer",
        "write a whole number without quotes",
    ),
    (
        "port as a boolean",
        with_provider(outgoing=outgoing(port=True)),
        "providers[0].outgoing[0].port",
        "true",
        "input should be a valid integer",
        "write a whole number without quotes",
    ),
    (
        "port as a decimal",
        with_provider(incoming=incoming(port=143.0)),
        "providers[0].incoming[0].port",
        "143.0",
        "valid integer",
        "write a whole number without quotes",
    ),
    (
        "host as a number",
        with_provider(incoming=incoming(host=42)),
        "providers[0].incoming[0].host",
        "42",
        "input should be a valid string",
        "write it as text in double quotes",
    ),
    (
        "port too large",
        with_provider(incoming=incoming(port=70000)),
        "providers[0].incoming[0].port",
        "70000",
        "less than or equal to 65535",
        "use a smaller number",
    ),
    (
        "port zero",
        with_provider(outgoing=outgoing(port=0)),
        "providers[0].outgoing[0].port",
        "0",
        "greater than or equal to 1",
        "use a larger number",
    ),
    (
        "cache_max_age as a string",
        settings_data(service={"cache_max_age": "60"}),
        "service.cache_max_age",
        '"60"',
        "valid integer",
        "write a whole number without quotes",
    ),
    (
        "security ssl",
        with_provider(incoming=incoming(security="ssl")),
        "providers[0].incoming[0].security",
        '"ssl"',
        "this value is not allowed",
        "use one of 'starttls', 'tls' or 'none'",
    ),
    (
        "protocol pop",
        with_provider(incoming=incoming(protocol="pop")),
        "providers[0].incoming[0].protocol",
        '"pop"',
        "this value is not allowed",
        "use one of 'imap' or 'pop3'",
    ),
    (
        "auth misspelt in a list",
        with_provider(outgoing=outgoing(auth=["password-cleartext", "oauth2"])),
        "providers[0].outgoing[0].auth[1]",
        '"oauth2"',
        "this value is not allowed",
        "'OAuth2'",
    ),
    (
        "ui language not offered",
        settings_data(service={"languages": ["fr", "de"]}),
        "service.languages[1]",
        '"de"',
        "this value is not allowed",
        "use one of 'fr' or 'en'",
    ),
    (
        "bad domain",
        with_provider(domains=["example.org", "intranet"]),
        "providers[0].domains[1]",
        '"intranet"',
        "this is not a mail domain: it has no dot",
        "write a domain such as ac-paris.fr",
    ),
    (
        "bad provider id",
        with_provider(id="example_org.fr"),
        "providers[0].id",
        '"example_org.fr"',
        "the part 'example_org' is not a DNS label",
        "write a domain such as ac-paris.fr",
    ),
    (
        "host with a port",
        with_provider(incoming=incoming(host="imap.example.org:993")),
        "providers[0].incoming[0].host",
        '"imap.example.org:993"',
        "this is not a host name",
        "write the server's DNS name, such as imap.example.org, without scheme or port",
    ),
    (
        "host with a scheme",
        with_provider(outgoing=outgoing(host="smtps://smtp.example.org")),
        "providers[0].outgoing[0].host",
        '"smtps://smtp.example.org"',
        "this is not a host name",
        "without scheme or port",
    ),
    (
        "url without scheme",
        with_provider(links={"webmail": "webmail.example.org"}),
        "providers[0].links.webmail",
        '"webmail.example.org"',
        "this is not an absolute http(s) address",
        "write an absolute address such as https://webmail.example.org/",
    ),
    (
        "url with a space",
        with_provider(links={"password_reset": "https://example.org/reset password"}),
        "providers[0].links.password_reset",
        '"https://example.org/reset password"',
        "the address holds spaces or control characters",
        "write an absolute address",
    ),
    (
        "url with a bad port",
        with_provider(calendar={"url": "https://dav.example.org:99999/"}),
        "providers[0].calendar.url",
        '"https://dav.example.org:99999/"',
        "the address's host or port is not valid",
        "write an absolute address",
    ),
    (
        "public url with a query",
        settings_data(service={"public_url": "https://autoconfig.example.org/?x=1"}),
        "service.public_url",
        '"https://autoconfig.example.org/?x=1"',
        "must not have a query or fragment",
        "write only scheme, host and optional path",
    ),
    (
        "bad phone",
        with_provider(support={"phone": "call the helpdesk"}),
        "providers[0].support.phone",
        '"call the helpdesk"',
        "this is not a phone number",
        "such as 01 44 62 40 40 or +33 1 44 62 40 40",
    ),
    (
        "bad distinguished name",
        with_provider(directory={"host": "ldap.example.org", "base_dn": "example.org"}),
        "providers[0].directory.base_dn",
        '"example.org"',
        "this is not an LDAP distinguished name",
        "write it as ou=people,dc=example,dc=org",
    ),
    (
        "bad language tag in a text table",
        with_provider(support={"hours": {"French": "9 h - 17 h"}}),
        "providers[0].support.hours",
        "a table",
        "'French' is not a language tag",
        'a table of languages such as { fr = "…", en = "…" }',
    ),
    (
        "text table with a number",
        with_provider(support={"hours": {"fr": 9}}),
        "providers[0].support.hours",
        "a table",
        "the text for 'fr' is not text",
        'write "text", or a table of languages',
    ),
    (
        "control character in text",
        with_provider(name="Exa\tmple"),
        "providers[0].name",
        "'Exa\\tmple'",
        "the text holds control characters or line breaks",
        "write it on one line",
    ),
    (
        "line break in text",
        with_provider(name="Example\nMail"),
        "providers[0].name",
        "'Example\\nMail'",
        "the text holds control characters or line breaks",
        "write it on one line",
    ),
    (
        "empty text",
        with_provider(short_name="  "),
        "providers[0].short_name",
        '"  "',
        "the text is empty",
        "write the text, or remove the key",
    ),
    (
        "993 with starttls",
        with_provider(incoming=incoming(port=993)),
        "providers[0].incoming[0].security",
        '"starttls"',
        'port 993 is IMAP over implicit TLS, but security is "starttls"',
        'write security = "tls", or use the port your server really offers with STARTTLS',
    ),
    (
        "143 with tls",
        with_provider(incoming=incoming(security="tls")),
        "providers[0].incoming[0].security",
        '"tls"',
        'port 143 is IMAP started in plain and upgraded with STARTTLS, but security is "tls"',
        'write security = "starttls", or the implicit-TLS port',
    ),
    (
        "465 with none",
        with_provider(outgoing=outgoing(port=465, security="none")),
        "providers[0].outgoing[0].security",
        '"none"',
        'port 465 is SMTP submission over implicit TLS, but security is "none"',
        'write security = "tls"',
    ),
    (
        "389 with tls in the directory",
        with_provider(
            directory={
                "host": "ldap.example.org",
                "port": 389,
                "security": "tls",
                "base_dn": "dc=example,dc=org",
            }
        ),
        "providers[0].directory.security",
        '"tls"',
        "port 389 is LDAP started in plain",
        'write security = "starttls"',
    ),
    (
        "pattern without template",
        with_login(pattern="^(?P<first>[a-z]+)$"),
        "providers[0].login.template",
        None,
        "pattern is set but template is not; pattern and template go together",
        "give both pattern and template, or neither to always use fallback",
    ),
    (
        "template without pattern",
        with_login(template="{localpart}"),
        "providers[0].login.pattern",
        None,
        "template is set but pattern is not",
        "give both pattern and template",
    ),
    (
        "regex that does not compile",
        with_login(pattern="^(?P<first>[a-z]+$", template="{first}"),
        "providers[0].login.pattern",
        '"^(?P<first>[a-z]+$"',
        "the regular expression does not compile: missing ), unterminated subpattern",
        "in TOML write it between single quotes",
    ),
    (
        "regex without a named group",
        with_login(pattern=r"^([a-z]+)\.([a-z]+)$", template="{localpart}"),
        "providers[0].login.pattern",
        '"^([a-z]+)\\.([a-z]+)$"',
        "the regular expression has no named group",
        "name the parts the template uses, such as (?P<first>[a-z]+)",
    ),
    (
        "template with an unknown field",
        with_login(pattern="^(?P<first>[a-z]+)$", template="{frist}"),
        "providers[0].login.template",
        '"{frist}"',
        "{frist} is not a field the template can use",
        "use only {name} or {name:.N} with a name from: address, domain, first, localpart",
    ),
    (
        "template with a conversion",
        with_login(pattern="^(?P<first>[a-z]+)$", template="{first!r}"),
        "providers[0].login.template",
        '"{first!r}"',
        "{first!r} is not a field the template can use",
        "use only {name} or {name:.N}",
    ),
    (
        "template with attribute access",
        with_login(pattern="^(?P<first>[a-z]+)$", template="{first.__class__}"),
        "providers[0].login.template",
        '"{first.__class__}"',
        "{first.__class__} is not a field the template can use",
        "use only {name} or {name:.N}",
    ),
    (
        "template with indexing",
        with_login(pattern="^(?P<first>[a-z]+)$", template="{first[0]}"),
        "providers[0].login.template",
        '"{first[0]}"',
        "{first[0]} is not a field the template can use",
        "use only {name} or {name:.N}",
    ),
    (
        "template with a bad spec",
        with_login(pattern="^(?P<first>[a-z]+)$", template="{first:>20}"),
        "providers[0].login.template",
        '"{first:>20}"',
        "{first:>20} is not a field the template can use",
        "use only {name} or {name:.N}",
    ),
    (
        "template with a nested spec",
        with_login(pattern="^(?P<first>[a-z]+)$", template="{first:.{first}}"),
        "providers[0].login.template",
        '"{first:.{first}}"',
        "is not a field the template can use",
        "use only {name} or {name:.N}",
    ),
    (
        "template not closed",
        with_login(pattern="^(?P<first>[a-z]+)$", template="{first"),
        "providers[0].login.template",
        '"{first"',
        "the template is malformed: expected '}' before end of string",
        "use only {name} or {name:.N}",
    ),
    (
        "template without a field",
        with_login(pattern="^(?P<first>[a-z]+)$", template="admin"),
        "providers[0].login.template",
        '"admin"',
        "the template uses no field",
        "use only {name} or {name:.N}",
    ),
    (
        # Regression: the field name once collided with the error's own context and was replaced by it.
        "template field named like the report's parts",
        with_login(pattern="^(?P<first>[a-z]+)$", template="{fix}"),
        "providers[0].login.template",
        '"{fix}"',
        "{fix} is not a field the template can use",
        "with a name from: address, domain, first, localpart",
    ),
    (
        "fallback placeholder without its closing %",
        with_login(fallback="%EMAILADDRESS"),
        "providers[0].login.fallback",
        '"%EMAILADDRESS"',
        "'%EMAILADDRESS' is not a placeholder mail clients know",
        "use %EMAILADDRESS%, %EMAILLOCALPART% or %EMAILDOMAIN%, spelt exactly",
    ),
    (
        "fallback placeholder misspelt",
        with_login(fallback="%EMAILADRESS%"),
        "providers[0].login.fallback",
        '"%EMAILADRESS%"',
        "'%EMAILADRESS%' is not a placeholder mail clients know",
        "spelt exactly",
    ),
    (
        "fallback placeholder in lower case",
        with_login(fallback="%emaillocalpart%"),
        "providers[0].login.fallback",
        '"%emaillocalpart%"',
        "is not a placeholder mail clients know",
        "spelt exactly",
    ),
    (
        "server username with a space",
        with_provider(outgoing=outgoing(username="%EMAILLOCALPART% x")),
        "providers[0].outgoing[0].username",
        '"%EMAILLOCALPART% x"',
        "a login cannot hold spaces or control characters",
        "remove them",
    ),
    (
        "default language not among languages",
        settings_data(service={"languages": ["en"]}),
        "service.default_language",
        '"fr"',
        'default_language is not among languages = ["en"]',
        "add it to languages, or choose one of them",
    ),
    (
        "duplicate domain across providers",
        settings_data(
            providers=[
                provider_data(),
                provider_data(id="example.net", domains=["example.net", "Example.ORG"]),
            ]
        ),
        "providers[1].domains[1]",
        '"Example.ORG"',
        "this domain is listed in providers[0] already; a domain belongs to one provider",
        "remove the repeated domain",
    ),
    (
        "duplicate domain within a provider",
        with_provider(domains=["example.org", "example.net", "example.org."]),
        "providers[0].domains[2]",
        '"example.org."',
        "this domain is listed earlier in this provider already",
        "remove the repeated domain",
    ),
    (
        "duplicate provider id",
        settings_data(providers=[provider_data(), provider_data(domains=["example.net"])]),
        "providers[1].id",
        '"example.org"',
        "providers[0] has the same id",
        "give every provider its own id",
    ),
    (
        "empty domains",
        with_provider(domains=[]),
        "providers[0].domains",
        "[]",
        "this list is empty",
        "add at least one entry",
    ),
    (
        "empty languages",
        settings_data(service={"languages": [], "default_language": "fr"}),
        "service.languages",
        "[]",
        "this list is empty",
        "add at least one entry",
    ),
    (
        "empty auth",
        with_provider(incoming=incoming(auth=[])),
        "providers[0].incoming[0].auth",
        "[]",
        "this list is empty",
        "add at least one entry",
    ),
    (
        "empty incoming",
        with_provider(incoming=[]),
        "providers[0].incoming",
        "[]",
        "this list is empty",
        "add at least one entry",
    ),
    (
        # A table where a list of tables goes: what `[providers]` (one bracket) makes of the file.
        "providers with single brackets",
        {
            "service": settings_data()["service"],
            "providers": provider_data(incoming=None, outgoing=None),
        },
        "providers",
        "a table",
        "this must be a list",
        "write each entry as its own [[providers]] table (two brackets), even when there is one",
    ),
    (
        # What `[providers.incoming]` (one bracket) makes of the file.
        "incoming with single brackets",
        with_provider(incoming=incoming()[0]),
        "providers[0].incoming",
        "a table",
        "this must be a list",
        "write each entry as its own [[providers.incoming]] table",
    ),
    (
        "domains as a string",
        with_provider(domains="example.org"),
        "providers[0].domains",
        '"example.org"',
        "this must be a list",
        'write it in brackets, as a list of one: ["example.org"]',
    ),
    (
        "a table where a value goes",
        with_provider(login="%EMAILADDRESS%"),
        "providers[0].login",
        '"%EMAILADDRESS%"',
        "valid dictionary or instance of LoginRule",
        "write a table: [name] or { key = value }",
    ),
]


@pytest.mark.parametrize("case", [pytest.param(case, id=case[0]) for case in ONE_PROBLEM])
def test_one_problem(
    settings_file: SettingsFile, case: tuple[str, dict[str, Any], str, str | None, str, str]
) -> None:
    _, data, path, found, says, fix = case
    written = settings_file(data)
    error = load_error(written)
    assert error.source == str(written)
    assert_problem(error, path=path, found=found, says=says, fix=fix)


def test_misspelt_key_is_both_unknown_and_missing(settings_file: SettingsFile) -> None:
    error = load_error(settings_file(provider={"incoming": incoming(host=None, hots="imap.example.org")}))
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


def test_list_of_tables_at_top_level_misspelt(write_toml: WriteToml) -> None:
    # [[provider]] then [[providers.incoming]]: the second makes a `providers` table, not a list.
    # That is how TOML reads the headers a person typed: the test is about the text.
    error = load_error(write_toml(edit_toml(("[[providers]]", "[[provider]]"))))
    assert_problem(
        error, path="provider", found=None, says="unknown key", fix="did you mean 'providers'?", count=2
    )
    assert_problem(
        error, path="providers", found="a table", says="this must be a list", fix="[[providers]]", count=2
    )


# --- all problems at once -----------------------------------------------------------------------------


def test_every_problem_in_one_report(settings_file: SettingsFile) -> None:
    first = provider_data(
        name=None,
        nmae="Example",
        incoming=incoming(port="143", auth=[]),
        outgoing=outgoing(security="ssl"),
    )
    data = settings_data(
        service={"public_url": "autoconfig.example.org"},
        providers=[first, provider_data()],  # the same id and domain again
    )
    error = load_error(settings_file(data))
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


def test_each_part_of_a_login_rule_is_reported_with_the_others(
    settings_file: SettingsFile, tmp_path: Path
) -> None:
    # A table's own checks run only once its keys are valid: the pattern, the template and the overrides
    # file are checked one by one, so that none hides another (nor a problem elsewhere in the file).
    (tmp_path / "exceptions.csv").write_text("mail,uid\n", encoding="utf-8")
    rules = [
        {"pattern": "(unclosed", "template": "{first}", "overrides": "missing.csv"},
        {"pattern": "^(?P<first>[a-z]+)$", "template": "{last}", "overrides": "exceptions.csv"},
    ]
    providers = [
        provider_data(
            id=f"example{i}.org", domains=[f"example{i}.org"], login=rule, incoming=incoming(port=993)
        )
        for i, rule in enumerate(rules)
    ]
    error = load_error(settings_file(providers=providers))
    expected = [
        ("providers[0].login.pattern", "the regular expression does not compile"),
        ("providers[0].login.overrides", "no readable file at"),
        ("providers[0].incoming[0].security", "port 993 is IMAP over implicit TLS"),
        ("providers[1].login.template", "{last} is not a field the template can use"),
        ("providers[1].login.overrides", "exceptions.csv has no header with address and login"),
        ("providers[1].incoming[0].security", "port 993 is IMAP over implicit TLS"),
    ]
    assert [problem.path for problem in error.problems] == [path for path, _ in expected]
    for problem, (_, says) in zip(error.problems, expected, strict=True):
        assert says in problem.message, problem.render()


def test_cross_checks_skip_values_already_reported(settings_file: SettingsFile) -> None:
    second = provider_data(id="not a domain", domains=["not a domain", "example.net"])
    error = load_error(settings_file(providers=[provider_data(), second]))
    assert [p.path for p in error.problems] == ["providers[1].id", "providers[1].domains[0]"]
    assert all("this is not a mail domain" in p.message for p in error.problems)


def test_problem_render_layout(settings_file: SettingsFile) -> None:
    path = settings_file(provider={"incoming": incoming(port=70000)})
    assert load_error(path).render() == (
        f"{path}: 1 problem\n"
        "  providers[0].incoming[0].port: found 70000\n"
        "    input should be less than or equal to 65535\n"
        "    fix: use a smaller number"
    )


# --- warnings -----------------------------------------------------------------------------------------


def test_warning_without_signing(make_settings: MakeSettings) -> None:
    notes = settings_warnings(make_settings())
    assert len(notes) == 1
    assert notes[0].headline.startswith("no [signing]: Apple profiles will be served unsigned")


def test_no_warning_with_signing(settings_file: SettingsFile) -> None:
    path = settings_file(signing={"certificate": "cert.pem", "key": "key.pem"})
    (path.parent / "cert.pem").write_text("x", encoding="ascii")
    (path.parent / "key.pem").write_text("x", encoding="ascii")
    assert settings_warnings(load_settings(path)) == []


def test_warning_for_cleartext_password_without_encryption(make_settings: MakeSettings) -> None:
    pop3 = {"protocol": "pop3", "host": "pop.example.org", "security": "none"}
    settings = make_settings(
        provider={
            "incoming": [*incoming(security="none"), pop3],
            "outgoing": outgoing(security="none", auth="password-encrypted"),
        }
    )
    notes = settings_warnings(settings)
    unencrypted = [str(n) for n in notes if "unencrypted" in n.headline]
    assert unencrypted == [
        'providers[0].incoming[0]: passwords would cross the network unencrypted. security = "none" '
        "with password-cleartext: offer starttls or tls",
        'providers[0].incoming[1]: passwords would cross the network unencrypted. security = "none" '
        "with password-cleartext: offer starttls or tls",
    ]


@pytest.mark.parametrize(
    ("phone", "warned"),
    [
        ("01 44 62 40 40", True),
        ("0144624040", True),
        ("+33 1 44 62 40 40", False),
        ("+33 (0)1 44 62 40 40", False),
    ],
)
def test_warning_for_a_phone_number_without_its_country_code(
    make_settings: MakeSettings, phone: str, warned: bool
) -> None:
    notes = [
        str(n)
        for n in settings_warnings(make_settings(provider={"support": {"phone": phone}}))
        if "phone" in str(n)
    ]
    assert bool(notes) is warned
    if warned:
        assert notes[0].startswith(f"providers[0].support.phone: {phone!r} has no country code")
        assert "+33 1 44 62 40 40" in notes[0]
