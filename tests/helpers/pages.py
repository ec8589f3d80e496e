"""The browsers the pages meet: their User-Agent strings, a real one (Debian's chromium driven by
Playwright) with its sessions, reading a QR code back from its SVG, and decoding a picture of one."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import segno
from lxml import etree
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, Request, sync_playwright

from autoconfig.web.pages import Device
from tests.helpers.ci import missing

# Real User-Agent strings, as the browsers and robots send them.
USER_AGENTS: list[tuple[str, Device]] = [
    # iPhone, iPad (iPadOS 12 and older say iPad), iPod; every browser on iOS is Safari underneath.
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.5 Mobile/15E148 Safari/604.1",
        "ios",
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "CriOS/126.0.6478.54 Mobile/15E148 Safari/604.1",
        "ios",
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "FxiOS/127.0 Mobile/15E148 Safari/605.1.15",
        "ios",
    ),
    (
        "Mozilla/5.0 (iPad; CPU OS 12_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/12.1 Mobile/15E148 Safari/604.1",
        "ios",
    ),
    (
        "Mozilla/5.0 (iPod touch; CPU iPhone OS 12_5_7 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/12.1.2 Mobile/15E148 Safari/604.1",
        "ios",
    ),
    # iPadOS 13 and later ask for the desktop site: Safari on an iPad says exactly what it says on a Mac.
    # The macOS guide offers the same profile; the iPhone/iPad guide is one tap away.
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.5 Safari/605.1.15",
        "macos",
    ),
    # Android phones and tablets: they also say Linux, and must not get the Linux guide.
    (
        "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 "
        "Mobile Safari/537.36",
        "android",
    ),
    (
        "Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) "
        "SamsungBrowser/25.0 Chrome/121.0.0.0 Mobile Safari/537.36",
        "android",
    ),
    ("Mozilla/5.0 (Android 14; Mobile; rv:127.0) Gecko/127.0 Firefox/127.0", "android"),
    (
        "Mozilla/5.0 (Linux; Android 13; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/126.0.0.0 Safari/537.36",
        "android",
    ),
    (
        "Mozilla/5.0 (Linux; Android 9; KFTRWI) AppleWebKit/537.36 (KHTML, like Gecko) Silk/126.2.1 "
        "like Chrome/126.0.6478.126 Safari/537.36",
        "android",
    ),
    (
        "Mozilla/5.0 (Linux; Android 14; Pixel 8 Build/AP2A.240705.005; wv) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Version/4.0 Chrome/126.0.6478.122 Mobile Safari/537.36",
        "android",
    ),
    # macOS.
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/126.0.0.0 Safari/537.36",
        "macos",
    ),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 14.5; rv:127.0) Gecko/20100101 Firefox/127.0", "macos"),
    # Windows: Outlook.
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0",
        "outlook",
    ),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:127.0) Gecko/20100101 Firefox/127.0", "outlook"),
    ("Mozilla/5.0 (Windows NT 6.1; Trident/7.0; rv:11.0) like Gecko", "outlook"),
    # Linux and the other X11 systems: Thunderbird.
    ("Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0", "thunderbird"),
    ("Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0", "thunderbird"),
    (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 "
        "Safari/537.36",
        "thunderbird",
    ),
    ("Mozilla/5.0 (X11; FreeBSD amd64; rv:127.0) Gecko/20100101 Firefox/127.0", "thunderbird"),
    ("Mozilla/5.0 (X11; Linux x86_64; rv:115.0) Gecko/20100101 Thunderbird/115.12.2", "thunderbird"),
    # ChromeOS says X11 and CrOS: Thunderbird's guide carries the manual values any app can use.
    (
        "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/126.0.0.0 Safari/537.36",
        "thunderbird",
    ),
    # Robots and tools: the generic guide, unless they pretend to be a phone.
    ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "other"),
    (
        "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/126.0.6478.126 Mobile Safari/537.36 (compatible; Googlebot/2.1; "
        "+http://www.google.com/bot.html)",
        "android",
    ),
    ("Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", "other"),
    ("facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)", "other"),
    ("curl/8.5.0", "other"),
    ("Wget/1.21.3", "other"),
    ("python-httpx/0.27.0", "other"),
    # Casing is the browser's business.
    ("mozilla/5.0 (linux; android 14)", "android"),
    ("MOZILLA/5.0 (IPHONE; CPU IPHONE OS 17_5 LIKE MAC OS X)", "ios"),
    # Nothing, or nothing useful.
    ("", "other"),
    ("   ", "other"),
    ("\x00\x01\x02", "other"),
    ("<script>alert(1)</script>", "other"),
]


def dark_modules(svg: str) -> set[tuple[int, int]]:
    """The dark modules (row, column) a segno SVG path draws: one stroke a run, along each row's middle."""
    root = etree.fromstring(svg.encode())
    (path,) = root.iter("path")
    data = str(path.get("d"))
    assert _PATH_COMMAND.sub("", data) == "", data  # nothing but moves and horizontal runs
    x = y = 0.0
    dark: set[tuple[int, int]] = set()
    for command, first, second in _PATH_COMMAND.findall(data):
        if command == "M":
            x, y = float(first), float(second)
        elif command == "m":
            x, y = x + float(first), y + float(second)
        else:
            dark.update((int(y), int(x) + i) for i in range(int(float(first))))
            x += float(first)
    return dark


# The quiet zone the pages draw around every code, in modules: the four the QR standard asks for.
QR_BORDER = 4


def _modules(code: segno.QRCode) -> set[tuple[int, int]]:
    return {
        (r, c) for r, row in enumerate(code.matrix_iter(border=QR_BORDER)) for c, bit in enumerate(row) if bit
    }


def expected_modules(url: str) -> list[set[tuple[int, int]]]:
    """What a QR code of `url` looks like, at each error correction level, with mask 0 as pages.qr_svg
    draws it."""
    return [
        _modules(segno.make(url, error=level, micro=False, boost_error=False, mask=0)) for level in "lmqh"
    ]


def export_modules(payload: str) -> set[tuple[int, int]]:
    """What the account export `payload` looks like as Thunderbird desktop draws it: byte mode, error
    correction L or better, the mask the standard's scoring picks."""
    return _modules(segno.make(payload, error="l", mode="byte", boost_error=True, micro=False))


ZBARIMG = Path("/usr/bin/zbarimg")


def zbarimg() -> str:
    """Debian's zbarimg (zbar-tools). When it is missing the tests that need it are skipped, except in
    CI, which installs it."""
    found = str(ZBARIMG) if ZBARIMG.exists() else shutil.which("zbarimg")
    if found is not None:
        return found
    reason = "zbarimg is not installed (Debian: apt-get install zbar-tools; tests/run installs it)"
    missing(reason, "decode the QR codes")


def decode_qr(picture: Path) -> str:
    """The text of the one QR code in a picture, as a real decoder reads it."""
    result = subprocess.run(
        [zbarimg(), "--raw", "-q", "-Sdisable", "-Sqrcode.enable", str(picture)],
        capture_output=True,
        check=False,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    # zbarimg ends each symbol with a line break; the code's own text is UTF-8.
    text = result.stdout.decode("utf-8")
    assert text.endswith("\n"), text
    assert text.count("\n") == 1, f"more than one code in {picture.name}: {text!r}"
    return text[:-1]


_PATH_COMMAND = re.compile(r"([Mmh])(-?\d+(?:\.\d+)?)(?: (-?\d+(?:\.\d+)?))?")


# --- a real browser ---------------------------------------------------------------------------------------

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
ANDROID_UA = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Mobile Safari/537.36"
)
LINUX_UA = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
BROWSER_LOCALES = {"fr": "fr-FR", "en": "en-GB"}


def chromium_path() -> str:
    """Debian's chromium. When it is missing the tests are skipped, except in CI, which installs it."""
    if CHROMIUM.exists():
        return str(CHROMIUM)
    found = shutil.which("chromium")
    if found is not None:
        return found
    reason = "chromium is not installed (Debian: apt-get install chromium; tests/run installs it)"
    missing(reason, "run the browser tests")


@contextmanager
def chromium() -> Iterator[Browser]:
    """Headless chromium, for the length of the block."""
    executable = chromium_path()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


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


OpenSession = Callable[..., Session]


@contextmanager
def browser_sessions(browser: Browser) -> Iterator[OpenSession]:
    """`open_session(viewport, user_agent, language="fr", javascript=True, mobile=False)` opens a browser
    context with its page; every one opened is closed after the block."""
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

    try:
        yield open_one
    finally:
        for session in sessions:
            session.context.close()
