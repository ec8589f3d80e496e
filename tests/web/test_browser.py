"""The pages in a real browser: Debian's chromium, headless, driven by Playwright, against a real
`python -m autoconfig serve` on loopback.

Every check of what an action changes waits for it with Playwright's `expect(...)`: a value read once,
right after a click, fails on a loaded machine before the page has caught up.

Screenshots go to build/screenshots/ (ignored by git). With UPDATE_SCREENSHOTS=1 the French Android
guide is also written to tests/screenshots/android-guide.png, the one kept in the repository.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Request,
    expect,
    sync_playwright,
)

from tests.helpers.live import Server, serving
from tests.helpers.paths import ROOT

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = ROOT / "build" / "screenshots"
KEPT_SCREENSHOT = ROOT / "tests" / "screenshots" / "android-guide.png"
JEAN = "jean.dupont@ac-paris.fr"
LONG_ADDRESS = "jean-christophe-marie.de-la-fontaine-dupont-durand12@ac-paris.fr"

ANDROID_UA = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Mobile Safari/537.36"
)
WINDOWS_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0"
)
LINUX_UA = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}

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
    },
}
DEVICE_NAMES = {"android": "Android", "outlook": "Outlook", "thunderbird": "Thunderbird"}
BROWSER_LOCALES = {"fr": "fr-FR", "en": "en-GB"}


# --- the service and the browser ------------------------------------------------------------------------


def chromium_path() -> str:
    """Debian's chromium. When it is missing the tests are skipped, except in CI, which installs it."""
    if CHROMIUM.exists():
        return str(CHROMIUM)
    found = shutil.which("chromium")
    if found is not None:
        return found
    reason = "chromium is not installed (Debian: apt-get install chromium; tests/run installs it)"
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI must run the browser tests")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = chromium_path()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="module")
def service(browser: Browser, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`python -m autoconfig serve` with the bundled settings, one worker, on a free loopback port."""
    with serving(tmp_path_factory.mktemp("browser-serve")) as live_server:
        yield live_server


@dataclass
class Session:
    """A browser context and its page, with every request it made and every error it logged."""

    context: BrowserContext
    page: Page
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def foreign_requests(self, origin: str) -> list[str]:
        return [url for url in self.requests if not _same_origin(url, origin)]


def _same_origin(url: str, origin: str) -> bool:
    parts, home = urlsplit(url), urlsplit(origin)
    return (parts.scheme, parts.netloc) == (home.scheme, home.netloc)


@pytest.fixture
def open_session(browser: Browser) -> Iterator[Any]:
    """Open browser contexts (closed after the test): `open_session(viewport, user_agent, ...)`."""
    sessions: list[Session] = []

    def open_one(
        viewport: dict[str, int],
        user_agent: str,
        language: str = "fr",
        javascript: bool = True,
        mobile: bool = False,
    ) -> Session:
        context = browser.new_context(
            viewport={"width": viewport["width"], "height": viewport["height"]},
            user_agent=user_agent,
            locale=BROWSER_LOCALES[language],
            java_script_enabled=javascript,
            is_mobile=mobile,
            has_touch=mobile,
        )
        page = context.new_page()
        session = Session(context, page)

        def on_request(request: Request) -> None:
            session.requests.append(request.url)

        def on_console(message: ConsoleMessage) -> None:
            if message.type in ("error", "warning"):
                session.errors.append(f"console {message.type}: {message.text}")

        def on_page_error(error: Exception) -> None:
            session.errors.append(f"page error: {error}")

        context.on("request", on_request)
        page.on("console", on_console)
        page.on("pageerror", on_page_error)
        sessions.append(session)
        return session

    yield open_one
    for session in sessions:
        session.context.close()


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
    service: Server, open_session: Any, flow: str, language: str
) -> None:
    case = FLOWS[flow]
    session: Session = open_session(case.viewport, case.user_agent, language, mobile=case.mobile)
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


def test_landing_page_screenshots(service: Server, open_session: Any) -> None:
    for name, viewport, user_agent in (("phone", PHONE, ANDROID_UA), ("desktop", DESKTOP, LINUX_UA)):
        session: Session = open_session(viewport, user_agent, "fr", mobile=name == "phone")
        session.page.goto(f"{service.base_url}/")
        save_screenshot(session.page, f"landing-{name}.png", full_page=False)
        assert session.foreign_requests(service.base_url) == []
        assert session.errors == []


def test_unknown_domain_gives_the_form_back_in_the_browser(service: Server, open_session: Any) -> None:
    session: Session = open_session(PHONE, ANDROID_UA, "en", mobile=True)
    page = session.page
    submit_address(page, service.base_url, "jean.dupont@example.com", "en")
    alert = page.get_by_role("alert")
    expect(alert).to_have_text(WORDS["en"]["unknown_domain"], use_inner_text=True)
    expect(alert).to_be_visible()
    expect(page.get_by_label(WORDS["en"]["label"])).to_have_value("jean.dupont@example.com")
    # The only error logged is the browser noting the 404 status of the page itself.
    assert all("404" in error for error in session.errors), session.errors
    assert session.foreign_requests(service.base_url) == []


def test_browser_refuses_a_malformed_address_before_sending(service: Server, open_session: Any) -> None:
    session: Session = open_session(DESKTOP, LINUX_UA, "fr")
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


def test_copy_buttons_appear_with_javascript_and_copy(service: Server, open_session: Any) -> None:
    session: Session = open_session(PHONE, ANDROID_UA, "fr", mobile=True)
    session.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=service.base_url)
    page = session.page
    page.goto(f"{service.base_url}/guide/android?email={JEAN}&lang=fr")
    buttons = page.locator("button.copy")
    expect(buttons).to_have_count(6)
    for index in range(6):
        expect(buttons.nth(index)).to_be_visible()  # copy.js shows them once the page is read
    login = page.locator("tr", has=page.get_by_text("jdupont", exact=True)).locator("button.copy")
    login.click()
    # The label changes once the clipboard has taken the value (an awaited promise), for 2 s.
    expect(login).to_have_text(WORDS["fr"]["copied"], use_inner_text=True)
    assert page.evaluate("navigator.clipboard.readText()") == "jdupont"
    assert session.errors == []


def test_without_javascript_the_values_stay_and_the_buttons_do_not_show(
    service: Server, open_session: Any
) -> None:
    session: Session = open_session(PHONE, ANDROID_UA, "fr", javascript=False, mobile=True)
    page = session.page
    submit_address(page, service.base_url, JEAN, "fr")  # the form needs no script either
    buttons = page.locator("button.copy")
    expect(buttons).to_have_count(6)
    for index in range(6):
        expect(buttons.nth(index)).to_be_hidden()
    tables = settings_shown(page)
    assert tables[WORDS["fr"]["incoming"]] == {
        "Serveur": "imap.ac-paris.fr",
        "Port": "143",
        "Sécurité": "STARTTLS",
    }
    expect(page.get_by_text("jdupont", exact=True)).to_be_visible()
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
def test_no_horizontal_scroll_at_320_pixels(service: Server, open_session: Any, path: str) -> None:
    session: Session = open_session({"width": 320, "height": 640}, ANDROID_UA, "fr", mobile=True)
    page = session.page
    page.goto(f"{service.base_url}{path}")
    widths = page.evaluate(
        "[document.documentElement.scrollWidth, document.body.scrollWidth, window.innerWidth]"
    )
    assert widths[2] == 320
    assert max(widths[0], widths[1]) <= 320, widths


def test_keyboard_focus_is_visible(service: Server, open_session: Any) -> None:
    session: Session = open_session(DESKTOP, LINUX_UA, "en")
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
