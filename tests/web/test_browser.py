"""The pages in a real browser: Debian's chromium, headless, driven by Playwright, against a real
`python -m autoconfig serve` on loopback.

Every check of what an action changes waits for it with Playwright's `expect(...)`: a value read once,
right after a click, fails on a loaded machine before the page has caught up.

Screenshots go to build/screenshots/ (ignored by git). With UPDATE_SCREENSHOTS=1 the French Android
guide is also written to tests/screenshots/android-guide.png, the one kept in the repository.
"""

from __future__ import annotations

import json
import os
import re
import socket
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.helpers.live import Server
from tests.helpers.pages import (
    ANDROID_UA,
    DESKTOP,
    LINUX_UA,
    PHONE,
    OpenSession,
    decode_qr,
)
from tests.helpers.paths import ROOT

SCREENSHOTS = ROOT / "build" / "screenshots"
KEPT_SCREENSHOT = ROOT / "tests" / "screenshots" / "android-guide.png"
JEAN = "jean.dupont@ac-paris.fr"
LONG_ADDRESS = "jean-christophe-marie.de-la-fontaine-dupont-durand12@ac-paris.fr"
WINDOWS_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0"
)
DEVICES = ("ios", "android", "macos", "thunderbird", "outlook", "other")

WORDS: dict[str, dict[str, str]] = {
    "fr": {
        "label": "Votre adresse électronique",
        "submit": "Afficher mes paramètres",
        "login": "Identifiant (nom d'utilisateur)",
        "port": "Port",
        "security": "Sécurité",
        "incoming": "Courrier entrant (IMAP)",
        "copied": "Copié",
        "unknown_domain": "Ce service configure uniquement les adresses en ac-paris.fr.",
        "calendar": "Agenda (CalDAV)",
        "address": "Adresse (URL)",
        "to_help": "Aide et assistance",
        "help": "Aide",
        "copy_login": "Copier : identifiant",
    },
    "en": {
        "label": "Your mail address",
        "submit": "Show my settings",
        "login": "Login (username)",
        "port": "Port",
        "security": "Security",
        "incoming": "Incoming mail (IMAP)",
        "copied": "Copied",
        "unknown_domain": "This service sets up addresses at ac-paris.fr only.",
        "calendar": "Calendar (CalDAV)",
        "address": "Address (URL)",
        "to_help": "Help and helpdesk",
        "help": "Help",
        "copy_login": "Copy: login",
    },
}
DEVICE_NAMES = {"android": "Android", "outlook": "Outlook", "thunderbird": "Thunderbird"}
# The copy buttons of a guide for the bundled settings, by accessible name (see test_guides.py).
COPY_NAMES = {
    "fr": [
        "Copier : adresse électronique",
        "Copier : identifiant",
        "Copier : serveur IMAP",
        "Copier : port IMAP",
        "Copier : serveur SMTP",
        "Copier : port SMTP",
        "Copier : adresse de l'agenda",
        "Copier : identifiant de l'agenda",
        "Copier : serveur de l'annuaire",
        "Copier : port de l'annuaire",
        "Copier : nom distinct de base",
    ],
    "en": [
        "Copy: mail address",
        "Copy: login",
        "Copy: IMAP server",
        "Copy: IMAP port",
        "Copy: SMTP server",
        "Copy: SMTP port",
        "Copy: calendar address",
        "Copy: calendar login",
        "Copy: directory server",
        "Copy: directory port",
        "Copy: base DN",
    ],
}
# The smallest target a finger can hit reliably, in CSS pixels (WCAG 2.5.5).
TARGET = 44
# Jean's account as Thunderbird desktop 140 exports it for Thunderbird for Android (../shared/CLIENTS.md).
JEAN_EXPORT = (
    '[1,[1,1],[0,"imap.ac-paris.fr",143,2,1,"jdupont","jean.dupont@ac-paris.fr",""],'
    '[[[0,"smtp.ac-paris.fr",587,2,1,"jdupont",""],["jean.dupont@ac-paris.fr","Jean Dupont"]]]]'
)


# --- the service and the browser ------------------------------------------------------------------------


def settings_shown(page: Page) -> dict[str, dict[str, str]]:
    """The settings tables as rendered (innerText: what is on screen), caption -> {label: value}."""
    expect(page.locator("section.values table").first).to_be_visible()
    tables: dict[str, dict[str, str]] = page.eval_on_selector_all(
        "section.values table",
        """tables => Object.fromEntries(tables.map(t => [
            t.caption.innerText.trim(),
            Object.fromEntries([...t.querySelectorAll("tr")].map(r => [
                r.querySelector("th").innerText.trim(), r.querySelector("td span").innerText.trim()
            ]))
        ]))""",
    )
    return tables


def submit_address(page: Page, origin: str, address: str, language: str) -> None:
    """Open the landing page, type the address into the labelled field, press the button."""
    page.goto(f"{origin}/")
    expect(page.locator("html")).to_have_attribute("lang", language)
    field = page.get_by_label(WORDS[language]["label"])
    field.click()
    page.keyboard.type(address)
    with page.expect_navigation():
        page.get_by_role("button", name=WORDS[language]["submit"]).click()


def save_screenshot(page: Page, name: str, full_page: bool) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / name
    page.screenshot(path=str(path), full_page=full_page)
    assert path.stat().st_size > 10_000
    return path


# --- from the landing page to the guide ------------------------------------------------------------------


@dataclass(frozen=True)
class Flow:
    viewport: dict[str, int]
    user_agent: str
    mobile: bool
    device: str  # the guide the User-Agent leads to


FLOWS = {
    "android": Flow(PHONE, ANDROID_UA, True, "android"),
    "windows": Flow(DESKTOP, WINDOWS_UA, False, "outlook"),
    "linux": Flow(DESKTOP, LINUX_UA, False, "thunderbird"),
}


@pytest.mark.parametrize(
    ("flow", "language"), [("android", "fr"), ("android", "en"), ("windows", "fr"), ("linux", "en")]
)
def test_landing_form_leads_to_the_guide(
    service: Server, open_session: OpenSession, flow: str, language: str
) -> None:
    case = FLOWS[flow]
    session = open_session(case.viewport, case.user_agent, language, mobile=case.mobile)
    page = session.page
    submit_address(page, service.base_url, JEAN, language)

    expect(page).to_have_url(re.compile(r"/guide\?"))
    url = urlsplit(page.url)
    assert url.path == "/guide"
    assert parse_qs(url.query) == {"email": [JEAN], "lang": [language]}
    expect(page.locator("html")).to_have_attribute("lang", language)
    current = page.locator("nav.devices a[aria-current='page']")
    expect(current).to_have_text(DEVICE_NAMES[case.device], use_inner_text=True)

    words = WORDS[language]
    tables = settings_shown(page)
    account = next(iter(tables.values()))
    assert account[words["login"]] == "jdupont"
    assert tables[words["incoming"]][words["port"]] == "143"
    assert tables[words["incoming"]][words["security"]] == "STARTTLS"
    for value in ("jdupont", "143", "STARTTLS"):
        expect(page.get_by_text(value, exact=True).first).to_be_visible()

    # Everything came from the service itself, and nothing went wrong on the way.
    assert f"{service.base_url}/static/style.css" in session.requests
    assert f"{service.base_url}/static/copy.js" in session.requests
    assert session.foreign_requests(service.base_url) == []
    assert session.errors == []
    # The QR code is drawn inline (no image request for it), and shown on wide screens only: on the
    # phone itself "continue on your phone" has nothing to offer.
    qr = page.locator("section.qr svg")
    expect(qr).to_have_count(1)
    if case.viewport["width"] > 640:
        expect(qr).to_be_visible()
    else:
        expect(qr).to_be_hidden()

    if case.device == "android":
        save_screenshot(page, f"android-guide-{language}.png", full_page=True)
        if language == "fr" and os.environ.get("UPDATE_SCREENSHOTS") == "1":
            KEPT_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(KEPT_SCREENSHOT), full_page=True)
    else:
        save_screenshot(page, f"desktop-{flow}-guide-{language}.png", full_page=False)


def test_landing_page_screenshots(service: Server, open_session: OpenSession) -> None:
    for name, viewport, user_agent in (("phone", PHONE, ANDROID_UA), ("desktop", DESKTOP, LINUX_UA)):
        session = open_session(viewport, user_agent, "fr", mobile=name == "phone")
        session.page.goto(f"{service.base_url}/")
        save_screenshot(session.page, f"landing-{name}.png", full_page=False)
        assert session.foreign_requests(service.base_url) == []
        assert session.errors == []


def test_unknown_domain_gives_the_form_back_in_the_browser(
    service: Server, open_session: OpenSession
) -> None:
    session = open_session(PHONE, ANDROID_UA, "en", mobile=True)
    page = session.page
    submit_address(page, service.base_url, "jean.dupont@example.com", "en")
    alert = page.get_by_role("alert")
    expect(alert).to_have_text(WORDS["en"]["unknown_domain"], use_inner_text=True)
    expect(alert).to_be_visible()
    expect(page.get_by_label(WORDS["en"]["label"])).to_have_value("jean.dupont@example.com")
    # The only error logged is the browser noting the 404 status of the page itself.
    assert all("404" in error for error in session.errors), session.errors
    assert session.foreign_requests(service.base_url) == []


def test_browser_refuses_a_malformed_address_before_sending(
    service: Server, open_session: OpenSession
) -> None:
    session = open_session(DESKTOP, LINUX_UA, "fr")
    page = session.page
    page.goto(f"{service.base_url}/")
    page.get_by_label(WORDS["fr"]["label"]).fill("pas une adresse")
    page.get_by_role("button", name=WORDS["fr"]["submit"]).click()
    # Nothing to wait for here but time: a form sent anyway would be leaving within it.
    page.wait_for_timeout(200)
    assert urlsplit(page.url).path == "/"
    # The browser's own check, which stopped the form: set as the field was filled, before the click.
    assert page.eval_on_selector("#email", "e => e.validity.typeMismatch") is True


# --- copy buttons: with and without JavaScript ----------------------------------------------------------


@pytest.mark.parametrize("language", ["fr", "en"])
def test_copy_buttons_appear_with_javascript_and_copy(
    service: Server, open_session: OpenSession, language: str
) -> None:
    session = open_session(PHONE, ANDROID_UA, language, mobile=True)
    session.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=service.base_url)
    page = session.page
    page.goto(f"{service.base_url}/guide/android?email={JEAN}&lang={language}")
    # On the Android phone the calendar and the directory are folded under their summary: opened here.
    page.locator("details.fold > summary").click()
    buttons = page.locator("button.copy")
    expect(buttons).to_have_count(len(COPY_NAMES[language]))
    for index in range(len(COPY_NAMES[language])):
        expect(buttons.nth(index)).to_be_visible()  # copy.js shows them once the page is read
    status = page.get_by_role("status")
    expect(status).to_have_attribute("aria-live", "polite")
    expect(status).to_have_text("")
    login = page.get_by_role("button", name=WORDS[language]["copy_login"], exact=True)
    login.click()
    # The label changes once the clipboard has taken the value (an awaited promise), for 2 s; the live
    # region says it for screen readers, and keeps saying it.
    expect(login).to_have_text(WORDS[language]["copied"], use_inner_text=True)
    expect(status).to_have_text(WORDS[language]["copied"])
    assert page.evaluate("navigator.clipboard.readText()") == "jdupont"
    # The accessible name still names the value while the label says "Copied".
    expect(login).to_have_accessible_name(WORDS[language]["copy_login"])
    assert session.errors == []


def test_without_javascript_the_values_stay_and_the_buttons_do_not_show(
    service: Server, open_session: OpenSession
) -> None:
    session = open_session(PHONE, ANDROID_UA, "fr", javascript=False, mobile=True)
    page = session.page
    submit_address(page, service.base_url, JEAN, "fr")  # the form needs no script either
    buttons = page.locator("button.copy")
    expect(buttons).to_have_count(len(COPY_NAMES["fr"]))
    for index in range(len(COPY_NAMES["fr"])):
        expect(buttons.nth(index)).to_be_hidden()
    tables = settings_shown(page)
    assert tables[WORDS["fr"]["incoming"]] == {
        "Serveur": "imap.ac-paris.fr",
        "Port": "143",
        "Sécurité": "STARTTLS",
    }
    expect(page.locator("section.values").get_by_text("jdupont", exact=True)).to_be_visible()
    assert f"{service.base_url}/static/copy.js" not in session.requests
    save_screenshot(page, "android-guide-fr-no-javascript.png", full_page=True)


# --- layout and keyboard --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/",
        f"/guide/android?email={JEAN}",
        f"/guide/thunderbird?email={JEAN}",
        f"/guide/ios?email={LONG_ADDRESS}",
        f"/guide/other?email={LONG_ADDRESS}",
        f"/guide?email={'x' * 80}@example.com",
    ],
)
def test_no_horizontal_scroll_at_320_pixels(service: Server, open_session: OpenSession, path: str) -> None:
    session = open_session({"width": 320, "height": 640}, ANDROID_UA, "fr", mobile=True)
    page = session.page
    page.goto(f"{service.base_url}{path}")
    widths = page.evaluate(
        "[document.documentElement.scrollWidth, document.body.scrollWidth, window.innerWidth]"
    )
    assert widths[2] == 320
    assert max(widths[0], widths[1]) <= 320, widths


def test_keyboard_focus_is_visible(service: Server, open_session: OpenSession) -> None:
    session = open_session(DESKTOP, LINUX_UA, "en")
    page = session.page
    page.goto(f"{service.base_url}/")
    # The first Tab reaches the skip link, which then shows.
    page.keyboard.press("Tab")
    focused = page.locator(":focus")
    expect(focused).to_have_class("skip")
    skip = page.locator("a.skip")
    expect(skip).to_be_in_viewport()
    box = skip.bounding_box()
    assert box is not None
    assert box["x"] >= 0
    assert box["y"] >= 0
    for _ in range(10):
        if page.evaluate("document.activeElement.id") == "email":
            break
        page.keyboard.press("Tab")
    expect(focused).to_have_id("email")
    expect(focused).not_to_have_css("outline-style", "none")
    expect(focused).not_to_have_css("outline-width", re.compile(r"^(0px)?$"))
    page.keyboard.press("Tab")
    expect(focused).to_have_js_property("type", "submit")
    expect(focused).not_to_have_css("outline-style", "none")


# --- the real server's own guards ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    ["/static/../autoconfig/web/app.py", "/static/%2e%2e/autoconfig/web/app.py", "/static/../../etc/passwd"],
)
def test_real_server_keeps_static_files_in_their_folder(service: Server, target: str) -> None:
    port = urlsplit(service.base_url).port
    assert port is not None
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(
            f"GET {target} HTTP/1.1\r\nHost: autoconfig.ac-paris.fr\r\nConnection: close\r\n\r\n".encode()
        )
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 404 "), answer[:100]
    assert b"create_app" not in answer
    assert b"root:" not in answer


# --- the QR codes, read back by a real decoder ---------------------------------------------------------


def decode_element(locator: Locator, name: str) -> str:
    """Photograph one element as the browser draws it, and read the QR code in the picture."""
    expect(locator).to_be_visible()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    picture = SCREENSHOTS / name
    locator.screenshot(path=str(picture))
    return decode_qr(picture)


def test_android_guide_code_is_the_account_thunderbird_for_android_imports(
    service: Server, open_session: OpenSession
) -> None:
    # A computer's window: the person scans the code on its screen with the phone.
    session = open_session(DESKTOP, LINUX_UA, "fr")
    page = session.page
    page.goto(f"{service.base_url}/guide/android?email={JEAN}&lang=fr")
    text = decode_element(page.locator("section.export figure svg"), "android-export-code.png")
    assert text == JEAN_EXPORT
    # Field by field, as Thunderbird desktop writes format version 1 (QRExport.sys.mjs).
    version, part, incoming, outgoing_groups = json.loads(text)
    assert version == 1
    assert part == [1, 1]  # the first and only code
    protocol, host, port, socket_type, auth, username, account_name, password = incoming
    assert (protocol, host, port) == (0, "imap.ac-paris.fr", 143)  # IMAP
    assert socket_type == 2  # STARTTLS
    assert auth == 1  # password-cleartext: a normal password
    assert username == "jdupont"  # the login from the rule, not the address's local part
    assert account_name == JEAN
    assert password == ""  # no password: the app asks for it
    ((outgoing, identity),) = outgoing_groups
    assert outgoing == [0, "smtp.ac-paris.fr", 587, 2, 1, "jdupont", ""]
    assert identity == [JEAN, "Jean Dupont"]
    assert session.errors == []


@pytest.mark.parametrize("device", ["thunderbird", "outlook", "macos"])
def test_desktop_guide_code_opens_the_phones_own_guide_here(
    service: Server, open_session: OpenSession, device: str
) -> None:
    session = open_session(DESKTOP, LINUX_UA, "en")
    page = session.page
    page.goto(f"{service.base_url}/guide/{device}?email={JEAN}&lang=en")
    url = urlsplit(decode_element(page.locator("section.qr figure svg"), f"phone-code-{device}.png"))
    # The host the page came from (a local trial has no public name), and /guide: there the phone's own
    # browser picks its guide, whatever this computer's is.
    assert f"{url.scheme}://{url.netloc}" == service.base_url
    assert url.path == "/guide"
    assert parse_qs(url.query) == {"email": [JEAN], "lang": ["en"]}
    # And it does: a phone opening that address lands on the Android guide.
    phone = open_session(PHONE, ANDROID_UA, "en", mobile=True).page
    phone.goto(url.geturl())
    expect(phone.locator("nav.devices a[aria-current='page']")).to_have_text("Android", use_inner_text=True)


# --- the calendar and the directory, on every guide, on a phone --------------------------------------------


@pytest.mark.parametrize("language", ["fr", "en"])
@pytest.mark.parametrize("device", DEVICES)
def test_every_guide_shows_the_calendar_on_a_phone(
    service: Server, open_session: OpenSession, device: str, language: str
) -> None:
    session = open_session(PHONE, ANDROID_UA, language, mobile=True)
    page = session.page
    page.goto(f"{service.base_url}/guide/{device}?email={JEAN}&lang={language}")
    if device == "android":
        # Read on the Android phone itself, the calendar (which needs DAVx⁵) is one tap away, folded so
        # that the mail's steps and values come first (issue 20).
        fold = page.locator("details.fold > summary")
        expect(fold).to_be_visible()
        fold.click()
    calendar = page.get_by_role("table", name=WORDS[language]["calendar"])
    calendar.scroll_into_view_if_needed()
    expect(calendar).to_be_visible()
    address = calendar.get_by_role("row", name=WORDS[language]["address"])
    expect(address).to_contain_text("https://agenda.ac-paris.fr/dav/")
    login = calendar.get_by_role("row", name=WORDS[language]["login"])
    expect(login).to_contain_text("jdupont")
    expect(login.get_by_text("jdupont", exact=True)).to_be_in_viewport()
    assert session.errors == []


# --- what item 7 of the issue fixes: names, targets, help, the hint ----------------------------------------


@pytest.mark.parametrize("language", ["fr", "en"])
def test_every_copy_button_has_its_own_name(
    service: Server, open_session: OpenSession, language: str
) -> None:
    page = open_session(DESKTOP, LINUX_UA, language).page
    page.goto(f"{service.base_url}/guide/thunderbird?email={JEAN}&lang={language}")
    names = COPY_NAMES[language]
    expect(page.get_by_role("button", name=re.compile(r"^Cop"))).to_have_count(len(names))
    for name in names:
        # Exactly one button answers to each name: none is ambiguous for a screen reader.
        expect(page.get_by_role("button", name=name, exact=True)).to_have_count(1)
    assert len(set(names)) == len(names)


def too_small(targets: Locator) -> list[tuple[str, float, float]]:
    """The targets (visible ones) smaller than 44 by 44 CSS px: their text and size."""
    small: list[tuple[str, float, float]] = []
    for index in range(targets.count()):
        target = targets.nth(index)
        if not target.is_visible():
            continue
        box = target.bounding_box()
        assert box is not None
        if box["width"] < TARGET or box["height"] < TARGET:
            small.append((target.inner_text(), box["width"], box["height"]))
    return small


@pytest.mark.parametrize("path", ["/", f"/guide/android?email={JEAN}", f"/guide/ios?email={JEAN}"])
def test_targets_are_at_least_44_pixels(service: Server, open_session: OpenSession, path: str) -> None:
    page = open_session(PHONE, ANDROID_UA, "fr", mobile=True).page
    page.goto(f"{service.base_url}{path}")
    targets = {
        "buttons": page.locator("main button, main a.button"),
        "device links": page.locator("nav.devices a"),
        "language links": page.locator("nav.languages a"),
        "help link": page.locator("header a.to-help"),
        "footer links": page.locator("footer li a"),
    }
    if path != "/":
        expect(page.locator("button.copy").first).to_be_visible()  # copy.js has shown them
        expect(targets["device links"]).to_have_count(len(DEVICES))
    expect(targets["language links"]).to_have_count(2)
    expect(targets["help link"]).to_have_count(1)
    assert targets["buttons"].count() > 0
    assert {what: too_small(found) for what, found in targets.items()} == {what: [] for what in targets}


@pytest.mark.parametrize("language", ["fr", "en"])
def test_help_is_one_tap_from_the_top_on_a_phone(
    service: Server, open_session: OpenSession, language: str
) -> None:
    page = open_session(PHONE, ANDROID_UA, language, mobile=True).page
    page.goto(f"{service.base_url}/guide/android?email={JEAN}&lang={language}")
    link = page.get_by_role("link", name=WORDS[language]["to_help"])
    expect(link).to_be_in_viewport()
    help_block = page.get_by_role("heading", name=WORDS[language]["help"], exact=True)
    expect(help_block).not_to_be_in_viewport()  # far below, on a long page
    link.click()
    expect(page).to_have_url(re.compile(r"#help$"))
    expect(help_block).to_be_in_viewport()
    expect(page.get_by_role("link", name="+33 1 44 62 40 40")).to_have_attribute("href", "tel:+33144624040")
