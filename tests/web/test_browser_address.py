"""The address form in a real browser (Debian's chromium through Playwright, against a real
`python -m autoconfig serve` on loopback), in both languages, on a phone and on a computer: the hint for
a bare login, the warning on a guide for an address without the Académie's form, "did you mean" for a
mistyped domain, and the profile's errors in the visitor's language.

Every check of what an action changes waits for it with Playwright's `expect(...)`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Page, expect

from tests.helpers.live import Server
from tests.helpers.pages import (
    ANDROID_UA,
    DESKTOP,
    LINUX_UA,
    PHONE,
    OpenSession,
)

WORDS: dict[str, dict[str, str]] = {
    "fr": {
        "label": "Votre adresse électronique",
        "submit": "Afficher mes paramètres",
        "login_hint": (
            "« {typed} » ressemble à un identifiant, pas à une adresse : votre adresse est de la forme "
            "prénom.nom@ac-paris.fr, par exemple jean.dupont@ac-paris.fr."
        ),
        "domain_hint": (
            "Saisissez votre adresse électronique entière, avec @ac-paris.fr à la fin : "
            "par exemple jean.dupont@ac-paris.fr."
        ),
        "off_form": (
            "Cette adresse n'a pas la forme prénom.nom@ac-paris.fr : vérifiez-la avant de continuer. "
            "Une boîte partagée ou de service peut avoir une autre forme."
        ),
        "unknown_domain": "Ce service configure uniquement les adresses en ac-paris.fr.",
        "did_you_mean": "Vouliez-vous dire {address} ?",
        "login": "Identifiant (nom d'utilisateur)",
    },
    "en": {
        "label": "Your mail address",
        "submit": "Show my settings",
        "login_hint": (
            "“{typed}” looks like a login, not an address: your address has the form "
            "firstname.lastname@ac-paris.fr, for example jean.dupont@ac-paris.fr."
        ),
        "domain_hint": (
            "Type your whole mail address, with @ac-paris.fr at the end: for example jean.dupont@ac-paris.fr."
        ),
        "off_form": (
            "This address does not have the form firstname.lastname@ac-paris.fr: check it before you "
            "continue. A shared or service mailbox may have another form."
        ),
        "unknown_domain": "This service sets up addresses at ac-paris.fr only.",
        "did_you_mean": "Did you mean {address}?",
        "login": "Login (username)",
    },
}


@dataclass(frozen=True)
class Screen:
    viewport: dict[str, int]
    user_agent: str
    mobile: bool


SCREENS = {"phone": Screen(PHONE, ANDROID_UA, True), "desktop": Screen(DESKTOP, LINUX_UA, False)}
EVERY = [(screen, language) for screen in SCREENS for language in ("fr", "en")]


def open_page(open_session: OpenSession, screen: str, language: str, javascript: bool = True) -> Page:
    case = SCREENS[screen]
    return open_session(
        case.viewport, case.user_agent, language, javascript=javascript, mobile=case.mobile
    ).page


def type_address(page: Page, origin: str, address: str, language: str) -> None:
    page.goto(f"{origin}/?lang={language}")
    field = page.get_by_label(WORDS[language]["label"])
    field.click()
    page.keyboard.type(address)


def no_address_made_of(page: Page, typed: str) -> None:
    """Nothing on the page, nor in the field's own message, makes the typed text into an address."""
    shown = page.locator("body").inner_text()
    message = page.eval_on_selector("#email", "e => e.validationMessage")
    for text in (shown, message):
        assert f"{typed}@" not in text.lower(), text


# --- the hint for a bare login ---------------------------------------------------------------------------


@pytest.mark.parametrize(("screen", "language"), EVERY)
def test_a_bare_login_gets_the_providers_form_and_example(
    service: Server, open_session: OpenSession, screen: str, language: str
) -> None:
    page = open_page(open_session, screen, language)
    type_address(page, service.base_url, "jdupont", language)
    hint = page.locator("#email-login")
    expect(hint).to_be_hidden()  # not while typing: when the person leaves the field, or sends
    page.get_by_role("button", name=WORDS[language]["submit"]).click()
    says = WORDS[language]["login_hint"].format(typed="jdupont")
    expect(hint).to_be_visible()
    expect(hint).to_have_text(says)
    expect(page.locator("#email-domain")).to_be_hidden()
    field = page.get_by_label(WORDS[language]["label"])
    expect(field).to_have_accessible_description(re.compile(re.escape(says)))
    # The browser kept the form, and says the same words in its own bubble.
    assert urlsplit(page.url).path == "/"
    assert page.eval_on_selector("#email", "e => e.validationMessage") == says
    no_address_made_of(page, "jdupont")
    # The "@" typed, the hint goes.
    field.press("End")
    page.keyboard.type("@ac-paris.fr")
    expect(hint).to_be_hidden()
    assert page.eval_on_selector("#email", "e => e.validity.valid") is True


@pytest.mark.parametrize("language", ["fr", "en"])
def test_the_typed_login_is_quoted_as_text(service: Server, open_session: OpenSession, language: str) -> None:
    # Letters of any script look like a login; markup does not, and is never put in the hint.
    page = open_page(open_session, "desktop", language)
    type_address(page, service.base_url, "Élodie", language)
    page.get_by_label(WORDS[language]["label"]).blur()
    expect(page.locator("#email-login")).to_have_text(WORDS[language]["login_hint"].format(typed="Élodie"))
    page.get_by_label(WORDS[language]["label"]).fill("<b>x</b>")
    page.get_by_label(WORDS[language]["label"]).blur()
    expect(page.locator("#email-login")).to_be_hidden()
    expect(page.locator("#email-domain")).to_have_text(WORDS[language]["domain_hint"])
    assert page.locator("#email-login b, #email-domain b").count() == 0


@pytest.mark.parametrize(("screen", "language"), EVERY)
def test_a_name_of_the_form_gets_the_domain_hint(
    service: Server, open_session: OpenSession, screen: str, language: str
) -> None:
    page = open_page(open_session, screen, language)
    type_address(page, service.base_url, "jean.dupont", language)
    page.get_by_role("button", name=WORDS[language]["submit"]).click()
    hint = page.locator("#email-domain")
    expect(hint).to_be_visible()
    expect(hint).to_have_text(WORDS[language]["domain_hint"])
    expect(page.locator("#email-login")).to_be_hidden()


@pytest.mark.parametrize(("screen", "language"), EVERY)
def test_without_javascript_the_server_quotes_the_login(
    service: Server, open_session: OpenSession, screen: str, language: str
) -> None:
    page = open_page(open_session, screen, language, javascript=False)
    page.goto(f"{service.base_url}/guide?email=marie&lang={language}")
    alert = page.get_by_role("alert")
    expect(alert).to_have_text(WORDS[language]["login_hint"].format(typed="marie"), use_inner_text=True)
    expect(page.get_by_label(WORDS[language]["label"])).to_have_value("marie")
    no_address_made_of(page, "marie")


# --- the warning on a guide -------------------------------------------------------------------------------


def submit(page: Page, language: str) -> None:
    with page.expect_navigation():
        page.get_by_role("button", name=WORDS[language]["submit"]).click()


@pytest.mark.parametrize(("screen", "language"), EVERY)
def test_a_login_shaped_address_gets_the_guide_with_a_warning_first(
    service: Server, open_session: OpenSession, screen: str, language: str
) -> None:
    page = open_page(open_session, screen, language)
    type_address(page, service.base_url, "jdupont@ac-paris.fr", language)
    submit(page, language)
    assert urlsplit(page.url).path == "/guide"
    warning = page.locator("#off-form")
    expect(warning).to_have_text(WORDS[language]["off_form"])
    # Seen first: on the screen as the page opens, above the first value to copy or code to scan.
    expect(warning).to_be_in_viewport()
    first_value = page.locator("section.values table, figure").first
    expect(first_value).to_be_attached()
    warning_box, value_box = warning.bounding_box(), first_value.bounding_box()
    assert warning_box is not None
    assert value_box is not None
    assert warning_box["y"] + warning_box["height"] <= value_box["y"]
    # The guide is all there, as for any address.
    expect(page.get_by_text("jdupont", exact=True).first).to_be_attached()


@pytest.mark.parametrize(("screen", "language"), EVERY)
def test_an_address_of_the_form_gets_no_warning(
    service: Server, open_session: OpenSession, screen: str, language: str
) -> None:
    page = open_page(open_session, screen, language)
    type_address(page, service.base_url, "jean-pierre.dupont2@ac-paris.fr", language)
    submit(page, language)
    expect(page.locator("section.values table").first).to_be_attached()
    expect(page.locator("#off-form")).to_have_count(0)


# --- did you mean -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("screen", "language"), EVERY)
def test_a_mistyped_domain_offers_the_right_address(
    service: Server, open_session: OpenSession, screen: str, language: str
) -> None:
    page = open_page(open_session, screen, language)
    type_address(page, service.base_url, "jean.dupont@ac-pari.fr", language)
    submit(page, language)
    expect(page.get_by_role("alert")).to_have_text(WORDS[language]["unknown_domain"], use_inner_text=True)
    suggestion = page.locator("#email-suggestion")
    expect(suggestion).to_have_text(WORDS[language]["did_you_mean"].format(address="jean.dupont@ac-paris.fr"))
    link = page.get_by_role("link", name="jean.dupont@ac-paris.fr")
    with page.expect_navigation():
        link.click()
    url = urlsplit(page.url)
    assert url.path == "/guide"
    assert parse_qs(url.query) == {"email": ["jean.dupont@ac-paris.fr"], "lang": [language]}
    expect(page.locator("section.values table").first).to_be_attached()


# --- the profile's errors ---------------------------------------------------------------------------------

PROFILE_ERRORS = {
    "fr": {
        "x@ac-pari.fr": "Ce service configure uniquement les adresses en ac-paris.fr.",
        "jean dupont@ac-paris.fr": "Ce n'est pas une adresse électronique valide : vérifiez-la et réessayez.",
        "": "Ajoutez ?email= suivi de votre adresse électronique.",
    },
    "en": {
        "x@ac-pari.fr": "This service sets up addresses at ac-paris.fr only.",
        "jean dupont@ac-paris.fr": "The address holds spaces, line breaks or control characters.",
        "": "Add ?email= with your mail address.",
    },
}


@pytest.mark.parametrize(("screen", "language"), EVERY)
def test_profile_errors_are_in_the_browsers_language(
    service: Server, open_session: OpenSession, screen: str, language: str
) -> None:
    # The browser's own Accept-Language (its locale), no ?lang=: what a link copied elsewhere meets.
    page = open_page(open_session, screen, language)
    for address, says in PROFILE_ERRORS[language].items():
        response = page.goto(f"{service.base_url}/profile.mobileconfig?email={address}")
        assert response is not None
        assert response.status in (400, 404)
        assert response.headers["content-language"] == language
        assert " ".join(page.locator("body").inner_text().split()) == says
