"""/metrics: requests by endpoint, client family, outcome and status, latency, signing, reloads; who may
read them; the sum over the workers of a real `autoconfig serve --workers 2`.

The counters are process-global: tests through the ASGI app read them before and after, and compare.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY, CollectorRegistry, Histogram, multiprocess
from starlette.testclient import TestClient

from autoconfig.formats import pacc
from autoconfig.formats.signing import signer_for
from autoconfig.settings import Settings, load_settings
from autoconfig.web import metrics
from autoconfig.web.app import create_app
from autoconfig.web.funnel import Funnel
from autoconfig.web.routes import classify
from tests.helpers.live import serving, wait_for
from tests.helpers.prometheus import Samples, parse_metrics, value

JEAN = "jean.dupont@ac-paris.fr"
LOOPBACK = ("127.0.0.1", 40000)
ANDROID = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile"
)
IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148"
DESKTOP = "Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0"
THUNDERBIRD = "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Thunderbird/140.5.0"
OUTLOOK = "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.18025; Pro)"
CLOUD = "OutlookMobileCloudService-Autodetect/1.0.0"
OUTLOOK_BODY = (
    '<?xml version="1.0" encoding="utf-8"?>'
    '<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">'
    f"<Request><EMailAddress>{JEAN}</EMailAddress><AcceptableResponseSchema>"
    "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"
    "</AcceptableResponseSchema></Request></Autodiscover>"
).encode()


def requests(samples: Samples, endpoint: str, family: str, outcome: str, status: int) -> float:
    return value(
        samples,
        "autoconfig_requests_total",
        endpoint=endpoint,
        family=family,
        outcome=outcome,
        status=str(status),
    )


MakeClient = Callable[..., TestClient]
MakeSettings = Callable[..., Settings]


def scrape(client: TestClient) -> Samples:
    response = client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    assert response.headers["cache-control"] == "no-store"
    return parse_metrics(response.text)


def test_requests_are_counted_by_endpoint_family_outcome_and_status(make_client: MakeClient) -> None:
    client = make_client(host=None, client=LOOPBACK)  # the bundled settings (development-signed)
    before = scrape(client)
    thunderbird = {"User-Agent": THUNDERBIRD}
    android = {"Host": "autoconfig.ac-paris.fr", "User-Agent": "okhttp/5.4.0"}
    outlook = {"User-Agent": OUTLOOK}
    config = "/mail/config-v1.1.xml"
    assert client.get(config, params={"emailaddress": JEAN}, headers=thunderbird).status_code == 200
    assert client.get("/.well-known/autoconfig/mail/config-v1.1.xml", headers=android).status_code == 200
    unknown = client.get(config, params={"emailaddress": "a@example.org"}, headers=thunderbird)
    assert unknown.status_code == 404
    assert client.get(config, params={"emailaddress": "a b"}, headers=thunderbird).status_code == 400
    pox = "/Autodiscover/Autodiscover.xml"
    assert client.post(pox, content=OUTLOOK_BODY, headers=outlook).status_code == 200
    mobilesync = OUTLOOK_BODY.replace(b"outlook/responseschema/2006a", b"mobilesync/responseschema/2006")
    assert b"<ErrorCode>601</ErrorCode>" in client.post(pox, content=mobilesync, headers=outlook).content
    json_path = f"/autodiscover/autodiscover.json/v1.0/{JEAN}?Protocol=AutodiscoverV1"
    assert client.get(json_path, headers={"User-Agent": CLOUD}).status_code == 200
    assert (
        client.get(
            "/profile.mobileconfig", params={"email": JEAN}, headers={"User-Agent": IPHONE}
        ).status_code
        == 200
    )
    assert client.get("/", headers={"User-Agent": ANDROID}).status_code == 200
    assert (
        client.get("/guide/android", params={"email": JEAN}, headers={"User-Agent": DESKTOP}).status_code
        == 200
    )
    assert (
        client.get("/guide/ios", params={"email": JEAN}, headers={"User-Agent": ANDROID}).status_code == 200
    )
    assert client.get("/", headers={"User-Agent": IPHONE}).status_code == 200
    assert client.get("/no/such/page").status_code == 404
    after = scrape(client)

    def delta(endpoint: str, family: str, outcome: str, status: int) -> float:
        labels = (endpoint, family, outcome, status)
        return requests(after, *labels) - requests(before, *labels)

    assert delta("clientconfig", "thunderbird", "answered", 200) == 1
    assert delta("clientconfig", "thunderbird_android", "generic", 200) == 1  # no address: a placeholder
    assert delta("clientconfig", "thunderbird", "unknown_domain", 404) == 1
    assert delta("clientconfig", "thunderbird", "refused", 400) == 1
    assert delta("autodiscover_xml", "outlook", "answered", 200) == 1
    assert delta("autodiscover_xml", "outlook", "refused", 200) == 1  # error 601, answered as Exchange does
    assert delta("autodiscover_json", "microsoft_cloud", "answered", 200) == 1
    assert delta("mobileconfig", "apple_ios", "answered", 200) == 1
    assert delta("landing", "browser", "answered", 200) == 2  # on Android and on an iPhone
    assert delta("guide_android", "browser", "answered", 200) == 1
    assert delta("guide_ios", "browser", "answered", 200) == 1
    assert delta("other", "unknown", "refused", 404) == 1
    assert delta("metrics", "unknown", "answered", 200) == 1  # the first scrape (the second is counted later)


def test_latency_is_a_histogram_per_endpoint(make_client: MakeClient) -> None:
    client = make_client(host=None, client=LOOPBACK)  # the bundled settings (development-signed)
    before = scrape(client)
    for _ in range(3):
        client.get("/mail/config-v1.1.xml", params={"emailaddress": JEAN})
    after = scrape(client)
    name = "autoconfig_request_duration_seconds"
    count = value(after, f"{name}_count", endpoint="clientconfig") - value(
        before, f"{name}_count", endpoint="clientconfig"
    )
    assert count == 3
    inf = value(after, f"{name}_bucket", endpoint="clientconfig", le="+Inf") - value(
        before, f"{name}_bucket", endpoint="clientconfig", le="+Inf"
    )
    assert inf == 3
    total = value(after, f"{name}_sum", endpoint="clientconfig") - value(
        before, f"{name}_sum", endpoint="clientconfig"
    )
    assert 0 < total < 3.0
    # Buckets are cumulative: each bound holds at least as many answers as the one below it.
    bounds = sorted(
        (float(dict(labels)["le"]), number)
        for (sample, labels), number in after.items()
        if sample == f"{name}_bucket" and dict(labels).get("endpoint") == "clientconfig"
    )
    assert len(bounds) > 5
    assert all(a[1] <= b[1] for a, b in itertools.pairwise(bounds))


def test_signing_is_counted_and_timed(make_client: MakeClient) -> None:
    client = make_client(host=None, client=LOOPBACK)  # the bundled settings (development-signed)
    before = scrape(client)
    # Two people never asked for before in this process (signed profiles may be kept and served again).
    unique = time.monotonic_ns()
    for person in (f"anne.signed{unique}@ac-paris.fr", f"paul.signed{unique}@ac-paris.fr"):
        response = client.get("/profile.mobileconfig", params={"email": person})
        assert response.status_code == 200
        assert response.content[:1] == b"\x30"  # DER: a signed profile, not a bare plist
    client.get("/profile.mobileconfig", params={"email": "someone@example.org"})  # 404: nothing signed
    after = scrape(client)
    signed = "autoconfig_profiles_signed_total"
    assert value(after, signed) - value(before, signed) == 2
    timed = "autoconfig_signing_duration_seconds_count"
    assert value(after, timed) - value(before, timed) == 2
    assert value(after, "autoconfig_signing_duration_seconds_sum") > 0


def test_unsigned_profiles_are_not_counted_as_signed(
    make_settings: MakeSettings, make_client: MakeClient
) -> None:
    client = make_client(make_settings(), host=None, client=LOOPBACK)
    before = scrape(client)
    response = client.get("/profile.mobileconfig", params={"email": "ana@example.org"})
    assert response.status_code == 200
    assert response.content.startswith(b"<?xml")
    after = scrape(client)
    assert value(after, "autoconfig_profiles_signed_total") == value(
        before, "autoconfig_profiles_signed_total"
    )
    labels = ("mobileconfig", "unknown", "answered", 200)  # the test client names no known client
    assert requests(after, *labels) - requests(before, *labels) == 1


@pytest.mark.parametrize(
    ("service", "client_address", "status"),
    [
        ({}, "127.0.0.1", 200),
        ({}, "127.8.9.10", 200),
        ({}, "::1", 200),
        # A dual-stack socket (--host ::) shows an IPv4 client as ::ffff:127.0.0.1.
        ({}, "::ffff:127.0.0.1", 200),
        ({}, "192.0.2.10", 404),
        ({}, "2001:db8::1", 404),
        ({}, "testclient", 404),
        ({"metrics": False}, "127.0.0.1", 404),
        ({"metrics_networks": ["192.0.2.0/24"]}, "192.0.2.10", 200),
        ({"metrics_networks": ["192.0.2.0/24"]}, "127.0.0.1", 404),
        ({"metrics_networks": ["2001:db8::/32"]}, "2001:db8::1", 200),
    ],
)
def test_who_may_read_the_metrics(
    make_settings: MakeSettings,
    make_client: MakeClient,
    service: dict[str, Any],
    client_address: str,
    status: int,
) -> None:
    client = make_client(make_settings(service=service), host=None, client=(client_address, 40000))
    response = client.get("/metrics")
    assert response.status_code == status
    if status == 404:
        # The same answer as a path that does not exist: nothing tells that metrics are here.
        nowhere = client.get("/no-such-path")
        assert (response.text, response.headers["content-type"]) == (
            nowhere.text,
            nowhere.headers["content-type"],
        )
        assert "autoconfig_" not in response.text
    else:
        assert "autoconfig_requests_total" in response.text


@pytest.mark.parametrize(
    ("path", "endpoint"),
    [
        ("/mail/config-v1.1.xml", "clientconfig"),
        ("/.well-known/autoconfig/mail/config-v1.1.xml", "clientconfig"),
        ("/AutoDiscover/AutoDiscover.xml", "autodiscover_xml"),
        ("/autodiscover/autodiscover.json/v1.0/a@b.fr", "autodiscover_json"),
        ("/profile.mobileconfig", "mobileconfig"),
        ("/.well-known/caldav", "dav"),
        ("/", "landing"),
        ("/guide", "guide"),
        ("/guide/android", "guide_android"),
        ("/static/style.css", "static"),
        ("/healthz", "health"),
        ("/metrics", "metrics"),
        ("/wp-login.php", "other"),
        ("/guide/a/b", "other"),
        ("/mail/config-v1.1.xml/extra", "other"),
    ],
)
def test_endpoint_labels_are_a_small_fixed_set(path: str, endpoint: str) -> None:
    assert classify(path, "")[0] == endpoint


def _latency_samples(registry: Any, endpoint: str) -> dict[str, float]:
    name = "autoconfig_request_duration_seconds"
    labels = {"endpoint": endpoint}
    found = {
        f"le={bound}": registry.get_sample_value(f"{name}_bucket", {**labels, "le": bound}) or 0.0
        for bound in (*(str(b) for b in metrics.LATENCY_BUCKETS), "+Inf")
    }
    found["count"] = registry.get_sample_value(f"{name}_count", labels) or 0.0
    found["sum"] = registry.get_sample_value(f"{name}_sum", labels) or 0.0
    return found


def test_requests_are_counted_in_memory_and_published_as_one_observation_each() -> None:
    # A request adds to this process's counts; publishing (a timer, a scrape, the worker's end) adds
    # them to prometheus-client's values: the same buckets, count and sum as an observe() each.
    seconds = [0.0001, 0.0005, 0.00051, 0.003, 0.003, 0.7, 2.5, 9.0]
    reference = CollectorRegistry()
    histogram = Histogram(
        "autoconfig_request_duration_seconds",
        "",
        ["endpoint"],
        buckets=metrics.LATENCY_BUCKETS,
        registry=reference,
    )
    for value_seen in seconds:
        histogram.labels("pacc").observe(value_seen)
    observer = metrics.RequestMetrics(classify, Funnel())
    scope = {"type": "http", "path": pacc.WELL_KNOWN_PATH, "headers": [(b"user-agent", b"x")]}
    labels = {"endpoint": "pacc", "family": "unknown", "outcome": "answered", "status": "200"}

    def now() -> tuple[dict[str, float], float | None]:
        return _latency_samples(REGISTRY, "pacc"), REGISTRY.get_sample_value(
            "autoconfig_requests_total", labels
        )

    before = now()

    async def answered() -> tuple[dict[str, float], float | None]:
        for value_seen in seconds:
            observer(scope, 200, value_seen)
        return now()

    assert asyncio.run(answered()) == before  # nothing published yet
    metrics.publish()
    after = _latency_samples(REGISTRY, "pacc")
    added = {key: after[key] - before[0][key] for key in after}
    expected = _latency_samples(reference, "pacc")
    assert added == {**expected, "sum": pytest.approx(expected["sum"])}
    assert REGISTRY.get_sample_value("autoconfig_requests_total", labels) == (before[1] or 0) + len(seconds)


# --- a real server with two workers ------------------------------------------------------------------


def _worker_counts(folder: Path) -> dict[str, float]:
    """Config answers counted by each worker, from the files prometheus-client keeps per process."""
    counts: dict[str, float] = {}
    for path in sorted(folder.glob("counter_*.db")):
        for metric in multiprocess.MultiProcessCollector.merge([str(path)], accumulate=True):  # type: ignore[no-untyped-call]
            for sample in metric.samples:
                if sample.name == "autoconfig_requests_total" and sample.labels["endpoint"] == "clientconfig":
                    counts[path.stem] = counts.get(path.stem, 0.0) + sample.value
    return counts


def test_two_workers_are_summed(tmp_path: Path) -> None:
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    with serving(tmp_path / "logs", workers=2, env={"TMPDIR": str(temporary)}) as server:
        # The supervisor made one private folder the workers share, outside the state folder.
        (folder,) = temporary.glob("autoconfig-metrics-*")
        assert oct(folder.stat().st_mode & 0o777) == oct(0o700)
        url = "/mail/config-v1.1.xml?emailaddress=jean.dupont%40ac-paris.fr"
        sent = 0

        def both_workers_answered() -> dict[str, float] | None:
            nonlocal sent
            # Concurrent requests on new connections: the kernel hands them to both workers.
            with ThreadPoolExecutor(8) as pool:
                answers = pool.map(lambda _: server.get(url, {"User-Agent": THUNDERBIRD}), range(16))
                statuses = [answer.status_code for answer in answers]
            assert statuses == [200] * 16
            sent += 16
            counts = _worker_counts(folder)
            return counts if len([c for c in counts.values() if c > 0]) >= 2 else None

        # Each worker listens on its own socket (SO_REUSEPORT): the kernel spreads new connections.
        wait_for(both_workers_answered, 20, "requests answered by both workers")
        # A worker publishes its counts to its files at most a second after a request (metrics.py).
        wait_for(lambda: sum(_worker_counts(folder).values()) == sent or None, 5, "every request published")
        # Every scrape, whichever worker answers it, shows the whole service.
        for _ in range(6):
            samples = parse_metrics(server.get("/metrics").text)
            assert requests(samples, "clientconfig", "thunderbird", "answered", 200) == sent
            assert (
                value(samples, "autoconfig_request_duration_seconds_count", endpoint="clientconfig") == sent
            )

        # The setup funnel of /healthz, too: each worker writes its counts for the others to read.
        def funnel_complete() -> dict[str, Any] | None:
            clients = server.get("/healthz").json()["clients"]["families"]
            return clients if clients.get("thunderbird", {}).get("requests") == sent else None

        thunderbird = wait_for(funnel_complete, 10, "the funnel summed over the workers")["thunderbird"]
        assert thunderbird == {
            "requests": sent,
            "outcomes": {"answered": sent},
            "endpoints": {"clientconfig": sent},
        }
        wait_for(lambda: len(list(folder.glob("funnel-*.json"))) == 2 or None, 5, "each worker's funnel file")
    assert not folder.exists()  # removed when the service stops


def test_the_signing_certificates_end_is_a_metric(make_client: MakeClient) -> None:
    # An application built now: the gauge is the process's, set by the latest settings loaded.
    app = create_app(load_settings())
    samples = parse_metrics(make_client(app, host=None, client=LOOPBACK).get("/metrics").text)
    signer = signer_for(load_settings())
    assert signer is not None
    expiry = value(samples, "autoconfig_signing_certificate_expiry_timestamp_seconds")
    assert expiry == signer.not_after.timestamp()


def test_a_live_service_says_when_its_settings_were_loaded(tmp_path: Path) -> None:
    before = time.time()
    with serving(tmp_path / "logs", workers=2) as server:
        samples = parse_metrics(server.get("/metrics").text)
        loaded = value(samples, "autoconfig_settings_loaded_timestamp_seconds")
        assert before - 1 <= loaded <= time.time()
        offset = len(server.error_log())
        server.hangup()
        server.wait_for_log("settings reloaded (SIGHUP)", after=offset)
        later = value(
            parse_metrics(server.get("/metrics").text), "autoconfig_settings_loaded_timestamp_seconds"
        )
        assert later > loaded
