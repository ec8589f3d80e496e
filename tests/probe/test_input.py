"""Bad input gives one clear line and exit 2, within a bounded time, and never a traceback; nothing
here needs a deployment."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.commands import autoconfig
from tests.helpers.settings import settings_data, write_settings


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# A resolver that cannot answer: for the tests that must fail before any question is asked.
SILENT = ["--resolver", f"127.0.0.1:{free_udp_port()}", "--timeout", "1"]


def _one_line_error(*args: str) -> str:
    result = autoconfig("probe", *args, timeout=30)
    assert result.returncode == 2, result
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    return result.stderr.strip()


def test_a_malformed_address() -> None:
    assert _one_line_error("jean.dupont", *SILENT) == (
        "autoconfig probe: 'jean.dupont' is not a mail address: The address has no @ sign."
    )
    assert "is not a mail address" in _one_line_error("jean dupont@ac-paris.fr", *SILENT)


def test_a_domain_the_settings_do_not_serve() -> None:
    message = _one_line_error("jean.dupont@example.com", *SILENT)
    assert message.startswith("autoconfig probe: example.com is not a domain the settings ")
    assert message.endswith("serve (they serve ac-paris.fr)")


@pytest.fixture
def silent_udp() -> Iterator[int]:
    """A UDP port something holds open and never answers on (no ICMP refusal to end the wait)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        yield port


@pytest.mark.parametrize("holder", ["nothing", "silent"])
def test_a_resolver_that_does_not_answer(holder: str, silent_udp: int) -> None:
    # Nothing on the port, or a socket that swallows every question: either way, bounded by --timeout.
    port = free_udp_port() if holder == "nothing" else silent_udp
    start = time.monotonic()
    message = _one_line_error("jean.dupont@ac-paris.fr", "--resolver", f"127.0.0.1:{port}", "--timeout", "1")
    assert time.monotonic() - start < 10
    assert message == f"autoconfig probe: the resolver 127.0.0.1:{port} did not answer within 1 s"


def test_a_resolver_given_by_name_or_without_a_port_number() -> None:
    assert _one_line_error("jean.dupont@ac-paris.fr", "--resolver", "ns.example.org:53") == (
        "autoconfig probe: --resolver ns.example.org:53: give the resolver's IP address, not a name"
    )
    assert _one_line_error("jean.dupont@ac-paris.fr", "--resolver", "127.0.0.1:dns") == (
        "autoconfig probe: --resolver 127.0.0.1:dns: the port is not a number"
    )


def test_a_ca_file_that_holds_no_certificate(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("not a certificate\n", encoding="utf-8")
    message = _one_line_error("jean.dupont@ac-paris.fr", *SILENT, "--ca-file", str(ca))
    assert message.startswith(f"autoconfig probe: --ca-file {ca}: no CA certificate could be read")


def test_invalid_settings_are_reported_as_check_does(tmp_path: Path) -> None:
    data = settings_data(
        provider={"incoming": [{"host": "imap.example.org", "port": 993, "security": "starttls"}]}
    )
    path = write_settings(tmp_path, data)
    result = autoconfig("probe", "jean.dupont@example.org", "--settings", str(path), *SILENT)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith(f"autoconfig probe: {path}: 1 problem")
    assert "fix:" in result.stderr
