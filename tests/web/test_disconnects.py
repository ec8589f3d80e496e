"""How a real `autoconfig serve` ends what a client breaks off or disguises (issue 21, items 3 and 7),
on both HTTP stacks: a client gone mid-body, a body too slow to wait for, an address spelled out so as
not to read as one, a forwarded chain longer than what is read, a loopback Host that is no trial's."""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Iterator

import pytest

from tests.helpers.live import Server, serving, wait_for
from tests.helpers.settings import settings_data, write_settings

STACKS = ["httptools", "h11"]
TIMEOUT = 0.5  # service.request_timeout: the slow body's deadline


@pytest.fixture(scope="module", params=STACKS)
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp(f"disconnects-{request.param}")
    # The proxies on loopback are trusted: the test's own requests stand for the proxy's.
    service = {"request_timeout": TIMEOUT, "trusted_proxies": ["127.0.0.0/8", "::1/128"]}
    path = write_settings(folder, settings_data(service=service))
    env = {"AUTOCONFIG_HTTP": "h11" if request.param == "h11" else "auto"}
    with serving(folder / "logs", settings=path, env=env) as live_server:
        yield live_server


def _metric(server: Server, pattern: str) -> float:
    """The sum of the autoconfig_requests_total samples whose labels match `pattern`."""
    text = server.get("/metrics").text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("autoconfig_requests_total{") and re.search(pattern, line)
    )


def _leave_mid_body(port: int, declared: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(
            b"POST /autodiscover/autodiscover.xml HTTP/1.1\r\nHost: autoconfig.example.org\r\n"
            b"Content-Type: text/xml\r\nContent-Length: %d\r\n\r\n" % declared + b"<" * 100
        )


DISCONNECTED = r'endpoint="autodiscover_xml".*outcome="disconnected",status="499"'


def test_a_client_that_leaves_mid_body_is_a_499_and_no_traceback(server: Server) -> None:
    before_log = len(server.error_log())
    before = _metric(server, DISCONNECTED)
    # 4,000 declared (under the POX cap of 8 KiB, so the body is read), 100 sent, then gone.
    for _ in range(200):
        _leave_mid_body(server.port, 4000)
    counted = wait_for(
        lambda: n if (n := _metric(server, DISCONNECTED) - before) >= 200 else None, 10, "200 disconnects"
    )
    assert counted == 200
    assert _metric(server, r'status="500"') == 0
    log = server.error_log()[before_log:]
    assert "Traceback" not in log
    assert len(log) < 200, log  # nothing per request: at most a line from elsewhere
    lines = wait_for(
        lambda: (
            found
            if len(found := re.findall(r'"POST /autodiscover/autodiscover.xml" 499 ', server.access_log()))
            >= 200
            else None
        ),
        5,
        "200 access lines",
    )
    assert len(lines) == 200
    # The healthz funnel counts them under their own outcome.
    funnel = wait_for(
        lambda: (
            c
            if (c := server.get("/healthz").json()["clients"]["families"]["unknown"]["outcomes"]).get(
                "disconnected", 0
            )
            >= 200
            else None
        ),
        5,
        "the funnel's disconnects",
    )
    assert "error" not in funnel


def _read_until_closed(sock: socket.socket, limit: float) -> tuple[bytes, float | None]:
    """What the server sends, and the seconds from its first byte to its closing (None: still open)."""
    received = b""
    first: float | None = None
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = sock.recv(4096)
        except TimeoutError:
            break
        if not chunk:
            assert first is not None
            return received, time.monotonic() - first
        first = first or time.monotonic()
        received += chunk
    return received, None


def test_the_slow_body_answer_closes_the_connection(server: Server) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(
            b"POST /autodiscover/autodiscover.xml HTTP/1.1\r\nHost: autoconfig.example.org\r\n"
            b"Content-Type: text/xml\r\nContent-Length: 200\r\n\r\n<Autodisco"
        )
        answer, closed_after = _read_until_closed(sock, 3.0)
    assert answer.startswith(b"HTTP/1.1 503 ")
    assert b"connection: close" in answer.lower()
    assert closed_after is not None
    assert closed_after < 1.0


SPELLED = [
    "/guide?email=jean.dupont+at+example.org",
    "/guide?email=jean.dupont%20AT%20example.org",
    "/guide?email=jean.dupont+(at)+example.org",
    "/guide?email=jean.dupont%20%28at%29%20example.org",
    "/guide?email=jean.dupont%5Bat%5Dexample.org",
    "/guide?email=jean.dupont[at]example.org",
    "/guide?email=jean.dupont%26%2364%3Bexample.org",
    "/guide?email=jean.dupont%26%23x40%3Bexample.org",
    "/guide?email=jean.dupont%u0040example.org",
    "/guide?email=jean.dupont%U0040example.org",
    "/guide?email=jean.dupont%2540example.org",
    "/guide?email=jean.dupont%EF%BC%A0example.org",
    "/autodiscover/autodiscover.json/v1.0/jean.dupont%20at%20example.org?Protocol=AutodiscoverV1",
]


def test_addresses_spelled_out_are_hidden_in_the_access_log(server: Server) -> None:
    for target in SPELLED:
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
            sock.sendall(
                f"GET {target}&marker=spelled HTTP/1.1\r\nHost: autoconfig.example.org\r\n"
                "Connection: close\r\n\r\n".encode()
            )
            assert _read_until_closed(sock, 5.0)[0].startswith(b"HTTP/1.1 ")
    lines = wait_for(
        lambda: (
            found
            if len(found := [x for x in server.access_log().splitlines() if "marker=spelled" in x])
            >= len(SPELLED)
            else None
        ),
        5,
        "the access lines",
    )
    assert len(lines) == len(SPELLED)
    for line in lines:
        assert "dupont" not in line, line
        assert "j***@example.org" in line, line


def test_a_trusted_chain_longer_than_what_is_read_names_no_trusted_client(server: Server) -> None:
    # 17 hops: the client, then 16 trusted proxies; only the last 16 are read, every one trusted.
    chain = ", ".join(["203.0.113.7", *["127.0.0.1"] * 16])
    response = server.get("/metrics?marker=chain17", headers={"X-Forwarded-For": chain})
    assert response.status_code == 404  # not the proxy's own request, which may read /metrics
    # A whole chain of trusted hops, none cut: its first is a machine of a trusted network.
    whole = ", ".join(["127.0.0.2", *["127.0.0.1"] * 15])
    assert server.get("/metrics?marker=chain16", headers={"X-Forwarded-For": whole}).status_code == 200
    log = wait_for(lambda: log if "chain16" in (log := server.access_log()) else None, 5, "the access lines")
    clients = {m[2]: m[1] for m in re.finditer(r"Z (\S+) \"GET /metrics\?marker=(chain1[67])", log)}
    assert clients == {"chain17": "unknown", "chain16": "127.0.0.2"}


def test_only_a_trial_loopback_host_reaches_the_links(server: Server) -> None:
    trial = f"127.0.0.1:{server.port}"
    for host, base in [
        ("127.1.2.3:99", "https://autoconfig.example.org"),
        ("127.0.0.1:99", "https://autoconfig.example.org"),
        (f"localhost:{server.port + 1}", "https://autoconfig.example.org"),
        (trial, f"http://{trial}"),
        (f"LOCALHOST:{server.port}", f"http://localhost:{server.port}"),
    ]:
        page = server.get("/?lang=en", headers={"Host": host})
        assert page.status_code == 200
        assert page.headers["cache-control"] == "public, max-age=300"
        assert page.headers["vary"] == "Accept-Language, Host"  # one copy per Host in a shared cache
        assert f"{base}/?lang=en" in page.text, host
        assert "127.1.2.3" not in page.text
        assert ":99/" not in page.text
