"""The guarded HTTP protocols against a real `autoconfig serve`, with raw sockets: connections that send
nothing or a header a byte at a time are closed, a worker caps its connections, and what the HTTP parser
refuses carries the security headers and an access line. One log line per condition, not per socket."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.live import Server, serving, wait_for
from tests.helpers.settings import settings_data, write_settings

HEAD_TIMEOUT = 1.0
CAP = 20


def guarded_server(folder: Path) -> Iterator[Server]:
    data = settings_data(service={"header_timeout": HEAD_TIMEOUT, "max_connections": CAP})
    with serving(folder / "logs", settings=write_settings(folder, data)) as server:
        yield server


@pytest.fixture
def guarded(tmp_path: Path) -> Iterator[Server]:
    """A server of the test's own: for the tests that count a notice said once per condition."""
    yield from guarded_server(tmp_path)


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server for the tests that count nothing in its logs, or only what they add to them."""
    yield from guarded_server(tmp_path_factory.mktemp("guarded"))


def connect(server: Server) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    sock.settimeout(5)
    return sock


def closed_by_server(sock: socket.socket) -> bool:
    """Whether the server closed the connection (an end of stream or a reset), answering nothing first;
    False when it is still open after the socket's timeout."""
    try:
        return sock.recv(65536) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def test_workers_serve_on_uvloop_and_httptools_and_say_so(shared: Server) -> None:
    # The fastest stack that keeps the guards above; /healthz tells the IT team (and the benchmark).
    assert shared.get("/healthz").json()["server"] == {"loop": "uvloop", "http": "httptools"}


def test_silent_and_slow_connections_are_closed_after_the_header_timeout(guarded: Server) -> None:
    silent = [connect(guarded) for _ in range(10)]
    slow = connect(guarded)
    started = time.monotonic()
    # A header a byte at a time, every 0.3 s: never complete within the timeout.
    for byte in b"GET /healthz HTTP/1.1\r\n":
        try:
            slow.sendall(bytes([byte]))
        except OSError:
            break
        if time.monotonic() - started > HEAD_TIMEOUT * 3:
            break
        time.sleep(0.3)
    for sock in [*silent, slow]:
        assert closed_by_server(sock)
        sock.close()
    assert time.monotonic() - started < HEAD_TIMEOUT * 5
    # Meanwhile, and after, real requests are answered.
    assert guarded.get("/healthz").status_code == 200
    # One line for the condition, not one per socket.
    log = wait_for(
        lambda: (
            text
            if "closed connections that sent no complete request" in (text := guarded.error_log())
            else None
        ),
        5,
        "the notice",
    )
    assert log.count("closed connections that sent no complete request within 1 s") == 1


def test_a_keep_alive_connection_gets_a_new_deadline_for_its_next_request(shared: Server) -> None:
    with connect(shared) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHo")  # half a head, then nothing
        assert closed_by_server(sock)


def test_a_worker_caps_its_connections(guarded: Server) -> None:
    opened = []
    with contextlib.ExitStack() as stack:
        for _ in range(CAP + 5):
            opened.append(stack.enter_context(connect(guarded)))
        # Past the cap, the newest are closed at once, without an answer.
        over = [sock for sock in opened[CAP:] if closed_by_server(sock)]
        assert len(over) == 5
    log = guarded.wait_for_log(f"more than {CAP} connections open in one worker")
    assert log.count(f"more than {CAP} connections open in one worker") == 1
    # Once they are gone, the service answers as before.
    wait_for(lambda: True if guarded.get("/healthz").status_code == 200 else None, 5, "an answer")


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET /healthz HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n", 400),
        (b"GET /healthz HTTP/1.1\r\n\r\n", 400),
        # Past service.max_head_bytes: refused before the parser has all of it (431).
        (b"GET /" + b"a" * 1_000_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 431),
        (b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400),
    ],
    ids=["two-hosts", "no-host", "huge-target", "two-lengths"],
)
def test_what_the_parser_refuses_carries_the_security_headers_and_is_logged(
    shared: Server, request_bytes: bytes, status: int
) -> None:
    # The parser refuses some (its line: "- -"); httptools lets Host problems through to the
    # application, which refuses them as RFC 9112 says (its line: the request).
    access_before, error_before = len(shared.access_log()), len(shared.error_log())
    with connect(shared) as sock:
        with contextlib.suppress(OSError):  # the server may close before it has read everything
            sock.sendall(request_bytes)
        answer = b""
        with contextlib.suppress(OSError):
            while chunk := sock.recv(65536):
                answer += chunk
    head = answer.split(b"\r\n\r\n", 1)[0].decode("latin-1").lower()
    assert head.startswith(f"http/1.1 {status} ")
    for header in (
        "x-content-type-options: nosniff",
        "content-security-policy: default-src 'none'",
        "x-frame-options: deny",
        "cache-control: no-store",
    ):
        assert header in head
    needles = (f'"- -" {status}', f'"GET /healthz" {status}')

    def added() -> str:  # what this request added to the shared server's logs
        return shared.access_log()[access_before:] + shared.error_log()[error_before:]

    wait_for(lambda: True if any(n in added() for n in needles) else None, 5, f"a {status} line")
    assert "Traceback" not in shared.logs()
