"""The device guides in a real browser (Debian's chromium through Playwright, against a real `python -m
autoconfig serve` on loopback), in French and English, on a phone and on a computer: where a Mac keeps
profiles, the Android page's one code and its height on the phone, the iPhone's 8 minutes and its single
download, and where each Outlook sends the mail.

The Android guide on a phone was 5,897 px tall at 390 by 844 in the review of issue 20 (French): it must
stay within about half of that, with every mail value still open on the page.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

# The package ships no type information (no py.typed): its Axe is Any to mypy.
from axe_playwright_python.sync_playwright import Axe  # type: ignore[import-untyped]
from playwright.sync_api import Download, Locator, Page, expect

from tests.helpers.live import Server
from tests.helpers.pages import (
    ANDROID_UA,
    DESKTOP,
    LINUX_UA,
    PHONE,
    OpenSession,
)

JEAN = "jean.dupont@ac-paris.fr"
LANGUAGES = ("fr", "en")
IPHONE_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Mobile/15E148 Safari/604.1"
)
MAC_UA = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Safari/605.1.15"
)
# The windows each guide is read in: (viewport, User-Agent, mobile).
WINDOWS: dict[str, dict[str, tuple[dict[str, int], str, bool]]] = {
    "macos": {"phone": (PHONE, IPHONE_UA, True), "computer": (DESKTOP, MAC_UA, False)},
    "android": {"phone": (PHONE, ANDROID_UA, True), "computer": (DESKTOP, LINUX_UA, False)},
    "ios": {"phone": (PHONE, IPHONE_UA, True), "computer": (DESKTOP, MAC_UA, False)},
    "outlook": {"phone": (PHONE, ANDROID_UA, True), "computer": (DESKTOP, LINUX_UA, False)},
}
# The Android guide on a phone before issue 20 (French, 390 by 844), and the most it may be now.
ANDROID_PHONE_BEFORE = 5897
ANDROID_PHONE_MOST = ANDROID_PHONE_BEFORE / 2

WORDS: dict[str, dict[str, Any]] = {
    "fr": {
        "macos": [
            "macOS 15 Sequoia et ultérieur : Réglages Système → Général → Gestion des appareils ;",
            "macOS 13 Ventura et 14 Sonoma : Réglages Système → Confidentialité et sécurité → Profils ;",
            "macOS 12 et antérieur : Préférences Système → Profils.",
        ],
        "search": "Sur toutes les versions, saisir « Profils » dans le champ de recherche de la fenêtre des "
        "réglages les trouve.",
        "scan": "À scanner avec Thunderbird pour Android, pas avec l'appli Appareil photo.",
        "camera": "Scannez ce code avec l'appareil photo de votre téléphone",
        "phone_code": "Ouvrir ce guide sur le téléphone : un code pour l'appareil photo",
        "show": "Afficher le code ici",
        "login": "Identifiant (nom d'utilisateur)",
        "incoming": "Courrier entrant (IMAP)",
        "outgoing": "Courrier sortant (SMTP)",
        "server": "Serveur",
        "port": "Port",
        "security": "Sécurité",
        "steps": "Android",
        "values": "Vos paramètres",
        "install": "Installer le profil",
        "deadline": "Installez-le dans les 8 minutes : Réglages → Profil téléchargé.",
        "downloaded": "Profil téléchargé : installez-le dans les 8 minutes",
        "where": "Par où passent votre courrier et votre mot de passe",
        "cloud": "votre mot de passe et votre courrier passent par les serveurs de Microsoft",
        "direct": "se connectent directement à imap.ac-paris.fr et smtp.ac-paris.fr",
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
        "scan": "Scan with Thunderbird for Android, not with the camera app.",
        "camera": "Scan this code with your phone's camera",
        "phone_code": "Open this guide on the phone: a code for the camera",
        "show": "Show the code here",
        "login": "Login (username)",
        "incoming": "Incoming mail (IMAP)",
        "outgoing": "Outgoing mail (SMTP)",
        "server": "Server",
        "port": "Port",
        "security": "Security",
        "steps": "Android",
        "values": "Your settings",
        "install": "Install the profile",
        "deadline": "Install it within 8 minutes: Settings → Profile Downloaded.",
        "downloaded": "Profile downloaded: install it within 8 minutes",
        "where": "Where your mail and your password go",
        "cloud": "your password and your mail pass through Microsoft's servers",
        "direct": "connect directly to imap.ac-paris.fr and smtp.ac-paris.fr",
    },
}
# What a person types into a mail app, and must find open on the page: (table, row, value).
MAIL_VALUES = [
    ("incoming", "server", "imap.ac-paris.fr"),
    ("incoming", "port", "143"),
    ("incoming", "security", "STARTTLS"),
    ("outgoing", "server", "smtp.ac-paris.fr"),
    ("outgoing", "port", "587"),
    ("outgoing", "security", "STARTTLS"),
]


def open_guide(
    service: Server,
    open_session: OpenSession,
    device: str,
    window: str,
    language: str,
    *,
    javascript: bool = True,
) -> Page:
    viewport, user_agent, mobile = WINDOWS[device][window]
    session = open_session(viewport, user_agent, language, javascript=javascript, mobile=mobile)
    page = session.page
    page.goto(f"{service.base_url}/guide/{device}?email={JEAN}&lang={language}")
    expect(page.locator("html")).to_have_attribute("lang", language)
    return page


def visible(locator: Locator) -> list[Locator]:
    return [locator.nth(i) for i in range(locator.count()) if locator.nth(i).is_visible()]


def no_violation(axe: Axe, page: Page) -> list[str]:
    """axe-core's violations on the page as it stands (target-size on, as in test_accessibility)."""
    options = {"resultTypes": ["violations"], "rules": {"target-size": {"enabled": True}}}
    violations: list[dict[str, Any]] = axe.run(page, options=options).response["violations"]
    return [f"{v['id']}: {v['help']} at {[n['target'] for n in v['nodes'][:3]]}" for v in violations]


# --- Mac: three versions, three places, and the search that finds them all -----------------------------


@pytest.mark.parametrize("window", ["phone", "computer"])
@pytest.mark.parametrize("language", LANGUAGES)
def test_mac_guide_shows_the_three_places_and_the_search(
    service: Server, open_session: OpenSession, language: str, window: str
) -> None:
    page = open_guide(service, open_session, "macos", window, language)
    lines = page.locator("section.steps ul.versions li")
    expect(lines).to_have_count(3)
    assert [line.inner_text().strip() for line in visible(lines)] == WORDS[language]["macos"]
    tip = page.get_by_text(WORDS[language]["search"], exact=True)
    tip.scroll_into_view_if_needed()
    expect(tip).to_be_visible()


# --- Android: one code on a computer, the steps first and half the height on a phone ---------------------


@pytest.mark.parametrize("language", LANGUAGES)
def test_android_guide_on_a_computer_shows_one_code_with_one_instruction(
    service: Server, open_session: OpenSession, axe: Axe, language: str
) -> None:
    page = open_guide(service, open_session, "android", "computer", language)
    words = WORDS[language]
    codes = visible(page.locator("main svg"))
    assert len(codes) == 1
    assert codes[0].evaluate("svg => svg.closest('section').className") == "export"
    # One instruction with it: read from Thunderbird for Android, not with the camera.
    captions = visible(page.locator("main figcaption"))
    assert [c.inner_text().strip() for c in captions] == [words["scan"]]
    # The camera's code, which opens the page on the phone, is folded under words of its own; opened,
    # it is the second code, far from the first and with the camera's instruction.
    handoff = page.locator("section.qr details")
    expect(handoff.locator("svg")).to_be_hidden()
    expect(page.get_by_text(words["camera"])).to_be_hidden()
    summary = handoff.locator("summary")
    expect(summary).to_have_text(words["phone_code"])
    summary.click()
    expect(handoff.locator("svg")).to_be_visible()
    expect(handoff.get_by_text(words["camera"])).to_be_visible()
    export_box = page.locator("section.export svg").bounding_box()
    handoff_box = handoff.locator("svg").bounding_box()
    assert export_box is not None
    assert handoff_box is not None
    assert handoff_box["y"] - (export_box["y"] + export_box["height"]) > 1000  # never side by side
    assert no_violation(axe, page) == []


def page_height(page: Page) -> int:
    height: int = page.evaluate("document.documentElement.scrollHeight")
    return height


@pytest.mark.parametrize("language", LANGUAGES)
def test_android_guide_on_a_phone_is_half_as_tall_with_every_value(
    service: Server, open_session: OpenSession, axe: Axe, language: str
) -> None:
    page = open_guide(service, open_session, "android", "phone", language)
    words = WORDS[language]
    expect(page.locator("button.copy").first).to_be_visible()  # measured as people meet it, scripted
    height = page_height(page)
    assert height <= ANDROID_PHONE_MOST, f"{height} px"
    # The steps come first, then the values.
    steps = page.get_by_role("heading", name=words["steps"], exact=True)
    values = page.get_by_role("heading", name=words["values"], exact=True)
    steps_box, values_box = steps.bounding_box(), values.bounding_box()
    assert steps_box is not None
    assert values_box is not None
    assert steps_box["y"] < values_box["y"]
    # Every value a mail app asks for is open on the page, none folded away.
    account = page.locator("section.values table").first
    expect(account.get_by_role("row", name=words["login"])).to_contain_text("jdupont")
    for table, row, value in MAIL_VALUES:
        label = re.compile(rf"^{re.escape(words[row])} ")  # a row is named by its label, then its value
        found = page.get_by_role("table", name=words[table]).get_by_role("row", name=label)
        expect(found.get_by_text(value, exact=True)).to_be_visible()
    # No code shown on the phone's own screen until asked for; then the account code, for another screen.
    assert visible(page.locator("main svg")) == []
    show = page.locator("section.export summary")
    expect(show).to_have_text(words["show"])
    show.click()
    expect(page.locator("section.export figure svg")).to_be_visible()
    expect(page.get_by_text(words["scan"], exact=True)).to_be_visible()
    assert len(visible(page.locator("main svg"))) == 1
    assert no_violation(axe, page) == []


# --- iPhone and iPad: 8 minutes, and one download a page view --------------------------------------------


@pytest.mark.parametrize("window", ["phone", "computer"])
@pytest.mark.parametrize("language", LANGUAGES)
def test_iphone_guide_says_8_minutes_and_downloads_once(
    service: Server, open_session: OpenSession, axe: Axe, language: str, window: str
) -> None:
    page = open_guide(service, open_session, "ios", window, language)
    words = WORDS[language]
    expect(page.get_by_text(words["deadline"], exact=True)).to_be_visible()
    downloads: list[Download] = []
    # Playwright wants a Python function: list.append, a built-in, is refused.
    page.on("download", lambda download: downloads.append(download))  # noqa: PLW0108
    button = page.get_by_role("link", name=words["install"], exact=True)
    with page.expect_download() as started:
        button.click()
    assert started.value.suggested_filename.endswith(".mobileconfig")
    # The button gives way to what to do next, which takes the focus and is announced.
    status = page.locator("#profile-status")
    expect(status).to_contain_text(words["downloaded"])
    expect(status).to_be_focused()
    expect(page.get_by_role("status").filter(has_text=words["downloaded"])).to_have_count(1)
    expect(button).to_be_hidden()
    # A second click, however it comes (the link is hidden, and has no address left), starts nothing.
    page.locator("#profile-download").dispatch_event("click")
    page.locator("#profile-download").evaluate("link => link.click()")
    page.wait_for_timeout(1000)
    assert len(downloads) == 1
    assert no_violation(axe, page) == []


@pytest.mark.parametrize("window", ["phone", "computer"])
def test_iphone_guide_without_javascript_still_downloads(
    service: Server, open_session: OpenSession, window: str
) -> None:
    page = open_guide(service, open_session, "ios", window, "fr", javascript=False)
    expect(page.get_by_text(WORDS["fr"]["deadline"], exact=True)).to_be_visible()
    with page.expect_download() as started:
        page.get_by_role("link", name=WORDS["fr"]["install"], exact=True).click()
    assert started.value.suggested_filename.endswith(".mobileconfig")
    expect(page.locator("#profile-status")).to_have_text("")


# --- Outlook: where the mail and the password go ---------------------------------------------------------


@pytest.mark.parametrize("window", ["phone", "computer"])
@pytest.mark.parametrize("language", LANGUAGES)
def test_outlook_guide_says_where_the_mail_goes(
    service: Server, open_session: OpenSession, language: str, window: str
) -> None:
    page = open_guide(service, open_session, "outlook", window, language)
    words = WORDS[language]
    heading = page.get_by_role("heading", name=words["where"], exact=True)
    heading.scroll_into_view_if_needed()
    expect(heading).to_be_visible()
    where = page.locator("section.steps ul.where li")
    expect(where).to_have_count(3)
    expect(where.nth(1)).to_contain_text(words["cloud"])
    direct = page.get_by_text(words["direct"])
    direct.scroll_into_view_if_needed()
    expect(direct).to_be_visible()
