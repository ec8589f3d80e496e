"""Every network operation of the probe ends by its deadline, however slowly the other end sends: a web
server that drips its answer's head or body one byte every 0.5 s, over HTTP and HTTPS, or its TLS
handshake, and a DNS server that never answers. Elapsed times are held to generous bounds (twice the
timeout): bounds, not performance goals."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import pytest

from autoconfig.probe.lookup import Lookup, LookupFailure, make_resolver
from autoconfig.probe.network import FetchError, Network
from tests.helpers.certs import make_chain
from tests.helpers.dripping import Drip, dripping, mute_dns
from tests.helpers.probe_lab import Lab, issue_server_certificate, lines

TIMEOUT = 2.0
HOST = "autoconfig.example.org"
ORG = "jean.dupont@example.org"


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """A certificate for HOST: (fullchain, key, the CA to trust)."""
    folder = tmp_path_factory.mktemp("dripping")
    chain = make_chain("ec", name="Drip")
    fullchain, key = issue_server_certificate(chain, (HOST,), folder / "tls")
    return fullchain, key, chain.write(folder / "ca").root


def _network(port: int, ca_file: Path | None = None) -> Network:
    # Every name is reached at the loopback (`--at`): the resolver is never asked.
    resolver, where = make_resolver("127.0.0.1:9", TIMEOUT)
    return Network(Lookup(resolver, where), TIMEOUT, ca_file, "127.0.0.1", port, port)


@pytest.mark.parametrize("drip", ["head", "body"])
@pytest.mark.parametrize("scheme", ["http", "https"])
def test_a_fetch_from_a_dripping_server_ends_by_its_deadline(
    scheme: str, drip: Drip, tls: tuple[Path, Path, Path]
) -> None:
    fullchain, key, ca = tls
    with dripping(drip, tls=(fullchain, key) if scheme == "https" else None) as port:
        network = _network(port, ca)
        start = time.monotonic()
        with pytest.raises(FetchError) as caught:
            network.fetch("GET", f"{scheme}://{HOST}/mail/config-v1.1.xml")
        elapsed = time.monotonic() - start
        assert elapsed < TIMEOUT * 2, elapsed
        assert caught.value.kind == "timeout"
        assert f"within {TIMEOUT:g} s" in caught.value.message, caught.value.message
        # A server that sends its answers this slowly is not waited for again in the run, on any path.
        start = time.monotonic()
        with pytest.raises(FetchError) as again:
            network.fetch("GET", f"{scheme}://{HOST}/.well-known/autoconfig/mail/config-v1.1.xml")
        assert time.monotonic() - start < 0.5
        assert again.value.kind == "timeout"
        assert "too slowly" in again.value.message, again.value.message


def test_a_dripping_tls_handshake_ends_by_its_deadline(tls: tuple[Path, Path, Path]) -> None:
    # A plain server where TLS is expected: the handshake reads its bytes one at a time.
    with dripping("head") as port:
        network = _network(port, tls[2])
        start = time.monotonic()
        with pytest.raises(FetchError) as caught:
            network.certificate(HOST)
        elapsed = time.monotonic() - start
    assert elapsed < TIMEOUT * 2, elapsed
    assert caught.value.kind == "timeout"
    assert f"no TLS handshake within {TIMEOUT:g} s" in caught.value.message


def test_a_dns_question_ends_by_its_deadline() -> None:
    # The server sends replies that answer nothing, every 0.2 s: each must not extend the wait.
    with mute_dns() as port:
        resolver, where = make_resolver(f"127.0.0.1:{port}", TIMEOUT)
        lookup = Lookup(resolver, where)
        start = time.monotonic()
        with pytest.raises(LookupFailure) as caught:
            lookup.addresses(HOST)
        elapsed = time.monotonic() - start
    assert elapsed < TIMEOUT * 2, elapsed
    assert caught.value.kind == "timeout"


# A run waits once per name, port and address whose answer drips: autoconfig., the domain and
# autodiscover. over HTTPS, autoconfig. and the domain over HTTP (IPv6 is refused at once here). The
# rest of the run takes about 2 s on loopback: the margin is generous for shared cores.
WAITS = 5


def test_a_probe_of_a_dripping_deployment_ends_in_bounded_time(lab: Lab) -> None:
    # Every name answers at a web server that drips its answers' heads; DNS answers as it should.
    # Before the deadline per operation, one such run took more than 150 s.
    with dripping("head", tls=lab.certificate) as https, dripping("head") as http:
        deployment = replace(lab.healthy, https_port=https, http_port=http)
        start = time.monotonic()
        result = deployment.probe(ORG, "--timeout", f"{TIMEOUT:g}", timeout=120)
        elapsed = time.monotonic() - start
    assert result.returncode == 1, result.stdout
    assert elapsed < WAITS * TIMEOUT + 10, elapsed
    failed = lines(result.stdout, "FAIL")
    assert any(f"the answer came too slowly, not complete within {TIMEOUT:g} s" in line for line in failed)
    assert any("answered too slowly earlier in this run" in line for line in failed), result.stdout
