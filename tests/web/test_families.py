"""families.py: the client family of real User-Agent strings, and labels that stay a closed set whatever
a client sends (5,000 random User-Agents through the app)."""

from __future__ import annotations

import random
import string
from collections.abc import Callable

import pytest
from starlette.testclient import TestClient

from autoconfig.web.families import FAMILIES, client_family
from autoconfig.web.funnel import OUTCOMES
from autoconfig.web.routes import GUIDE_DEVICES
from tests.helpers.prometheus import parse_metrics

# As the clients send them (docs/funnel.md says where each comes from).
THUNDERBIRD_WINDOWS = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Thunderbird/128.5.2"
THUNDERBIRD_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Thunderbird/140.5.0"
BETTERBIRD = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Thunderbird/128.5.0 Betterbird/128.5.0"
OKHTTP_5 = "okhttp/5.4.0"
OKHTTP_4 = "okhttp/4.12.0"
EVOLUTION = "Evolution/3.54.1"
KMAIL = "Mozilla/5.0 (X11; Linux x86_64) KIO/6.8 KMail/6.3.0"
KONQUEROR = "Mozilla/5.0 (X11; Linux x86_64) KHTML/5.115.0 (like Gecko) Konqueror/5 KIO/5.115"
OUTLOOK = "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17928; Pro)"
CLOUD = "OutlookMobileCloudService-Autodetect/1.0.0"
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Mobile/15E148 Safari/604.1"
)
IPAD = (
    "Mozilla/5.0 (iPad; CPU OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.6 Mobile/15E148 Safari/604.1"
)
MAC = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Safari/605.1.15"
)
ANDROID_CHROME = (
    "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Mobile Safari/537.36"
)
CURL = "curl/8.5.0"


@pytest.mark.parametrize(
    ("user_agent", "endpoint", "family"),
    [
        (THUNDERBIRD_WINDOWS, "clientconfig", "thunderbird"),
        (THUNDERBIRD_LINUX, "autodiscover_xml", "thunderbird"),  # Thunderbird also tries POX
        (BETTERBIRD, "clientconfig", "thunderbird"),
        (OKHTTP_5, "clientconfig", "thunderbird_android"),
        (OKHTTP_4, "clientconfig", "thunderbird_android"),
        (EVOLUTION, "clientconfig", "evolution"),
        (KMAIL, "clientconfig", "kmail"),
        (KONQUEROR, "landing", "browser"),
        (OUTLOOK, "autodiscover_json", "outlook"),
        (OUTLOOK, "autodiscover_xml", "outlook"),
        (CLOUD, "autodiscover_json", "microsoft_cloud"),
        (IPHONE, "mobileconfig", "apple_ios"),
        (IPAD, "mobileconfig", "apple_ios"),
        (MAC, "mobileconfig", "apple_macos"),
        (IPHONE, "guide_ios", "browser"),  # a page, not Apple's setup path yet
        (ANDROID_CHROME, "guide_android", "browser"),
        (ANDROID_CHROME, "mobileconfig", "browser"),
        ("autoconfig-probe/1.0 (+thunderbird)", "clientconfig", "probe"),
        (CURL, "clientconfig", "unknown"),
        ("", "clientconfig", "unknown"),
    ],
)
def test_real_user_agents(user_agent: str, endpoint: str, family: str) -> None:
    assert client_family(user_agent, endpoint) == family


def test_a_token_far_into_a_long_user_agent_is_not_read() -> None:
    assert client_family("x" * 600 + "Thunderbird/128.0", "clientconfig") == "unknown"


def random_user_agent(rng: random.Random) -> str:
    alphabet = string.printable.replace("\n", "").replace("\r", "") + "éü€\u200b"
    pieces = [
        "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 80))),
        rng.choice(["", "Thunderbird/", "okhttp/", "iPhone", "Mozilla/5.0 ", "Microsoft Office/"]),
        "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40))),
    ]
    return "".join(pieces)


def test_labels_stay_a_closed_set_under_5000_random_user_agents(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(host=None, client=("127.0.0.1", 40000))
    rng = random.Random(20261130)  # noqa: S311 - reproducible test data, not secrets
    before = series(client)
    paths = [
        "/mail/config-v1.1.xml?emailaddress=jean.dupont%40ac-paris.fr",
        "/mail/config-v1.1.xml",
        "/profile.mobileconfig?email=x%40example.org",
        "/guide/android",
        f"/guide/{rng.choice(string.ascii_letters)}",
        "/autodiscover/autodiscover.json?Protocol=Rest",
        "/no/such/path",
    ]
    for _ in range(5000):
        user_agent = random_user_agent(rng)
        path = rng.choice(paths)
        try:
            client.get(path, headers={"User-Agent": user_agent})
        except UnicodeEncodeError:  # a header the HTTP client cannot send: nor could a real one
            continue
    # Counters are process-wide: what this test added is what it is judged on.
    labels = [dict(key) for key in series(client) - before]
    assert labels
    endpoints = {"clientconfig", "mobileconfig", "guide", "other", "autodiscover_json", "metrics"}
    endpoints |= {f"guide_{device}" for device in GUIDE_DEVICES}
    assert {label["family"] for label in labels} <= set(FAMILIES)
    assert {label["endpoint"] for label in labels} <= endpoints
    assert {label["outcome"] for label in labels} <= set(OUTCOMES)
    # Each label from a closed list: 5,000 different User-Agents make a few dozen series, not thousands.
    assert len(labels) < 150


def series(client: TestClient) -> set[frozenset[tuple[str, str]]]:
    samples = parse_metrics(client.get("/metrics").text)
    return {frozenset(labels) for (name, labels), _ in samples.items() if name == "autoconfig_requests_total"}
