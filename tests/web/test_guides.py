"""The web pages through the ASGI application: landing page, guides per device and language, errors,
headers, hostile input, static files, the multi-provider profile."""

from __future__ import annotations

import asyncio
import itertools
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
from autoconfig.web.pages import DEVICES, Device
from tests.helpers.pages import USER_AGENTS, dark_modules, expected_modules
from tests.helpers.paths import ROOT
from tests.helpers.settings import settings_data

JEAN = "jean.dupont@ac-paris.fr"
PUBLIC = "https://autoconfig.ac-paris.fr"
LANGUAGES = ("fr", "en")
ANDROID_UA = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Mobile Safari/537.36"
)

# What a person reads, per language.
TEXT: dict[str, dict[str, str]] = {
    "fr": {
        "h1": "Configurer votre messagerie",
        "label": "Votre adresse électronique",
        "submit": "Afficher mes paramètres",
        "example": "Par exemple : jean.dupont@ac-paris.fr",
        "no_address": "Saisissez votre adresse électronique.",
        "invalid": "Ce n'est pas une adresse électronique valide : vérifiez-la et réessayez.",
        "unknown_domain": "Ce service configure uniquement les adresses en {domains}.",
        "no_guide": "Ce guide n'existe pas.",
        "help": "Aide",
        "helpdesk": "Assistance",
        "webmail": "Webmail",
        "reset": "Mot de passe oublié ou expiré",
        "documentation": "Messagerie académique : mode d'emploi",
        "phone": "Téléphone : 01 44 62 40 40",
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
        "unknown_domain": "This service sets up addresses at {domains} only.",
        "no_guide": "There is no such guide.",
        "help": "Help",
        "helpdesk": "Helpdesk",
        "webmail": "Webmail",
        "reset": "Forgotten or expired password",
        "documentation": "Staff mail: how to",
        "phone": "Phone: 01 44 62 40 40",
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
    assert response.headers["vary"] == "Accept-Language"
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
    assert [s.get("src") for s in scripts] == ["/static/copy.js"]
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


def values_table(doc: Any) -> dict[str, dict[str, str]]:
    """The settings tables: caption -> {row label: value shown}."""
    tables: dict[str, dict[str, str]] = {}
    for table in elements(doc, "//section[@class='values']//table"):
        rows = {text(one(tr, "th")): text(one(tr, "td/span")) for tr in elements(table, ".//tr")}
        tables[text(one(table, "caption"))] = rows
    return tables


def the_svg(response: Any) -> str:
    (svg,) = re.findall(r"<svg\b.*?</svg>", response.text, re.DOTALL)
    return str(svg)


def check_qr(response: Any, doc: Any, url: str, language: str) -> None:
    """The QR code section, drawing exactly `url`."""
    section = one(doc, "//section[@class='qr']")
    assert text(one(section, "h2")) == TEXT[language]["qr"]
    one(section, "figure/svg")
    svg = the_svg(response)
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
    assert phone.get("href") == "tel:0144624040"
    assert text(phone) == "01 44 62 40 40"


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


def guide_url(device: str, language: str, email: str = JEAN) -> str:
    return f"{PUBLIC}/guide/{device}?email={email.replace('@', '%40')}&lang={language}"


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

    # The person's own values, on every guide; copy buttons there but hidden until copy.js runs.
    assert values_table(doc) == JEAN_VALUES[language]
    buttons = elements(doc, "//section[@class='values']//button")
    assert len(buttons) == 6  # address, login, two servers, two ports
    for button in buttons:
        assert button.get("hidden") is not None
        assert button.get("type") == "button"
        assert button.get("class") == "copy"
        assert text(button) == TEXT[language]["copy"]
        assert button.get("data-done") == TEXT[language]["copied"]
        row = button.getparent().getparent()
        assert button.get("data-copy") == text(one(row, "td/span"))
        assert button.get(
            "aria-label"
        ) == f"{TEXT[language]['copy']}{' :' if language == 'fr' else ':'} " + text(one(row, "th"))
    copied = sorted(b.get("data-copy") for b in buttons)
    assert copied == sorted([JEAN, "jdupont", "imap.ac-paris.fr", "143", "smtp.ac-paris.fr", "587"])

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

    check_qr(response, doc, guide_url(device, language), language)
    check_help(doc, language)


@pytest.mark.parametrize("language", LANGUAGES)
def test_android_guide_puts_the_values_first_then_each_app(client: TestClient, language: str) -> None:
    doc = parse_page(client.get("/guide/android", params={"email": JEAN, "lang": language}))
    sections = [s.get("class") for s in elements(doc, "//main/section")]
    assert sections == ["values", "steps", "qr"]
    steps = one(doc, "//section[@class='steps']")
    assert texts(steps, "h3") == ANDROID_APPS[language]
    # Every app but Thunderbird (which finds the settings itself) has its steps.
    assert len(elements(steps, "ol")) == 4
    assert ("webmail" in text(steps)) is True


@pytest.mark.parametrize("device", ["thunderbird", "outlook", "other", "ios", "macos"])
def test_other_guides_put_the_steps_first_and_the_values_as_fallback(client: TestClient, device: str) -> None:
    doc = parse_page(client.get(f"/guide/{device}", params={"email": JEAN, "lang": "en"}))
    sections = [s.get("class") for s in elements(doc, "//main/section")]
    assert sections == ["steps", "values", "qr"]
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
    # The QR code carries the device's own guide, so that the phone opens the same page.
    check_qr(response, doc, guide_url(device, "en"), "en")


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
    ("/guide", {"email": "jean.dupont"}, 400, "invalid", "jean.dupont"),
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
    error = TEXT[language][message].format(domains="ac-paris.fr")
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
    check_form(doc, language, typed=typed_back, error=TEXT[language]["invalid"])


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
    check_qr(response, doc, f"{PUBLIC}/guide/{device}?" + urlencode({"email": typed, "lang": "en"}), "en")


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
        assert not [e for e in elements(doc, "//script") if e.get("src") != "/static/copy.js"]


# --- static files ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "media_type", "source"),
    [
        ("/static/style.css", "text/css; charset=utf-8", "style.css"),
        ("/static/copy.js", "text/javascript; charset=utf-8", "copy.js"),
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


def test_script_fetches_nothing(client: TestClient) -> None:
    js = client.get("/static/copy.js").text
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
    ("host", "organisation", "example"),
    [
        ("autoconfig.ac-paris.fr", "Académie de Paris", "jean.dupont@ac-paris.fr"),
        ("autoconfig.ac-creteil.fr", "Académie de Créteil", "jean.dupont@ac-creteil.fr"),
        ("ac-versailles.fr:8443", "Académie de Versailles", "jean.dupont@ac-versailles.fr"),
    ],
)
def test_multi_provider_landing_speaks_for_the_host(
    idf: Callable[[str], TestClient], host: str, organisation: str, example: str
) -> None:
    webmail = f"https://webmail.{example.partition('@')[2]}"
    response = idf(host).get("/", params={"lang": "en"})
    assert response.status_code == 200
    doc = parse_page(response)
    assert text(one(doc, "//p[@class='org']")) == organisation
    assert text(one(doc, "/html/head/title")) == f"Set up your mail · {organisation}"
    assert text(one(doc, "//p[@id='email-hint']")) == f"For example: {example}"
    assert [a.get("href") for a in elements(doc, "//footer//ul[@class='links']//a")] == [webmail]
    check_qr(response, doc, f"{PUBLIC}/?lang=en", "en")


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
        f"https://setup.example.org/guide/other?email=ana%40example.net&lang={language}",
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
    error = parse_page(client.get("/guide", params={"email": "nope"}))
    assert text(one(error, "//p[@id='email-error']")) == TEXT["en"]["invalid"]
