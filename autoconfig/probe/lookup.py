"""DNS for the probe: one resolver (the one given, or the system's), its answers kept for the run, and
CNAMEs followed even into zones an authoritative server answers apart."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import dns.exception
import dns.name
import dns.rdata
import dns.resolver
from dns.rdtypes.ANY.CNAME import CNAME
from dns.rdtypes.ANY.MX import MX
from dns.rdtypes.ANY.TXT import TXT
from dns.rdtypes.IN.A import A
from dns.rdtypes.IN.AAAA import AAAA
from dns.rdtypes.IN.SRV import SRV

from autoconfig.domains import split_host_port

from .report import ProbeError

MAX_CNAMES = 8
FAMILIES = ("A", "AAAA")  # IPv4 first, as the probe connects when it may choose


@dataclass(frozen=True, order=True)
class Srv:
    """One SRV record, ordered as clients try them (lowest priority, then highest weight, first)."""

    priority: int
    minus_weight: int
    port: int
    target: str  # lower case, with the final dot: "." alone means "not offered" (RFC 2782)

    @property
    def weight(self) -> int:
        return -self.minus_weight

    @property
    def offered(self) -> bool:
        return self.target != "."

    @property
    def host(self) -> str:
        return self.target.rstrip(".")

    def zone_data(self) -> str:
        return f"{self.priority} {self.weight} {self.port} {self.target}"


class LookupFailure(Exception):
    """A DNS question that got no usable answer: `kind` is nxdomain, noanswer, timeout or servfail."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


def parse_endpoint(text: str, default_port: int, option: str) -> tuple[str, int]:
    """`HOST:PORT`, `HOST`, `[V6]:PORT` or `V6` as given on the command line. Raises ProbeError."""
    host, port_text = split_host_port(text)
    try:
        port = int(port_text) if port_text else default_port
    except ValueError:
        raise ProbeError(f"{option} {text}: the port is not a number") from None
    if not host or not 0 < port < 65536:
        raise ProbeError(f"{option} {text}: give HOST:PORT, e.g. 127.0.0.1:{default_port}")
    return host, port


def make_resolver(endpoint: str | None, timeout: float) -> tuple[dns.resolver.Resolver, str]:
    """A resolver asking `endpoint` (an IP address, with a port), or the system's; and how to name it."""
    try:
        resolver = dns.resolver.Resolver(configure=endpoint is None)
    except dns.resolver.NoResolverConfiguration:
        raise ProbeError("no system resolver is configured (/etc/resolv.conf): give --resolver") from None
    where = "the system resolver"
    if endpoint is not None:
        host, port = parse_endpoint(endpoint, 53, "--resolver")
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise ProbeError(f"--resolver {endpoint}: give the resolver's IP address, not a name") from None
        resolver.nameservers = [host]
        resolver.port = port
        where = f"the resolver {endpoint}"
    resolver.timeout = timeout
    resolver.lifetime = timeout
    # Names are asked as given, never completed with the machine's search domains.
    resolver.use_search_by_default = False
    return resolver, where


class Lookup:
    """DNS questions through one resolver, with answers kept for the run (clients ask names again)."""

    def __init__(self, resolver: dns.resolver.Resolver, where: str) -> None:
        self.resolver = resolver
        self.where = where
        self._answers: dict[tuple[str, str], dns.resolver.Answer | LookupFailure] = {}

    def _resolve(self, name: str, rdtype: str) -> dns.resolver.Answer:
        key = (name.rstrip(".").lower(), rdtype)
        if key not in self._answers:
            self._answers[key] = self._ask(*key)
        found = self._answers[key]
        if isinstance(found, LookupFailure):
            raise found
        return found

    def _ask(self, name: str, rdtype: str) -> dns.resolver.Answer | LookupFailure:
        try:
            return self.resolver.resolve(
                dns.name.from_text(name), rdtype, raise_on_no_answer=False, search=False
            )
        except dns.resolver.NXDOMAIN:
            return LookupFailure("nxdomain", f"{name} does not exist (NXDOMAIN)")
        except dns.resolver.LifetimeTimeout:
            return LookupFailure("timeout", f"{self.where} gave no answer for {name} {rdtype} in time")
        except dns.resolver.NoNameservers:
            return LookupFailure("servfail", f"{self.where} failed or refused to answer {name} {rdtype}")
        except dns.exception.DNSException as exc:
            return LookupFailure("servfail", f"{name} {rdtype}: {exc}")

    def _records(self, name: str, rdtype: str) -> list[dns.rdata.Rdata]:
        # The records of one type at a name (after its CNAME, if any); [] when it has none.
        answer = self._resolve(name, rdtype)
        return list(answer.rrset) if answer.rrset is not None else []

    def cnames(self, name: str) -> list[str]:
        """The CNAME targets at a name, lower case, without the final dot. Raises LookupFailure."""
        return [
            r.target.to_text(omit_final_dot=True).lower()
            for r in self._records(name, "CNAME")
            if isinstance(r, CNAME)
        ]

    def srv(self, name: str) -> list[Srv]:
        """The SRV records at a name, in their priority order. Raises LookupFailure."""
        found = [
            Srv(r.priority, -r.weight, r.port, r.target.to_text().lower())
            for r in self._records(name, "SRV")
            if isinstance(r, SRV)
        ]
        return sorted(found)

    def mx(self, name: str) -> list[tuple[int, str]]:
        """The MX records at a name as (preference, host), lowest preference first, hosts in lower case
        without the final dot ("" for a null MX). Raises LookupFailure."""
        return sorted(
            (r.preference, r.exchange.to_text(omit_final_dot=True).lower().rstrip("."))
            for r in self._records(name, "MX")
            if isinstance(r, MX)
        )

    def texts(self, name: str) -> list[str]:
        """The TXT records at a name, each one string (its parts joined, as RFC 7208 reads them). Raises
        LookupFailure."""
        return [
            b"".join(r.strings).decode("utf-8", "replace")
            for r in self._records(name, "TXT")
            if isinstance(r, TXT)
        ]

    def addresses(self, name: str) -> list[str]:
        """The name's IPv4 addresses, else its IPv6 ones, following CNAMEs even into zones an
        authoritative server answers apart. Raises LookupFailure."""
        for rdtype in FAMILIES:
            found = self.family_addresses(name, rdtype)
            if found:
                return found
        raise LookupFailure("noanswer", f"{name} has no A or AAAA record")

    def family_addresses(self, name: str, rdtype: str) -> list[str]:
        """The name's addresses of one type (A or AAAA), following CNAMEs as `addresses` does; [] when
        it has none of that type. Raises LookupFailure (a name that does not exist, a resolver that
        fails)."""
        current = name.rstrip(".").lower()
        for _ in range(MAX_CNAMES):
            answer = self._resolve(current, rdtype)
            if answer.rrset is not None:
                return [r.address for r in answer.rrset if isinstance(r, A | AAAA)]
            # No record of that type at the end of the CNAMEs the server gave: the chain may go on in a
            # zone it does not serve, which is asked apart.
            canonical = answer.canonical_name.to_text(omit_final_dot=True).lower()
            if canonical == current:
                return []
            current = canonical
        raise LookupFailure("noanswer", f"{name}: more than {MAX_CNAMES} CNAMEs in a row")

    def check_answers(self, domain: str) -> None:
        """Raise ProbeError when the resolver does not answer at all, before any check relies on it."""
        try:
            self._resolve(domain, "SOA")
        except LookupFailure as failure:
            if failure.kind == "timeout":
                timeout = self.resolver.lifetime
                raise ProbeError(f"{self.where} did not answer within {timeout:g} s") from None
            if failure.kind == "servfail":
                raise ProbeError(
                    f"{self.where} refused or failed to answer for {domain}: is it a resolver, or the "
                    "authoritative server of that domain?"
                ) from None
