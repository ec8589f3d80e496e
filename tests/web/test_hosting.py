"""The hoster mode through the application, against a real name server (Knot DNS on loopback,
tests/helpers/hosting_lab.py): a customer domain whose MX is the hoster's gets every format on the
hoster's names, and nowhere else; every other domain gets the unknown-domain answer, fast; lookups are
joined and capped; the logs hide the customer's domain; the funnel counts the answers as hosted."""

from __future__ import annotations

import asyncio
import logging
import plistlib
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from autoconfig.settings import Settings, load_settings
from autoconfig.web.accesslog import ACCESS_LOGGER
from autoconfig.web.app import create_app, serve_version
from tests.helpers.hosting_lab import (
    HOSTED_HOSTS,
    NXDOMAIN,
    HostingLab,
    hoster_data,
    hosting_lab,
    servfail_nameserver,
    silent_nameserver,
    vouching_nameserver,
)
from tests.helpers.live import serving, wait_for
from tests.helpers.outlook import outlook_request
from tests.helpers.pages import dark_modules, export_modules
from tests.helpers.prometheus import parse_metrics, value
from tests.helpers.settings import write_settings
from tests.helpers.thunderbird import android_reader_refusals, read_config

OWN_HOST = "setup.hoster.example"  # the service's public_url here: not a name clients derive
HOSTS = (*HOSTED_HOSTS, OWN_HOST)
CUSTOMER = "jean.dupont@customer.example"
CONFIG = "/mail/config-v1.1.xml"
POX = "/autodiscover/autodiscover.xml"
THUNDERBIRD = "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Thunderbird/140.5.0"
EXPORT = (
    f'[1,[1,1],[0,"imap.mail.hoster.example",993,3,1,"{CUSTOMER}","{CUSTOMER}",""],'
    f'[[[0,"smtp.mail.hoster.example",465,3,1,"{CUSTOMER}",""],["{CUSTOMER}","Jean Dupont"]]]]'
)
MakeClient = Callable[..., TestClient]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostingLab]:
    with hosting_lab(tmp_path_factory.mktemp("knot")) as started:
        yield started


@pytest.fixture
def hoster(lab: HostingLab, tmp_path: Path) -> Callable[..., Settings]:
    """profiles/hoster.toml asking the lab's Knot (or `resolver`), served at OWN_HOST, with changes."""

    def make(
        resolver: str = lab.resolver, *, hosting: bool = True, log: str = "redact", **keys: Any
    ) -> Settings:
        data = hoster_data(resolver, hosting=keys.pop("rules", None), **keys)
        data["service"].update(public_url=f"https://{OWN_HOST}", log_addresses=log)
        if not hosting:
            del data["providers"][0]["hosting"]
        return load_settings(write_settings(tmp_path, data))

    return make


def answers(client: TestClient, address: str) -> list[httpx2.Response]:
    """The Thunderbird document, the POX answer, the JSON redirect and the Apple profile for an address."""
    return [
        client.get(CONFIG, params={"emailaddress": address}),
        client.post(POX, content=outlook_request(address)),
        client.get(f"/autodiscover/autodiscover.json/v1.0/{address}", params={"Protocol": "AutodiscoverV1"}),
        client.get("/profile.mobileconfig", params={"email": address}),
    ]


def export_svg(page: str) -> str:
    (svg,) = re.findall(r'<section class="export".*?(<svg\b.*?</svg>)', page, re.DOTALL)
    return str(svg)


@pytest.mark.parametrize("host", HOSTS)
def test_a_customer_domain_gets_every_format_on_the_hosters_names(
    hoster: Callable[..., Settings], make_client: MakeClient, host: str
) -> None:
    client = make_client(hoster(), host=host)
    thunderbird, pox, json_answer, profile = answers(client, CUSTOMER)
    assert thunderbird.status_code == 200, thunderbird.text
    config = read_config(thunderbird.content)
    assert (config.id, config.domains) == ("hoster.example", ("customer.example", "hoster.example"))
    assert {s.username for s in (*config.incoming, *config.outgoing)} == {CUSTOMER}
    assert pox.status_code == 200
    assert re.findall(r"<LoginName>(.*?)</LoginName>", pox.text) == [CUSTOMER, CUSTOMER]
    assert json_answer.status_code == 200
    assert json_answer.json() == {
        "Protocol": "AutodiscoverV1",
        "Url": f"https://{OWN_HOST}/Autodiscover/Autodiscover.xml",
    }
    assert profile.status_code == 200
    (mail,) = [p for p in plistlib.loads(profile.content)["PayloadContent"] if "EmailAddress" in p]
    assert (mail["EmailAddress"], mail["IncomingMailServerUsername"]) == (CUSTOMER, CUSTOMER)
    guide = client.get("/guide/android", params={"email": CUSTOMER, "lang": "en"})
    assert guide.status_code == 200
    assert dark_modules(export_svg(guide.text)) == export_modules(EXPORT)
    assert client.app.state.served.mx.asked == 1  # type: ignore[attr-defined]  # one lookup for them all


def unknown(client: TestClient, address: str) -> list[tuple[int, str, bytes]]:
    """What the clients get: the answers of the three formats they fetch by themselves, whole; the Apple
    profile's status (its page tells a person that the service hosts domains besides those listed)."""
    thunderbird, pox, json_answer, profile = answers(client, address)
    found = [(r.status_code, r.headers["content-type"], r.content) for r in (thunderbird, pox, json_answer)]
    return [*found, (profile.status_code, "", b"")]


@pytest.mark.parametrize(
    "host", ["autoconfig.customer.example", "customer.example", "autoconfig.example.org"]
)
def test_never_on_the_customer_domains_own_names(
    hoster: Callable[..., Settings], make_client: MakeClient, host: str
) -> None:
    client = make_client(hoster(), host=host)
    without = make_client(hoster(hosting=False), host=host)
    assert unknown(client, CUSTOMER) == unknown(without, CUSTOMER)
    assert {status for status, _, _ in unknown(client, CUSTOMER)} == {404}
    assert client.app.state.served.mx.asked == 0  # type: ignore[attr-defined]  # nothing asked


def check_unknown(settings: Settings, without: Settings, make_client: MakeClient, address: str) -> float:
    """The address gets the unknown-domain answers of the settings without hosting; how long they took."""
    client = make_client(settings, host=HOSTED_HOSTS[0])
    start = time.monotonic()
    found = unknown(client, address)
    elapsed = time.monotonic() - start
    assert found == unknown(make_client(without, host=HOSTED_HOSTS[0]), address)
    assert {status for status, _, _ in found} == {404}
    return elapsed


@pytest.mark.parametrize(
    "domain",
    ["elsewhere.example", "tie.example", "nomx.example", "nullmx.example", NXDOMAIN, "not-served.test"],
)
def test_domains_not_hosted_get_the_unknown_domain_answer(
    hoster: Callable[..., Settings], make_client: MakeClient, domain: str
) -> None:
    elapsed = check_unknown(hoster(), hoster(hosting=False), make_client, f"jean@{domain}")
    assert elapsed < 0.5, elapsed


@pytest.mark.parametrize(
    ("rules", "refused", "answered"),
    [
        ({"allow": ["allowed.example"]}, "customer.example", "allowed.example"),
        ({"deny": ["denied.example"]}, "denied.example", "customer.example"),
        ({"require_dnssec": True}, "customer.example", None),  # Knot is authoritative: no AD bit
    ],
)
def test_the_hosters_rules(
    hoster: Callable[..., Settings],
    make_client: MakeClient,
    rules: dict[str, Any],
    refused: str,
    answered: str | None,
) -> None:
    settings = hoster(rules=rules)
    check_unknown(settings, hoster(hosting=False), make_client, f"jean@{refused}")
    # A domain the lists refuse costs no question; require_dnssec needs the answer to refuse it.
    client = make_client(settings, host=HOSTED_HOSTS[0])
    client.get(CONFIG, params={"emailaddress": f"jean@{refused}"})
    assert client.app.state.served.mx.asked == (1 if "require_dnssec" in rules else 0)  # type: ignore[attr-defined]
    if answered is not None:
        response = make_client(settings, host=HOSTED_HOSTS[0]).get(
            CONFIG, params={"emailaddress": f"a@{answered}"}
        )
        assert response.status_code == 200


def test_require_dnssec_answers_what_a_validating_resolver_vouches_for(
    lab: HostingLab, hoster: Callable[..., Settings], make_client: MakeClient
) -> None:
    with vouching_nameserver(lab.resolver) as validating:
        client = make_client(
            hoster(validating, rules={"require_dnssec": True}), host=HOSTED_HOSTS[0], client=("127.0.0.1", 1)
        )
        before = parse_metrics(client.get("/metrics").text)
        assert client.get(CONFIG, params={"emailaddress": CUSTOMER}).status_code == 200
        assert client.get(CONFIG, params={"emailaddress": "a@elsewhere.example"}).status_code == 404
        after = parse_metrics(client.get("/metrics").text)
    # Whether DNSSEC vouched for an answer is recorded: the IT team sees it in the metrics.
    name = "autoconfig_mx_lookups_total"
    assert value(after, name, result="mx_validated") - value(before, name, result="mx_validated") == 2


@pytest.mark.parametrize(
    ("address", "domain"),
    [("Jean.Dupont@CUSTOMER.Example", "customer.example"), ("jean@café.example", "xn--caf-dma.example")],
)
def test_the_customer_domain_in_any_spelling(
    hoster: Callable[..., Settings], make_client: MakeClient, address: str, domain: str
) -> None:
    client = make_client(hoster(), host=HOSTED_HOSTS[0])
    for _ in range(2):
        response = client.get(CONFIG, params={"emailaddress": address})
        assert response.status_code == 200
        assert read_config(response.content).domains[0] == domain
    assert client.app.state.served.mx.asked == 1  # type: ignore[attr-defined]  # one spelling, one question


@pytest.mark.parametrize(("host", "status"), [("127.0.0.1", 200), ("localhost", 200), ("127.0.0.1:99", 404)])
def test_a_trial_on_loopback_answers_on_the_services_own_port_only(
    hoster: Callable[..., Settings], make_client: MakeClient, host: str, status: int
) -> None:
    # TestClient's requests come in on port 80: a Host without a port names it.
    response = make_client(hoster(), host=host).get(CONFIG, params={"emailaddress": CUSTOMER})
    assert response.status_code == status


@pytest.mark.parametrize("server", [silent_nameserver, servfail_nameserver])
def test_timeouts_and_servfail_get_the_unknown_domain_answer(
    hoster: Callable[..., Settings], make_client: MakeClient, server: Callable[[], Any]
) -> None:
    with server() as broken:
        settings = hoster(broken, timeout=0.3)
        elapsed = check_unknown(settings, hoster(hosting=False), make_client, CUSTOMER)
    # Three formats, one lookup (the failure is remembered): within about one deadline.
    assert elapsed < 0.8, elapsed


def test_an_mx_change_is_followed_once_its_ttl_is_over(
    lab: HostingLab, hoster: Callable[..., Settings], make_client: MakeClient
) -> None:
    client = make_client(hoster(min_ttl=0), host=HOSTED_HOSTS[0])  # moving.example's MX: a TTL of 1 s
    address = {"emailaddress": "jean@moving.example"}
    assert client.get(CONFIG, params=address).status_code == 200
    try:
        lab.edit("moving.example", ["@ 1 IN MX 10 mx.elsewhere.example."])
        assert client.get(CONFIG, params=address).status_code == 200  # the answer kept, within its TTL
        time.sleep(1.2)
        assert client.get(CONFIG, params=address).status_code == 404
    finally:
        lab.edit("moving.example", ["@ 1 IN MX 10 mx1.mail.hoster.example."])
    assert client.app.state.served.mx.asked == 2  # type: ignore[attr-defined]


async def gather_on(app: Starlette, paths: list[str], host: str = HOSTED_HOSTS[0]) -> list[httpx2.Response]:
    transport = httpx2.ASGITransport(app=app)
    async with httpx2.AsyncClient(transport=transport, base_url=f"http://{host}") as client:
        return await asyncio.gather(*(client.get(path) for path in paths))


def test_concurrent_requests_for_one_domain_ask_once(hoster: Callable[..., Settings]) -> None:
    app = create_app(hoster())
    paths = [f"{CONFIG}?emailaddress=person{i}%40second.example" for i in range(30)]
    responses = asyncio.run(gather_on(app, paths))
    assert [r.status_code for r in responses] == [200] * 30
    assert app.state.served.mx.asked == 1


def test_past_the_cap_a_new_domain_gets_503_and_configured_domains_are_answered(
    hoster: Callable[..., Settings],
) -> None:
    with silent_nameserver() as silent:
        app = create_app(hoster(silent, timeout=0.5, max_in_flight=1))

        async def scenario() -> tuple[list[httpx2.Response], float, httpx2.Response, httpx2.Response]:
            transport = httpx2.ASGITransport(app=app)
            async with httpx2.AsyncClient(
                transport=transport, base_url=f"http://{HOSTED_HOSTS[0]}"
            ) as client:
                waiting = asyncio.create_task(client.get(CONFIG, params={"emailaddress": CUSTOMER}))
                while app.state.served.mx.in_flight == 0:
                    await asyncio.sleep(0.01)
                start = time.monotonic()
                refused = [
                    await client.get(CONFIG, params={"emailaddress": "a@second.example"}),
                    await client.post(POX, content=outlook_request("a@second.example")),
                ]
                elapsed = time.monotonic() - start
                page = await client.get("/guide/android", params={"email": "a@second.example", "lang": "en"})
                configured = await client.get(CONFIG, params={"emailaddress": "jean@hoster.example"})
                assert app.state.served.mx.in_flight == 1  # still waiting for the silent server
                assert (await waiting).status_code == 404
                return refused, elapsed, configured, page

        refused, elapsed, configured, page = asyncio.run(scenario())
    # A person on the guide is told the service is busy, not that the address is wrong.
    assert page.status_code == 503
    assert page.headers["retry-after"] == "1"
    assert "The service is busy; try again in a moment." in page.text
    for response in refused:
        assert response.status_code == 503
        assert response.headers["retry-after"] == "1"
        assert response.text == "The service is busy; try again in a moment.\n"
    assert elapsed < 0.2, elapsed
    assert configured.status_code == 200
    assert app.state.served.mx.asked == 1


def test_the_cache_is_bounded_and_a_reload_starts_empty(
    hoster: Callable[..., Settings], make_client: MakeClient
) -> None:
    client = make_client(hoster(cache_entries=16), host=HOSTED_HOSTS[0])
    app: Starlette = client.app  # type: ignore[assignment]
    for i in range(20):
        client.get(CONFIG, params={"emailaddress": f"a@n{i}.customer.example"})
    client.get(CONFIG, params={"emailaddress": "a@n19.customer.example"})
    assert app.state.served.mx.asked == 20  # the most recent kept
    client.get(CONFIG, params={"emailaddress": "a@n0.customer.example"})
    assert app.state.served.mx.asked == 21  # the oldest out
    serve_version(app, app.state.served.version)  # a reload: the same settings, a new Served
    assert app.state.served.mx.asked == 0
    assert client.get(CONFIG, params={"emailaddress": "a@n19.customer.example"}).status_code == 404
    assert app.state.served.mx.asked == 1


@pytest.mark.parametrize("path", [CONFIG, "/.well-known/autoconfig/mail/config-v1.1.xml"])
def test_the_answer_without_address_passes_the_strict_android_reader(
    hoster: Callable[..., Settings], make_client: MakeClient, path: str
) -> None:
    response = make_client(hoster(), host="autoconfig.mail.hoster.example").get(path)
    assert response.status_code == 200
    assert android_reader_refusals(response.content) == []
    assert read_config(response.content).domains == ("hoster.example",)


@pytest.mark.parametrize(
    ("log", "shown"),
    [
        # (a customer's address, a listed domain's address), as the line shows them
        ("redact", (r"j\*\*\*@\*\*\*", r"j\*\*\*@hoster\.example")),
        ("hash", (r"h:[0-9a-f]{12}@h:[0-9a-f]{12}", r"h:[0-9a-f]{12}@hoster\.example")),
    ],
)
def test_the_access_log_hides_the_customers_domain(
    hoster: Callable[..., Settings],
    make_client: MakeClient,
    caplog: pytest.LogCaptureFixture,
    log: str,
    shown: tuple[str, str],
) -> None:
    hidden, listed = shown
    client = make_client(hoster(log=log), host=HOSTED_HOSTS[0])
    with caplog.at_level(logging.INFO, logger=ACCESS_LOGGER):
        assert client.get(CONFIG, params={"emailaddress": "jean@logged.example"}).status_code == 200
        assert client.get(CONFIG, params={"emailaddress": "jean@hoster.example"}).status_code == 200
    lines = [r.getMessage() for r in caplog.records if r.name == ACCESS_LOGGER]
    assert len(lines) == 2
    assert "logged.example" not in lines[0]
    assert re.search(rf"emailaddress={hidden}[\" ]", lines[0]), lines[0]
    assert re.search(rf"emailaddress={listed}[\" ]", lines[1]), lines[1]


def test_hosted_answers_are_counted_as_their_own_outcome(
    hoster: Callable[..., Settings], make_client: MakeClient
) -> None:
    client = make_client(hoster(), host=HOSTED_HOSTS[0], client=("127.0.0.1", 40000))
    headers = {"User-Agent": THUNDERBIRD}

    def scrape() -> dict[str, float]:
        samples = parse_metrics(client.get("/metrics").text)
        outcomes = {
            outcome: value(
                samples,
                "autoconfig_requests_total",
                endpoint="clientconfig",
                family="thunderbird",
                outcome=outcome,
                status=status,
            )
            for outcome, status in (("hosted", "200"), ("answered", "200"), ("unknown_domain", "404"))
        }
        lookups = {f"mx {r}": value(samples, "autoconfig_mx_lookups_total", result=r) for r in ("mx", "none")}
        return outcomes | lookups

    before = scrape()
    for address in (CUSTOMER, "jean@hoster.example", "jean@elsewhere.example", f"jean@{NXDOMAIN}", CUSTOMER):
        client.get(CONFIG, params={"emailaddress": address}, headers=headers)
    after = scrape()
    # The customer asked twice, its MX looked up once; the listed domain never.
    assert {k: after[k] - before[k] for k in after} == {
        "hosted": 2,
        "answered": 1,
        "unknown_domain": 2,
        "mx mx": 2,
        "mx none": 1,
    }


def test_a_live_service_answers_a_customer_domain_and_hides_it_in_its_log(
    lab: HostingLab, tmp_path: Path
) -> None:
    settings = write_settings(tmp_path, hoster_data(lab.resolver))
    with serving(tmp_path / "serve", settings=settings) as server:
        host = {"Host": "autoconfig.mail.hoster.example"}
        hosted = server.get(f"{CONFIG}?emailaddress=jean%40logged.example", headers=host)
        assert hosted.status_code == 200
        assert read_config(hosted.content).domains[0] == "logged.example"
        assert server.get(f"{CONFIG}?emailaddress=jean%40elsewhere.example", headers=host).status_code == 404
        # Access lines are written as the answers leave: wait for both (after the start's probe).
        log = wait_for(lambda: text if (text := server.access_log()).count("\n") >= 3 else None)
    assert "logged.example" not in log
    assert "elsewhere.example" not in log
    assert log.count("j***@***") == 2, log


@pytest.mark.parametrize(
    ("language", "said"),
    [
        ("en", "and at the domains whose mail Hoster Mail hosts; this domain is not one of them."),
        ("fr", "et celles des domaines dont Hoster Mail héberge la messagerie ; ce domaine n'en fait"),
    ],
)
def test_a_person_at_a_domain_not_hosted_is_told_what_the_service_sets_up(
    hoster: Callable[..., Settings], make_client: MakeClient, language: str, said: str
) -> None:
    # "only hoster.example" would be untrue: the hoster's customers are set up too.
    client = make_client(hoster(), host=OWN_HOST)
    page = client.get("/guide/android", params={"email": "jean@elsewhere.example", "lang": language})
    assert page.status_code == 404
    assert said in page.text.replace("&#39;", "'")
    profile = client.get(
        "/profile.mobileconfig", params={"email": "jean@elsewhere.example", "lang": language}
    )
    assert profile.status_code == 404
    assert said in profile.text
