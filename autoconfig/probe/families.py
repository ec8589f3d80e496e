"""IPv4 and IPv6 apart: each address of a name (its A records, then its AAAA records) is connected to
on its own, with TLS for the name and the request a client makes there.

A client connects to whichever family its network prefers, so an AAAA record that leads nowhere, or
to another server, breaks setups for the people on IPv6 only, while every check made over IPv4
passes. The other checks connect over IPv4 when the name has both; these lines judge each family.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from autoconfig.formats.pacc import HOST_LABEL, WELL_KNOWN_PATH

from . import outlook, tls
from .lookup import LookupFailure
from .network import Answer, FetchError, Network
from .report import Result, Status
from .thunderbird import DESKTOP_AGENT

FAMILIES = (("A", "IPv4"), ("AAAA", "IPv6"))
DOCUMENT_TYPES = ("application/xml", "text/xml", "application/json")


@dataclass(frozen=True)
class Ask:
    """The request a client makes at a name: what each address must answer alike."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes | None = None


def ask_for(host: str, domain: str, typed: str, service: str) -> Ask | None:
    """The first request clients make at `host`; None where the service is not what answers (the DAV
    server: its TLS handshake alone is checked)."""
    query = "?emailaddress=" + quote(typed, safe="")
    agent = {"User-Agent": DESKTOP_AGENT}
    if host == domain:
        return Ask("GET", f"/.well-known/autoconfig/mail/config-v1.1.xml{query}", agent)
    if host in (f"autoconfig.{domain}", service):
        return Ask("GET", f"/mail/config-v1.1.xml{query}", agent)
    if host == f"autodiscover.{domain}":
        headers = {"User-Agent": outlook.AGENT, "Content-Type": "text/xml"}
        return Ask("POST", "/autodiscover/autodiscover.xml", headers, outlook.request_body(typed))
    if host == f"{HOST_LABEL}.{domain}":
        return Ask("GET", WELL_KNOWN_PATH, {"User-Agent": "autoconfig-probe (PACC)"})
    return None


def _signature(answer: Answer) -> tuple[int, str, bytes]:
    # What two addresses of one name must answer alike: the status, and the document itself when it
    # is one (the service's documents are the same bytes for the same request); a main site's own
    # pages may change from one request to the next.
    body = answer.body if answer.status == 200 and answer.content_type in DOCUMENT_TYPES else b""
    return answer.status, answer.content_type, body


Seen = tuple[int, str, bytes] | FetchError  # what one address answered, or why nothing


def _try(network: Network, host: str, ask: Ask | None, address: str) -> Seen:
    try:
        if ask is None:
            network.certificate(host, address=address)
            return 0, "", b""  # a handshake verified for the name: all there is to compare
        answer = network.fetch(
            ask.method, f"https://{host}{ask.path}", headers=ask.headers, body=ask.body, address=address
        )
    except FetchError as failure:
        return failure
    return _signature(answer)


def check_families(name: tls.Name, ask: Ask | None, network: Network) -> list[Result]:
    """One line per family for a name the https check reached; none with `--at`, where every name is
    reached at the one address given."""
    host = name.host
    if network.at is not None:
        return []
    addresses: dict[str, list[str]] = {}
    try:
        for rdtype, label in FAMILIES:
            addresses[label] = network.lookup.family_addresses(host, rdtype)
    except LookupFailure:
        return []  # the dns and https lines say it
    outcomes = {
        label: [(address, _try(network, host, ask, address)) for address in found]
        for label, found in addresses.items()
    }
    working = [o for found in outcomes.values() for _, o in found if not isinstance(o, FetchError)]
    reference = working[0] if working else None
    return [
        _judge(name, label, addresses=addresses, found=outcomes[label], reference=reference, network=network)
        for _, label in FAMILIES
    ]


def _judge(
    name: tls.Name,
    label: str,
    *,
    addresses: dict[str, list[str]],
    found: list[tuple[str, Seen]],
    reference: Seen | None,
    network: Network,
) -> Result:
    host = name.host
    step = f"{host} {label}"
    url = f"https://{host}/"
    record = "A" if label == "IPv4" else "AAAA"
    if not found:
        if label == "IPv6":
            return Result(tls.CLIENT, step, Status.OK, "no AAAA record: reached over IPv4 only", url=url)
        return Result(
            tls.CLIENT,
            step,
            Status.WARN if name.main_site else Status.FAIL,
            "no A record: people on networks without IPv6 cannot reach it",
            f"publish an A record for {host} with the web server's IPv4 address",
            url,
        )
    shown = ", ".join(address for address, _ in found)
    for address, outcome in found:
        if isinstance(outcome, FetchError):
            seen = tls.presented(host, network, address) if outcome.kind.startswith("tls-") else ""
            return Result(
                tls.CLIENT,
                step,
                Status.WARN if name.main_site else Status.FAIL,
                f"{address}: {outcome.message}{seen}; people whose network prefers {label} cannot "
                f"reach {host}",
                _fix(host, record, address, outcome.kind, addresses),
                url,
            )
        if outcome != reference:
            status, kind, _ = outcome
            expected_status, expected_kind, _ = reference if isinstance(reference, tuple) else outcome
            return Result(
                tls.CLIENT,
                step,
                Status.WARN if name.main_site else Status.FAIL,
                f"{address} answers otherwise (HTTP {status} {kind or 'no type'}) than the name's other "
                f"addresses (HTTP {expected_status} {expected_kind or 'no type'}): another server answers "
                f"there; people whose network prefers {label} get its answer",
                _fix(host, record, address, "other", addresses),
                url,
            )
    what = "TLS handshake" if reference == (0, "", b"") else "TLS and the answer"
    return Result(tls.CLIENT, step, Status.OK, f"{shown}: {what} as expected", url=url)


def _fix(host: str, record: str, address: str, kind: str, addresses: dict[str, list[str]]) -> str:
    other = "IPv4" if record == "AAAA" else "IPv6"
    works = bool(addresses.get(other))
    change = f"correct the {record} record of {host} to the web server's address" + (
        f", or remove it (the name still works over {other})" if works else ""
    )
    if kind.startswith("tls-name"):
        return f"{change}; or, if {address} is the right server, give it a certificate that names {host}"
    if kind.startswith("tls"):
        return f"{change}; or, if {address} is the right server, see the https fixes for its certificate"
    if kind == "other":
        return f"{change}; or make the server at {address} pass {host} to the service as the other does"
    listen = f"[{address}]" if ":" in address else address
    return f"{change}; or make the web server listen on {listen}:443 for {host}"
