"""Thunderbird's config-v1.1.xml: every document is parsed back with lxml and read field by field."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from lxml import etree

from autoconfig.accounts import resolve_account
from autoconfig.formats.thunderbird import build_clientconfig, compile_clientconfig, generic_answer_notes
from autoconfig.paths import profiles_dir
from autoconfig.settings import Provider, Settings, load_settings
from tests.helpers.paths import DATA
from tests.helpers.settings import incoming, settings_data
from tests.helpers.thunderbird import (
    ConfigView,
    DocumentationView,
    ServerView,
    android_reader_refusals,
    check_encoding,
    paris_view,
    read_config,
)

MakeSettings = Callable[..., Settings]
RICH = DATA / "golden" / "rich.toml"

# Written by hand from the contract, not by the code under test.
JEAN_DUPONT_DOCUMENT = """<?xml version="1.0" encoding="UTF-8"?>
<clientConfig version="1.1">
  <emailProvider id="ac-paris.fr">
    <domain>ac-paris.fr</domain>
    <displayName>Académie de Paris</displayName>
    <displayShortName>AC Paris</displayShortName>
    <incomingServer type="imap">
      <hostname>imap.ac-paris.fr</hostname>
      <port>143</port>
      <socketType>STARTTLS</socketType>
      <username>jdupont</username>
      <authentication>password-cleartext</authentication>
    </incomingServer>
    <outgoingServer type="smtp">
      <hostname>smtp.ac-paris.fr</hostname>
      <port>587</port>
      <socketType>STARTTLS</socketType>
      <username>jdupont</username>
      <authentication>password-cleartext</authentication>
    </outgoingServer>
    <documentation url="https://www.ac-paris.fr/messagerie">
      <descr lang="fr">Messagerie académique : mode d'emploi</descr>
      <descr lang="en">Staff mail: how to</descr>
    </documentation>
  </emailProvider>
  <webMail>
    <loginPage url="https://webmail.ac-paris.fr"/>
  </webMail>
</clientConfig>
""".encode()


def canonical(document: bytes) -> bytes:
    """C14N of a document with formatting whitespace dropped: equal for equal documents."""
    root = etree.fromstring(document, etree.XMLParser(remove_blank_text=True))
    return etree.tostring(root, method="c14n")


# --- the bundled default ------------------------------------------------------------------------------


def test_jean_dupont_reads_field_by_field(settings: Settings, paris: Provider) -> None:
    account = resolve_account(settings, "jean.dupont@ac-paris.fr")
    assert read_config(build_clientconfig(paris, account)) == paris_view("jdupont")


def test_without_an_address_the_username_is_the_rules_fallback(paris: Provider) -> None:
    assert paris.login.fallback == "%EMAILLOCALPART%"
    assert read_config(build_clientconfig(paris)) == paris_view("%EMAILLOCALPART%")


def test_document_is_utf8_without_bom(settings: Settings, paris: Provider) -> None:
    document = build_clientconfig(paris, resolve_account(settings, "jean.dupont@ac-paris.fr"))
    check_encoding(document)
    assert "Académie".encode() in document
    assert b"&#" not in document  # non-ASCII text is written as UTF-8, not as character references


def test_document_equals_one_built_independently(settings: Settings, paris: Provider) -> None:
    document = build_clientconfig(paris, resolve_account(settings, "jean.dupont@ac-paris.fr"))
    assert canonical(document) == canonical(JEAN_DUPONT_DOCUMENT)


@pytest.mark.parametrize(
    "address",
    [
        None,
        "jean.dupont@ac-paris.fr",
        "Jean-Pierre.Dupont2@AC-PARIS.FR",
        "ce.0751234a@ac-paris.fr",
        "o'neil&co@ac-paris.fr",
        "%EMAILDOMAIN%@ac-paris.fr",
    ],
)
def test_compiled_template_renders_what_build_builds(
    settings: Settings, paris: Provider, address: str | None
) -> None:
    account = None if address is None else resolve_account(settings, address)
    template = compile_clientconfig(paris)
    rendered = template.render(account)
    assert rendered == build_clientconfig(paris, account)
    # The slot markers are random per compilation: none may survive into a document.
    assert b"slot-" not in rendered
    # Rendering twice, or from another compilation, gives the same bytes.
    assert template.render(account) == rendered
    assert compile_clientconfig(paris).render(account) == rendered


@pytest.mark.parametrize(
    ("address", "username"),
    [
        ("jean.dupont@ac-paris.fr", "jdupont"),
        ("Jean.Dupont@ac-paris.fr", "jdupont"),
        ("jean-pierre.dupont2@ac-paris.fr", "jdupont2"),
        ("élodie.lefèvre@ac-paris.fr", "elefevre"),
        ("ce.0751234a@ac-paris.fr", "ce.0751234a"),
        ("webmestre@ac-paris.fr", "webmestre"),
    ],
)
def test_username_follows_the_login_rule(
    settings: Settings, paris: Provider, address: str, username: str
) -> None:
    assert read_config(build_clientconfig(paris, resolve_account(settings, address))) == paris_view(username)


@hypothesis_settings(max_examples=150, deadline=None, database=None)
@given(
    local=st.text(
        alphabet=st.sampled_from("abcXYZ0129!#$%&'*+-/=?^_`{|}~") | st.characters(categories=["Ll", "Lu"]),
        min_size=1,
        max_size=16,
    ).filter(lambda text: unicodedata.normalize("NFC", text) == text)
)
def test_any_local_part_comes_back_intact(local: str) -> None:
    # Without a dot the Paris pattern never matches: the username is the local part as typed.
    settings = load_settings()
    account = resolve_account(settings, f"{local}@ac-paris.fr")
    view = read_config(build_clientconfig(settings.providers[0], account))
    assert [s.username for s in view.incoming + view.outgoing] == [local, local]


# --- servers, sockets, placeholders -------------------------------------------------------------------


SERVERS = settings_data(
    provider={
        "incoming": [
            {"host": "imap.example.org", "security": "tls"},
            {
                "protocol": "pop3",
                "host": "pop.example.org",
                "security": "starttls",
                "auth": ["password-encrypted", "password-cleartext"],
            },
            {"host": "old.example.org", "port": 1143, "security": "none", "auth": "password-encrypted"},
        ],
        "outgoing": [
            {"host": "smtp.example.org", "security": "tls", "auth": ["OAuth2", "password-cleartext"]},
            {"host": "smtp2.example.org", "port": 2525, "security": "starttls"},
            {"host": "192.0.2.25", "port": 25, "security": "none", "auth": "client-IP-address"},
        ],
    }
)


def test_servers_in_preference_order_with_socket_types_and_ports(
    make_settings: MakeSettings,
) -> None:
    settings = make_settings(SERVERS)
    account = resolve_account(settings, "ana@example.org")
    view = read_config(build_clientconfig(settings.providers[0], account))
    user = "ana@example.org"  # the default fallback is %EMAILADDRESS%
    assert view.incoming == (
        ServerView("imap", "imap.example.org", 993, "SSL", user, ("password-cleartext",)),
        ServerView(
            "pop3", "pop.example.org", 110, "STARTTLS", user, ("password-encrypted", "password-cleartext")
        ),
        ServerView("imap", "old.example.org", 1143, "plain", user, ("password-encrypted",)),
    )
    assert view.outgoing == (
        ServerView("smtp", "smtp.example.org", 465, "SSL", user, ("OAuth2", "password-cleartext")),
        ServerView("smtp", "smtp2.example.org", 2525, "STARTTLS", user, ("password-cleartext",)),
        ServerView("smtp", "192.0.2.25", 25, "plain", user, ("client-IP-address",)),
    )
    assert view.documentation == ()
    assert view.webmail is None
    assert view.display_short_name == "Example"  # short_name defaults to name


PLACEHOLDERS = settings_data(
    provider={
        "domains": ["example.org", "exämple.fr"],
        "incoming": [
            {
                "host": "mail.%EMAILDOMAIN%",
                "port": 993,
                "security": "tls",
                "username": "%EMAILLOCALPART%+imap",
            },
            {
                "protocol": "pop3",
                "host": "pop.example.org",
                "security": "tls",
                "username": "%EMAILDOMAIN%\\%EMAILLOCALPART%",
            },
        ],
        "outgoing": [{"host": "smtp.%EMAILDOMAIN%", "security": "starttls"}],
        "links": {
            "webmail": "https://login.%EMAILDOMAIN%/",
            "documentation": [{"url": "https://example.org/aide", "title": "Aide"}],
        },
    }
)


def test_server_usernames_and_domain_placeholders_filled_for_an_account(
    make_settings: MakeSettings,
) -> None:
    settings = make_settings(PLACEHOLDERS)
    provider = settings.providers[0]
    account = resolve_account(settings, "léa.martin@EXÄMPLE.fr")
    view = read_config(build_clientconfig(provider, account))
    domain = "xn--exmple-cua.fr"  # hosts are written in A-label form
    assert view == ConfigView(
        id="example.org",
        domains=("example.org", domain),
        display_name="Example",
        display_short_name="Example",
        incoming=(
            ServerView("imap", f"mail.{domain}", 993, "SSL", "léa.martin+imap", ("password-cleartext",)),
            ServerView(
                "pop3", "pop.example.org", 995, "SSL", f"{domain}\\léa.martin", ("password-cleartext",)
            ),
        ),
        outgoing=(
            ServerView(
                "smtp", f"smtp.{domain}", 587, "STARTTLS", f"léa.martin@{domain}", ("password-cleartext",)
            ),
        ),
        documentation=(DocumentationView("https://example.org/aide", ((None, "Aide"),)),),
        webmail=f"https://login.{domain}/",
    )


def test_placeholders_left_for_the_client_without_an_account(make_settings: MakeSettings) -> None:
    provider = make_settings(PLACEHOLDERS).providers[0]
    view = read_config(build_clientconfig(provider))
    assert view.incoming == (
        ServerView(
            "imap", "mail.%EMAILDOMAIN%", 993, "SSL", "%EMAILLOCALPART%+imap", ("password-cleartext",)
        ),
        ServerView(
            "pop3", "pop.example.org", 995, "SSL", "%EMAILDOMAIN%\\%EMAILLOCALPART%", ("password-cleartext",)
        ),
    )
    assert view.outgoing == (
        ServerView("smtp", "smtp.%EMAILDOMAIN%", 587, "STARTTLS", "%EMAILADDRESS%", ("password-cleartext",)),
    )
    assert view.webmail == "https://login.%EMAILDOMAIN%/"


def test_each_provider_of_a_multi_provider_file_has_its_own_document() -> None:
    settings = load_settings(profiles_dir() / "ile-de-france.toml")
    expected = {
        "marie.curie@ac-paris.fr": ("ac-paris.fr", "imap.ac-paris.fr", 143, "STARTTLS", "mcurie"),
        "marie.curie@ac-creteil.fr": (
            "ac-creteil.fr",
            "imap.ac-creteil.fr",
            993,
            "SSL",
            "marie.curie@ac-creteil.fr",
        ),
        "marie.curie@ac-versailles.fr": (
            "ac-versailles.fr",
            "imap.ac-versailles.fr",
            143,
            "STARTTLS",
            "marie.curie",
        ),
    }
    for address, (domain, host, port, socket_type, username) in expected.items():
        account = resolve_account(settings, address)
        view = read_config(build_clientconfig(account.provider, account))
        assert view.id == domain
        assert view.domains == (domain,)
        assert [(s.hostname, s.port, s.socket_type, s.username) for s in view.incoming] == [
            (host, port, socket_type, username)
        ]
        assert [s.hostname for s in view.outgoing] == [host.replace("imap.", "smtp.")]
        assert view.webmail == f"https://webmail.{domain}"
    fallbacks = [read_config(build_clientconfig(p)).incoming[0].username for p in settings.providers]
    assert fallbacks == ["%EMAILLOCALPART%", "%EMAILADDRESS%", "%EMAILLOCALPART%"]
    names = [read_config(build_clientconfig(p)).display_name for p in settings.providers]
    assert names == ["Académie de Paris", "Académie de Créteil", "Académie de Versailles"]


# --- hostile values -----------------------------------------------------------------------------------


HOSTILE = settings_data(
    provider={
        "name": 'Dupont & Fils <Courrier> "SA"',
        "short_name": "D&F <mail>",
        "login": {"overrides": "overrides.csv"},
        "outgoing": [
            {
                "host": "smtp.example.org",
                "port": 587,
                "security": "starttls",
                "username": "%EMAILLOCALPART%&smtp",
            }
        ],
        "links": {
            "webmail": "https://webmail.example.org/?a=1&b=<2>",
            "documentation": [
                {
                    "url": 'https://example.org/aide?x="y"&z=1',
                    "title": {"fr": "Aide & <conseils>", "en": "</descr><injected/>"},
                }
            ],
        },
    }
)

HOSTILE_LOGIN = 'j&d<"x">\'y</username><injected/>'


def test_hostile_values_are_escaped_never_injected(make_settings: MakeSettings, tmp_path: Path) -> None:
    # Beside the settings file (make_settings writes to tmp_path): `overrides` is relative to it.
    (tmp_path / "overrides.csv").write_text(
        'address,login,name\njean.dupont@example.org,"j&d<""x"">\'y</username><injected/>",Jean\n',
        encoding="utf-8",
    )
    settings = make_settings(HOSTILE)
    provider = settings.providers[0]
    assert provider.login.table["jean.dupont@example.org"][0] == HOSTILE_LOGIN
    account = resolve_account(settings, "jean.dupont@example.org")
    document = build_clientconfig(provider, account)
    assert b"<injected" not in document
    assert b"<Courrier>" not in document
    view = read_config(document)
    assert view.display_name == 'Dupont & Fils <Courrier> "SA"'
    assert view.display_short_name == "D&F <mail>"
    assert view.incoming[0].username == HOSTILE_LOGIN
    assert view.outgoing[0].username == "jean.dupont&smtp"
    assert view.webmail == "https://webmail.example.org/?a=1&b=<2>"
    assert view.documentation == (
        DocumentationView(
            'https://example.org/aide?x="y"&z=1',
            (("fr", "Aide & <conseils>"), ("en", "</descr><injected/>")),
        ),
    )
    # The same document without an address keeps the hostile names intact too.
    anonymous = read_config(build_clientconfig(provider))
    assert anonymous.display_name == view.display_name
    assert anonymous.outgoing[0].username == "%EMAILLOCALPART%&smtp"
    assert compile_clientconfig(provider).render(account) == document


@pytest.mark.parametrize("local", ["o'neil&co", "a&amp", "x&lt", "&#60", "{}|~^`", "%EMAILADDRESS%"])
def test_hostile_local_parts_come_back_intact(settings: Settings, paris: Provider, local: str) -> None:
    document = build_clientconfig(paris, resolve_account(settings, f"{local}@ac-paris.fr"))
    assert read_config(document) == paris_view(local)
    # Placeholders are filled in one pass: a local part that looks like one is not filled again.
    assert b"@ac-paris.fr" not in document.split(b"<username>")[1].split(b"</username>")[0]


def test_minimal_settings_give_a_complete_document(make_settings: MakeSettings) -> None:
    provider = make_settings().providers[0]
    assert read_config(build_clientconfig(provider)) == ConfigView(
        id="example.org",
        domains=("example.org",),
        display_name="Example",
        display_short_name="Example",
        incoming=(
            ServerView(
                "imap", "imap.example.org", 143, "STARTTLS", "%EMAILADDRESS%", ("password-cleartext",)
            ),
        ),
        outgoing=(
            ServerView(
                "smtp", "smtp.example.org", 587, "STARTTLS", "%EMAILADDRESS%", ("password-cleartext",)
            ),
        ),
    )


LINKS = settings_data(
    provider={
        "domains": ["example.org", "example.net"],
        "incoming": [{"host": "imap.example.org", "security": "tls"}],
        "outgoing": [{"host": "smtp.example.org", "security": "tls"}],
        "links": {
            "webmail": "https://login.%EMAILDOMAIN%/?user=%EMAILLOCALPART%",
            "documentation": [{"url": "https://help.%EMAILDOMAIN%/", "title": "Aide"}],
        },
    }
)


@pytest.mark.parametrize(
    ("local", "in_url"),
    [
        ("marie.curie", "marie.curie"),
        ("a&admin=1#x", "a%26admin%3D1%23x"),
        ("a/b?c=d", "a%2Fb%3Fc%3Dd"),
        ("léa", "l%C3%A9a"),
    ],
)
def test_a_local_part_in_a_link_stays_data(make_settings: MakeSettings, local: str, in_url: str) -> None:
    settings = make_settings(LINKS)
    account = resolve_account(settings, f"{local}@example.net")
    view = read_config(build_clientconfig(settings.providers[0], account))
    assert view.webmail == f"https://login.example.net/?user={in_url}"
    assert view.documentation == (DocumentationView("https://help.example.net/", ((None, "Aide"),)),)
    assert [s.username for s in view.incoming] == [f"{local}@example.net"]  # usernames are not URLs


def test_links_keep_their_placeholders_without_an_account(make_settings: MakeSettings) -> None:
    view = read_config(build_clientconfig(make_settings(LINKS).providers[0]))
    assert view.webmail == "https://login.%EMAILDOMAIN%/?user=%EMAILLOCALPART%"
    assert view.documentation == (DocumentationView("https://help.%EMAILDOMAIN%/", ((None, "Aide"),)),)


# --- the answer that names no person, as Thunderbird for Android reads it ------------------------------

BUNDLED = ["ac-paris.toml", "ile-de-france.toml"]
PATTERN = r"^(?P<first>[a-z]+)\.(?P<last>[a-z]+)$"


@pytest.mark.parametrize("profile", BUNDLED)
def test_every_bundled_provider_answers_what_the_strict_reader_takes(profile: str) -> None:
    settings = load_settings(profiles_dir() / profile)
    for provider in settings.providers:
        document = compile_clientconfig(provider).render()
        assert android_reader_refusals(document) == [], provider.id
        assert read_config(document).id == provider.id


MIXED = settings_data(
    provider={
        "incoming": [
            {"host": "imap.example.org", "port": 993, "security": "tls"},
            {"protocol": "pop3", "host": "pop.example.org", "port": 110, "security": "none"},
        ],
        "outgoing": [
            {"host": "relay.example.org", "port": 25, "security": "none", "auth": "none"},
            {"host": "smtp.example.org", "port": 465, "security": "tls"},
            {"host": "smtp2.example.org", "port": 587, "security": "starttls", "auth": "TLS-client-cert"},
        ],
    }
)


def test_servers_a_strict_reader_refuses_are_left_out_of_the_answer_without_address(
    make_settings: MakeSettings,
) -> None:
    settings = make_settings(MIXED)
    template = compile_clientconfig(settings.providers[0])
    generic = template.render()
    assert android_reader_refusals(generic) == []
    view = read_config(generic)
    assert [s.hostname for s in view.incoming] == ["imap.example.org"]
    assert [s.hostname for s in view.outgoing] == ["smtp.example.org"]
    # A person's own answer still lists every server, in the settings' order (Thunderbird desktop).
    personal = read_config(template.render(resolve_account(settings, "jean@example.org")))
    assert [s.hostname for s in personal.incoming] == ["imap.example.org", "pop.example.org"]
    assert [s.hostname for s in personal.outgoing] == [
        "relay.example.org",
        "smtp.example.org",
        "smtp2.example.org",
    ]
    assert android_reader_refusals(template.render(resolve_account(settings, "jean@example.org"))) != []
    notes = generic_answer_notes(settings)
    assert [note.headline.split(" ")[0] for note in notes] == [
        "providers[0].incoming[1]",
        "providers[0].outgoing[0]",
        "providers[0].outgoing[2]",
    ]
    assert "without encryption" in notes[0].detail
    assert "without a password among its authentication methods" in notes[2].detail


def test_a_server_with_oauth2_alone_is_left_out_of_the_answer_without_address(
    make_settings: MakeSettings,
) -> None:
    # Thunderbird for Android signs in with OAuth2 only for its built-in providers: left in, an
    # OAuth2-only server would be the one it picks, and fails with.
    servers = {
        "incoming": [
            *incoming(host="imap-sso.example.org", auth=["OAuth2"]),
            *incoming(host="imap.example.org"),
        ],
    }
    generic = read_config(compile_clientconfig(make_settings(provider=servers).providers[0]).render())
    assert [s.hostname for s in generic.incoming] == ["imap.example.org"]


def test_a_provider_a_strict_reader_cannot_use_keeps_its_servers_and_is_named(
    make_settings: MakeSettings,
) -> None:
    plain = settings_data(
        provider={
            "incoming": [{"protocol": "pop3", "host": "pop.example.org", "port": 110, "security": "none"}],
            "outgoing": [{"host": "smtp.example.org", "port": 25, "security": "none", "auth": "none"}],
        }
    )
    settings = make_settings(plain)
    generic = compile_clientconfig(settings.providers[0]).render()
    view = read_config(generic)
    # A client that reads the file less strictly still finds servers; the strict one cannot, and says so.
    assert [s.hostname for s in view.incoming] == ["pop.example.org"]
    assert android_reader_refusals(generic) != []
    (note,) = generic_answer_notes(settings)
    assert (
        note.headline
        == "providers[0] (example.org): Thunderbird for Android cannot set this provider up by itself"
    )


def test_the_bundled_rule_is_named_with_what_a_client_fills_in(settings: Settings) -> None:
    (note,) = generic_answer_notes(settings)
    # One line in plain words for the log, the why and the fix for `check`.
    assert note.headline.startswith("ac-paris.fr: on Android, Thunderbird and K-9 Mail set the login")
    assert '"prenom.nom" where the rule gives "pnom"' in note.headline
    assert len(note.headline) <= 160
    assert note.detail.startswith("providers[0] (ac-paris.fr): these apps send no address")
    assert "login.address_accepted = true" in note.detail
    assert read_config(compile_clientconfig(settings.providers[0]).render()).incoming[0].username == (
        "%EMAILLOCALPART%"
    )


@pytest.mark.parametrize(
    ("login", "username", "noted"),
    [
        # A rule a placeholder expresses: nothing to say.
        ({"fallback": "%EMAILLOCALPART%"}, "%EMAILLOCALPART%", False),
        # A pattern: the fallback is wrong for name-shaped addresses, unless the servers take the address.
        (
            {"pattern": PATTERN, "template": "{first:.1}{last}", "fallback": "%EMAILLOCALPART%"},
            "%EMAILLOCALPART%",
            True,
        ),
        (
            {"pattern": PATTERN, "template": "{first:.1}{last}", "fallback": "%EMAILADDRESS%"},
            "%EMAILADDRESS%",
            True,
        ),
        (
            {"pattern": PATTERN, "template": "{first:.1}{last}", "address_accepted": True},
            "%EMAILADDRESS%",
            False,
        ),
        (
            {
                "pattern": PATTERN,
                "template": "{first:.1}{last}",
                "fallback": "%EMAILLOCALPART%",
                "address_accepted": True,
            },
            "%EMAILADDRESS%",
            False,
        ),
    ],
)
def test_the_username_without_address_and_what_check_says_of_it(
    make_settings: MakeSettings, login: dict[str, object], username: str, noted: bool
) -> None:
    settings = make_settings(provider={"login": login})
    view = read_config(compile_clientconfig(settings.providers[0]).render())
    assert {s.username for s in (*view.incoming, *view.outgoing)} == {username}
    assert bool(generic_answer_notes(settings)) is noted
    # A person's own answer is the rule's, whatever the answer without address says.
    person = read_config(
        compile_clientconfig(settings.providers[0]).render(
            resolve_account(settings, "jean.dupont@example.org")
        )
    )
    assert person.incoming[0].username == ("jdupont" if "pattern" in login else "jean.dupont")


def test_an_overrides_file_or_a_directory_makes_the_fallback_inexact(
    make_settings: MakeSettings, tmp_path: Path
) -> None:
    (tmp_path / "exceptions.csv").write_text("address,login\nboss@example.org,theboss\n", encoding="utf-8")
    overridden = make_settings(
        provider={"login": {"fallback": "%EMAILLOCALPART%", "overrides": "exceptions.csv"}}
    )
    assert len(generic_answer_notes(overridden)) == 1
    directory = {
        "host": "ldap.example.org",
        "base_dn": "dc=example,dc=org",
        "lookup": {"url": "ldaps://ldap.example.org"},
    }
    asking = make_settings(provider={"login": {"fallback": "%EMAILLOCALPART%"}, "directory": directory})
    assert len(generic_answer_notes(asking)) == 1


# --- the literal login whenever the address is known ---------------------------------------------------

EVERY_SETTINGS = [profiles_dir() / "ac-paris.toml", profiles_dir() / "ile-de-france.toml", RICH]
# Name-shaped, a homonym's number, rich.toml's overrides (zoe.legrand, boss), and odd local parts.
KNOWN_LOCALS = ("jean.dupont", "jean-pierre.dupont2", "zoe.legrand", "boss", "o'neil&co", "Élodie.Mérand")


def nextcloud_reads(username: str, display_name: str) -> str:
    """What Nextcloud Mail makes of a username: it fills %EMAILLOCALPART% with the address's display
    name, not its local part (CLIENTS.md)."""
    return username.replace("%EMAILLOCALPART%", display_name)


@pytest.mark.parametrize("path", EVERY_SETTINGS, ids=lambda p: Path(p).name)
def test_every_answer_for_a_known_address_carries_the_literal_login(path: Path) -> None:
    settings = load_settings(path)
    checked = 0
    for provider in settings.providers:
        template = compile_clientconfig(provider)
        for domain in (*provider.domains, *provider.aliases):
            for local in KNOWN_LOCALS:
                account = resolve_account(settings, f"{local}@{domain}")
                document = template.render(account)
                assert b"%EMAIL" not in document, (provider.id, local, domain)
                view = read_config(document)
                servers = [*provider.incoming, *provider.outgoing]
                assert [s.hostname for s in (*view.incoming, *view.outgoing)] == [
                    account.fill(s.host) for s in servers
                ]
                for server, read in zip(servers, (*view.incoming, *view.outgoing), strict=True):
                    assert read.username == account.login_for(server.username)
                    assert nextcloud_reads(read.username, "Jean Dupont") == read.username
                checked += 1
    assert checked >= len(settings.providers) * len(KNOWN_LOCALS)


def test_the_overrides_and_the_rule_give_the_literal_logins_of_rich_settings() -> None:
    # Values written by hand from rich.toml and rich-overrides.csv.
    settings = load_settings(RICH)
    example = compile_clientconfig(settings.providers[0])
    expected = {
        "jean.dupont@example.org": ("dupont.j", "jean.dupont", "dupont.j", "jean.dupont@example.org"),
        "zoe.legrand@example.org": ("zlegrand-2", "zoe.legrand", "zlegrand-2", "zoe.legrand@example.org"),
        # An alias's mailbox is the same local part at the provider's first domain.
        "boss@example.net": ("the.boss", "boss", "the.boss", "boss@example.org"),
    }
    for address, logins in expected.items():
        view = read_config(example.render(resolve_account(settings, address)))
        assert tuple(s.username for s in (*view.incoming, *view.outgoing)) == logins, address
