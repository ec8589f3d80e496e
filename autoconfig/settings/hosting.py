"""Hosting mail for domains the settings do not list: a provider's MX hosts and which customer domains it
answers for ([providers.hosting]), and the resolver that finds a domain's MX ([service.resolver])."""

from __future__ import annotations

import ipaddress
from typing import Annotated

from pydantic import AfterValidator, Field, model_validator

from autoconfig.domains import DomainNameError, split_host_port, to_ascii_domain

from .types import Model, Shown, problem

# Thunderbird asks autoconfig.<the MX host less its first label> and autoconfig.<its registrable domain>;
# Outlook follows the customer's SRV record to autodiscover.<the hoster's name>.
HOSTING_LABELS = ("autoconfig", "autodiscover")


def _domain_pattern(value: str) -> str:
    """A name (`mx1.mail.hoster.example`) or every name under one (`*.mail.hoster.example`)."""
    text = value.strip()
    wildcard = text.startswith("*.")
    try:
        name = to_ascii_domain(text.removeprefix("*."))
    except DomainNameError as exc:
        raise problem(
            "bad_domain_pattern",
            f"this is neither a domain name nor *.<domain name>: {exc}",
            "write a name such as mx1.mail.hoster.example, or *.mail.hoster.example for every name under it",
        ) from None
    return f"*.{name}" if wildcard else name


DomainPattern = Annotated[
    str, AfterValidator(_domain_pattern), Shown("domain name, or *.domain for every name under it")
]


def matches(pattern: str, name: str) -> bool:
    """Whether a name (A-label form, lower case) is the pattern's name, or under a `*.` pattern's."""
    if pattern.startswith("*."):
        return name.endswith(pattern[1:])
    return name == pattern


class Hosting(Model):
    """A provider that hosts mail for customer domains it does not list, found through their MX."""

    mx: tuple[DomainPattern, ...] = Field(
        min_length=1,
        description=(
            'The provider\'s MX hosts, e.g. `["mx1.mail.hoster.example", "mx2.mail.hoster.example"]`, or '
            '`["*.mail.hoster.example"]` for every host under that name. A domain the settings do not '
            "list is answered as this provider's when every MX record of its best preference names one "
            "of these."
        ),
    )
    allow: tuple[DomainPattern, ...] = Field(
        default=(),
        description=(
            "Customer domains answered, if not all: names, or `*.example.org` for every name under one. "
            "Empty: every domain whose MX is the provider's."
        ),
    )
    deny: tuple[DomainPattern, ...] = Field(
        default=(),
        description="Customer domains never answered, even when their MX is the provider's.",
    )
    require_dnssec: bool = Field(
        default=False,
        description=(
            "Answer only when the resolver validated the MX answer with DNSSEC (its AD bit): set it when "
            "`service.resolver.servers` names a validating resolver you trust, on a path you trust."
        ),
    )

    @model_validator(mode="after")
    def _lists_agree(self) -> Hosting:
        both = sorted(set(self.allow) & set(self.deny))
        if both:
            raise problem(
                "allowed_and_denied",
                f"{', '.join(both)} is both allowed and denied",
                "keep it in one of allow and deny",
                key="deny",
                found=both[0],
            )
        return self

    def hosts_mx(self, host: str) -> bool:
        """Whether an MX host (A-label form, lower case, no final dot) is one of the provider's."""
        return any(matches(pattern, host) for pattern in self.mx)

    def admits(self, domain: str) -> bool:
        """Whether a customer domain may be answered (before its MX is known)."""
        if any(matches(pattern, domain) for pattern in self.deny):
            return False
        return not self.allow or any(matches(pattern, domain) for pattern in self.allow)

    def mx_parents(self) -> tuple[str, ...]:
        """The names Thunderbird derives from the MX hosts (each less its first label), in order: where
        `autoconfig.<name>` must lead to the service."""
        parents: list[str] = []
        for pattern in self.mx:
            parent = pattern[2:] if pattern.startswith("*.") else pattern.partition(".")[2]
            if parent.count(".") >= 1 and parent not in parents:
                parents.append(parent)
        return tuple(parents)


def _nameserver(value: str) -> str:
    """`IP`, `IP:PORT`, `[V6]:PORT`: kept as `IP` or `IP:PORT` (`[V6]:PORT` for IPv6 with a port)."""
    host, port = split_host_port(value.strip())
    fix = 'write an IP address, with a port if not 53: "192.0.2.53", "127.0.0.1:5353" or "[::1]:5353"'
    try:
        address = ipaddress.ip_address(host)
        number = int(port) if port else 53
    except ValueError:
        raise problem("bad_nameserver", "this is not a name server's IP address (and port)", fix) from None
    if not 0 < number < 65536:
        raise problem("bad_nameserver", f"the port {number} is not between 1 and 65535", fix)
    if number == 53:
        return str(address)
    return f"[{address}]:{number}" if address.version == 6 else f"{address}:{number}"


NameServer = Annotated[str, AfterValidator(_nameserver), Shown("IP address, with :port if not 53")]


def split_nameserver(value: str) -> tuple[str, int]:
    """A validated name server as (address, port)."""
    host, port = split_host_port(value)
    return host, int(port) if port else 53


class Resolver(Model):
    """How the service looks up MX records for the providers that host mail for other domains."""

    servers: tuple[NameServer, ...] = Field(
        default=(),
        description=(
            'Name servers to ask, e.g. `["127.0.0.1"]` for a validating resolver on the host; empty: '
            "those of `/etc/resolv.conf`, read at start."
        ),
    )
    timeout: float = Field(
        default=2.0,
        ge=0.1,
        le=10.0,
        description=(
            "Seconds a domain's MX lookup may take in all, shared between the servers (a silent first one "
            "leaves the next its share); past that the domain is answered as unknown."
        ),
    )
    max_in_flight: int = Field(
        default=64,
        strict=True,
        ge=1,
        le=10_000,
        description=(
            "MX lookups each worker has under way at most (requests for one domain share one); past "
            "that a request for a new domain is answered 503 with `Retry-After`."
        ),
    )
    max_lookups_per_second: int = Field(
        default=100,
        strict=True,
        ge=1,
        le=100_000,
        description=(
            "New MX lookups each worker starts in a second at most (domains already kept or being looked "
            "up cost none); past that a request for a new domain is answered 503 with `Retry-After`."
        ),
    )
    cache_entries: int = Field(
        default=10_000,
        strict=True,
        ge=16,
        le=1_000_000,
        description=(
            "Domains whose MX answer each worker keeps (about 300 bytes each), least used out first; as "
            "many again of domains without an MX, so that made-up domains never push customers out."
        ),
    )
    min_ttl: int = Field(
        default=60,
        strict=True,
        ge=0,
        le=86_400,
        description="Seconds an MX answer is kept at least, whatever its TTL says.",
    )
    max_ttl: int = Field(
        default=3600,
        strict=True,
        ge=1,
        le=86_400,
        description="Seconds an MX answer is kept at most, whatever its TTL says.",
    )
    failure_ttl: int = Field(
        default=30,
        strict=True,
        ge=0,
        le=3600,
        description=(
            "Seconds a lookup that failed (a timeout, SERVFAIL) is remembered, so that a domain whose "
            "DNS is broken is not asked again at every request."
        ),
    )

    @model_validator(mode="after")
    def _ttls_ordered(self) -> Resolver:
        if self.min_ttl > self.max_ttl:
            raise problem(
                "ttl_bounds",
                f"min_ttl ({self.min_ttl}) is above max_ttl ({self.max_ttl})",
                "make min_ttl at most max_ttl",
                key="min_ttl",
                found=self.min_ttl,
            )
        return self
