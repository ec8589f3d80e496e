"""What the browser modules share: a Chromium and an `autoconfig serve` per module, a fresh browser
context per session opened, and axe-core. Per module, not per run: Playwright's synchronous API keeps an
event loop running in the main thread while the browser lives, and tests of other modules that call
asyncio.run() would fail under it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from axe_playwright_python.sync_playwright import Axe  # type: ignore[import-untyped]
from playwright.sync_api import Browser

from tests.helpers.live import Server, serving
from tests.helpers.pages import OpenSession, browser_sessions, chromium


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture(scope="module")
def service(browser: Browser, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`python -m autoconfig serve` with the bundled settings, one worker, on a free loopback port."""
    with serving(tmp_path_factory.mktemp("browser-serve")) as live_server:
        yield live_server


@pytest.fixture
def open_session(browser: Browser) -> Iterator[OpenSession]:
    with browser_sessions(browser) as open_one:
        yield open_one


@pytest.fixture(scope="module")
def axe() -> Axe:
    return Axe()
