"""The pure parts of the pages: the device a browser names, page contexts, absolute URLs, QR codes."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

import pytest
from lxml import etree
from markupsafe import Markup

from autoconfig.accounts import resolve_account
from autoconfig.paths import templates_dir
from autoconfig.settings import Provider, Settings
from autoconfig.web.pages import (
    DEVICES,
    SECURITY_LABELS,
    DavValues,
    Device,
    Pages,
    ProfileSigning,
    ServerValues,
    address_hints,
    bare_input_message,
    device_from_user_agent,
    guide_context,
    help_context,
    landing_context,
    looks_like_login,
    page_url,
    qr_svg,
    server_values,
)
from tests.helpers.pages import USER_AGENTS, dark_modules, expected_modules
from tests.helpers.settings import settings_data

JEAN = "jean.dupont@ac-paris.fr"
PUBLIC = "https://autoconfig.ac-paris.fr"

# --- the device a browser names ------------------------------------------------------------------------


@pytest.mark.parametrize(("user_agent", "device"), USER_AGENTS)
def test_device_from_user_agent(user_agent: str, device: Device) -> None:
    assert device_from_user_agent(user_agent) == device


def test_device_without_user_agent_is_other() -> None:
    assert device_from_user_agent(None) == "other"


def test_the_table_reaches_every_guide() -> None:
    assert {device for _, device in USER_AGENTS} == set(DEVICES)


def test_ten_kilobytes_of_junk_are_other_and_fast() -> None:
    junk = "".join(chr(33 + (i * 7919) % 90) for i in range(10 * 1024))
    assert not re.search("iphone|ipad|ipod|android|macintosh|mac os x|windows|linux|x11|cros", junk, re.I)
    start = time.perf_counter()
    assert device_from_user_agent(junk) == "other"
    assert time.perf_counter() - start < 0.05


def test_only_the_start_of_a_huge_user_agent_is_read() -> None:
    # A real browser's User-Agent is a few hundred characters: a word 10 KB in is not a browser's.
    assert device_from_user_agent("x" * 10 * 1024 + " Android") == "other"
    assert device_from_user_agent("Mozilla/5.0 (Linux; Android 14) " + "x" * 10 * 1024) == "android"


# --- server values ---------------------------------------------------------------------------------------

# Several servers each way, hosts and logins per server naming the person, links and support too.
PER_SERVER = settings_data(
    service={"public_url": "https://autoconfig.example.org/mail/"},
    provider={
        "name": "Example & Co",
        "domains": ["example.org", "example.net"],
        "incoming": [
            {"host": "imap.%EMAILDOMAIN%", "security": "tls"},
            {"protocol": "pop3", "host": "pop.example.org", "security": "tls", "username": "%EMAILADDRESS%"},
        ],
        "outgoing": [
            {"host": "smtp.%EMAILDOMAIN%", "security": "starttls", "username": "%EMAILLOCALPART%+smtp"},
            {"host": "relay.example.org", "port": 2525, "security": "none"},
        ],
        "links": {
            "webmail": "https://webmail.%EMAILDOMAIN%/",
            "password_reset": "https://id.example.org/reset",
            "documentation": [{"url": "https://help.%EMAILDOMAIN%/mail", "title": "Mail help"}],
        },
        "support": {
            "phone": "+33 (0)1.44-62.40.40",
            "url": "https://help.%EMAILDOMAIN%/ticket",
            "email": "help@example.org",
        },
    },
)


@pytest.fixture
def per_server(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(PER_SERVER)


def test_server_values_fill_the_domain_and_per_server_logins(per_server: Settings) -> None:
    account = resolve_account(per_server, "Marie.Curie@example.net")
    provider = account.provider
    assert [server_values(s, account) for s in provider.incoming] == [
        ServerValues("IMAP", "imap.example.net", 993, "SSL/TLS", "Marie.Curie@example.net"),
        ServerValues("POP3", "pop.example.org", 995, "SSL/TLS", "Marie.Curie@example.net"),
    ]
    assert [server_values(s, account) for s in provider.outgoing] == [
        ServerValues("SMTP", "smtp.example.net", 587, "STARTTLS", "Marie.Curie+smtp"),
        ServerValues("SMTP", "relay.example.org", 2525, "None (no encryption)", "Marie.Curie@example.net"),
    ]


def test_server_values_use_the_providers_login_rule(settings: Settings, paris: Provider) -> None:
    account = resolve_account(settings, "Jean-Pierre.Dupont2@ac-paris.fr")
    assert server_values(paris.incoming[0], account) == ServerValues(
        "IMAP", "imap.ac-paris.fr", 143, "STARTTLS", "jdupont2"
    )
    assert server_values(paris.outgoing[0], account) == ServerValues(
        "SMTP", "smtp.ac-paris.fr", 587, "STARTTLS", "jdupont2"
    )


def test_security_labels_cover_every_setting() -> None:
    assert SECURITY_LABELS == {"starttls": "STARTTLS", "tls": "SSL/TLS", "none": "None (no encryption)"}


# --- page URLs ---------------------------------------------------------------------------------------------


def test_page_url_encodes_the_query_and_drops_empty_values() -> None:
    assert page_url(PUBLIC, "/") == f"{PUBLIC}/"
    assert page_url(PUBLIC, "/", lang="") == f"{PUBLIC}/"
    assert page_url(PUBLIC, "/", lang="fr") == f"{PUBLIC}/?lang=fr"
    url = page_url(PUBLIC, "/guide/ios", email="a&b=c#d+e f@ac-paris.fr", lang="en")
    assert url == f"{PUBLIC}/guide/ios?email=a%26b%3Dc%23d%2Be+f%40ac-paris.fr&lang=en"
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path, parts.fragment) == (
        "https",
        "autoconfig.ac-paris.fr",
        "/guide/ios",
        "",
    )
    assert parse_qs(parts.query) == {"email": ["a&b=c#d+e f@ac-paris.fr"], "lang": ["en"]}


def test_page_url_keeps_the_public_urls_path(per_server: Settings) -> None:
    public = per_server.service.public_url
    assert public == "https://autoconfig.example.org/mail"
    assert page_url(public, "/guide/other", email="x@example.org") == (
        "https://autoconfig.example.org/mail/guide/other?email=x%40example.org"
    )


# --- QR codes --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        f"{PUBLIC}/?lang=fr",
        f"{PUBLIC}/guide/android?email=jean.dupont%40ac-paris.fr&lang=fr",
        f"{PUBLIC}/guide/ios?email=o%27neil%26co%40ac-paris.fr&lang=en",
    ],
)
def test_qr_svg_draws_a_code_of_the_url(url: str) -> None:
    svg = qr_svg(url)
    assert isinstance(svg, Markup)
    root = etree.fromstring(str(svg).encode())
    assert root.tag == "svg"  # inline in HTML: no namespace needed
    assert root.findtext("title") == url
    assert "width" not in root.attrib  # the stylesheet sizes it
    assert str(root.get("viewBox")).startswith("0 0 ")
    assert not [e for e in root.iter() if e.tag not in {"svg", "title", "path"}]
    assert not [name for e in root.iter() for name in e.attrib if str(name).lower().startswith("on")]
    assert dark_modules(str(svg)) in expected_modules(url)
    assert dark_modules(str(svg)) not in expected_modules(url + "x")


def test_qr_svg_escapes_the_url_in_its_title() -> None:
    hostile = 'https://a.example/?q=</title><script>alert("x")</script>'
    svg = str(qr_svg(hostile))
    assert "<script>" not in svg
    assert etree.fromstring(svg.encode()).findtext("title") == hostile


# --- help and page contexts --------------------------------------------------------------------------------


def test_help_context_without_a_provider_is_empty() -> None:
    assert help_context(None, "fr") == {"provider": None}


@pytest.mark.parametrize(
    ("language", "hours", "title"),
    [
        ("fr", "Du lundi au vendredi, de 9 h à 17 h", "Messagerie académique : mode d'emploi"),
        ("en", "Monday to Friday, 9 am to 5 pm", "Staff mail: how to"),
    ],
)
def test_help_context_of_the_default_settings(paris: Provider, language: str, hours: str, title: str) -> None:
    assert help_context(paris, language) == {
        "provider": paris,
        "webmail": "https://webmail.ac-paris.fr",
        "password_reset": "https://moncompte.ac-paris.fr/",
        "documentation": [("https://www.ac-paris.fr/messagerie", title)],
        "phone": "+33 1 44 62 40 40",
        "phone_uri": "tel:+33144624040",
        "support_email": None,
        "support_url": None,
        "postal_address": "12 boulevard d'Indochine, 75019 Paris",
        "hours": hours,
    }


def test_help_context_fills_the_persons_domain_into_links(per_server: Settings) -> None:
    provider = per_server.providers[0]
    account = resolve_account(per_server, "marie&co@example.net")
    for_person = help_context(provider, "en", account)
    assert for_person["webmail"] == "https://webmail.example.net/"
    assert for_person["password_reset"] == "https://id.example.org/reset"  # noqa: S105 - a URL
    assert for_person["documentation"] == [("https://help.example.net/mail", "Mail help")]
    assert for_person["support_url"] == "https://help.example.net/ticket"
    assert for_person["phone_uri"] == "tel:+33144624040"
    assert for_person["hours"] is None
    # Without a person (the landing page): the provider's first domain.
    anyone = help_context(provider, "fr")
    assert anyone["webmail"] == "https://webmail.example.org/"
    assert anyone["support_url"] == "https://help.example.org/ticket"
    assert anyone["documentation"] == [("https://help.example.org/mail", "Mail help")]


def test_landing_context_carries_a_qr_code_of_the_landing_page(paris: Provider) -> None:
    context = landing_context(paris, "en", PUBLIC)
    assert context["page_url"] == f"{PUBLIC}/?lang=en"
    assert context["qr"] == qr_svg(f"{PUBLIC}/?lang=en")
    assert context["webmail"] == "https://webmail.ac-paris.fr"
    assert landing_context(None, "fr", PUBLIC)["provider"] is None


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("language", ["fr", "en"])
def test_guide_context(settings: Settings, paris: Provider, device: Device, language: str) -> None:
    account = resolve_account(settings, JEAN)
    context = guide_context(account, device, language, PUBLIC)
    # The phone opens /guide, where its own browser picks its guide.
    phone = f"{PUBLIC}/guide?email=jean.dupont%40ac-paris.fr&lang={language}"
    assert context["page_url"] == phone
    assert context["qr"] == qr_svg(phone)
    assert context["address"] == JEAN
    assert context["device"] == device
    assert context["devices"] == DEVICES
    assert context["incoming"] == ServerValues("IMAP", "imap.ac-paris.fr", 143, "STARTTLS", "jdupont")
    assert context["outgoing"] == ServerValues("SMTP", "smtp.ac-paris.fr", 587, "STARTTLS", "jdupont")
    assert context["other_incoming"] == []
    assert context["other_outgoing"] == []
    assert context["profile_url"] == f"/profile.mobileconfig?email=jean.dupont%40ac-paris.fr&lang={language}"
    assert set(context["device_links"]) == set(DEVICES)
    for name, link in context["device_links"].items():
        parts = urlsplit(link)
        assert parts.path == f"/guide/{name}"
        assert parse_qs(parts.query) == {"email": [JEAN], "lang": [language]}
    assert {k: v for k, v in context.items() if k in help_context(paris, language)} == help_context(
        paris, language
    )
    # The calendar and the directory of the bundled settings; no contacts there.
    assert context["calendar"] == DavValues("https://agenda.ac-paris.fr/dav/", "jdupont")
    assert context["contacts"] is None
    assert context["directory"] == paris.directory
    # Thunderbird for Android: the code of the account, and the login it proposes by itself.
    assert isinstance(context["android_qr"], Markup)
    assert context["android_qr_reason"] is None
    assert context["android_proposed_login"] == "jean.dupont"
    assert context["profile_signing"] == "signed"


def test_guide_context_lists_the_other_servers(per_server: Settings) -> None:
    account = resolve_account(per_server, "marie@example.org")
    context = guide_context(account, "other", "en", per_server.service.public_url)
    assert context["incoming"].kind == "IMAP"
    assert [s.kind for s in context["other_incoming"]] == ["POP3"]
    assert context["outgoing"].login == "marie+smtp"
    assert [s.host for s in context["other_outgoing"]] == ["relay.example.org"]
    assert (
        context["page_url"] == "https://autoconfig.example.org/mail/guide?email=marie%40example.org&lang=en"
    )


def test_guide_context_keeps_an_alias_address_as_typed(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(provider={"aliases": ["example.com"]})
    account = resolve_account(settings, "ana@example.com")
    context = guide_context(account, "ios", "fr", settings.service.public_url)
    assert context["address"] == "ana@example.com"
    assert parse_qs(urlsplit(context["profile_url"]).query)["email"] == ["ana@example.com"]
    assert context["incoming"].host == "imap.example.org"


# --- Pages: catalogues and rendering -------------------------------------------------------------------


def test_pages_translate_messages_for_code(settings: Settings) -> None:
    pages = Pages(settings, templates_dir())
    assert set(pages.environments) == {"fr", "en"}
    assert pages.gettext("en", "Type your mail address.") == "Type your mail address."
    assert pages.gettext("fr", "Type your mail address.") == "Saisissez votre adresse électronique."
    message = "This service sets up addresses at %(domains)s only."
    assert pages.gettext("en", message, domains="ac-paris.fr") == (
        "This service sets up addresses at ac-paris.fr only."
    )
    french = pages.gettext("fr", message, domains="ac-paris.fr")
    assert "ac-paris.fr" in french
    assert french != message.replace("%(domains)s", "ac-paris.fr")


def test_pages_load_only_the_languages_the_settings_offer(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(service={"languages": ["en"], "default_language": "en"})
    pages = Pages(settings, templates_dir())
    assert set(pages.environments) == {"en"}
    with pytest.raises(KeyError):
        pages.render("landing.html", "fr")


def test_pages_autoescape_every_value(settings: Settings) -> None:
    pages = Pages(settings, templates_dir())
    html = pages.render(
        "landing.html",
        "en",
        organisation="<b>Org</b>",
        language_links={"en": "/?lang=en"},
        typed='"><script>alert(1)</script>',
        error="<i>error</i>",
        example="<u>x</u>@ac-paris.fr",
        domain_hint="<em>hint</em>",
        login_hint=("<s>before</s>", "<s>after</s>"),
        form_patterns='["<q>"]',
        suggestion=None,
        qr=Markup("<svg></svg>"),
        page_url="",
        **help_context(None, "en"),
    )
    assert "<script>alert" not in html
    assert "<em>" not in html
    assert "<s>" not in html
    assert "<q>" not in html
    assert "<b>Org</b>" not in html
    assert "&lt;b&gt;Org&lt;/b&gt;" in html
    assert "<i>error</i>" not in html
    assert "<u>x</u>" not in html
    assert 'value="&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"' in html


@pytest.mark.parametrize(
    ("signing", "verified", "not_verified"),
    [
        # Signed: "Verified" only when the device trusts the certificate; never promised as such.
        ("signed", "shows “Verified” when it trusts the certificate it is signed with", False),
        ("development", None, True),
        ("unsigned", None, True),
    ],
)
@pytest.mark.parametrize("device", ["ios", "macos"])
def test_apple_guides_say_what_the_device_shows_for_each_signing(
    settings: Settings, device: Device, signing: ProfileSigning, verified: str | None, not_verified: bool
) -> None:
    pages = Pages(settings, templates_dir())
    account = resolve_account(settings, JEAN)
    page = pages.render(
        "guide.html",
        "en",
        organisation="Académie de Paris",
        language_links={"en": "/guide?lang=en"},
        **guide_context(account, device, "en", PUBLIC, signing),
    )
    words = " ".join(page.split())
    assert ("“Not Verified”: why it is safe" in words) is not_verified
    if verified is not None:
        assert verified in words
    else:
        assert "shows the profile as “Not Verified”" in words


# --- the address form: what the pages say of a bare input, and the guide's warning ---------------------

DOMAIN_HINT = (
    "Type your whole mail address, with @ac-paris.fr at the end: for example jean.dupont@ac-paris.fr."
)


@pytest.mark.parametrize(
    ("typed", "language", "says"),
    [
        (
            "jdupont",
            "en",
            "“jdupont” looks like a login, not an address: your address has the form "
            "firstname.lastname@ac-paris.fr, for example jean.dupont@ac-paris.fr.",
        ),
        (
            "marie",
            "fr",
            "« marie » ressemble à un identifiant, pas à une adresse : votre adresse est de la forme "
            "prénom.nom@ac-paris.fr, par exemple jean.dupont@ac-paris.fr.",
        ),
        # Of the form already: only the domain is missing; the example is still the provider's.
        (
            "jean.dupont",
            "en",
            DOMAIN_HINT,
        ),
        (
            "marie.curie",
            "en",
            DOMAIN_HINT,
        ),
        # Nothing like a login: not quoted.
        (
            "<b>x</b>",
            "en",
            DOMAIN_HINT,
        ),
        (
            "j dupont",
            "en",
            DOMAIN_HINT,
        ),
        (
            "x" * 65,
            "en",
            DOMAIN_HINT,
        ),
    ],
)
def test_bare_input_message(
    settings: Settings, paris: Provider, typed: str, language: str, says: str
) -> None:
    pages = Pages(settings, templates_dir())
    assert bare_input_message(pages, paris, language, typed) == says


@pytest.mark.parametrize(
    ("typed", "looks"),
    [
        ("jdupont", True),
        ("jdupont2", True),
        ("Jean-Pierre", True),
        ("d'alembert", True),
        ("élodie", True),
        ("jean.dupont", False),
        ("2jdupont", False),
        ("jdupont-", False),
        ("j_dupont", False),
        ("", False),
    ],
)
def test_looks_like_login(typed: str, looks: bool) -> None:
    assert looks_like_login(typed) is looks


def test_address_hints_without_a_form(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings()
    hints = address_hints(Pages(settings, templates_dir()), settings.providers[0], "en")
    assert hints.example == "jean.dupont@example.org"
    assert hints.form is None
    assert hints.patterns == ()


def test_address_hints_give_the_script_javascript_patterns(make_settings: Callable[..., Settings]) -> None:
    form = {
        "pattern": r"^(?P<first>[a-z]+)\.(?P=first)[0-9]*$",
        "example": "jean.jean",
        "description": "prenom.prenom",
    }
    settings = make_settings(provider={"address_form": form})
    hints = address_hints(Pages(settings, templates_dir()), settings.providers[0], "en")
    assert hints.form == "prenom.prenom@example.org"
    assert hints.patterns == (r"^(?<first>[a-z]+)\.\k<first>[0-9]*$",)


@pytest.mark.parametrize(
    ("address", "language", "warning"),
    [
        ("jdupont@ac-paris.fr", "fr", "prénom.nom@ac-paris.fr"),
        ("jdupont@ac-paris.fr", "en", "firstname.lastname@ac-paris.fr"),
        ("JDUPONT@AC-PARIS.FR", "en", "firstname.lastname@ac-paris.fr"),
        ("jean.dupont@ac-paris.fr", "en", None),
        ("ce.0751234a@ac-paris.fr", "fr", None),
    ],
)
def test_guide_context_names_the_form_the_address_lacks(
    settings: Settings, address: str, language: str, warning: str | None
) -> None:
    account = resolve_account(settings, address)
    context = guide_context(account, "thunderbird", language, "https://autoconfig.ac-paris.fr")
    assert context["off_form"] == warning
