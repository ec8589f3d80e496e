"""`autoconfig serve`: a real uvicorn on loopback, one worker and two."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx2
import pytest

from .conftest import ROOT
from .test_clientconfig import ServerView, read_config

STARTUP_TIMEOUT = 15.0
JEAN = "jean.dupont@ac-paris.fr"


@dataclass
class Server:
    base_url: str
    process: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path

    def logs(self) -> str:
        return self.stdout.read_text(errors="replace") + self.stderr.read_text(errors="replace")

    def wait_for_log(self, needle: str, timeout: float = 5.0) -> str:
        """The logs once they hold `needle` (log lines are written as the answer leaves)."""
        deadline = time.monotonic() + timeout
        while True:
            logs = self.logs()
            if needle in logs or time.monotonic() > deadline:
                return logs
            time.sleep(0.05)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)  # its own process group: the workers go too
            process.wait(timeout=10)


@pytest.fixture(scope="module", params=[1, 2], ids=["one-worker", "two-workers"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    workers: int = request.param
    folder = tmp_path_factory.mktemp(f"serve-{workers}")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "AUTOCONFIG_SETTINGS"}
    stdout, stderr = folder / "stdout.log", folder / "stderr.log"
    command = [sys.executable, "-m", "autoconfig", "serve", "--port", str(port), "--workers", str(workers)]
    with stdout.open("wb") as out, stderr.open("wb") as err:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=err, start_new_session=True)
    server = Server(f"http://127.0.0.1:{port}", process, stdout, stderr)
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            if process.poll() is not None:
                pytest.fail(f"autoconfig serve exited with {process.returncode}:\n{server.logs()}")
            try:
                # An answer from the app itself, not merely an open socket (workers start after the bind).
                httpx2.get(f"{server.base_url}/healthz-probe", timeout=1.0)
                break
            except httpx2.TransportError:
                if time.monotonic() > deadline:
                    pytest.fail(
                        f"autoconfig serve did not answer in {STARTUP_TIMEOUT:.0f} s:\n{server.logs()}"
                    )
                time.sleep(0.1)
        yield server
    finally:
        _stop(process)


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
    logs = server.wait_for_log(marker)
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
    logs = server.wait_for_log(marker)
    (line,) = [line for line in logs.splitlines() if marker in line]
    assert " 400 " in line
    assert not any(other.startswith("FORGED-LINE") for other in logs.splitlines())
