"""The reverse-proxy samples under deploy/ (nginx, Caddy, Apache; the service's own names and the
organisation's main site), run for real in front of a real `autoconfig serve`, on loopback.

Each server runs both of its samples, rewritten only for ports, file locations and the service's port
(tests/helpers/proxies.py checks each rewrite finds its target and leaves no production value), once per
module. Clients connect to 127.0.0.1 or ::1 and name the host as a mail client would (SNI and Host).
"""

from __future__ import annotations

import base64
import re
import ssl
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.helpers.live import Server, serving, wait_for
from tests.helpers.markdown import code_blocks
from tests.helpers.outlook import JEAN, OUTLOOK_HEADERS, outlook_request, paris_pox, read_pox
from tests.helpers.paths import ROOT
from tests.helpers.proxies import (
    AUTOCONFIG,
    AUTODISCOVER,
    DEPLOY,
    DOMAIN,
    Answer,
    Ports,
    Proxy,
    SiteCertificate,
    apache,
    apache_config,
    caddy,
    caddy_config,
    free_ports,
    nginx_config,
    nginx_test,
    request,
    running,
    site_certificate,
)
from tests.helpers.relay import Relay, relaying
from tests.helpers.thunderbird import paris_view, read_config

SERVERS = ["nginx", "caddy", "apache"]
# The samples tell the service to trust the proxy on the same host.
TRUSTED = 'trusted_proxies = ["127.0.0.1/32", "::1/128"]'
# A client that is not the proxy: loopback holds all of 127.0.0.0/8.
CLIENT = "127.0.0.2"
FORGED = "203.0.113.9"
PASSWORD = "Tr0ub4dor&3-horse"  # noqa: S105 - a test password, the one to look for in logs
BASIC = "Basic " + base64.b64encode(f"{JEAN}:{PASSWORD}".encode()).decode()
# What must never be written anywhere: the password, the header's token, the full address.
SECRETS = (PASSWORD, BASIC.split()[1], JEAN)
POX_PATHS = ["/autodiscover/autodiscover.xml", "/Autodiscover/Autodiscover.xml"]
# Paths of the main site that are the site's, not the service's (the service answers each of them).
NOT_PASSED = [
    "/",
    "/mail/config-v1.1.xml",
    "/guide",
    "/healthz",
    "/metrics",
    "/profile.mobileconfig",
    "/.well-known/caldav/x",
    "/.well-known/security.txt",
    "/x/autodiscover/autodiscover.xml",
]
_LINE = re.compile(r'^\S+ (?P<client>\S+) "(?P<method>\S+) (?P<target>\S*)" (?P<status>\d+) ', re.M)


# --- the fixtures: one service, one certificate, each server once -----------------------------------


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> SiteCertificate:
    return site_certificate(tmp_path_factory.mktemp("site-tls"))


@pytest.fixture(scope="module")
def tls(cert: SiteCertificate) -> ssl.SSLContext:
    return cert.client_context()


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The bundled settings, with the proxies trusted as the samples say."""
    folder = tmp_path_factory.mktemp("service")
    profile = (ROOT / "profiles" / "ac-paris.toml").read_text(encoding="utf-8")
    assert profile.count("[service]\n") == 1
    settings = folder / "settings.toml"
    settings.write_text(profile.replace("[service]\n", f"[service]\n{TRUSTED}\n"), encoding="utf-8")
    with serving(folder / "logs", settings=settings) as server:
        yield server


@pytest.fixture(scope="module")
def upstream(service: Server) -> Iterator[Relay]:
    """Between the proxies and the service: what the proxies really pass on (the service logs no header)."""
    with relaying(service.port) as relay:
        yield relay


@pytest.fixture(scope="module", params=SERVERS)
def proxy(
    request: pytest.FixtureRequest,
    upstream: Relay,
    cert: SiteCertificate,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Proxy]:
    https, http = free_ports(2)
    name: str = request.param
    with running(
        name, tmp_path_factory.mktemp(name), Ports(https, http, upstream.port), cert
    ) as running_proxy:
        yield running_proxy


# --- what the service saw ----------------------------------------------------------------------------


def _mark(service: Server) -> tuple[str, int, int]:
    """Ask the service directly for a marked path and wait for its line. The service writes its lines in
    order from one queue (one worker): every request it had before is written by then. The log, and where
    the marker's line starts and ends."""
    token = uuid.uuid4().hex

    def written() -> str | None:
        log = service.access_log()
        return log if token in log and "\n" in log[log.index(token) :] else None

    request(service.port, DOMAIN, f"/healthz?mark={token}", tls=None)
    log = wait_for(written, 5, "the marker's line")
    at = log.index(token)
    return log, log.rfind("\n", 0, at) + 1, log.index("\n", at) + 1


@contextmanager
def reaching(service: Server) -> Iterator[list[re.Match[str]]]:
    """The access lines of the requests that reached the service inside the block."""
    _, _, start = _mark(service)
    seen: list[re.Match[str]] = []
    yield seen
    log, end, _ = _mark(service)
    seen.extend(_LINE.finditer(log[start:end]))


def only(seen: list[re.Match[str]]) -> re.Match[str]:
    assert len(seen) == 1, [m.group(0) for m in seen]
    return seen[0]


def pox(proxy: Proxy, tls: ssl.SSLContext, host: str, path: str, **options: str) -> Answer:
    """Thunderbird's and Outlook's POST, with the person's password as Thunderbird sends it."""
    headers = {**OUTLOOK_HEADERS, "Authorization": BASIC}
    return request(
        proxy.ports.https,
        host,
        path,
        tls=tls,
        method="POST",
        body=outlook_request(JEAN),
        headers=headers,
        **options,
    )


def check_pox(answer: Answer) -> None:
    assert answer.status == 200, answer
    assert read_pox(answer.body) == paris_pox("jdupont", "Jean Dupont")


# --- the configurations themselves -------------------------------------------------------------------


def test_the_nginx_samples_pass_nginx_t(tmp_path: Path, cert: SiteCertificate) -> None:
    config = nginx_config(tmp_path, Ports(*free_ports(3)), cert)
    checked = nginx_test(config)
    assert checked.returncode == 0, checked.stderr
    assert "syntax is ok" in checked.stderr
    assert "warn" not in checked.stderr, checked.stderr


def test_the_caddy_samples_adapt_and_validate(tmp_path: Path, cert: SiteCertificate) -> None:
    for sample in (DEPLOY / "caddy" / "Caddyfile", DEPLOY / "caddy" / "main-site.Caddyfile"):
        # As shipped: the file adapts without a warning and is formatted as `caddy fmt` writes it.
        adapted = caddy("adapt", "--config", str(sample), "--adapter", "caddyfile", folder=tmp_path)
        assert adapted.returncode == 0, adapted.stderr
        assert '"level":"warn"' not in adapted.stderr, adapted.stderr
        formatted = caddy("fmt", str(sample), folder=tmp_path)
        assert formatted.stdout == sample.read_text(encoding="utf-8"), f"run: caddy fmt --overwrite {sample}"
    config = caddy_config(tmp_path / "run", Ports(*free_ports(3)), cert)
    validated = caddy("validate", "--config", str(config), "--adapter", "caddyfile", folder=tmp_path)
    assert validated.returncode == 0, validated.stderr
    assert "Valid configuration" in validated.stdout + validated.stderr


def test_the_apache_samples_pass_apache2_t(tmp_path: Path, cert: SiteCertificate) -> None:
    checked = apache("-t", config=apache_config(tmp_path, Ports(*free_ports(3)), cert))
    assert checked.returncode == 0, checked.stderr
    assert checked.stderr.strip() == "Syntax OK", checked.stderr


def test_every_server_has_both_samples() -> None:
    for name in ("nginx/autoconfig.conf", "nginx/main-site.conf", "caddy/Caddyfile",
                 "caddy/main-site.Caddyfile", "apache/autoconfig.conf", "apache/main-site.conf"):  # fmt: skip
        assert (DEPLOY / name).is_file(), name


# --- the service's own names -------------------------------------------------------------------------


@pytest.mark.parametrize("path", POX_PATHS)
@pytest.mark.parametrize("host", [AUTODISCOVER, DOMAIN], ids=["service", "main-site"])
def test_both_casings_of_autodiscover_reach_the_service(
    proxy: Proxy, service: Server, tls: ssl.SSLContext, host: str, path: str
) -> None:
    # On the main site too: Outlook and Thunderbird POST there, in either casing.
    with reaching(service) as seen:
        check_pox(pox(proxy, tls, host, path))
    line = only(seen)
    assert (line["method"], line["target"], line["status"]) == ("POST", path, "200")


def test_the_thunderbird_document_comes_by_the_host_alone(proxy: Proxy, tls: ssl.SSLContext) -> None:
    # No address in the request (Thunderbird for Android never sends one): the Host names the domain.
    answer = request(proxy.ports.https, AUTOCONFIG, "/mail/config-v1.1.xml", tls=tls)
    assert answer.status == 200
    assert answer.headers["content-type"] == "application/xml"
    assert read_config(answer.body) == paris_view("%EMAILLOCALPART%")
    personal = request(proxy.ports.https, AUTOCONFIG, f"/mail/config-v1.1.xml?emailaddress={JEAN}", tls=tls)
    assert read_config(personal.body) == paris_view("jdupont")


def test_the_client_address_reaches_the_service_log(
    proxy: Proxy, service: Server, tls: ssl.SSLContext
) -> None:
    # A forged X-Forwarded-For from the client itself is not believed: the proxy vouches for its peer.
    headers = {"X-Forwarded-For": FORGED}
    with reaching(service) as seen:
        answer = request(proxy.ports.https, AUTOCONFIG, "/healthz", tls=tls, source=CLIENT, headers=headers)
    assert answer.status == 200
    assert only(seen)["client"] == CLIENT


def test_ipv6(proxy: Proxy, service: Server, tls: ssl.SSLContext) -> None:
    with reaching(service) as seen:
        check_pox(pox(proxy, tls, AUTODISCOVER, POX_PATHS[1], address="::1"))
        plain = request(proxy.ports.http, AUTOCONFIG, "/mail/config-v1.1.xml", tls=None, address="::1")
        check_pox(pox(proxy, tls, DOMAIN, POX_PATHS[0], address="::1"))
    assert plain.status == 200
    assert [line["client"] for line in seen] == ["::1"] * 3


def test_port_80_serves_the_thunderbird_document_and_redirects_the_rest(
    proxy: Proxy, service: Server
) -> None:
    with reaching(service) as seen:
        plain = request(proxy.ports.http, AUTOCONFIG, f"/mail/config-v1.1.xml?emailaddress={JEAN}", tls=None)
    assert plain.status == 200
    assert read_config(plain.body) == paris_view("jdupont")
    assert only(seen)["target"] == "/mail/config-v1.1.xml?emailaddress=j***@ac-paris.fr"
    with reaching(service) as seen:
        for path in POX_PATHS:
            # Outlook's HTTP redirect method follows a 302, and only to https.
            moved = request(proxy.ports.http, AUTODISCOVER, path, tls=None)
            assert (moved.status, moved.headers["location"]) == (302, f"https://{AUTODISCOVER}{path}")
        for path in ("/", "/guide?email=jean.dupont%40ac-paris.fr", "/.well-known/caldav"):
            moved = request(proxy.ports.http, AUTOCONFIG, path, tls=None)
            assert (moved.status, moved.headers["location"]) == (301, f"https://{AUTOCONFIG}{path}")
    assert seen == []


# --- the organisation's main site ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        f"/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress={JEAN}",
        "/.well-known/caldav",
        "/.well-known/carddav",
    ],
)
def test_the_main_site_passes_the_well_knowns(
    proxy: Proxy, service: Server, tls: ssl.SSLContext, path: str
) -> None:
    direct = service.get(path, headers={"Host": DOMAIN})
    with reaching(service) as seen:
        answer = request(proxy.ports.https, DOMAIN, path, tls=tls)
    assert only(seen)["target"] == path.replace(JEAN, "j***@ac-paris.fr")
    assert answer.status == direct.status_code
    assert answer.headers.get("location") == direct.headers.get("location")
    assert answer.body == direct.content


def test_the_main_site_passes_nothing_else(proxy: Proxy, service: Server, tls: ssl.SSLContext) -> None:
    with reaching(service) as seen:
        for path in NOT_PASSED:
            answer = request(proxy.ports.https, DOMAIN, path, tls=tls)
            assert answer.status in {200, 403, 404}, (path, answer.status)
            if answer.status == 200:
                assert answer.body == b"the organisation's site\n", path
    assert seen == []


def test_the_main_site_on_port_80(proxy: Proxy, service: Server) -> None:
    path = "/.well-known/autoconfig/mail/config-v1.1.xml"
    with reaching(service) as seen:
        plain = request(proxy.ports.http, DOMAIN, path, tls=None)
    assert plain.status == 200
    assert read_config(plain.body) == paris_view("%EMAILLOCALPART%")
    assert only(seen)["target"] == path
    with reaching(service) as seen:
        for other in ("/", "/autodiscover/autodiscover.xml", "/.well-known/caldav"):
            moved = request(proxy.ports.http, DOMAIN, other, tls=None)
            assert (moved.status, moved.headers["location"]) == (301, f"https://{DOMAIN}{other}")
    assert seen == []


# --- Thunderbird's password --------------------------------------------------------------------------


def test_the_password_thunderbird_sends_is_answered_and_written_nowhere(
    proxy: Proxy, service: Server, upstream: Relay, tls: ssl.SSLContext
) -> None:
    before = len(upstream.sent())
    # `reaching` returns once the service has written the lines of these requests.
    with reaching(service) as seen:
        for host in (DOMAIN, AUTODISCOVER):
            for path in POX_PATHS:
                # The service's answer, never a 401 ("Exchange auth error"), and fast.
                check_pox(pox(proxy, tls, host, path))
        # Over plain HTTP too, where Thunderbird may try autodiscover.<domain>: a redirect, nothing logged.
        plain = request(
            proxy.ports.http, AUTODISCOVER, POX_PATHS[0], tls=None, method="POST",
            body=outlook_request(JEAN), headers={**OUTLOOK_HEADERS, "Authorization": BASIC},
        )  # fmt: skip
    assert plain.status == 302
    assert len(seen) == 4, [m.group(0) for m in seen]
    # The header stops at the proxy: the four POSTs reached the service without it.
    passed = upstream.sent()[before:]
    assert passed.lower().count(b"post /autodiscover/autodiscover.xml") == 4, passed[:2000]
    assert b"authorization" not in passed.lower(), f"{proxy.name} passes the Authorization header on"
    written = proxy.logs() + service.logs()
    for secret in SECRETS:
        assert secret not in written, f"{proxy.name}: {secret!r} is in a log"
    assert "authorization" not in written.lower()


def test_the_proxy_logs_hold_no_address(proxy: Proxy, service: Server, tls: ssl.SSLContext) -> None:
    for host, path in (
        (AUTOCONFIG, "/mail/config-v1.1.xml"),
        (DOMAIN, "/.well-known/autoconfig/mail/config-v1.1.xml"),
    ):
        request(proxy.ports.https, host, f"{path}?emailaddress={JEAN}", tls=tls)
    request(
        proxy.ports.https,
        AUTOCONFIG,
        f"/autodiscover/autodiscover.json/v1.0/{JEAN}?Protocol=AutodiscoverV1",
        tls=tls,
    )
    assert JEAN not in proxy.logs()
    assert "jean.dupont" not in proxy.logs()


# --- the docs ----------------------------------------------------------------------------------------


def test_what_the_docs_quote_of_a_sample_is_in_the_sample() -> None:
    quoted = [
        block
        for language in ("nginx", "apache", "caddyfile")
        for block in code_blocks((ROOT / "docs" / "deployment.md").read_text(encoding="utf-8"), language)
    ]
    assert quoted, "the main-site section quotes the nginx sample"
    samples = [path.read_text(encoding="utf-8") for path in DEPLOY.glob("*/*") if path.is_file()]
    for block in quoted:
        assert any(block in text for text in samples), f"not in any sample:\n{block}"
