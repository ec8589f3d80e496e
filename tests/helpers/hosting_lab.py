"""A DNS lab for the hoster mode (profiles/hoster.toml): Knot DNS on loopback, authoritative for customer
domains whose MX points at the hoster or elsewhere, a zone the tests edit and reload; name servers that
never answer, that answer SERVFAIL, or that relay Knot's answers with the AD bit (a validating resolver's
stand-in); the hoster's settings pointed at one of them."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import tomllib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dns.flags
import dns.message
import dns.query
import dns.rcode

from autoconfig.paths import profiles_dir
from autoconfig.settings import Settings, load_settings
from tests.helpers.ci import require
from tests.helpers.probe_lab import KNOTD, knot
from tests.helpers.settings import write_settings

HOSTER = "hoster.example"
MX1, MX2 = "mx1.mail.hoster.example", "mx2.mail.hoster.example"
# The names a request may come to for a customer domain: autoconfig.<MX host less its first label>,
# autoconfig.<its registrable domain>, autodiscover.<the hoster's domain>, and the service's own.
HOSTED_HOSTS = (
    "autoconfig.mail.hoster.example",
    "autoconfig.hoster.example",
    "autodiscover.hoster.example",
)
SERVICE_HOST = "autoconfig.hoster.example"  # public_url's host in profiles/hoster.toml
NS = "ns.lab.example."
KNOTC = shutil.which("knotc") or "/usr/sbin/knotc"

# Every customer zone, by what its MX says. A zone's lines come after its SOA and NS.
ZONES: dict[str, list[str]] = {
    "customer.example": [f"@ 300 IN MX 10 {MX1}.", f"@ 300 IN MX 20 {MX2}."],
    "second.example": [f"@ 300 IN MX 10 {MX2}."],  # the other MX host: the same hoster
    "backup.example": [f"@ 300 IN MX 10 {MX1}.", "@ 300 IN MX 20 mx.elsewhere.example."],
    "elsewhere.example": ["@ 300 IN MX 10 mx.elsewhere.example."],
    "tie.example": [f"@ 300 IN MX 10 {MX1}.", "@ 300 IN MX 10 mx.elsewhere.example."],
    "nomx.example": ["@ 300 IN A 192.0.2.1"],
    "nullmx.example": ["@ 300 IN MX 0 ."],
    "allowed.example": [f"@ 300 IN MX 10 {MX1}."],
    "denied.example": [f"@ 300 IN MX 10 {MX1}."],
    "moving.example": [f"@ 1 IN MX 10 {MX1}."],  # edited by the tests, with a TTL of one second
    "logged.example": [f"@ 300 IN MX 10 {MX1}."],
    "xn--caf-dma.example": [f"@ 300 IN MX 10 {MX1}."],  # café.example
}
NEGATIVE_TTL = 60  # the SOA's minimum field: how long "no such name" and "no MX" are true
NXDOMAIN = "missing.customer.example"  # a name in an existing zone that does not exist


def zone_text(zone: str, lines: list[str], serial: int = 1) -> str:
    return "\n".join(
        [
            f"$ORIGIN {zone}.",
            f"@ 3600 IN SOA {NS} hostmaster.{zone}. {serial} 3600 600 86400 {NEGATIVE_TTL}",
            f"@ 3600 IN NS {NS}",
            *lines,
            "",
        ]
    )


@dataclass
class HostingLab:
    """Knot serving ZONES; `resolver` is its `IP:PORT`."""

    folder: Path
    resolver: str
    serial: int = 1

    def edit(self, zone: str, lines: list[str]) -> None:
        """Write the zone anew with these records (a higher serial) and have Knot load it."""
        self.serial += 1
        (self.folder / f"{zone}.zone").write_text(zone_text(zone, lines, self.serial), encoding="utf-8")
        result = subprocess.run(
            [KNOTC, "-c", str(self.folder / "knot.conf"), "-b", "zone-reload", zone],
            capture_output=True,
            text=True,
            check=False,
            timeout=10,
        )
        assert result.returncode == 0, result.stdout + result.stderr


@contextmanager
def hosting_lab(folder: Path) -> Iterator[HostingLab]:
    """Knot DNS, authoritative for the customer zones, for the length of the block (skipped without
    Knot, except in CI: tests/run installs it)."""
    for program in (KNOTD, KNOTC):
        reason = f"{Path(program).name} is not installed (Debian: apt-get install knot)"
        require(program if Path(program).exists() else None, reason, "install knot, as tests/run does")
    zones = {zone: zone_text(zone, lines) for zone, lines in ZONES.items()}
    with knot(folder, zones) as resolver:
        yield HostingLab(folder, resolver)


# --- name servers besides Knot ------------------------------------------------------------------------------


@contextmanager
def silent_nameserver() -> Iterator[str]:
    """A UDP socket on loopback that takes questions and never answers; yields `IP:PORT`."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"127.0.0.1:{sock.getsockname()[1]}"


def servfail_nameserver() -> AbstractContextManager[str]:
    """A name server on loopback that answers every question SERVFAIL, as a resolver does when a
    domain's own servers are broken; yields `IP:PORT`."""

    def servfail(query: dns.message.Message) -> dns.message.Message:
        response = dns.message.make_response(query)
        response.set_rcode(dns.rcode.SERVFAIL)
        response.flags |= dns.flags.RA
        return response

    return _answering(servfail)


def vouching_nameserver(upstream: str) -> AbstractContextManager[str]:
    """A stand-in for a validating resolver: Knot's answers (at `upstream`, `IP:PORT`) relayed with the
    AD bit set, as a resolver sets it when DNSSEC vouched for them; yields `IP:PORT`."""
    host, _, port = upstream.partition(":")

    def relay(query: dns.message.Message) -> dns.message.Message:
        response = dns.query.udp(query, host, port=int(port), timeout=2)
        response.flags |= dns.flags.AD | dns.flags.RA
        return response

    return _answering(relay)


@contextmanager
def _answering(answer: Callable[[dns.message.Message], dns.message.Message]) -> Iterator[str]:
    """A UDP name server on loopback whose answers `answer` makes, in a thread; yields `IP:PORT`."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.1)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                wire, peer = sock.recvfrom(4096)
            except TimeoutError:
                continue
            sock.sendto(answer(dns.message.from_wire(wire)).to_wire(), peer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{sock.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(timeout=5)
        sock.close()


# --- the hoster's settings ---------------------------------------------------------------------------------


def hoster_data(
    resolver: str, *, hosting: dict[str, Any] | None = None, **resolver_keys: Any
) -> dict[str, Any]:
    """profiles/hoster.toml as data, asking `resolver` (`IP:PORT`), with [service.resolver] and
    [providers.hosting] keys changed."""
    data = tomllib.loads((profiles_dir() / "hoster.toml").read_text(encoding="utf-8"))
    data["service"]["resolver"] = {**data["service"]["resolver"], "servers": [resolver], **resolver_keys}
    data["providers"][0]["hosting"] = {**data["providers"][0]["hosting"], **(hosting or {})}
    return data


def hoster_settings(
    folder: Path, resolver: str, *, hosting: dict[str, Any] | None = None, **resolver_keys: Any
) -> Settings:
    """The same, written to a file in `folder` and loaded."""
    folder.mkdir(parents=True, exist_ok=True)
    return load_settings(write_settings(folder, hoster_data(resolver, hosting=hosting, **resolver_keys)))
