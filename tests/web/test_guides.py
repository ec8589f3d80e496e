"""The web pages through the ASGI application: landing page, guides per device and language, errors,
headers, hostile input, static files, the multi-provider profile."""

from __future__ import annotations

import asyncio
import itertools
import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

import pytest
from lxml import etree, html
from starlette.applications import Starlette
from starlette.testclient import TestClient
from starlette.types import Message, Scope

from autoconfig.paths import profiles_dir, templates_dir
from autoconfig.settings import Settings, load_settings
from autoconfig.web.app import create_app
from autoconfig.web.middleware import CONTENT_SECURITY_POLICY
from autoconfig.web.pages import DEVICES, KEPT_PAGES, Device, Pages
from tests.helpers.pages import USER_AGENTS, dark_modules, expected_modules, export_modules
from tests.helpers.paths import ROOT
from tests.helpers.settings import TWO_PROVIDERS, settings_data

JEAN = "jean.dupont@ac-paris.fr"
PUBLIC = "https://autoconfig.ac-paris.fr"
LANGUAGES = ("fr", "en")
ANDROID_UA = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Mobile Safari/537.36"
)

STATIC_SCRIPTS = ("/static/copy.js", "/static/profile.js")

# What a person reads, per language.
TEXT: dict[str, dict[str, str]] = {
    "fr": {
        "h1": "Configurer votre messagerie",
        "label": "Votre adresse électronique",
        "submit": "Afficher mes paramètres",
        "example": "Par exemple : jean.dupont@ac-paris.fr",
        "no_address": "Saisissez votre adresse électronique.",
        "invalid": "Ce n'est pas une adresse électronique valide : vérifiez-la et réessayez.",
        "no_domain": (
            "Saisissez votre adresse électronique entière, avec @ac-paris.fr à la fin : "
            "par exemple jean.dupont@ac-paris.fr."
        ),
        "domain_hint": (
            "Saisissez votre adresse électronique entière, avec @ac-paris.fr à la fin : "
            "par exemple jean.dupont@ac-paris.fr."
        ),
        "login_hint": (
            "« {typed} » ressemble à un identifiant, pas à une adresse : votre adresse est de la forme "
            "prénom.nom@ac-paris.fr, par exemple jean.dupont@ac-paris.fr."
        ),
        "to_help": "Aide et assistance",
        "unknown_domain": "Ce service configure uniquement les adresses en {domains}.",
        "no_guide": "Ce guide n'existe pas.",
        "help": "Aide",
        "helpdesk": "Assistance",
        "webmail": "Webmail",
        "reset": "Mot de passe oublié ou expiré",
        "documentation": "Messagerie académique : mode d'emploi",
        "phone": "Téléphone : +33 1 44 62 40 40",
        "hours": "Horaires : Du lundi au vendredi, de 9 h à 17 h",
        "postal": "Adresse : 12 boulevard d'Indochine, 75019 Paris",
        "qr": "Continuer sur votre téléphone",
        "copy": "Copier",
        "copied": "Copié",
        "install": "Installer le profil",
        "download": "Télécharger le profil",
        "title": "Paramètres de messagerie pour jean.dupont@ac-paris.fr · Académie de Paris",
        "values": "Vos paramètres",
        "no_encryption": "Aucune (pas de chiffrement)",
    },
    "en": {
        "h1": "Set up your mail",
        "label": "Your mail address",
        "submit": "Show my settings",
        "example": "For example: jean.dupont@ac-paris.fr",
        "no_address": "Type your mail address.",
        "invalid": "This is not a valid mail address: check it and try again.",
        "no_domain": (
            "Type your whole mail address, with @ac-paris.fr at the end: for example jean.dupont@ac-paris.fr."
        ),
        "domain_hint": (
            "Type your whole mail address, with @ac-paris.fr at the end: for example jean.dupont@ac-paris.fr."
        ),
        "login_hint": (
            "“{typed}” looks like a login, not an address: your address has the form "
            "firstname.lastname@ac-paris.fr, for example jean.dupont@ac-paris.fr."
        ),
        "to_help": "Help and helpdesk",
        "unknown_domain": "This service sets up addresses at {domains} only.",
        "no_guide": "There is no such guide.",
        "help": "Help",
        "helpdesk": "Helpdesk",
        "webmail": "Webmail",
        "reset": "Forgotten or expired password",
        "documentation": "Staff mail: how to",
        "phone": "Phone: +33 1 44 62 40 40",
        "hours": "Opening hours: Monday to Friday, 9 am to 5 pm",
        "postal": "Address: 12 boulevard d'Indochine, 75019 Paris",
        "qr": "Continue on your phone",
        "copy": "Copy",
        "copied": "Copied",
        "install": "Install the profile",
        "download": "Download the profile",
        "title": "Mail settings for jean.dupont@ac-paris.fr · Académie de Paris",
        "values": "Your settings",
        "no_encryption": "None (no encryption)",
    },
}
DEVICE_NAMES = {
    "fr": {
        "ios": "iPhone, iPad",
        "android": "Android",
        "macos": "Mac",
        "thunderbird": "Thunderbird",
        "outlook": "Outlook",
        "other": "Autres applications",
    },
    "en": {
        "ios": "iPhone, iPad",
        "android": "Android",
        "macos": "Mac",
        "thunderbird": "Thunderbird",
        "outlook": "Outlook",
        "other": "Other apps",
    },
}
JEAN_VALUES = {
    "fr": {
        "Compte": {
            "Adresse électronique": JEAN,
            "Identifiant (nom d'utilisateur)": "jdupont",
            "Mot de passe": "le même mot de passe que pour le webmail",
        },
        "Courrier entrant (IMAP)": {"Serveur": "imap.ac-paris.fr", "Port": "143", "Sécurité": "STARTTLS"},
        "Courrier sortant (SMTP)": {
            "Serveur": "smtp.ac-paris.fr",
            "Port": "587",
            "Sécurité": "STARTTLS",
            "Authentification": "requise : même identifiant et même mot de passe",
        },
    },
    "en": {
        "Account": {
            "Mail address": JEAN,
            "Login (username)": "jdupont",
            "Password": "the same password as the webmail",
        },
        "Incoming mail (IMAP)": {"Server": "imap.ac-paris.fr", "Port": "143", "Security": "STARTTLS"},
        "Outgoing mail (SMTP)": {
            "Server": "smtp.ac-paris.fr",
            "Port": "587",
            "Security": "STARTTLS",
            "Authentication": "required: the same login and password",
        },
    },
}
# The calendar and the staff directory of the bundled settings, as every guide shows them.
CALENDAR_URL = "https://agenda.ac-paris.fr/dav/"
BASE_DN = "ou=ac-paris,ou=education,o=gouv,c=fr"
JEAN_SERVICES = {
    "fr": {
        "Agenda (CalDAV)": {
            "Adresse (URL)": CALENDAR_URL,
            "Identifiant (nom d'utilisateur)": "jdupont",
            "Mot de passe": "le même mot de passe que pour le webmail",
        },
        "Annuaire (LDAP)": {
            "Serveur": "annuaire.ac-paris.fr",
            "Port": "636",
            "Sécurité": "SSL/TLS",
            "Nom distinct de base (Base DN)": BASE_DN,
        },
    },
    "en": {
        "Calendar (CalDAV)": {
            "Address (URL)": CALENDAR_URL,
            "Login (username)": "jdupont",
            "Password": "the same password as the webmail",
        },
        "Staff directory (LDAP)": {
            "Server": "annuaire.ac-paris.fr",
            "Port": "636",
            "Security": "SSL/TLS",
            "Base DN": BASE_DN,
        },
    },
}
# Every copy button of a guide: its accessible name -> the value it copies.
COPY_BUTTONS = {
    "fr": {
        "Copier : adresse électronique": JEAN,
        "Copier : identifiant": "jdupont",
        "Copier : serveur IMAP": "imap.ac-paris.fr",
        "Copier : port IMAP": "143",
        "Copier : serveur SMTP": "smtp.ac-paris.fr",
        "Copier : port SMTP": "587",
        "Copier : adresse de l'agenda": CALENDAR_URL,
        "Copier : identifiant de l'agenda": "jdupont",
        "Copier : serveur de l'annuaire": "annuaire.ac-paris.fr",
        "Copier : port de l'annuaire": "636",
        "Copier : nom distinct de base": BASE_DN,
    },
    "en": {
        "Copy: mail address": JEAN,
        "Copy: login": "jdupont",
        "Copy: IMAP server": "imap.ac-paris.fr",
        "Copy: IMAP port": "143",
        "Copy: SMTP server": "smtp.ac-paris.fr",
        "Copy: SMTP port": "587",
        "Copy: calendar address": CALENDAR_URL,
        "Copy: calendar login": "jdupont",
        "Copy: directory server": "annuaire.ac-paris.fr",
        "Copy: directory port": "636",
        "Copy: base DN": BASE_DN,
    },
}
# Jean's account as Thunderbird desktop 140 exports it for Thunderbird for Android (../shared/CLIENTS.md).
JEAN_EXPORT = (
    '[1,[1,1],[0,"imap.ac-paris.fr",143,2,1,"jdupont","jean.dupont@ac-paris.fr",""],'
    '[[[0,"smtp.ac-paris.fr",587,2,1,"jdupont",""],["jean.dupont@ac-paris.fr","Jean Dupont"]]]]'
)
ANDROID_VALUES_NAMED = {"fr": "« Vos paramètres »", "en": "“Your settings”"}
ANDROID_APPS = {
    "fr": [
        "Thunderbird pour Android (K-9 Mail)",
        "Gmail",
        "Samsung Email",
        "Outlook pour Android",
        "FairEmail",
    ],
    "en": [
        "Thunderbird for Android (K-9 Mail)",
        "Gmail",
        "Samsung Email",
        "Outlook for Android",
        "FairEmail",
    ],
}


# --- reading pages --------------------------------------------------------------------------------------


def elements(node: Any, path: str) -> list[Any]:
    """The elements an XPath expression finds."""
    found = node.xpath(path)
    assert isinstance(found, list)
    return [e for e in found if isinstance(e, etree._Element)]


def one(node: Any, path: str) -> Any:
    found = elements(node, path)
    assert len(found) == 1, (path, len(found))
    return found[0]


def text(node: Any) -> str:
    """An element's text as a person reads it: whitespace collapsed."""
    return " ".join("".join(node.itertext()).split())


def texts(node: Any, path: str) -> list[str]:
    return [text(e) for e in elements(node, path)]


def parse_page(response: Any) -> Any:
    """The HTML document of an answer, after the checks every page passes."""
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    check_security_headers(response)
    # Every page speaks for the provider the Host names, and links to where the Host says.
    assert response.headers["vary"] == "Accept-Language, Host"
    assert response.text.startswith("<!doctype html>\n")
    doc = html.document_fromstring(response.text)
    check_static_only(doc)
    check_headings(doc)
    return doc


def check_security_headers(response: Any) -> None:
    headers = response.headers
    assert headers["content-security-policy"] == (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    )
    assert headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["permissions-policy"] == "camera=(), microphone=(), geolocation=()"
    assert "server" not in headers
    assert "set-cookie" not in headers


def check_static_only(doc: Any) -> None:
    """What the strict CSP allows: scripts and styles from /static only, nothing inline, no handlers."""
    scripts = elements(doc, "//script")
    # The iPhone/iPad guide adds the one script that makes its profile button a single download.
    assert [s.get("src") for s in scripts] in (["/static/copy.js"], ["/static/copy.js", "/static/profile.js"])
    assert all(not (s.text or "").strip() for s in scripts)
    assert elements(doc, "//style") == []
    assert elements(doc, "//*[@style]") == []
    assert [link.get("href") for link in elements(doc, "//link")] == [
        "/static/favicon.svg",
        "/static/style.css",
    ]
    assert elements(doc, "//img | //iframe | //object | //embed | //base") == []
    handlers = [
        (e.tag, name)
        for e in doc.iter()
        if isinstance(e.tag, str)
        for name in e.attrib
        if name.startswith("on")
    ]
    assert handlers == []
    assert not [
        a for a in elements(doc, "//a") if (a.get("href") or "").strip().lower().startswith("javascript")
    ]
    for form in elements(doc, "//form"):
        assert form.get("action") == "/guide"


def check_headings(doc: Any) -> None:
    """One h1, then no level skipped."""
    levels = [int(e.tag[1]) for e in elements(doc, "//h1 | //h2 | //h3 | //h4 | //h5 | //h6")]
    assert levels[0] == 1
    assert levels.count(1) == 1
    assert all(b <= a + 1 for a, b in itertools.pairwise(levels)), levels


def values_table(doc: Any, section: str = "values") -> dict[str, dict[str, str]]:
    """The tables of a section (the mail settings, or the calendar and address books): caption ->
    {row label: value shown}."""
    tables: dict[str, dict[str, str]] = {}
    for table in elements(doc, f"//section[@class='{section}']//table"):
        rows = {text(one(tr, "th")): text(one(tr, "td/span")) for tr in elements(table, ".//tr")}
        tables[text(one(table, "caption"))] = rows
    return tables


def section_svg(response: Any, section: str) -> str:
    """The SVG drawn in a page's section, as the service wrote it."""
    (svg,) = re.findall(rf'<section class="{section}".*?(<svg\b.*?</svg>)', response.text, re.DOTALL)
    return str(svg)


def check_qr(response: Any, doc: Any, url: str, language: str) -> None:
    """The QR code section, drawing exactly `url`."""
    section = one(doc, "//section[@class='qr']")
    assert text(one(section, "h2")) == TEXT[language]["qr"]
    # On the Android guide, which shows the account code, the phone's code is folded away.
    one(section, "figure/svg | details/figure/svg")
    svg = section_svg(response, "qr")
    assert dark_modules(svg) in expected_modules(url)
    assert etree.fromstring(svg.encode()).findtext("title") == url


def check_help(doc: Any, language: str) -> None:
    """The footer of the default settings: webmail, password reset, documentation, helpdesk."""
    footer = one(doc, "//footer")
    assert text(one(footer, ".//h2")) == TEXT[language]["help"]
    assert text(one(footer, ".//h3")) == TEXT[language]["helpdesk"]
    links = [(a.get("href"), text(a)) for a in elements(footer, ".//ul[@class='links']//a")]
    assert links == [
        ("https://webmail.ac-paris.fr", TEXT[language]["webmail"]),
        ("https://moncompte.ac-paris.fr/", TEXT[language]["reset"]),
        ("https://www.ac-paris.fr/messagerie", TEXT[language]["documentation"]),
    ]
    assert texts(footer, ".//ul[@class='helpdesk']/li") == [
        TEXT[language]["phone"],
        TEXT[language]["hours"],
        TEXT[language]["postal"],
    ]
    phone = one(footer, ".//a[starts-with(@href, 'tel:')]")
    # Dialled in the international form: from a foreign SIM, 01… reaches nobody.
    assert phone.get("href") == "tel:+33144624040"
    assert text(phone) == "+33 1 44 62 40 40"
    # One tap from the top of the page reaches this block, however long the page.
    assert one(footer, "section").get("id") == "help"
    link = one(doc, "//header//a[@href='#help']")
    assert text(link) == TEXT[language]["to_help"]


def check_form(doc: Any, language: str, typed: str = "", error: str | None = None) -> None:
    """The landing form, with `typed` in the field and `error` announced."""
    form = one(doc, "//form")
    assert (form.get("method"), form.get("action")) == ("get", "/guide")
    field = one(form, ".//input[@id='email']")
    assert field.get("type") == "email"
    assert field.get("name") == "email"
    assert field.get("required") is not None
    assert field.get("autocomplete") == "email"
    assert field.get("value") == typed
    assert text(one(form, ".//label[@for='email']")) == TEXT[language]["label"]
    assert text(one(form, ".//p[@id='email-hint']")) == TEXT[language]["example"]
    # The hint copy.js shows for a bare login or name, hidden without it, inside a live region.
    domain_hint = one(form, ".//div[@aria-live='polite']/p[@id='email-domain']")
    assert domain_hint.get("hidden") is not None
    assert text(domain_hint) == TEXT[language]["domain_hint"]
    lang = one(form, ".//input[@type='hidden']")
    assert (lang.get("name"), lang.get("value")) == ("lang", language)
    assert text(one(form, ".//button[@type='submit']")) == TEXT[language]["submit"]
    if error is None:
        assert elements(doc, "//*[@id='email-error']") == []
        assert field.get("aria-invalid") is None
        assert field.get("aria-describedby") == "email-hint"
    else:
        message = one(form, ".//p[@id='email-error']")
        assert message.get("role") == "alert"
        assert text(message) == error
        assert field.get("aria-invalid") == "true"
        assert field.get("aria-describedby") == "email-hint email-error"


def phone_guide_url(language: str, email: str = JEAN, base: str = PUBLIC) -> str:
    """Where a guide's "continue on your phone" code leads: /guide, where the phone's browser picks its
    own guide (not this device's)."""
    return f"{base}/guide?" + urlencode({"email": email, "lang": language})


# --- the landing page -------------------------------------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
def test_landing_page(client: TestClient, language: str) -> None:
    response = client.get("/", params={"lang": language})
    assert response.status_code == 200
    assert response.headers["cache-control"] == "public, max-age=300"
    doc = parse_page(response)
    assert one(doc, "/html").get("lang") == language
    assert text(one(doc, "/html/head/title")) == f"{TEXT[language]['h1']} · Académie de Paris"
    assert text(one(doc, "//h1")) == TEXT[language]["h1"]
    assert text(one(doc, "//header//p[@class='org']")) == "Académie de Paris"
    check_form(doc, language)
    check_qr(response, doc, f"{PUBLIC}/?lang={language}", language)
    check_help(doc, language)
    assert elements(doc, "//section[@class='values']") == []


@pytest.mark.parametrize(
    ("query", "accept_language", "language"),
    [
        ({}, None, "fr"),
        ({}, "en-GB,en;q=0.9", "en"),
        ({}, "de-DE,de;q=0.9,fr;q=0.5,en;q=0.4", "fr"),
        ({}, "de", "fr"),
        ({"lang": "en"}, "fr-FR", "en"),
        ({"lang": "fr"}, "en", "fr"),
        ({"lang": "xx"}, "en", "en"),
        ({"lang": "EN-us"}, None, "en"),
    ],
)
def test_language_from_query_then_header_then_default(
    client: TestClient, query: dict[str, str], accept_language: str | None, language: str
) -> None:
    headers = {"Accept-Language": accept_language} if accept_language else {}
    doc = parse_page(client.get("/", params=query, headers=headers))
    assert one(doc, "/html").get("lang") == language
    assert text(one(doc, "//h1")) == TEXT[language]["h1"]
    nav = one(doc, "//header/nav")
    links = {a.get("hreflang"): a for a in elements(nav, ".//a")}
    assert set(links) == {"fr", "en"}
    assert (text(links["fr"]), text(links["en"])) == ("Français", "English")
    assert {code for code, a in links.items() if a.get("aria-current") == "true"} == {language}
    assert links["en"].get("href") == "/?lang=en"
    assert links["fr"].get("lang") == "fr"


def test_language_links_keep_the_address_and_the_device(client: TestClient) -> None:
    doc = parse_page(client.get("/guide/macos", params={"email": JEAN, "lang": "fr"}))
    links = {a.get("hreflang"): a.get("href") for a in elements(doc, "//header/nav//a")}
    for code, href in links.items():
        parts = urlsplit(href)
        assert parts.path == "/guide/macos"
        assert parse_qs(parts.query) == {"email": [JEAN], "lang": [code]}


# --- the guides -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("device", DEVICES)
def test_guide(client: TestClient, device: Device, language: str) -> None:
    response = client.get(f"/guide/{device}", params={"email": JEAN, "lang": language})
    assert response.status_code == 200
    assert response.headers["cache-control"] == "private, no-store"
    doc = parse_page(response)
    assert one(doc, "/html").get("lang") == language
    assert text(one(doc, "/html/head/title")) == TEXT[language]["title"]
    assert text(one(doc, "//h1")) == TEXT[language]["h1"]
    assert JEAN in text(one(doc, "//p[@class='who']"))
    assert one(doc, "//p[@class='who']/a").get("href") == f"/?lang={language}"

    # Every device one tap away, this one marked.
    nav = one(doc, "//nav[@class='devices']")
    links = elements(nav, ".//a")
    assert [text(a) for a in links] == [DEVICE_NAMES[language][d] for d in DEVICES]
    for name, link in zip(DEVICES, links, strict=True):
        parts = urlsplit(link.get("href"))
        assert parts.path == f"/guide/{name}"
        assert parse_qs(parts.query) == {"email": [JEAN], "lang": [language]}
        assert (link.get("aria-current") == "page") == (name == device)
    assert text(one(doc, "//h2[@id='steps-title']")) == DEVICE_NAMES[language][device]

    # The person's own values, on every guide: mail, then the calendar and the directory.
    assert values_table(doc) == JEAN_VALUES[language]
    assert values_table(doc, "services") == JEAN_SERVICES[language]
    # Copy buttons there but hidden until copy.js runs, each named for its value: a screen reader never
    # meets two buttons of the same name.
    buttons = elements(doc, "//main//button")
    for button in buttons:
        assert button.get("hidden") is not None
        assert button.get("type") == "button"
        assert button.get("class") == "copy"
        assert text(button) == TEXT[language]["copy"]
        assert button.get("data-done") == TEXT[language]["copied"]
        row = button.getparent().getparent()
        assert button.get("data-copy") == text(one(row, "td/span"))
    # Names as spoken: French puts a no-break space before the colon.
    spoken = {" ".join(b.get("aria-label").split()): b.get("data-copy") for b in buttons}
    assert spoken == COPY_BUTTONS[language]
    assert len(buttons) == len(COPY_BUTTONS[language])
    # Where copy.js announces "Copied": a polite live region, empty until then.
    status = one(doc, "//main//*[@id='copy-status']")
    assert (status.get("role"), status.get("aria-live"), text(status)) == ("status", "polite", "")

    # The signed profile for Apple devices only.
    profile = [a for a in elements(doc, "//a") if (a.get("href") or "").startswith("/profile.mobileconfig")]
    if device in ("ios", "macos"):
        (button,) = profile
        assert button.get("class") == "button"
        assert text(button) == TEXT[language]["install" if device == "ios" else "download"]
        assert parse_qs(urlsplit(button.get("href")).query) == {"email": [JEAN], "lang": [language]}
        assert len(elements(doc, "//section[@class='steps']/ol/li")) >= 3
    else:
        assert profile == []

    check_qr(response, doc, phone_guide_url(language), language)
    check_help(doc, language)


@pytest.mark.parametrize("language", LANGUAGES)
def test_android_guide_puts_the_code_first_then_the_values_then_each_app(
    client: TestClient, language: str
) -> None:
    doc = parse_page(client.get("/guide/android", params={"email": JEAN, "lang": language}))
    sections = [s.get("class") for s in elements(doc, "//main/section")]
    assert sections == ["export", "values", "steps", "services", "qr"]
    steps = one(doc, "//section[@class='steps']")
    assert texts(steps, "details[@class='app']/summary") == ANDROID_APPS[language]
    # Each app folded but the first, Thunderbird for Android.
    assert [d.get("open") is not None for d in elements(steps, "details")] == [True] + [False] * 4
    # Every app has its steps; Thunderbird's are what to change in what it finds by itself.
    assert len(elements(steps, "details/ol")) == 5
    assert ("webmail" in text(steps)) is True
    # The values are named by their heading, right above or below as the page is read.
    assert ANDROID_VALUES_NAMED[language] in text(steps)


@pytest.mark.parametrize("device", ["thunderbird", "outlook", "other", "ios", "macos"])
def test_other_guides_put_the_steps_first_and_the_values_as_fallback(client: TestClient, device: str) -> None:
    doc = parse_page(client.get(f"/guide/{device}", params={"email": JEAN, "lang": "en"}))
    sections = [s.get("class") for s in elements(doc, "//main/section")]
    assert sections == ["steps", "values", "services", "qr"]
    if device in ("thunderbird", "outlook", "other"):
        assert "use the values below" in text(one(doc, "//section[@class='steps']"))


@pytest.mark.parametrize(("user_agent", "device"), USER_AGENTS)
def test_guide_picks_the_device_from_the_user_agent(client: TestClient, user_agent: str, device: str) -> None:
    response = client.get("/guide", params={"email": JEAN, "lang": "en"}, headers={"User-Agent": user_agent})
    assert response.status_code == 200
    doc = parse_page(response)
    current = one(doc, "//nav[@class='devices']//a[@aria-current='page']")
    assert urlsplit(current.get("href")).path == f"/guide/{device}"
    assert text(one(doc, "//h2[@id='steps-title']")) == DEVICE_NAMES["en"][device]
    # The QR code leads the phone to /guide, where its own browser picks its guide.
    check_qr(response, doc, phone_guide_url("en"), "en")


def test_guide_without_user_agent_is_the_generic_one(make_client: Callable[..., TestClient]) -> None:
    bare = make_client(headers={"User-Agent": ""})
    doc = parse_page(bare.get("/guide", params={"email": JEAN}))
    current = one(doc, "//nav[@class='devices']//a[@aria-current='page']")
    assert urlsplit(current.get("href")).path == "/guide/other"


@pytest.mark.parametrize(
    ("typed", "login"),
    [
        ("  jean.dupont@ac-paris.fr  ", "jdupont"),
        ("JEAN.DUPONT@AC-PARIS.FR", "jdupont"),  # shown as JEAN.DUPONT@ac-paris.fr
        ("Élodie.Martin-Durand2@ac-paris.fr", "emartin-durand2"),
        ("jean.de.la.fontaine@ac-paris.fr", "jdelafontaine"),
        ("ce.0751234a@ac-paris.fr", "ce.0751234a"),
    ],
)
def test_guide_shows_the_derived_login(client: TestClient, typed: str, login: str) -> None:
    doc = parse_page(client.get("/guide/android", params={"email": typed, "lang": "en"}))
    values = values_table(doc)
    assert values["Account"]["Login (username)"] == login
    local, _, domain = typed.strip().rpartition("@")
    assert values["Account"]["Mail address"] == f"{local}@{domain.lower()}"


# --- errors: the form again, with a message ---------------------------------------------------------------

ERRORS: list[tuple[str, dict[str, str], int, str, str]] = [
    # path, query, status, message key, what the field shows again
    ("/guide", {}, 400, "no_address", ""),
    ("/guide", {"email": ""}, 400, "no_address", ""),
    ("/guide/android", {"email": "   "}, 400, "no_address", ""),
    ("/guide", {"email": "jean.dupont"}, 400, "no_domain", "jean.dupont"),
    ("/guide/android", {"email": " jdupont "}, 400, "login_hint", "jdupont"),
    ("/guide", {"email": "marie"}, 400, "login_hint", "marie"),
    ("/guide", {"email": "jean.dupont.ac-paris.fr"}, 400, "no_domain", "jean.dupont.ac-paris.fr"),
    ("/guide/ios", {"email": "jean dupont@ac-paris.fr"}, 400, "invalid", "jean dupont@ac-paris.fr"),
    ("/guide", {"email": "jean.dupont@"}, 400, "invalid", "jean.dupont@"),
    ("/guide", {"email": "@ac-paris.fr"}, 400, "invalid", "@ac-paris.fr"),
    ("/guide", {"email": "jean..dupont@ac-paris.fr"}, 400, "invalid", "jean..dupont@ac-paris.fr"),
    ("/guide", {"email": "jean.dupont@example.com"}, 404, "unknown_domain", "jean.dupont@example.com"),
    (
        "/guide/outlook",
        {"email": "jean.dupont@ac-paris.fr.evil.example"},
        404,
        "unknown_domain",
        "jean.dupont@ac-paris.fr.evil.example",
    ),
    ("/guide/windows-phone", {"email": JEAN}, 404, "no_guide", ""),
    ("/guide/IOS", {"email": JEAN}, 404, "no_guide", ""),
]


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("case", ERRORS)
def test_errors_give_the_form_back_with_a_translated_message(
    client: TestClient, case: tuple[str, dict[str, str], int, str, str], language: str
) -> None:
    path, query, status, message, typed = case
    response = client.get(path, params={**query, "lang": language}, follow_redirects=False)
    assert response.status_code == status
    assert response.headers["cache-control"] == "private, no-store"
    doc = parse_page(response)
    assert one(doc, "/html").get("lang") == language
    error = TEXT[language][message].format(domains="ac-paris.fr", typed=typed)
    check_form(doc, language, typed=typed, error=error)
    assert "Traceback" not in response.text
    assert elements(doc, "//section[@class='values']") == []
    check_help(doc, language)


def test_post_is_not_a_page(client: TestClient) -> None:
    assert client.post("/guide", data={"email": JEAN}).status_code == 405
    assert client.post("/", data={"email": JEAN}).status_code == 405


# --- hostile input ---------------------------------------------------------------------------------------

HOSTILE_REFUSED = [
    "<script>alert(1)</script>@ac-paris.fr",
    '"><img src=x onerror=alert(1)>@ac-paris.fr',
    "' onfocus='alert(1)' autofocus x='@ac-paris.fr",
    "javascript:alert(document.cookie)",
    "javascript:alert(1)//@ac-paris.fr",
    "jean\r\nSet-Cookie: stolen=1@ac-paris.fr",
    "jean.dupont@ac-paris.fr\r\nX-Injected: yes",
    "jean.dupont@ac-paris.fr<script>alert(1)</script>",
    "a" * 1000 + "@ac-paris.fr",
    "<" * 1000,
    "jean.dupont@ac-paris.fr\x00",
    "&lt;script&gt;@ac-paris.fr",
]


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("typed", HOSTILE_REFUSED)
def test_hostile_addresses_are_refused_and_shown_as_text(
    client: TestClient, typed: str, language: str
) -> None:
    response = client.get("/guide/ios", params={"email": typed, "lang": language})
    assert response.status_code == 400
    assert "stolen" not in response.headers.get("set-cookie", "")
    assert "x-injected" not in response.headers
    doc = parse_page(response)
    # Markup in the address stays inside the field's value: no element, no attribute of its own.
    assert "<script>alert" not in response.text
    assert "<img" not in response.text
    assert elements(doc, "//*[@autofocus] | //*[@x]") == []
    # The field gives back what was typed, as an HTML parser reads it (CR LF as LF, NUL as U+FFFD).
    typed_back = typed.strip().replace("\r\n", "\n").replace("\x00", "\ufffd")
    # Without an "@" the message says what is missing, with the provider's example: the typed text is
    # never made into an address, and hostile text does not look like a login to be quoted.
    error = TEXT[language]["no_domain" if "@" not in typed else "invalid"]
    check_form(doc, language, typed=typed_back, error=error)


# Valid addresses whose local part holds characters that mean something in HTML and URLs.
HOSTILE_VALID = [
    "o'neil&co@ac-paris.fr",
    "a+b=c#d?e/f{g}|h~i`j^k!l$m%n*@ac-paris.fr",
    "x&gt&lt&quot@ac-paris.fr",  # HTML parsers read "&gt" without ";" as ">" unless it is escaped
]


@pytest.mark.parametrize("typed", HOSTILE_VALID)
@pytest.mark.parametrize("device", DEVICES)
def test_valid_addresses_with_markup_characters_are_shown_as_text(
    client: TestClient, typed: str, device: Device
) -> None:
    response = client.get(f"/guide/{device}", params={"email": typed, "lang": "en"})
    assert response.status_code == 200
    doc = parse_page(response)
    assert values_table(doc)["Account"]["Mail address"] == typed
    assert text(one(doc, "//p[@class='who']")).startswith(f"For {typed} ·")
    assert text(one(doc, "/html/head/title")).startswith(f"Mail settings for {typed} ·")
    for link in elements(doc, "//nav[@class='devices']//a"):
        assert parse_qs(urlsplit(link.get("href")).query)["email"] == [typed]
    for link in elements(doc, "//a[starts-with(@href, '/profile.mobileconfig')]"):
        assert parse_qs(urlsplit(link.get("href")).query)["email"] == [typed]
    check_qr(response, doc, phone_guide_url("en", typed), "en")


@pytest.mark.parametrize(
    ("path", "query", "headers"),
    [
        ("/", {"lang": '"><script>alert(1)</script>'}, {}),
        ("/", {}, {"Accept-Language": '"><script>alert(1)</script>'}),
        ("/", {}, {"Host": '"><script>alert(1)</script>'}),
        ("/guide/<script>alert(1)</script>", {"email": JEAN}, {}),
        ("/guide/%22%3E%3Cscript%3Ealert(1)%3C%2Fscript%3E", {"email": JEAN}, {}),
        ("/guide", {"email": JEAN}, {"User-Agent": '"><script>alert(1)</script> Android'}),
        ("/", {'"><script>alert(1)</script>': "x"}, {}),
    ],
)
def test_hostile_requests_are_never_echoed_as_markup(
    client: TestClient, path: str, query: dict[str, str], headers: dict[str, str]
) -> None:
    response = client.get(path, params=query, headers=headers)
    assert response.status_code in (200, 404)
    assert "<script>alert" not in response.text
    if response.headers["content-type"] == "text/plain; charset=utf-8":
        assert response.text == "Not Found"  # no route: Starlette's own answer, nothing echoed
    else:
        doc = parse_page(response)
        assert not [e for e in elements(doc, "//script") if e.get("src") not in STATIC_SCRIPTS]


# --- static files ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "media_type", "source"),
    [
        ("/static/style.css", "text/css; charset=utf-8", "style.css"),
        ("/static/copy.js", "text/javascript; charset=utf-8", "copy.js"),
        ("/static/profile.js", "text/javascript; charset=utf-8", "profile.js"),
        ("/static/favicon.svg", "image/svg+xml", "favicon.svg"),
    ],
)
def test_static_files(client: TestClient, path: str, media_type: str, source: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"] == media_type
    check_security_headers(response)
    assert response.content == (templates_dir() / "static" / source).read_bytes()


def test_stylesheet_keeps_hidden_things_hidden(client: TestClient) -> None:
    # `button { display: inline-block }` would otherwise show the copy buttons without JavaScript.
    css = client.get("/static/style.css").text
    assert re.search(r"\[hidden\]\s*\{\s*display:\s*none\s*!important;?\s*\}", css)
    assert "@import" not in css
    assert "url(" not in css  # nothing fetched from elsewhere, not even fonts


@pytest.mark.parametrize("script", STATIC_SCRIPTS)
def test_script_fetches_nothing(client: TestClient, script: str) -> None:
    js = client.get(script).text
    assert js.startswith("// ")
    for call in ("fetch(", "XMLHttpRequest", "import(", "eval(", "innerHTML", "document.write"):
        assert call not in js


def asgi_get(app: Starlette, raw_path: bytes) -> tuple[int, bytes]:
    """One GET straight through the ASGI interface, with the path exactly as a server would pass it
    (HTTP clients remove dot segments before sending; uvicorn does not)."""
    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": unquote(raw_path.decode("ascii")),
        "raw_path": raw_path,
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"autoconfig.ac-paris.fr")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
    }
    sent: list[Message] = []
    requests: list[Message] = [{"type": "http.request", "body": b"", "more_body": False}]

    async def run() -> None:
        done = asyncio.Event()

        async def receive() -> Message:
            if requests:
                return requests.pop()
            await done.wait()  # as a server does: the client goes away only once answered
            return {"type": "http.disconnect"}

        async def send(message: Message) -> None:
            sent.append(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                done.set()

        await app(scope, receive, send)

    asyncio.run(run())
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, body


TRAVERSALS = [
    b"/static/../autoconfig/web/app.py",
    b"/static/../../etc/passwd",
    b"/static/%2e%2e/autoconfig/web/app.py",
    b"/static/%2E%2E/%2E%2E/etc/passwd",
    b"/static/..%2fautoconfig%2fapp.py",
    b"/static/.%2e/pyproject.toml",
    b"/static/..%5cautoconfig%5capp.py",
    b"/static//etc/passwd",
    b"/static/%2fetc%2fpasswd",
    b"/static/../templates/base.html",
    b"/static/../locale/fr/LC_MESSAGES/messages.po",
    b"/static/style.css%00.html",
]


@pytest.mark.parametrize("raw_path", TRAVERSALS)
def test_static_files_do_not_leave_their_folder(settings: Settings, raw_path: bytes) -> None:
    status, body = asgi_get(create_app(settings), raw_path)
    assert status == 404
    for secret in (b"create_app", b"root:", b"[project]", b"<!doctype", b"msgid"):
        assert secret not in body


@pytest.mark.parametrize("raw_path", [p.decode() for p in TRAVERSALS if b"%" in p])
def test_encoded_traversals_through_http(client: TestClient, raw_path: str) -> None:
    response = client.get(raw_path)
    assert response.status_code == 404
    assert b"create_app" not in response.content


def test_asgi_helper_reaches_real_files(settings: Settings) -> None:
    # The traversal test would pass vacuously if the helper never reached StaticFiles.
    status, body = asgi_get(create_app(settings), b"/static/style.css")
    assert status == 200
    assert body == (templates_dir() / "static" / "style.css").read_bytes()
    assert (ROOT / "autoconfig" / "web" / "app.py").is_file()


# --- other settings: several providers, odd servers, one language ------------------------------------------

IDF_DOMAINS = "ac-paris.fr, ac-creteil.fr, ac-versailles.fr"


@pytest.fixture(scope="module")
def idf_app() -> Starlette:
    """The bundled multi-provider example, built once for the tests that only read from it."""
    return create_app(load_settings(profiles_dir() / "ile-de-france.toml"))


@pytest.fixture
def idf(make_client: Callable[..., TestClient], idf_app: Starlette) -> Callable[[str], TestClient]:
    """A client of the multi-provider example, sending this Host."""
    return lambda host: make_client(idf_app, host=host)


@pytest.mark.parametrize(
    ("host", "organisation", "example", "base"),
    [
        ("autoconfig.ac-paris.fr", "Académie de Paris", "jean.dupont@ac-paris.fr", PUBLIC),
        (
            "autoconfig.ac-creteil.fr",
            "Académie de Créteil",
            "jean.dupont@ac-creteil.fr",
            "https://autoconfig.ac-creteil.fr",
        ),
        # The code names the host the page came from, over https; the Host's port is not kept.
        (
            "ac-versailles.fr:8443",
            "Académie de Versailles",
            "jean.dupont@ac-versailles.fr",
            "https://ac-versailles.fr",
        ),
    ],
)
def test_multi_provider_landing_speaks_for_the_host(
    idf: Callable[[str], TestClient], host: str, organisation: str, example: str, base: str
) -> None:
    webmail = f"https://webmail.{example.partition('@')[2]}"
    response = idf(host).get("/", params={"lang": "en"})
    assert response.status_code == 200
    doc = parse_page(response)
    assert text(one(doc, "//p[@class='org']")) == organisation
    assert text(one(doc, "/html/head/title")) == f"Set up your mail · {organisation}"
    assert text(one(doc, "//p[@id='email-hint']")) == f"For example: {example}"
    assert [a.get("href") for a in elements(doc, "//footer//ul[@class='links']//a")] == [webmail]
    check_qr(response, doc, f"{base}/?lang=en", "en")


def test_multi_provider_landing_for_an_unknown_host_names_no_helpdesk(
    idf: Callable[[str], TestClient],
) -> None:
    doc = parse_page(idf("127.0.0.1:8000").get("/", params={"lang": "en"}))
    assert elements(doc, "//footer//section") == []
    check_form(doc, "en")


@pytest.mark.parametrize(
    ("address", "organisation", "login", "servers"),
    [
        (
            "jean.dupont@ac-creteil.fr",
            "Académie de Créteil",
            "jean.dupont@ac-creteil.fr",
            (
                {"Server": "imap.ac-creteil.fr", "Port": "993", "Security": "SSL/TLS"},
                {"Server": "smtp.ac-creteil.fr", "Port": "465", "Security": "SSL/TLS"},
            ),
        ),
        (
            "jean.dupont@ac-versailles.fr",
            "Académie de Versailles",
            "jean.dupont",
            (
                {"Server": "imap.ac-versailles.fr", "Port": "143", "Security": "STARTTLS"},
                {"Server": "smtp.ac-versailles.fr", "Port": "587", "Security": "STARTTLS"},
            ),
        ),
        (
            "jean.dupont@ac-paris.fr",
            "Académie de Paris",
            "jdupont",
            (
                {"Server": "imap.ac-paris.fr", "Port": "143", "Security": "STARTTLS"},
                {"Server": "smtp.ac-paris.fr", "Port": "587", "Security": "STARTTLS"},
            ),
        ),
    ],
)
def test_multi_provider_guide_speaks_for_the_address(
    idf: Callable[[str], TestClient],
    address: str,
    organisation: str,
    login: str,
    servers: tuple[dict[str, str], dict[str, str]],
) -> None:
    incoming, outgoing = servers
    webmail = f"https://webmail.{address.partition('@')[2]}"
    # Whatever the Host, the guide is the address's provider's.
    response = idf("autoconfig.ac-paris.fr").get("/guide/android", params={"email": address, "lang": "en"})
    assert response.status_code == 200
    doc = parse_page(response)
    assert text(one(doc, "//p[@class='org']")) == organisation
    values = values_table(doc)
    assert values["Account"]["Login (username)"] == login
    assert values["Incoming mail (IMAP)"] == incoming
    assert {k: v for k, v in values["Outgoing mail (SMTP)"].items() if k != "Authentication"} == outgoing
    assert one(doc, "//footer//ul[@class='links']//a").get("href") == webmail


@pytest.mark.parametrize("language", LANGUAGES)
def test_multi_provider_unknown_domain_lists_every_domain(
    idf: Callable[[str], TestClient], language: str
) -> None:
    response = idf("autoconfig.ac-creteil.fr").get(
        "/guide", params={"email": "jean.dupont@ac-lyon.fr", "lang": language}
    )
    assert response.status_code == 404
    doc = parse_page(response)
    error = TEXT[language]["unknown_domain"].format(domains=IDF_DOMAINS)
    assert text(one(doc, "//p[@id='email-error']")) == error


# Servers a default would not give: plain IMAP on an odd port, hosts and an SMTP login naming the person;
# a webmail link naming the person's domain, a phone number with a trunk prefix, a support address.
ODD_SERVERS = settings_data(
    service={"public_url": "https://setup.example.org"},
    provider={
        "domains": ["example.org", "example.net"],
        "incoming": [{"host": "imap.%EMAILDOMAIN%", "port": 1143, "security": "none"}],
        "outgoing": [{"host": "smtp.%EMAILDOMAIN%", "security": "starttls", "username": "%EMAILLOCALPART%"}],
        "links": {"webmail": "https://webmail.%EMAILDOMAIN%/"},
        "support": {"phone": "+33 (0)1 44 62 40 40", "email": "help@example.org"},
    },
)


@pytest.mark.parametrize("language", LANGUAGES)
def test_guide_for_odd_servers(
    make_client: Callable[..., TestClient], make_settings: Callable[..., Settings], language: str
) -> None:
    client = make_client(make_settings(ODD_SERVERS))
    response = client.get("/guide/other", params={"email": "ana@example.net", "lang": language})
    assert response.status_code == 200
    doc = parse_page(response)
    tables = list(values_table(doc).values())
    login = "Identifiant (nom d'utilisateur)" if language == "fr" else "Login (username)"
    server, port, security = (
        ("Serveur", "Port", "Sécurité") if language == "fr" else ("Server", "Port", "Security")
    )
    assert tables[0][login] == "ana@example.net"  # the default login rule: the whole address
    assert {k: tables[1][k] for k in (server, port, security)} == {
        server: "imap.example.net",
        port: "1143",
        security: TEXT[language]["no_encryption"],
    }
    assert tables[2][server] == "smtp.example.net"
    assert tables[2][login] == "ana"  # the SMTP server's own login, shown since it differs
    # Links name the person's domain; the phone number is dialled without the trunk (0).
    assert one(doc, "//footer//ul[@class='links']//a").get("href") == "https://webmail.example.net/"
    assert one(doc, "//footer//a[starts-with(@href, 'tel:')]").get("href") == "tel:+33144624040"
    assert one(doc, "//footer//a[starts-with(@href, 'mailto:')]").get("href") == "mailto:help@example.org"
    check_qr(
        response,
        doc,
        phone_guide_url(language, "ana@example.net", "https://setup.example.org"),
        language,
    )


def test_landing_fills_the_first_domain_into_links(
    make_client: Callable[..., TestClient], make_settings: Callable[..., Settings]
) -> None:
    doc = parse_page(make_client(make_settings(ODD_SERVERS)).get("/", params={"lang": "en"}))
    assert one(doc, "//footer//ul[@class='links']//a").get("href") == "https://webmail.example.org/"


def test_without_webmail_or_helpdesk(
    make_client: Callable[..., TestClient], make_settings: Callable[..., Settings]
) -> None:
    client = make_client(make_settings())
    response = client.get("/guide/android", params={"email": "ana@example.org", "lang": "en"})
    doc = parse_page(response)
    assert values_table(doc)["Account"]["Password"] == "your mail password"  # noqa: S105 - words
    assert "webmail" not in text(one(doc, "//section[@class='steps']")).lower()
    footer = one(doc, "//footer")
    assert elements(footer, ".//a") == []
    assert elements(footer, ".//h3") == []
    landing = parse_page(client.get("/"))
    assert text(one(landing, "//p[@id='email-hint']")) == "Par exemple : jean.dupont@example.org"


def test_one_language_only(
    make_client: Callable[..., TestClient], make_settings: Callable[..., Settings]
) -> None:
    client = make_client(make_settings(service={"languages": ["en"], "default_language": "en"}))
    for path, query in (("/", {"lang": "fr"}), ("/guide/ios", {"email": "ana@example.org", "lang": "fr"})):
        response = client.get(path, params=query, headers={"Accept-Language": "fr-FR"})
        doc = parse_page(response)
        assert one(doc, "/html").get("lang") == "en"
        assert text(one(doc, "//h1")) == "Set up your mail"
        assert elements(doc, "//header/nav") == []  # no language menu with one language
    error = parse_page(client.get("/guide", params={"email": "nope@"}))
    assert text(one(error, "//p[@id='email-error']")) == TEXT["en"]["invalid"]


# --- Thunderbird for Android: the account code, and what the app proposes by itself --------------------

EXPORT_WORDS = {
    "fr": {
        "title": "Thunderbird pour Android : scannez votre compte",
        "no_password": "Il ne contient aucun mot de passe : l'appli vous le demande.",
        "other_screen": (
            "ouvrez cette page sur un ordinateur (saisissez votre adresse et choisissez « Android ») "
            "et scannez-y le code depuis l'appli."
        ),
        "phone_title": "Thunderbird pour Android : importer avec un code",
        "show": "Afficher le code ici",
        "one_instruction": "À scanner avec Thunderbird pour Android, pas avec l'appli Appareil photo.",
        "new": "touchez « Commencer », puis « Balayer le code QR »",
        "earlier": "« Importer les paramètres » sous « Utilisez-vous déjà Thunderbird pour ordinateur ? »",
        "set_up": "menu → « Paramètres » → « Importer les paramètres » → « Lire un code QR »",
        "import": "Touchez « Importation ». Le compte indique « Le mot de passe est requis »",
        "proposes": (
            "elle propose l'identifiant jean.dupont, qui n'est pas le vôtre. Remplacez-le par jdupont"
        ),
        "edit": (
            "« La configuration a été trouvée », touchez-la pour voir le détail, "
            "puis touchez « Modifier la configuration »"
        ),
        "username": "Dans « Nom d’utilisateur », remplacez jean.dupont par jdupont",  # noqa: RUF001 - the app's own apostrophe
        "ascii": "Thunderbird pour Android n'importe que des adresses écrites sans accents ni autres lettres "
        "que de A à Z. Utilisez plutôt les valeurs ci-dessous.",
    },
    "en": {
        "title": "Thunderbird for Android: scan your account",
        "no_password": "It holds no password: the app asks for it.",
        "other_screen": (
            "open this page on a computer (type your address and choose “Android”) and scan the code there "
            "from the app."
        ),
        "phone_title": "Thunderbird for Android: import with a code",
        "show": "Show the code here",
        "one_instruction": "Scan with Thunderbird for Android, not with the camera app.",
        "new": "tap “Get started”, then “Scan QR code”",
        "earlier": "“Import settings” under “Already using Thunderbird on desktop?”",
        "set_up": "menu → “Settings” → “Import settings” → “Scan QR code”",
        "import": "Tap “Import”. The account shows “Password required”",
        "proposes": "it proposes the login jean.dupont, which is not yours. Replace it with jdupont",
        "edit": "“Configuration found”, tap it to see the details, then tap “Edit configuration”",
        "username": "Under “Username”, replace jean.dupont with jdupont",
        "ascii": "Thunderbird for Android imports only addresses written without accents or other letters "
        "outside A to Z. Use the values below instead.",
    },
}


@pytest.mark.parametrize("language", LANGUAGES)
def test_android_guide_holds_the_account_code_and_how_to_scan_it(client: TestClient, language: str) -> None:
    response = client.get("/guide/android", params={"email": JEAN, "lang": language})
    doc = parse_page(response)
    words = EXPORT_WORDS[language]
    export = one(doc, "//section[@class='export']")
    assert text(one(export, "h2")) == words["title"]
    one(export, "figure/svg")
    # Exactly the code of Jean's account in Thunderbird's format: no password in it.
    assert dark_modules(section_svg(response, "export")) == export_modules(JEAN_EXPORT)
    # One instruction under it, and no word of the camera's other code, folded away at the bottom.
    assert text(one(export, "figure/figcaption")) == words["one_instruction"]
    said = text(export)
    for key in ("no_password", "new", "earlier", "set_up", "import"):
        assert words[key] in said, key
    assert words["other_screen"] not in said
    assert elements(export, ".//details") == []
    assert one(doc, "//section[@class='qr']/details").get("open") is None


@pytest.mark.parametrize("language", LANGUAGES)
def test_android_guide_says_what_thunderbird_for_android_proposes_and_what_to_change(
    client: TestClient, language: str
) -> None:
    doc = parse_page(client.get("/guide/android", params={"email": JEAN, "lang": language}))
    steps = text(one(doc, "//section[@class='steps']"))
    words = EXPORT_WORDS[language]
    for key in ("proposes", "edit", "username"):
        assert words[key] in steps, key
    # The sentence the issue found false is gone.
    assert "finds the settings by itself." not in steps


@pytest.mark.parametrize("language", LANGUAGES)
def test_android_guide_read_on_the_phone_puts_the_steps_first_and_folds_the_code(
    client: TestClient, language: str
) -> None:
    # The page as the phone itself asks for it: its screen cannot scan its own code.
    response = client.get(
        "/guide/android", params={"email": JEAN, "lang": language}, headers={"User-Agent": ANDROID_UA}
    )
    doc = parse_page(response)
    words = EXPORT_WORDS[language]
    sections = [s.get("class") for s in elements(doc, "//main/section")]
    assert sections == ["steps", "values", "export", "qr"]
    # Every value still there, open.
    assert values_table(doc) == JEAN_VALUES[language]
    export = one(doc, "//section[@class='export']")
    assert text(one(export, "h2")) == words["phone_title"]
    assert words["other_screen"] in text(one(export, "p"))
    # The code is the same, folded under its summary.
    details = one(export, "details")
    assert details.get("open") is None
    assert text(one(details, "summary")) == words["show"]
    one(details, "figure/svg")
    assert dark_modules(section_svg(response, "export")) == export_modules(JEAN_EXPORT)
    # The calendar and the directory, one tap away; their values unchanged.
    fold = one(doc, "//main/details[@class='fold']")
    assert fold.get("open") is None
    one(fold, "section[@class='services']")
    assert values_table(doc, "services") == JEAN_SERVICES[language]
    # Another device's guide read on the phone is as it was.
    ios = parse_page(client.get("/guide/ios", params={"email": JEAN}, headers={"User-Agent": ANDROID_UA}))
    assert [s.get("class") for s in elements(ios, "//main/section")] == ["steps", "values", "services", "qr"]


def test_android_guide_when_the_app_finds_the_right_login(client: TestClient) -> None:
    # A service mailbox logs in with its local part: what Thunderbird for Android proposes is right.
    doc = parse_page(client.get("/guide/android", params={"email": "ce.0751234a@ac-paris.fr", "lang": "en"}))
    steps = text(one(doc, "//section[@class='steps']"))
    assert "the app finds the servers by itself, with your login ce.0751234a." in steps
    assert "Replace it" not in steps


@pytest.mark.parametrize("language", LANGUAGES)
def test_android_guide_explains_why_there_is_no_code(client: TestClient, language: str) -> None:
    response = client.get("/guide/android", params={"email": "élodie.mérand@ac-paris.fr", "lang": language})
    assert response.status_code == 200
    doc = parse_page(response)
    export = one(doc, "//section[@class='export']")
    assert elements(export, ".//svg") == []
    assert text(one(export, "p")) == EXPORT_WORDS[language]["ascii"]
    # The values are there instead.
    assert values_table(doc)


# --- calendar, contacts and directory on every guide -------------------------------------------------

SERVICE_STEPS = {
    "fr": {
        "ios": "Rien de plus à faire : le profil ci-dessus les ajoute",
        "macos": "Rien de plus à faire : le profil ci-dessus les ajoute",
        "android": "touchez « + », puis choisissez « Connexion avec une URL et un nom d'utilisateur »",
        "thunderbird": "Choisissez « Sur le réseau ».",
        "outlook": "Outlook n'ouvre pas de lui-même un agenda CalDAV ni un carnet d'adresses CardDAV.",
        "other": "Les applis qui ouvrent un agenda CalDAV",
    },
    "en": {
        "ios": "Nothing more to do: the profile above adds them",
        "macos": "Nothing more to do: the profile above adds them",
        "android": "tap “+”, then choose “Login with URL and user name”",
        "thunderbird": "Choose “On the Network”.",
        "outlook": "Outlook does not open a CalDAV calendar or a CardDAV address book by itself.",
        "other": "Apps that open a CalDAV calendar",
    },
}


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("device", DEVICES)
def test_every_guide_shows_the_calendar_and_the_directory(
    client: TestClient, device: Device, language: str
) -> None:
    doc = parse_page(client.get(f"/guide/{device}", params={"email": JEAN, "lang": language}))
    assert values_table(doc, "services") == JEAN_SERVICES[language]
    assert SERVICE_STEPS[language][device] in text(one(doc, "//section[@class='services']"))


def test_thunderbird_guide_adds_the_contacts_the_carddav_way(
    make_client: Callable[..., TestClient], make_settings: Callable[..., Settings]
) -> None:
    client = make_client(make_settings(TWO_PROVIDERS), host="autoconfig.example.org")
    doc = parse_page(client.get("/guide/thunderbird", params={"email": "ana@example.org", "lang": "en"}))
    tables = values_table(doc, "services")
    assert tables["Contacts (CardDAV)"]["Address (URL)"] == "https://dav.example.org/carddav/"
    assert tables["Contacts (CardDAV)"]["Login (username)"] == "ana@example.org"
    assert tables["Calendar (CalDAV)"]["Address (URL)"] == "https://dav.example.org/caldav/"
    said = text(one(doc, "//section[@class='services']"))
    assert "“Add CardDAV Address Book” (“Add remote Address Book” in recent versions)" in said
    assert "Find Calendars" in said
    names = [b.get("aria-label") for b in elements(doc, "//main//button")]
    assert len(names) == len(set(names))


def test_a_guide_without_calendar_or_directory_has_no_such_section(
    make_client: Callable[..., TestClient], make_settings: Callable[..., Settings]
) -> None:
    doc = parse_page(make_client(make_settings()).get("/guide/ios", params={"email": "ana@example.org"}))
    assert elements(doc, "//section[@class='services']") == []
    profile_adds = texts(doc, "//section[@class='steps']/ul/li")
    assert profile_adds == [
        "La messagerie de ana@example.org (IMAP et SMTP), avec votre identifiant ana@example.org."
    ]


# --- Apple: both macOS paths, what the profile adds, "Not Verified" ------------------------------------

APPLE_WORDS: dict[str, dict[str, Any]] = {
    "fr": {
        "macos": [
            "macOS 15 Sequoia et ultérieur : Réglages Système → Général → Gestion des appareils ;",
            "macOS 13 Ventura et 14 Sonoma : Réglages Système → Confidentialité et sécurité → Profils ;",
            "macOS 12 et antérieur : Préférences Système → Profils.",
        ],
        "search": (
            "Sur toutes les versions, saisir « Profils » dans le champ de recherche de la fenêtre des "
            "réglages les trouve."
        ),
        "adds": [
            "La messagerie de jean.dupont@ac-paris.fr (IMAP et SMTP), avec votre identifiant jdupont.",
            "L'agenda (CalDAV), dans Calendrier.",
            "L'annuaire (LDAP), dans Contacts.",
        ],
        "not_verified": "« Non vérifié » : pourquoi c'est sans risque",
        "safe": "le profil ne contient que les noms des serveurs et votre identifiant, aucun mot de passe",
    },
    "en": {
        "macos": [
            "macOS 15 Sequoia and later: System Settings → General → Device Management;",
            "macOS 13 Ventura and 14 Sonoma: System Settings → Privacy & Security → Profiles;",
            "macOS 12 and earlier: System Preferences → Profiles.",
        ],
        "search": (
            "On every version, typing “Profiles” in the search field of the settings window finds them."
        ),
        "adds": [
            "Mail for jean.dupont@ac-paris.fr (IMAP and SMTP), with your login jdupont.",
            "The calendar (CalDAV), in Calendar.",
            "The staff directory (LDAP), in Contacts.",
        ],
        "not_verified": "“Not Verified”: why it is safe",
        "safe": "the profile holds only the names of the servers and your login, no password",
    },
}


@pytest.mark.parametrize("language", LANGUAGES)
def test_mac_guide_names_the_three_places_of_the_profile_and_the_search(
    client: TestClient, language: str
) -> None:
    doc = parse_page(client.get("/guide/macos", params={"email": JEAN, "lang": language}))
    step = one(doc, "//section[@class='steps']/ol/li[ul]")
    assert texts(step, "ul/li") == APPLE_WORDS[language]["macos"]
    assert texts(step, "p") == [APPLE_WORDS[language]["search"]]
    # The iPhone's 8 minutes are the iPhone's: not said on the Mac.
    assert "8 minutes" not in text(one(doc, "//section[@class='steps']"))


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("device", ["ios", "macos"])
def test_apple_guides_list_what_the_profile_adds(client: TestClient, device: str, language: str) -> None:
    doc = parse_page(client.get(f"/guide/{device}", params={"email": JEAN, "lang": language}))
    assert texts(doc, "//section[@class='steps']/ul/li") == APPLE_WORDS[language]["adds"]


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("device", ["ios", "macos"])
def test_unsigned_profiles_prepare_for_not_verified(
    make_client: Callable[..., TestClient],
    make_settings: Callable[..., Settings],
    device: str,
    language: str,
) -> None:
    # Settings without [signing] (and not the bundled default): profiles are served unsigned.
    client = make_client(make_settings(), host="autoconfig.example.org")
    doc = parse_page(client.get(f"/guide/{device}", params={"email": "ana@example.org", "lang": language}))
    steps = one(doc, "//section[@class='steps']")
    assert APPLE_WORDS[language]["not_verified"] in texts(steps, "h3")
    assert APPLE_WORDS[language]["safe"] in text(steps)


IOS_WORDS = {
    "fr": {
        "deadline": "Installez-le dans les 8 minutes : Réglages → Profil téléchargé.",
        "one_at_a_time": (
            "Un profil téléchargé qui n'est pas installé dans les 8 minutes est supprimé, et un seul profil "
            "téléchargé attend à la fois : un second téléchargement remplace le premier."
        ),
        "done": (
            "Profil téléchargé : installez-le dans les 8 minutes, dans Réglages → Profil téléchargé. "
            "Pour le télécharger de nouveau, rechargez cette page."
        ),
    },
    "en": {
        "deadline": "Install it within 8 minutes: Settings → Profile Downloaded.",
        "one_at_a_time": (
            "A downloaded profile not installed within 8 minutes is deleted, and only one waits at a time: "
            "a second download replaces the first."
        ),
        "done": (
            "Profile downloaded: install it within 8 minutes, in Settings → Profile Downloaded. "
            "To download it again, reload this page."
        ),
    },
}


@pytest.mark.parametrize("language", LANGUAGES)
def test_iphone_guide_says_8_minutes_and_one_profile_at_a_time(client: TestClient, language: str) -> None:
    doc = parse_page(client.get("/guide/ios", params={"email": JEAN, "lang": language}))
    steps = one(doc, "//section[@class='steps']")
    words = IOS_WORDS[language]
    # Right under the button, the one line that matters.
    button = one(steps, ".//a[@id='profile-download']")
    assert text(one(button, "../following-sibling::p[1]")) == words["deadline"]
    assert words["one_at_a_time"] in text(steps)
    # What profile.js puts in the button's place, in a status region empty until then.
    status = one(steps, ".//p[@id='profile-status']")
    assert (status.get("role"), text(status), status.get("data-done")) == ("status", "", words["done"])
    assert [e.get("src") for e in elements(doc, "//script")] == list(STATIC_SCRIPTS)


def test_the_development_certificate_prepares_for_not_verified_too(client: TestClient) -> None:
    # The bundled settings sign with the development certificate, which no device trusts.
    doc = parse_page(client.get("/guide/ios", params={"email": JEAN, "lang": "en"}))
    assert APPLE_WORDS["en"]["not_verified"] in texts(doc, "//section[@class='steps']/h3")


# --- Outlook: which one, and each one's way -------------------------------------------------------------

OUTLOOK_HEADINGS = {
    "fr": [
        "Quel Outlook avez-vous ?",
        "Par où passent votre courrier et votre mot de passe",
        "Outlook classique pour Windows",
        "Nouvel Outlook pour Windows",
        "Outlook pour Mac",
        "Outlook pour iPhone et Android",
    ],
    "en": [
        "Which Outlook do you have?",
        "Where your mail and your password go",
        "Classic Outlook for Windows",
        "New Outlook for Windows",
        "Outlook for Mac",
        "Outlook for iPhone and Android",
    ],
}


@pytest.mark.parametrize("language", LANGUAGES)
def test_outlook_guide_tells_the_versions_apart_and_keeps_the_values(
    client: TestClient, language: str
) -> None:
    doc = parse_page(client.get("/guide/outlook", params={"email": JEAN, "lang": language}))
    steps = one(doc, "//section[@class='steps']")
    assert texts(steps, "h3") == OUTLOOK_HEADINGS[language]
    which = " ".join(texts(steps, "ul[not(@class)]/li"))
    assert ("« Fichier »" if language == "fr" else "“File”") in which
    assert ("« Nouvel Outlook »" if language == "fr" else "“New Outlook”") in which
    cloud = "cloud de Microsoft" if language == "fr" else "Microsoft's cloud"
    assert cloud in text(steps)
    assert values_table(doc) == JEAN_VALUES[language]


OUTLOOK_WHERE = {
    "fr": [
        "Outlook classique pour Windows envoie votre adresse au cloud de Microsoft pour chercher les "
        "paramètres, puis se connecte directement à imap.ac-paris.fr et smtp.ac-paris.fr : votre mot de "
        "passe et votre courrier ne passent qu'entre votre ordinateur et votre organisation.",
        "Le nouvel Outlook pour Windows et l'appli Outlook pour iPhone et Android configurent le compte en "
        "passant par le cloud de Microsoft : votre mot de passe et votre courrier passent par les serveurs "
        "de Microsoft.",
        "Outlook pour Mac configure lui aussi le compte en passant par le cloud de Microsoft : votre mot de "
        "passe et votre courrier peuvent passer par les serveurs de Microsoft.",
    ],
    "en": [
        "Classic Outlook for Windows sends your address to Microsoft's cloud to look the settings up, then "
        "connects directly to imap.ac-paris.fr and smtp.ac-paris.fr: your password and your mail go "
        "between your computer and your organisation only.",
        "New Outlook for Windows and the Outlook app for iPhone and Android set the account up through "
        "Microsoft's cloud: your password and your mail pass through Microsoft's servers.",
        "Outlook for Mac also sets the account up through Microsoft's cloud: your password and your mail "
        "may pass through Microsoft's servers.",
    ],
}
OUTLOOK_DIRECT = {
    "fr": "Thunderbird, Apple Mail (iPhone, iPad, Mac), Outlook classique pour Windows et Thunderbird pour "
    "Android (K-9 Mail) se connectent directement à imap.ac-paris.fr et smtp.ac-paris.fr",
    "en": "Thunderbird, Apple Mail (iPhone, iPad, Mac), classic Outlook for Windows and Thunderbird for "
    "Android (K-9 Mail) connect directly to imap.ac-paris.fr and smtp.ac-paris.fr",
}


@pytest.mark.parametrize("language", LANGUAGES)
def test_outlook_guide_says_where_the_mail_and_the_password_go(client: TestClient, language: str) -> None:
    doc = parse_page(client.get("/guide/outlook", params={"email": JEAN, "lang": language}))
    steps = one(doc, "//section[@class='steps']")
    heading = one(steps, "h3[2]")
    assert text(heading) == OUTLOOK_HEADINGS[language][1]
    # Each Outlook, in the order the page names them, then the clients that keep the mail direct.
    assert texts(heading, "following-sibling::ul[1]/li") == OUTLOOK_WHERE[language]
    assert text(one(heading, "following-sibling::p[1]")).startswith(OUTLOOK_DIRECT[language])


# --- pages kept: a guide asked again is not rendered again, and never served for other facts -------------


def test_a_guide_asked_again_is_the_kept_page(make_client: Callable[..., TestClient]) -> None:
    client = make_client(load_settings())  # an application of its own: its kept pages are this test's alone
    kept = client.app.state.served.pages._kept  # type: ignore[attr-defined]
    first = client.get("/guide/android", params={"email": JEAN, "lang": "en"})
    assert len(kept) == 1
    again = client.get("/guide/android", params={"email": JEAN, "lang": "en"})
    assert again.content == first.content
    assert again.headers["vary"] == "Accept-Language, Host"
    assert len(kept) == 1


def test_a_kept_guide_is_never_the_answer_to_other_facts(make_client: Callable[..., TestClient]) -> None:
    """Each fact a guide is made of picks its own page: language (query or header), device (path or
    User-Agent), whether a phone reads it, the host the phone's code points to, the address and how it is
    written."""
    client = make_client(load_settings())
    english = {"email": JEAN, "lang": "en"}
    asked: list[tuple[str, dict[str, str], dict[str, str]]] = [
        ("/guide/android", {"email": JEAN}, {}),
        ("/guide/android", {"email": JEAN}, {"Accept-Language": "en"}),
        ("/guide/android", english, {}),
        ("/guide/android", {"email": "Jean.Dupont@ac-paris.fr", "lang": "en"}, {}),
        ("/guide/android", {"email": "marie.curie@ac-paris.fr", "lang": "en"}, {}),
        ("/guide", english, {"User-Agent": ANDROID_UA}),
        ("/guide/android", english, {"User-Agent": ANDROID_UA}),  # read on the phone: steps first
        ("/guide", english, {"User-Agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)"}),
        ("/guide/android", english, {"Host": "127.0.0.1"}),  # a trial's: the test server's port, 80
    ]
    for path, params, headers in asked:
        client.get(path, params=params, headers=headers)
    assert len(client.app.state.served.pages._kept) == len(asked)  # type: ignore[attr-defined]
    # Asked again, in another order, each is what an application that kept nothing renders for it (one
    # other application, its kept pages emptied before each).
    other = make_client(load_settings())
    for path, params, headers in reversed(asked):
        other.app.state.served.pages._kept.clear()  # type: ignore[attr-defined]
        fresh = other.get(path, params=params, headers=headers).content
        assert client.get(path, params=params, headers=headers).content == fresh, (path, params, headers)
    assert len(client.app.state.served.pages._kept) == len(asked)  # type: ignore[attr-defined]


def test_kept_pages_are_bounded(settings: Settings) -> None:
    pages = Pages(settings, templates_dir())
    for number in range(KEPT_PAGES + 10):
        pages.keep(("page", number), f"<p>{number}</p>")
    assert len(pages._kept) == KEPT_PAGES
    assert pages.kept(("page", 0)) is None  # the oldest went first
    assert pages.kept(("page", KEPT_PAGES + 9)) == f"<p>{KEPT_PAGES + 9}</p>".encode()


# --- the address form: the bare-login hint, the warning, "did you mean" ---------------------------------

OFF_FORM = {
    "fr": (
        "Cette adresse n'a pas la forme prénom.nom@ac-paris.fr : vérifiez-la avant de continuer. "
        "Une boîte partagée ou de service peut avoir une autre forme."
    ),
    "en": (
        "This address does not have the form firstname.lastname@ac-paris.fr: check it before you "
        "continue. A shared or service mailbox may have another form."
    ),
}
# The README's table: people's addresses, and a school's functional mailbox (a form of its own).
OF_THE_FORM = [
    "jean.dupont@ac-paris.fr",
    "jean-pierre.dupont2@ac-paris.fr",
    "marie.martin-durand@ac-paris.fr",
    "jean.de.la.fontaine@ac-paris.fr",
    "élodie.mérand@ac-paris.fr",
    "ce.0751234a@ac-paris.fr",
]


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("device", DEVICES)
def test_a_login_shaped_address_gets_the_guide_with_a_warning_above_the_values(
    client: TestClient, device: Device, language: str
) -> None:
    response = client.get(f"/guide/{device}", params={"email": "jdupont@ac-paris.fr", "lang": language})
    assert response.status_code == 200
    doc = parse_page(response)
    warning = one(doc, "//main//p[@id='off-form']")
    assert text(warning) == OFF_FORM[language]
    # Above everything the person would copy or scan: the first values, the account code, the profile.
    following = warning.xpath("following::table | following::figure | following::a[@class='button']")
    preceding = warning.xpath("preceding::table | preceding::figure | preceding::a[@class='button']")
    assert following
    assert preceding == []
    # The guide itself is as it was: the values are there, the login the rule's fallback.
    assert values_table(doc)
    assert "jdupont" in response.text


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("address", OF_THE_FORM)
def test_addresses_of_the_form_get_no_warning(client: TestClient, address: str, language: str) -> None:
    response = client.get("/guide/thunderbird", params={"email": address, "lang": language})
    assert response.status_code == 200
    assert elements(parse_page(response), "//*[@id='off-form']") == []


def test_a_provider_that_states_no_form_never_warns(
    make_client: Callable[..., TestClient], make_settings: Callable[..., Settings]
) -> None:
    client = make_client(make_settings())
    for address in ("jdupont@example.org", "x@example.org", "jean.dupont@example.org"):
        response = client.get("/guide/thunderbird", params={"email": address, "lang": "en"})
        assert response.status_code == 200
        assert elements(parse_page(response), "//*[@id='off-form']") == []


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("typed", ["jdupont", "marie", "jdupont2", "Jean-Pierre"])
def test_a_bare_login_is_quoted_and_never_made_into_an_address(
    client: TestClient, typed: str, language: str
) -> None:
    response = client.get("/guide", params={"email": typed, "lang": language})
    assert response.status_code == 400
    doc = parse_page(response)
    check_form(doc, language, typed=typed, error=TEXT[language]["login_hint"].format(typed=typed))
    # The provider's example, never what was typed with the domain after it.
    assert f"{typed}@" not in response.text
    assert f"{typed.lower()}@" not in response.text.lower()


def test_the_landing_page_holds_the_scripts_login_hint(client: TestClient) -> None:
    doc = parse_page(client.get("/", params={"lang": "en"}))
    hint = one(doc, "//div[@aria-live='polite']/p[@id='email-login']")
    assert hint.get("hidden") is not None
    # The slot copy.js fills in with what was typed, as text.
    assert text(hint) == TEXT["en"]["login_hint"].format(typed="")
    assert elements(hint, "./span[@class='typed']")
    patterns = json.loads(hint.get("data-forms"))
    assert patterns == [
        r"^[a-z]+(?:[-\x27][a-z]+)*\.[a-z]+(?:[-.\x27][a-z]+)*[0-9]*$",
        r"^ce\.[0-9]{7}[a-z]$",
    ]


def test_no_login_hint_for_a_provider_that_states_no_form(
    make_client: Callable[..., TestClient], make_settings: Callable[..., Settings]
) -> None:
    client = make_client(make_settings())
    doc = parse_page(client.get("/", params={"lang": "en"}))
    assert elements(doc, "//*[@id='email-login']") == []
    response = client.get("/guide", params={"email": "jdupont", "lang": "en"})
    error = one(parse_page(response), "//p[@id='email-error']")
    assert (
        text(error)
        == "Type your whole mail address, with @example.org at the end: for example jean.dupont@example.org."
    )


DID_YOU_MEAN = {"fr": "Vouliez-vous dire {address} ?", "en": "Did you mean {address}?"}


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize(
    ("path", "typed", "meant"),
    [
        ("/guide", "jean.dupont@ac-pari.fr", "jean.dupont@ac-paris.fr"),
        ("/guide", "jean.dupont@acparis.fr", "jean.dupont@ac-paris.fr"),
        ("/guide/android", "jean.dupont@ac-paris.com", "jean.dupont@ac-paris.fr"),
        ("/guide/ios", "Marie.Martin@ac-parsi.fr", "Marie.Martin@ac-paris.fr"),
    ],
)
def test_a_domain_a_slip_away_gets_a_did_you_mean_link(
    client: TestClient, path: str, typed: str, meant: str, language: str
) -> None:
    response = client.get(path, params={"email": typed, "lang": language})
    assert response.status_code == 404
    doc = parse_page(response)
    check_form_error = TEXT[language]["unknown_domain"].format(domains="ac-paris.fr")
    assert text(one(doc, "//p[@id='email-error']")) == check_form_error
    suggestion = one(doc, "//form//p[@id='email-suggestion']")
    assert text(suggestion) == DID_YOU_MEAN[language].format(address=meant)
    link = one(suggestion, "./a")
    assert text(link) == meant
    target = urlsplit(link.get("href"))
    assert target.path == path
    assert parse_qs(target.query) == {"email": [meant], "lang": [language]}
    field = one(doc, "//input[@id='email']")
    assert field.get("aria-describedby") == "email-hint email-error email-suggestion"
    # The link leads to the guide.
    assert client.get(link.get("href")).status_code == 200


@pytest.mark.parametrize(
    "typed", ["jean.dupont@gmail.com", "jean.dupont@ac-lyon.fr", "jean.dupont@example.com", "x@ac.fr"]
)
def test_no_did_you_mean_for_other_domains(client: TestClient, typed: str) -> None:
    doc = parse_page(client.get("/guide", params={"email": typed, "lang": "en"}))
    assert elements(doc, "//*[@id='email-suggestion']") == []


def test_did_you_mean_among_several_providers(idf: Callable[[str], TestClient]) -> None:
    response = idf("autoconfig.ac-paris.fr").get(
        "/guide", params={"email": "jean.dupont@ac-creteil.com", "lang": "en"}
    )
    link = one(parse_page(response), "//p[@id='email-suggestion']/a")
    assert text(link) == "jean.dupont@ac-creteil.fr"


def test_a_hostile_local_part_in_did_you_mean_stays_text(client: TestClient) -> None:
    response = client.get("/guide", params={"email": "o'neil&co@ac-pari.fr", "lang": "en"})
    link = one(parse_page(response), "//p[@id='email-suggestion']/a")
    assert text(link) == "o'neil&co@ac-paris.fr"
    assert parse_qs(urlsplit(link.get("href")).query)["email"] == ["o'neil&co@ac-paris.fr"]
