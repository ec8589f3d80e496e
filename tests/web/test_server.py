"""`autoconfig serve`: a real uvicorn on loopback, one worker and two."""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx2
import pytest

from tests.helpers.live import Server, serving
from tests.helpers.outlook import (
    BILLION_LAUGHS,
    JSON_PATHS,
    MOBILESYNC,
    MOBILESYNC_REQUEST_NS,
    OUTLOOK,
    OUTLOOK_HEADERS,
    RESPONSE,
    SETTINGS_ANSWER,
    XML_PATHS,
    XXE_PASSWD,
    ErrorView,
    PoxView,
    check_encryption_matches_port,
    outlook_request,
    paris_pox,
    read_error,
    read_pox,
)
from tests.helpers.thunderbird import ServerView, read_config

JEAN = "jean.dupont@ac-paris.fr"


@pytest.fixture(scope="module", params=[1, 2], ids=["one-worker", "two-workers"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    workers: int = request.param
    with serving(tmp_path_factory.mktemp(f"serve-{workers}"), workers=workers) as live_server:
        yield live_server


def test_real_server_answers_with_the_persons_document(server: Server) -> None:
    response = httpx2.get(f"{server.base_url}/mail/config-v1.1.xml?emailaddress={JEAN}", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/xml"
    assert response.headers["cache-control"] == "private, max-age=3600"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "server" not in response.headers  # no "Server: uvicorn"
    view = read_config(response.content)
    assert view.incoming == (
        ServerView("imap", "imap.ac-paris.fr", 143, "STARTTLS", "jdupont", ("password-cleartext",)),
    )
    assert view.outgoing == (
        ServerView("smtp", "smtp.ac-paris.fr", 587, "STARTTLS", "jdupont", ("password-cleartext",)),
    )


def test_real_server_other_path_host_head_and_errors(server: Server) -> None:
    url = f"{server.base_url}/.well-known/autoconfig/mail/config-v1.1.xml"
    with httpx2.Client(timeout=10) as client:
        by_host = client.get(url, headers={"Host": "autoconfig.ac-paris.fr"})
        head = client.head(url, params={"emailaddress": JEAN})
        unknown = client.get(url, params={"emailaddress": "jean.dupont@example.org"})
        post = client.post(url, params={"emailaddress": JEAN})
        injected = client.get(f"{url}?emailaddress=jean%0d%0aX-Injected:%20yes@ac-paris.fr")
    assert by_host.status_code == 200
    assert by_host.headers["cache-control"] == "public, max-age=3600"
    assert read_config(by_host.content).incoming[0].username == "%EMAILLOCALPART%"
    assert head.status_code == 200
    assert head.content == b""
    assert int(head.headers["content-length"]) > 0
    assert unknown.status_code == 404
    assert unknown.text == "This service does not configure mail for that domain.\n"
    assert post.status_code == 405
    assert injected.status_code == 400
    assert injected.headers["content-type"] == "text/plain; charset=utf-8"
    assert "x-injected" not in injected.headers
    for response in (by_host, head, unknown, post, injected):
        assert "server" not in response.headers


def test_access_log_redacts_addresses(server: Server) -> None:
    marker = f"marker{time.monotonic_ns()}"
    httpx2.get(
        f"{server.base_url}/mail/config-v1.1.xml", params={"emailaddress": JEAN, "m": marker}, timeout=10
    )
    httpx2.get(f"{server.base_url}/mail/config-v1.1.xml?emailaddress=jean.dupont%40ac-paris.fr", timeout=10)
    logs = server.wait_for_any_log(marker)
    lines = [line for line in logs.splitlines() if marker in line]
    assert len(lines) == 1, logs
    assert "GET /mail/config-v1.1.xml?emailaddress=j***@ac-paris.fr" in lines[0]
    assert " 200 " in lines[0]
    assert JEAN not in logs
    assert "jean.dupont%40ac-paris.fr" not in logs
    assert "jean.dupont" not in logs
    # uvicorn's own access log is off: only the app's redacted lines.
    assert "HTTP/1.1" not in logs


def test_access_log_keeps_one_line_per_request(server: Server) -> None:
    marker = f"crlf{time.monotonic_ns()}"
    response = httpx2.get(
        f"{server.base_url}/mail/config-v1.1.xml?{marker}=1&emailaddress=x%0d%0aFORGED-LINE",
        timeout=10,
    )
    assert response.status_code == 400
    logs = server.wait_for_any_log(marker)
    (line,) = [line for line in logs.splitlines() if marker in line]
    assert " 400 " in line
    assert not any(other.startswith("FORGED-LINE") for other in logs.splitlines())


def test_a_hostile_target_cannot_forge_or_flood_the_log(server: Server) -> None:
    marker = f"quote{time.monotonic_ns()}"
    forged = f'/guide/{marker}" 200 0.1ms "GET /forged'
    assert server.get(forged).status_code == 404
    # Under the head cap (service.max_head_bytes, 16 KiB), a long target is logged cut at 1 KiB.
    long_path = f"/guide/{marker}long" + "a" * 12_000
    assert server.get(long_path).status_code == 404
    # Past it, the protocol refuses the head before any line holds the target.
    assert server.get(f"/guide/{marker}huge" + "a" * 60_000).status_code == 431
    logs = server.wait_for_any_log(f"{marker}long")
    (quoted,) = [line for line in logs.splitlines() if marker in line and "long" not in line]
    assert quoted.replace('\\"', "").count('"') == 2  # only the quotes that frame the request
    (cut,) = [line for line in logs.splitlines() if f"{marker}long" in line]
    assert len(cut) < 1200


@pytest.mark.parametrize(
    "target",
    [
        "/guide?email=jean.dupont%EF%BC%A0ac-paris.fr",  # a full-width commercial at
        "/guide?email=jean.dupont%2525252540ac-paris.fr",  # encoded four times
        "/autodiscover/autodiscover.json/v1.0/jean%2Fdupont@ac-paris.fr?Protocol=AutodiscoverV1",
    ],
)
def test_near_addresses_never_reach_the_log(server: Server, target: str) -> None:
    marker = f"near{time.monotonic_ns()}"
    server.get(f"{target}&{marker}=1" if "?" in target else f"{target}?{marker}=1")
    logs = server.wait_for_any_log(marker)
    (line,) = [line for line in logs.splitlines() if marker in line]
    assert "j***@ac-paris.fr" in line
    assert "dupont" not in line


def test_a_trailing_slash_is_no_route_and_no_redirect(server: Server) -> None:
    # Starlette would redirect to the slashless path with a Location built from the Host header.
    response = server.get(f"/guide/?email={JEAN}", headers={"Host": "evil.example"})
    assert response.status_code == 404
    assert "location" not in response.headers
    assert JEAN not in response.text


# --- Outlook autodiscover --------------------------------------------------------------------------------

FOUR_MIB = 4 * 1024 * 1024
INVALID_REQUEST = ErrorView(RESPONSE, 600, "Invalid Request")


def test_real_server_answers_outlooks_exact_post_at_every_path_casing(server: Server) -> None:
    with httpx2.Client(base_url=server.base_url, timeout=10) as client:
        for path in XML_PATHS:
            response = client.post(path, content=outlook_request(JEAN), headers=OUTLOOK_HEADERS)
            assert response.status_code == 200, path
            assert response.headers["content-type"] == "application/xml"
            assert response.headers["cache-control"] == "private, no-store"
            assert response.headers["x-content-type-options"] == "nosniff"
            assert "server" not in response.headers
            view = read_pox(response.content)
            assert view == paris_pox("jdupont", "Jean Dupont")
            check_encryption_matches_port(view)
        get = client.get(XML_PATHS[1])
        unknown = client.post(XML_PATHS[1], content=outlook_request("jean.dupont@example.org"))
        xxe = client.post(XML_PATHS[1], content=XXE_PASSWD, headers=OUTLOOK_HEADERS)
    assert get.status_code == 200
    assert read_error(get.content) == INVALID_REQUEST
    assert unknown.status_code == 404
    assert read_error(unknown.content) == ErrorView(RESPONSE, 500, "The email address cannot be found")
    assert b"imap." not in unknown.content
    assert xxe.status_code == 200
    assert read_error(xxe.content) == INVALID_REQUEST
    assert b"root:" not in xxe.content


def test_real_server_request_shapes_and_errors(server: Server) -> None:
    jean = paris_pox("jdupont", "Jean Dupont")
    cases: list[tuple[bytes, int, PoxView | ErrorView]] = [
        (outlook_request(JEAN).split(b"?>", 1)[1], 200, jean),
        (b"\xef\xbb\xbf" + outlook_request(JEAN), 200, jean),
        (outlook_request(JEAN).decode().replace("utf-8", "utf-16").encode("utf-16"), 200, jean),
        (outlook_request("JEAN.DUPONT@AC-PARIS.FR"), 200, jean),
        (outlook_request(JEAN, MOBILESYNC, MOBILESYNC_REQUEST_NS), 200, ErrorView(MOBILESYNC, 601, "")),
        (outlook_request(JEAN)[:-30], 200, INVALID_REQUEST),
        (outlook_request("jean dupont@ac-paris.fr"), 200, INVALID_REQUEST),
        (
            f"<Autodiscover><Request><AcceptableResponseSchema>{OUTLOOK}</AcceptableResponseSchema>"
            "</Request></Autodiscover>".encode(),
            200,
            INVALID_REQUEST,
        ),
    ]
    with httpx2.Client(base_url=server.base_url, timeout=10) as client:
        for body, status, expected in cases:
            response = client.post(XML_PATHS[1], content=body, headers=OUTLOOK_HEADERS)
            assert response.status_code == status, body
            assert response.headers["content-type"] == "application/xml"
            if isinstance(expected, PoxView):
                assert read_pox(response.content) == expected
            elif expected.message:
                assert read_error(response.content) == expected
            else:
                error = read_error(response.content)
                assert (error.namespace, error.code) == (expected.namespace, expected.code)


def test_real_server_answers_autodiscover_json(server: Server) -> None:
    with httpx2.Client(base_url=server.base_url, timeout=10) as client:
        by_query = client.get(JSON_PATHS[1], params={"Email": JEAN, "Protocol": "AutodiscoverV1"})
        by_path = client.get(f"{JSON_PATHS[2]}/v1.0/{JEAN}", params={"Protocol": "autodiscoverv1"})
        wrong = client.get(f"{JSON_PATHS[0]}/v1.0/{JEAN}", params={"Protocol": "ActiveSync"})
    for response in (by_query, by_path):
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.json() == SETTINGS_ANSWER
    assert wrong.status_code == 400
    assert wrong.headers["content-type"] == "application/json"
    assert wrong.json()["ErrorCode"] == "InvalidProtocol"


def test_real_server_answers_billion_laughs_fast(server: Server) -> None:
    with httpx2.Client(base_url=server.base_url, timeout=10) as client:
        client.post(XML_PATHS[0], content=outlook_request(JEAN))  # a warm connection, as for any request
        start = time.perf_counter()
        response = client.post(XML_PATHS[0], content=BILLION_LAUGHS, headers=OUTLOOK_HEADERS)
        elapsed = time.perf_counter() - start
    assert elapsed < 0.5
    assert response.status_code == 200
    assert read_error(response.content) == INVALID_REQUEST


@dataclass(frozen=True)
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes
    sent: int  # body bytes the server let through before it answered


def raw_exchange(
    server: Server, head: bytes, body: Iterable[bytes] = (), timeout: float = 5.0
) -> RawResponse:
    """Send a request's head, then body chunks only until the server answers; read the answer.

    A raw socket, so that the test depends on no HTTP client's handling of an answer that comes
    before the request is sent; every wait is bounded by `timeout`.
    """
    port = urlsplit(server.base_url).port
    assert port is not None
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(head)
        for chunk in body:
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:
                break
            try:
                sock.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(chunk)
        with sock.makefile("rb") as reader:
            status_line = reader.readline(1024)
            assert status_line.startswith(b"HTTP/1.1 "), status_line
            headers: dict[str, str] = {}
            while (line := reader.readline(8192)) not in (b"\r\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                headers[name.strip().lower()] = value.strip()
            content = reader.read(int(headers["content-length"]))
    return RawResponse(int(status_line.split()[1]), headers, content, sent)


def _check_413(response: RawResponse) -> None:
    assert response.status == 413
    assert response.headers["content-type"] == "application/xml"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert read_error(response.body) == INVALID_REQUEST


def test_real_server_refuses_four_mebibytes_declared_by_content_length(server: Server) -> None:
    head = (
        f"POST /Autodiscover/Autodiscover.xml HTTP/1.1\r\nHost: autodiscover.ac-paris.fr\r\n"
        f"Content-Type: text/xml\r\nContent-Length: {FOUR_MIB}\r\n\r\n"
    ).encode()
    start = time.perf_counter()
    response = raw_exchange(server, head)  # not one byte of the body: the declaration is enough
    assert time.perf_counter() - start < 2.0
    _check_413(response)


def test_real_server_refuses_four_mebibytes_sent_chunked(server: Server) -> None:
    head = (
        b"POST /autodiscover/autodiscover.xml HTTP/1.1\r\nHost: autodiscover.ac-paris.fr\r\n"
        b"Content-Type: text/xml\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    size = 16 * 1024
    chunk = f"{size:x}\r\n".encode() + b"<" * size + b"\r\n"
    start = time.perf_counter()
    response = raw_exchange(server, head, [*[chunk] * (FOUR_MIB // size), b"0\r\n\r\n"])
    assert time.perf_counter() - start < 5.0
    _check_413(response)
    assert response.sent >= 8 * 1024  # the answer came once the cap was passed, not before
