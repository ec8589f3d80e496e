"""What Thunderbird sends to the Outlook endpoint: its account hub POSTs the POX request with HTTP Basic
authentication carrying the person's real password (CLIENTS.md), and other clients or proxies may add a
Bearer token. A request carrying either, to every endpoint of the route table, with good requests, bad
ones and error paths, leaves no trace of it in the access lines (plain and JSON), the application's log
(at debug level), /metrics, /healthz and the setup funnel, nor in any answer; and no endpoint, the POX one
above all, answers 401 or 403 (Thunderbird then shows "Exchange auth error")."""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import httpx2
import pytest

from autoconfig.formats.pacc import WELL_KNOWN_PATH
from autoconfig.web.routes import ENDPOINTS, GUIDE_DEVICES
from tests.helpers.live import Server, serving
from tests.helpers.outlook import MOBILESYNC, outlook_request
from tests.helpers.paths import DATA, ROOT

USER = "leaky.user-7Q"
PASSWORD = "Tr0ub4dor&3-Pa55-LEAK"  # noqa: S105 - a recognisable fake
TOKEN = "eyJhbGciOiJub25lIn0.LEAKY-BEARER-TOKEN-93kd.sig"  # noqa: S105 - a recognisable fake
CREDENTIALS = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
BASIC = f"Basic {CREDENTIALS}"
BEARER = f"Bearer {TOKEN}"
# Every form the secret could leave in: the token, the base64, the decoded pair, the password alone, its
# own base64, the user name; and any 8 characters in a row of them, for a log that cuts a value short.
SECRETS = (
    TOKEN,
    CREDENTIALS,
    f"{USER}:{PASSWORD}",
    base64.b64encode(PASSWORD.encode()).decode(),
)
FRAGMENT = 8
TRACES = frozenset(
    secret[i : i + FRAGMENT].lower() for secret in SECRETS for i in range(len(secret) - FRAGMENT + 1)
)
AUTHORIZATIONS = {"basic": BASIC, "bearer": BEARER}

DOMAIN = "example.org"
JEAN = f"jean.dupont@{DOMAIN}"


@dataclass(frozen=True)
class Call:
    method: str
    target: str
    body: bytes | None = None
    host: str | None = None  # the Host header, else the server's own address


POX = "/autodiscover/autodiscover.xml"
CALLS: tuple[Call, ...] = (
    # Thunderbird's autoconfig lookups, the person's answer, and the error paths.
    Call("GET", f"/mail/config-v1.1.xml?emailaddress={JEAN}"),
    Call("GET", "/mail/config-v1.1.xml", host=f"autoconfig.{DOMAIN}"),
    Call("GET", "/mail/config-v1.1.xml?emailaddress=not-an-address"),
    Call("GET", "/mail/config-v1.1.xml?emailaddress=jean@unknown.example"),
    Call("POST", "/mail/config-v1.1.xml", b"x"),
    Call("HEAD", f"/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress={JEAN}"),
    Call("GET", "/.well-known/autoconfig/mail/config-v1.1.xml", host="unknown.example"),
    # The POX endpoint, as Thunderbird's account hub and Outlook send it, and everything that fails.
    Call("POST", POX, outlook_request(JEAN)),
    Call("POST", "/Autodiscover/Autodiscover.xml", outlook_request(JEAN)),
    Call("POST", POX, outlook_request("jean.dupont@example.net")),  # an alias: redirectAddr
    Call("POST", POX, outlook_request(JEAN, MOBILESYNC)),
    Call("POST", POX, outlook_request("jean@unknown.example")),
    Call("POST", POX, outlook_request("not-an-address")),
    Call("POST", POX, b"<Autodiscover><Request>"),
    Call("POST", POX, b"<a>" + b"x" * 9000 + b"</a>"),
    Call("POST", POX, b""),
    Call("GET", POX),
    Call("PUT", POX, b"x"),
    # autodiscover.json, both forms.
    Call("GET", f"/autodiscover/autodiscover.json?Email={JEAN}&Protocol=AutodiscoverV1"),
    Call("GET", f"/autodiscover/autodiscover.json?Email={JEAN}&Protocol=ActiveSync"),
    Call("GET", "/autodiscover/autodiscover.json"),
    Call("GET", f"/autodiscover/autodiscover.json/v1.0/{JEAN}?Protocol=AutodiscoverV1"),
    Call("GET", "/Autodiscover/Autodiscover.json/v1.0/jean@unknown.example?Protocol=AutodiscoverV1"),
    # Apple profiles.
    Call("GET", f"/profile.mobileconfig?email={JEAN}&lang=fr"),
    Call("GET", "/profile.mobileconfig?email=not-an-address"),
    Call("GET", "/profile.mobileconfig"),
    Call("GET", "/profile.mobileconfig?email=jean@unknown.example&lang=en"),
    # PACC.
    Call("GET", f"{WELL_KNOWN_PATH}?domain={DOMAIN}"),
    Call("GET", WELL_KNOWN_PATH, host=f"ua-auto-config.{DOMAIN}"),
    Call("GET", f"{WELL_KNOWN_PATH}?domain=unknown.example"),
    # Calendar and contacts discovery.
    Call("GET", "/.well-known/caldav", host=DOMAIN),
    Call("PROPFIND", "/.well-known/caldav", b"<propfind/>", host=DOMAIN),
    Call("GET", "/.well-known/carddav", host=DOMAIN),
    Call("PROPFIND", "/.well-known/carddav", host="unknown.example"),
    # The pages.
    Call("GET", "/"),
    Call("GET", "/?lang=en"),
    Call("POST", "/", b"email=x"),
    Call("GET", f"/guide?email={JEAN}"),
    Call("GET", "/guide?email=not-an-address"),
    *(Call("GET", f"/guide/{device}?email={JEAN}&lang=en") for device in GUIDE_DEVICES),
    Call("GET", "/guide/android?email=jean@unknown.example"),
    Call("GET", "/guide/nokia"),
    Call("GET", "/static/style.css"),
    Call("GET", "/static/missing.js"),
    # For the IT team (their networks: loopback here), and what no route answers.
    Call("GET", "/healthz"),
    Call("GET", "/metrics"),
    Call("GET", "/nope"),
    Call("GET", "/guide/"),
)


def _routes() -> list[tuple[int, str, re.Pattern[str], tuple[str, ...]]]:
    """Each path of the route table, its endpoint's index and methods, and a pattern for it."""
    found = []
    for index, endpoint in enumerate(ENDPOINTS):
        for path in endpoint.paths if endpoint.view is not None else endpoint.paths[:1]:
            pattern = re.sub(r"\{[a-z]+\}", "[^/]+", re.escape(path).replace(r"\{", "{").replace(r"\}", "}"))
            pattern = pattern + ("/.+" if endpoint.view is None else "")
            flags = re.IGNORECASE if endpoint.any_case else 0
            found.append((index, path, re.compile(f"^{pattern}$", flags), endpoint.methods))
    return found


def test_the_calls_cover_every_path_and_method_of_the_route_table() -> None:
    # A route added to the table fails here until a request with credentials is sent to it.
    routes = _routes()
    covered: set[str] = set()
    methods: dict[int, set[str]] = {}
    for call in CALLS:
        path = call.target.partition("?")[0]
        for index, route_path, pattern, _ in routes:
            if pattern.match(path):
                covered.add(route_path)
                methods.setdefault(index, set()).add(call.method)
    assert covered == {path for _, path, _, _ in routes}
    for index, endpoint in enumerate(ENDPOINTS):
        assert set(endpoint.methods) <= methods[index], endpoint.paths


@pytest.fixture(scope="module", params=["plain", "json"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`autoconfig serve` on rich.toml (aliases, overrides, POP3, two outgoing servers, unsigned
    profiles), access lines in the format of the parameter, the application's log at debug level."""
    log_format: str = request.param
    folder = tmp_path_factory.mktemp(f"hub-{log_format}")
    shutil.copy(DATA / "golden" / "rich-overrides.csv", folder / "rich-overrides.csv")
    text = (DATA / "golden" / "rich.toml").read_text(encoding="utf-8")
    text = text.replace("cache_max_age = 600\n", f'cache_max_age = 600\nlog_format = "{log_format}"\n', 1)
    assert f'log_format = "{log_format}"' in text
    settings = folder / "settings.toml"
    settings.write_text(text, encoding="utf-8")
    with serving(folder / "logs", "--log-level", "debug", settings=settings) as live_server:
        yield live_server


def _send(server: Server, call: Call, authorization: str) -> httpx2.Response:
    headers = {"Authorization": authorization, "User-Agent": "Thunderbird/140.0"}
    if call.host is not None:
        headers["Host"] = call.host
    if call.body is not None:
        headers["Content-Type"] = "text/xml"
    return httpx2.request(
        call.method, f"{server.base_url}{call.target}", headers=headers, content=call.body, timeout=10
    )


def _traces_in(text: str) -> list[str]:
    lowered = text.lower()
    found = sorted(trace for trace in TRACES if trace in lowered)
    # The header's name too: nothing the service writes has a reason to name it.
    return found + (["authorization"] if "authorization" in lowered else [])


@pytest.mark.parametrize("scheme", sorted(AUTHORIZATIONS))
def test_credentials_leave_no_trace_and_get_no_401(server: Server, scheme: str) -> None:
    authorization = AUTHORIZATIONS[scheme]
    statuses: list[int] = []
    for call in CALLS:
        response = _send(server, call, authorization)
        what = f"{call.method} {call.target}"
        statuses.append(response.status_code)
        assert response.status_code not in (401, 403), what
        assert "www-authenticate" not in response.headers, what
        answer = "\n".join(f"{k}: {v}" for k, v in response.headers.items()) + "\n" + response.text
        assert _traces_in(answer) == [], f"{what} answered with the credentials:\n{answer[:2000]}"
        if call.target.lower().startswith(POX) and call.method == "POST":
            # Thunderbird shows "Exchange auth error" on a 401; the POX endpoint answers as it always does.
            assert response.status_code in (200, 404, 413), what
    # The calls did reach what they aim at: answers, redirects and each kind of error.
    assert statuses[CALLS.index(Call("POST", POX, outlook_request(JEAN)))] == 200
    assert {200, 301, 400, 404, 405, 413} <= set(statuses), list(zip(CALLS, statuses, strict=True))

    # What the IT team reads: /metrics, /healthz with the funnel, and `autoconfig healthcheck --clients`.
    for path in ("/metrics", "/healthz"):
        page = server.get(path, headers={"Authorization": authorization})
        assert page.status_code == 200, path
        assert _traces_in(page.text) == [], f"{path}:\n{page.text[:2000]}"
    health = server.get("/healthz").json()
    assert health["clients"], "the funnel counted nothing"
    command = subprocess.run(
        [sys.executable, "-m", "autoconfig", "healthcheck", "--port", str(server.port), "--clients"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert "thunderbird" in command.stdout.lower(), command.stdout + command.stderr
    assert _traces_in(command.stdout + command.stderr) == []

    # The logs, once the last request's access line is written.
    server.wait_for_any_log("/healthz")
    assert "/mail/config-v1.1.xml" in server.access_log()
    assert _traces_in(server.access_log()) == [], server.access_log()[-3000:]
    # At debug level, so that whatever is ever logged there is checked too.
    assert "Application startup complete" in server.error_log()
    assert _traces_in(server.error_log()) == [], server.error_log()[-3000:]


def test_thunderbirds_own_requests_get_the_literal_login(server: Server) -> None:
    # Exactly the shape of the account hub's POST: Basic credentials, text/xml, Outlook's schema; and
    # the autoconfig lookup Thunderbird and Nextcloud Mail make with the address. rich.toml's rule gives
    # jean.dupont@example.org the login dupont.j: no placeholder a client could fill in wrongly.
    pox = _send(server, Call("POST", POX, outlook_request(JEAN)), BASIC)
    assert pox.status_code == 200
    assert "<Action>settings</Action>" in pox.text
    assert "<LoginName>dupont.j</LoginName>" in pox.text
    config = _send(server, Call("GET", f"/mail/config-v1.1.xml?emailaddress={JEAN}"), BASIC)
    assert config.status_code == 200
    assert "<username>dupont.j</username>" in config.text
    assert "%EMAIL" not in config.text


def test_the_server_log_is_in_the_format_asked(server: Server, request: pytest.FixtureRequest) -> None:
    server.get("/nope")
    line = server.wait_for_any_log("/nope")
    last = [entry for entry in server.access_log().splitlines() if "/nope" in entry][-1]
    assert line
    assert last.startswith("{") == (request.node.callspec.params["server"] == "json")
