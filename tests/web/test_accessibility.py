"""An accessibility audit in the real browser: axe-core (bundled with axe-playwright-python) run in
Debian's chromium against a real `python -m autoconfig serve`, on the landing page and every guide, in
French and English, on a phone and on a computer. No rule is switched off, and one is switched on:
target-size (WCAG 2.2), which axe leaves out of a default run.

The pages keep their Content-Security-Policy: Playwright's evaluate() runs axe through the DevTools
protocol, which the policy does not govern, so nothing is loosened for the audit.
"""

from __future__ import annotations

from typing import Any

import pytest

# The package ships no type information (no py.typed): its Axe is Any to mypy.
from axe_playwright_python.sync_playwright import Axe  # type: ignore[import-untyped]
from playwright.sync_api import Page, expect

from tests.helpers.live import Server
from tests.helpers.pages import (
    ANDROID_UA,
    DESKTOP,
    LINUX_UA,
    PHONE,
    OpenSession,
)

JEAN = "jean.dupont@ac-paris.fr"
PAGES = [
    "/",
    *[
        f"/guide/{device}?email={JEAN}"
        for device in ("ios", "android", "macos", "thunderbird", "outlook", "other")
    ],
    # The form again with its error announced, and a guide without the Android code.
    "/guide?email=jdupont",
    "/guide/android?email=élodie.mérand@ac-paris.fr",
    # The warning above the values of an address without the form, and "did you mean" with its link.
    "/guide/thunderbird?email=jdupont@ac-paris.fr",
    "/guide?email=marie.curie@ac-pari.fr",
]
WINDOWS = {"phone": (PHONE, ANDROID_UA, True), "computer": (DESKTOP, LINUX_UA, False)}


# Only violations come back (passes would only make the answer bigger); target-size joins the default rules.
OPTIONS = {"resultTypes": ["violations"], "rules": {"target-size": {"enabled": True}}}


def audit(axe: Axe, page: Page) -> list[dict[str, Any]]:
    """axe-core's violations on the page as it stands."""
    results = axe.run(page, options=OPTIONS)
    violations: list[dict[str, Any]] = results.response["violations"]
    return violations


def summary(violations: list[dict[str, Any]]) -> list[str]:
    """One line a violated rule: its id, what it asks, and where (the first few elements)."""
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes'][:3]]}"
        for v in violations
    ]


@pytest.mark.parametrize("window", list(WINDOWS))
@pytest.mark.parametrize("language", ["fr", "en"])
@pytest.mark.parametrize("path", PAGES)
def test_no_accessibility_violation(
    service: Server, open_session: OpenSession, axe: Axe, *, path: str, language: str, window: str
) -> None:
    viewport, user_agent, mobile = WINDOWS[window]
    session = open_session(viewport, user_agent, language, mobile=mobile)
    page = session.page
    separator = "&" if "?" in path else "?"
    page.goto(f"{service.base_url}{path}{separator}lang={language}")
    expect(page.locator("html")).to_have_attribute("lang", language)
    if "email=jean" in path:
        expect(page.locator("button.copy").first).to_be_visible()  # audited as people meet it, scripted
    assert summary(audit(axe, page)) == []
    # The audit ran in the page as served: nothing loaded from elsewhere, no error in the console.
    assert session.foreign_requests(service.base_url) == []
    # (The error pages' own status, 400 or 404, is what the browser logs for them.)
    assert [e for e in session.errors if "status of 400" not in e and "status of 404" not in e] == []


# A login gets the hint that quotes it and shows the address form; a name without its domain, the other.
@pytest.mark.parametrize("shown", [("jdupont", "#email-login"), ("jean.dupont", "#email-domain")])
@pytest.mark.parametrize("language", ["fr", "en"])
def test_no_violation_with_the_address_hint_shown(
    service: Server, open_session: OpenSession, axe: Axe, language: str, shown: tuple[str, str]
) -> None:
    typed, hint = shown
    page = open_session(PHONE, ANDROID_UA, language, mobile=True).page
    page.goto(f"{service.base_url}/?lang={language}")
    page.locator("#email").fill(typed)
    page.locator("#email").blur()
    expect(page.locator(hint)).to_be_visible()
    assert summary(audit(axe, page)) == []


def test_the_audit_finds_what_it_should(service: Server, open_session: OpenSession, axe: Axe) -> None:
    # An audit that never fails proves nothing: break one thing on purpose and see it named.
    page = open_session(DESKTOP, LINUX_UA, "en").page
    page.goto(f"{service.base_url}/guide/thunderbird?email={JEAN}&lang=en")
    expect(page.locator("button.copy").first).to_be_visible()
    page.eval_on_selector("button.copy", "b => { b.removeAttribute('aria-label'); b.textContent = ''; }")
    assert [v["id"] for v in audit(axe, page)] == ["button-name"]
