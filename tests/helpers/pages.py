"""The browsers the pages meet, and reading a QR code back from its SVG."""

from __future__ import annotations

import re

import segno
from lxml import etree

from autoconfig.web.pages import Device

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


def expected_modules(url: str) -> list[set[tuple[int, int]]]:
    """What a QR code of `url` looks like (border 2), at each error correction level, with mask 0 as
    pages.qr_svg draws it."""
    codes = [segno.make(url, error=level, micro=False, boost_error=False, mask=0) for level in "lmqh"]
    return [
        {(r, c) for r, row in enumerate(code.matrix_iter(border=2)) for c, bit in enumerate(row) if bit}
        for code in codes
    ]


_PATH_COMMAND = re.compile(r"([Mmh])(-?\d+(?:\.\d+)?)(?: (-?\d+(?:\.\d+)?))?")
