"""What the browser tests share: one Chromium and one `autoconfig serve` for the whole run (each start
costs a second or two, and no browser test changes the service), a fresh browser context per session
opened, and axe-core."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from axe_playwright_python.sync_playwright import Axe  # type: ignore[import-untyped]
from playwright.sync_api import Browser

from tests.helpers.live import Server, serving
from tests.helpers.pages import OpenSession, browser_sessions, chromium


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture(scope="session")
def service(browser: Browser, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`python -m autoconfig serve` with the bundled settings, one worker, on a free loopback port."""
    with serving(tmp_path_factory.mktemp("browser-serve")) as live_server:
        yield live_server


@pytest.fixture
def open_session(browser: Browser) -> Iterator[OpenSession]:
    with browser_sessions(browser) as open_one:
        yield open_one


@pytest.fixture(scope="session")
def axe() -> Axe:
    return Axe()
