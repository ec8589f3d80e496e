"""A domain's best MX hosts, for the providers that host mail for domains the settings do not list.

Each worker asks its resolver (the settings', or the system's) asynchronously, within one deadline per
domain; answers, and the lack of one, are kept for their TTL within the settings' bounds; requests for
a domain whose lookup is under way wait for that one lookup; and past `max_in_flight` lookups a new
domain is refused at once (BusyError: 503 with Retry-After), so that a flood of random domains costs a
bounded number of DNS questions at a time and a bounded cache, never a queue.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import dns.asyncresolver
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.nameserver
import dns.rcode
import dns.rdatatype
import dns.resolver
from prometheus_client import Counter

from .caches import LRU
from .errors import BusyError
from .settings.hosting import Resolver, split_nameserver

LOOKUPS = Counter(
    "autoconfig_mx_lookups",
    "MX lookups of domains the settings do not list, by result: mx (the domain has mail servers), "
    "mx_validated (the same, and the resolver validated the answer with DNSSEC), none "
    "(no MX, or no such domain), timeout, servfail, refused, error, and busy (not asked: past max_in_flight "
    "or max_lookups_per_second). Answers kept in the cache are not counted.",
    ["result"],
)


@dataclass(frozen=True)
class MxAnswer:
    """What DNS said of a domain's MX.

    `hosts`: the hosts of the best (lowest) preference, lower case without the final dot, sorted; empty
    when the domain has no MX, a null MX (RFC 7505) or does not exist. `secure`: the resolver validated
    the answer (its AD bit). `failure`: why there is no answer (`timeout`, `servfail`, `refused`), or None.
    """

    hosts: tuple[str, ...]
    secure: bool = False
    failure: str | None = None


class MxLookups:
    """One worker's MX lookups for one version of the settings (a reload starts with an empty cache)."""

    def __init__(self, settings: Resolver) -> None:
        self.settings = settings
        self._resolver = _resolver(settings)
        # Domains with mail servers apart from those without (no MX, no domain, a failure): a flood of
        # made-up domains then evicts made-up domains, not the customers answered a moment ago.
        self._answers: LRU[str, MxAnswer] = LRU("mx_answers", settings.cache_entries)
        self._empty: LRU[str, MxAnswer] = LRU("mx_answers", settings.cache_entries)
        self._pending: dict[str, asyncio.Task[MxAnswer]] = {}
        # A budget of new lookups a second (a token bucket): the in-flight cap bounds questions waiting,
        # this bounds questions a second when the resolver answers at once.
        self._tokens = float(settings.max_lookups_per_second)
        self._filled_at = time.monotonic()
        self.asked = 0  # questions sent, for the tests and the benchmark

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    def kept(self, domain: str) -> MxAnswer | None:
        """The answer kept for a domain, if it has not expired."""
        kept = self._answers.get(domain)
        return kept if kept is not None else self._empty.get(domain)

    async def best(self, domain: str) -> MxAnswer:
        """The best MX of a domain (A-label form): from the cache, from the lookup under way, or asked.
        Raises BusyError when `max_in_flight` lookups are under way already, or this second's budget of
        `max_lookups_per_second` is spent."""
        kept = self.kept(domain)
        if kept is not None:
            return kept
        pending = self._pending.get(domain)
        if pending is None or pending.get_loop() is not asyncio.get_running_loop():
            if len(self._pending) >= self.settings.max_in_flight or not self._spend():
                LOOKUPS.labels("busy").inc()
                raise BusyError()
            pending = asyncio.get_running_loop().create_task(self._lookup(domain))
            self._pending[domain] = pending
        # The lookup is a task of its own, shielded: a request cancelled (its client left) cancels only
        # its own wait, never the answer the other requests for the domain are waiting for.
        return await asyncio.shield(pending)

    def _spend(self) -> bool:
        rate = self.settings.max_lookups_per_second
        now = time.monotonic()
        self._tokens = min(rate, self._tokens + (now - self._filled_at) * rate)
        self._filled_at = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True

    async def _lookup(self, domain: str) -> MxAnswer:
        try:
            answer, ttl = await self._ask(domain)
            (self._answers if answer.hosts else self._empty).put(domain, answer, ttl=ttl)
            LOOKUPS.labels(answer.failure or _found(answer)).inc()
            return answer
        finally:
            if self._pending.get(domain) is asyncio.current_task():
                del self._pending[domain]

    async def _ask(self, domain: str) -> tuple[MxAnswer, float]:
        """The answer and how long to keep it."""
        bounds = self.settings
        self.asked += 1
        try:
            answer = await self._resolver.resolve(
                domain, "MX", lifetime=bounds.timeout, raise_on_no_answer=False, search=False
            )
        except dns.resolver.NXDOMAIN as exc:
            responses: dict[dns.name.Name, dns.message.Message] = exc.kwargs.get("responses") or {}
            return MxAnswer(()), self._bounded(_negative_ttl(next(iter(responses.values()), None)))
        except dns.resolver.NoNameservers as exc:
            return MxAnswer((), failure=_failure(exc)), bounds.failure_ttl
        except (dns.exception.Timeout, dns.resolver.LifetimeTimeout):
            return MxAnswer((), failure="timeout"), bounds.failure_ttl
        except dns.exception.DNSException:
            return MxAnswer((), failure="error"), bounds.failure_ttl
        secure = bool(answer.response.flags & dns.flags.AD)
        if answer.rrset is None:  # the name exists, with no MX: the SOA's negative TTL
            return MxAnswer((), secure), self._bounded(_negative_ttl(answer.response))
        records = [(r.preference, r.exchange) for r in answer.rrset]
        best = min(preference for preference, _ in records)
        # A null MX (RFC 7505, `0 .`) names no host: the domain takes no mail.
        hosts = tuple(
            sorted(
                {
                    host.to_text(omit_final_dot=True).lower()
                    for preference, host in records
                    if preference == best and host != dns.name.root
                }
            )
        )
        return MxAnswer(hosts, secure), self._bounded(answer.rrset.ttl)

    def _bounded(self, ttl: float) -> float:
        return min(max(ttl, self.settings.min_ttl), self.settings.max_ttl)


def _found(answer: MxAnswer) -> str:
    if not answer.hosts:
        return "none"
    return "mx_validated" if answer.secure else "mx"


def _resolver(settings: Resolver) -> dns.asyncresolver.Resolver:
    if settings.servers:
        resolver = dns.asyncresolver.Resolver(configure=False)
        resolver.nameservers = [
            dns.nameserver.Do53Nameserver(*split_nameserver(server)) for server in settings.servers
        ]
    else:
        try:
            resolver = dns.asyncresolver.Resolver()
        except dns.resolver.NoResolverConfiguration:
            # No /etc/resolv.conf: every lookup fails (answered as an unknown domain), and check says so.
            resolver = dns.asyncresolver.Resolver(configure=False)
            resolver.nameservers = ["127.0.0.1"]
    # Each name server gets its share of the deadline, so that a silent first one leaves time to ask the
    # next (with the whole deadline for one try, a dead first server failed every lookup); a lone one is
    # asked twice, so that one lost UDP packet is not a failure.
    resolver.timeout = settings.timeout / max(2, len(resolver.nameservers))
    # Ask for the AD bit (RFC 6840 §5.7): a validating resolver then says whether it validated.
    resolver.flags = dns.flags.RD | dns.flags.AD
    resolver.cache = None  # ours keeps answers, bounded, with the settings' TTL bounds
    return resolver


def _negative_ttl(response: dns.message.Message | None) -> float:
    """RFC 2308 §5: the SOA record's TTL, at most its minimum field; 0 without one (then min_ttl)."""
    if response is None:
        return 0
    for rrset in response.authority:
        if rrset.rdtype == dns.rdatatype.SOA:
            return float(min(rrset.ttl, *(r.minimum for r in rrset)))
    return 0


def _failure(exc: dns.resolver.NoNameservers) -> str:
    errors = exc.kwargs.get("errors") or []
    text = " ".join(str(error) for error in errors).upper()
    return "refused" if "REFUSED" in text else "servfail"
