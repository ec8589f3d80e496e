"""X-Forwarded-For / X-Forwarded-Proto: believed only from `service.trusted_proxies`; what they change is
the client the access log and the /metrics check see (and the scheme), nothing for anyone else."""

from __future__ import annotations

import ipaddress
import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from autoconfig.settings import load_settings
from autoconfig.web.accesslog import ACCESS_LOGGER
from autoconfig.web.app import create_app, reload_settings
from autoconfig.web.middleware import Networks, forwarded_client
from tests.helpers.live import serving, wait_for
from tests.helpers.settings import MINIMAL_TOML as MINIMAL

PROXIES: Networks = [ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("2001:db8:1::/48")]
PROXY = "10.0.0.1"
OUTSIDER = "198.51.100.9"
REAL = "203.0.113.7"


@pytest.mark.parametrize(
    ("peer", "forwarded_for", "client"),
    [
        (OUTSIDER, REAL, OUTSIDER),  # an untrusted peer's header is not read
        (OUTSIDER, "127.0.0.1", OUTSIDER),
        (PROXY, REAL, REAL),
        (PROXY, f" {REAL} ", REAL),
        (PROXY, "", PROXY),
        (PROXY, f"{REAL}, 10.0.0.2", REAL),  # proxy behind proxy: the rightmost untrusted hop
        (PROXY, f"127.0.0.1, {REAL}, 10.9.9.9", REAL),  # whatever the client wrote on the left is ignored
        (PROXY, f"192.0.2.1, {REAL}", REAL),
        (PROXY, "10.0.0.3, 10.0.0.2", "10.0.0.3"),  # every hop a proxy: the farthest one
        (PROXY, f"{REAL}, garbage", PROXY),  # a hop that is no address: stop trusting there
        (PROXY, f"unknown, {REAL}", REAL),
        (PROXY, f"{REAL}:443", PROXY),
        (PROXY, "[2001:db8:2::5]", "2001:db8:2::5"),
        (PROXY, "2001:db8:2::5, 2001:db8:1::9", "2001:db8:2::5"),
        (PROXY, "::ffff:203.0.113.7", REAL),
        ("2001:db8:1::1", REAL, REAL),
        ("::ffff:10.0.0.1", REAL, REAL),  # an IPv4 proxy seen through a dual-stack socket
        ("testclient", REAL, "testclient"),
        (PROXY, ", ".join([REAL, *["10.0.0.9"] * 20]), "10.0.0.9"),  # only the last 16 hops are read
    ],
)
def test_forwarded_client(peer: str, forwarded_for: str, client: str) -> None:
    assert forwarded_client(peer, forwarded_for, PROXIES) == client


def test_nothing_is_trusted_without_trusted_proxies() -> None:
    assert forwarded_client("127.0.0.1", REAL, []) == "127.0.0.1"


# --- through the application -------------------------------------------------------------------------


def make_app(write_toml: Callable[[str], Path], trusted: str = '["10.0.0.0/8"]') -> Starlette:
    text = MINIMAL.replace(
        'public_url = "https://autoconfig.example.org"',
        f'public_url = "https://autoconfig.example.org"\nlog_format = "json"\ntrusted_proxies = {trusted}',
    )
    return create_app(load_settings(write_toml(text)))


Clients = Callable[[], list[str]]


@pytest.fixture
def app(write_toml: Callable[[str], Path]) -> Starlette:
    """Trusts the proxies in 10.0.0.0/8; logs in JSON."""
    return make_app(write_toml)


@pytest.fixture
def access_clients(caplog: pytest.LogCaptureFixture) -> Iterator[Clients]:
    """The client address of every access line written so far in the test."""
    with caplog.at_level(logging.INFO, logger=ACCESS_LOGGER):
        yield lambda: [
            json.loads(r.getMessage())["client"] for r in caplog.records if r.name == ACCESS_LOGGER
        ]


Headers = list[tuple[str, str]]


@pytest.mark.parametrize(
    ("peer", "headers", "expected"),
    [
        # A trusted proxy names the real client: the log shows it, and it is not on loopback.
        (PROXY, [("X-Forwarded-For", REAL)], (REAL, 404)),
        # A trusted proxy on behalf of a client on loopback (Prometheus behind the same proxy).
        (PROXY, [("X-Forwarded-For", "127.0.0.1")], ("127.0.0.1", 200)),
        # A spoofed header from an untrusted peer changes nothing.
        (OUTSIDER, [("X-Forwarded-For", "127.0.0.1")], (OUTSIDER, 404)),
        (OUTSIDER, [("X-Forwarded-For", f"127.0.0.1, {PROXY}")], (OUTSIDER, 404)),
        # The client wrote its own header; the proxy appended the peer it saw.
        (PROXY, [("X-Forwarded-For", f"127.0.0.1, {REAL}")], (REAL, 404)),
        # The client wrote its own header line; the proxy added another (HAProxy's option forwardfor).
        (PROXY, [("X-Forwarded-For", "127.0.0.1"), ("X-Forwarded-For", REAL)], (REAL, 404)),
        (PROXY, [], (PROXY, 404)),
    ],
)
def test_the_access_log_and_the_metrics_check_see_the_forwarded_client(
    app: Starlette, access_clients: Clients, peer: str, headers: Headers, expected: tuple[str, int]
) -> None:
    seen, metrics = expected
    client = TestClient(app, client=(peer, 50000))
    assert client.get("/mail/config-v1.1.xml", headers=headers).status_code == 404  # no Host: unknown
    assert client.get("/metrics", headers=headers).status_code == metrics
    assert access_clients() == [seen, seen]


def test_loopback_is_not_a_proxy_unless_listed(
    write_toml: Callable[[str], Path], access_clients: Clients
) -> None:
    client = TestClient(make_app(write_toml, trusted="[]"), client=("127.0.0.1", 50000))
    # Someone on the machine cannot pass for someone else, and cannot lock Prometheus out either.
    assert client.get("/metrics", headers={"X-Forwarded-For": REAL}).status_code == 200
    assert access_clients() == ["127.0.0.1"]


@pytest.mark.parametrize(
    ("peer", "headers", "scheme"),
    [
        (PROXY, [("X-Forwarded-Proto", "https")], "https"),
        (PROXY, [("X-Forwarded-Proto", " HTTPS ")], "https"),
        (PROXY, [("X-Forwarded-Proto", "gopher")], "http"),
        (PROXY, [("X-Forwarded-Proto", "http"), ("X-Forwarded-Proto", "https")], "https"),
        (PROXY, [], "http"),
        (OUTSIDER, [("X-Forwarded-Proto", "https")], "http"),
    ],
)
def test_the_scheme_follows_a_trusted_proxy_only(
    write_toml: Callable[[str], Path], peer: str, headers: Headers, scheme: str
) -> None:
    # Starlette's trailing-slash redirect is an absolute URL built from the request's scheme.
    client = TestClient(make_app(write_toml), client=(peer, 50000))
    response = client.get("/guide/", headers=headers, follow_redirects=False)
    assert response.status_code == 307
    assert response.headers["location"] == f"{scheme}://testserver/guide"


def test_trusted_proxies_follow_a_reload(write_toml: Callable[[str], Path], access_clients: Clients) -> None:
    app = make_app(write_toml, trusted="[]")
    client = TestClient(app, client=(PROXY, 50000))
    client.get("/healthz", headers={"X-Forwarded-For": REAL})
    path = app.state.loaded.settings.source
    path.write_text(path.read_text().replace("trusted_proxies = []", 'trusted_proxies = ["10.0.0.1/32"]'))
    assert reload_settings(app)
    client.get("/healthz", headers={"X-Forwarded-For": REAL})
    assert access_clients() == [PROXY, REAL]


# --- a real server --------------------------------------------------------------------------------


def _log_clients(log: str, marker: str) -> list[str]:
    return [json.loads(line.split(" ", 2)[2])["client"] for line in log.splitlines() if marker in line]


@pytest.mark.parametrize(("trusted", "metrics"), [('["127.0.0.1/32"]', 404), ("[]", 200)])
def test_a_real_server_trusts_only_its_settings(
    tmp_path: Path, write_toml: Callable[[str], Path], trusted: str, metrics: int
) -> None:
    text = MINIMAL.replace(
        'public_url = "https://autoconfig.example.org"',
        f'public_url = "https://autoconfig.example.org"\nlog_format = "json"\ntrusted_proxies = {trusted}',
    )
    with serving(tmp_path / "logs", settings=write_toml(text)) as server:
        spoof = {"X-Forwarded-For": REAL}
        marker = "marker-forwarded"
        assert server.get(f"/?{marker}=1", headers=spoof).status_code == 200
        assert server.get(f"/metrics?{marker}=2", headers=spoof).status_code == metrics
        log = wait_for(lambda: log if (log := server.access_log()).count(marker) >= 2 else None, 5)
    # uvicorn's own proxy-header handling is off: only the settings decide.
    expected = REAL if trusted != "[]" else "127.0.0.1"
    assert _log_clients(log, marker) == [expected, expected]
