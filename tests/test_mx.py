"""mx.py against a real name server (Knot DNS on loopback, tests/helpers/hosting_lab.py): the best MX, the
answers that are not one, timeouts and SERVFAIL, TTLs within bounds, failures remembered, one question per
domain however many ask at once, the in-flight cap and the bounded cache."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest

from autoconfig.errors import BusyError
from autoconfig.mx import MxAnswer, MxLookups
from autoconfig.settings.hosting import Resolver
from tests.helpers.hosting_lab import (
    MX1,
    MX2,
    NXDOMAIN,
    HostingLab,
    hosting_lab,
    servfail_nameserver,
    silent_nameserver,
    vouching_nameserver,
)

ELSEWHERE = "mx.elsewhere.example"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostingLab]:
    with hosting_lab(tmp_path_factory.mktemp("knot")) as started:
        yield started


def lookups(server: str, **keys: Any) -> MxLookups:
    return MxLookups(Resolver(servers=(server,), **keys))


def best(mx: MxLookups, domain: str) -> MxAnswer:
    return asyncio.run(mx.best(domain))


@pytest.mark.parametrize(
    ("domain", "hosts"),
    [
        ("customer.example", (MX1,)),  # the best preference only: mx2 at 20 is left out
        ("second.example", (MX2,)),
        ("backup.example", (MX1,)),
        ("elsewhere.example", (ELSEWHERE,)),
        ("tie.example", (ELSEWHERE, MX1)),  # every host of the best preference, sorted
        ("nomx.example", ()),
        ("nullmx.example", ()),  # RFC 7505: "MX 0 ." says the domain takes no mail
        (NXDOMAIN, ()),
    ],
)
def test_best_mx_hosts(lab: HostingLab, domain: str, hosts: tuple[str, ...]) -> None:
    answer = best(lookups(lab.resolver), domain)
    # Knot is authoritative, not a validating resolver: it never sets the AD bit.
    assert answer == MxAnswer(hosts, secure=False, failure=None)


def test_the_ad_bit_of_a_validating_resolver_is_kept(lab: HostingLab) -> None:
    with vouching_nameserver(lab.resolver) as validating:
        assert best(lookups(validating), "customer.example") == MxAnswer((MX1,), secure=True)


def test_a_name_server_that_refuses_is_a_failure(lab: HostingLab) -> None:
    # Knot serves no zone for this name, and says so: REFUSED.
    assert best(lookups(lab.resolver), "not-served.test") == MxAnswer((), failure="refused")


def test_a_silent_name_server_times_out_within_the_deadline() -> None:
    with silent_nameserver() as silent:
        mx = lookups(silent, timeout=0.3)
        start = time.monotonic()
        answer = best(mx, "customer.example")
        elapsed = time.monotonic() - start
    assert answer == MxAnswer((), failure="timeout")
    assert 0.3 <= elapsed < 0.8, elapsed


def test_a_silent_first_name_server_leaves_time_for_the_next(lab: HostingLab) -> None:
    with silent_nameserver() as silent:
        mx = MxLookups(Resolver(servers=(silent, lab.resolver), timeout=1.0))
        start = time.monotonic()
        answer = best(mx, "customer.example")
        elapsed = time.monotonic() - start
    assert answer == MxAnswer((MX1,))
    assert elapsed < 0.8, elapsed  # half the deadline for the silent one, then the answer


def test_servfail_is_a_failure_answered_at_once() -> None:
    with servfail_nameserver() as broken:
        mx = lookups(broken, timeout=2.0)
        start = time.monotonic()
        answer = best(mx, "customer.example")
        elapsed = time.monotonic() - start
    assert answer == MxAnswer((), failure="servfail")
    assert elapsed < 0.5, elapsed  # not the whole deadline: SERVFAIL is an answer


def test_a_failure_is_remembered_for_failure_ttl() -> None:
    with servfail_nameserver() as broken:
        remembered = lookups(broken, failure_ttl=30)
        for _ in range(3):
            assert best(remembered, "customer.example").failure == "servfail"
        assert remembered.asked == 1
        forgotten = lookups(broken, failure_ttl=0)
        for _ in range(3):
            assert best(forgotten, "customer.example").failure == "servfail"
        assert forgotten.asked == 3


@pytest.mark.parametrize("domain", [NXDOMAIN, "nomx.example"])
def test_no_mx_is_kept_for_the_zones_negative_ttl(lab: HostingLab, domain: str) -> None:
    # min_ttl 0: only the SOA's negative TTL (60 s) keeps the answer.
    mx = lookups(lab.resolver, min_ttl=0)
    best(mx, domain)
    best(mx, domain)
    assert mx.asked == 1


def test_ttl_expiry_and_an_mx_change_are_followed_within_the_bounds(lab: HostingLab) -> None:
    # moving.example's MX has a TTL of 1 s; customer.example's 300 s.
    follows = lookups(lab.resolver, min_ttl=0, max_ttl=60)  # the record's own TTL
    floored = lookups(lab.resolver, min_ttl=60)  # kept a minute whatever the TTL
    capped = lookups(lab.resolver, min_ttl=0, max_ttl=1)  # kept a second whatever the TTL
    for mx in (follows, floored):
        assert best(mx, "moving.example").hosts == (MX1,)
    assert best(capped, "customer.example").hosts == (MX1,)
    try:
        lab.edit("moving.example", [f"@ 1 IN MX 10 {ELSEWHERE}."])
        # Within the TTL the answer kept is the answer.
        assert best(follows, "moving.example").hosts == (MX1,)
        assert follows.asked == 1
        time.sleep(1.2)
        assert best(follows, "moving.example").hosts == (ELSEWHERE,)
        assert follows.asked == 2
        assert best(floored, "moving.example").hosts == (MX1,)
        assert floored.asked == 1
        assert best(capped, "customer.example").hosts == (MX1,)
        assert capped.asked == 2
    finally:
        lab.edit("moving.example", [f"@ 1 IN MX 10 {MX1}."])


def test_concurrent_lookups_of_one_domain_ask_once(lab: HostingLab) -> None:
    mx = lookups(lab.resolver)

    async def many() -> list[MxAnswer]:
        return await asyncio.gather(*(mx.best("second.example") for _ in range(50)))

    answers = asyncio.run(many())
    assert answers == [MxAnswer((MX2,))] * 50
    assert mx.asked == 1
    assert mx.in_flight == 0


def test_concurrent_lookups_share_a_timeout_too() -> None:
    with silent_nameserver() as silent:
        mx = lookups(silent, timeout=0.3)

        async def many() -> list[MxAnswer]:
            return await asyncio.gather(*(mx.best("customer.example") for _ in range(20)))

        start = time.monotonic()
        answers = asyncio.run(many())
        elapsed = time.monotonic() - start
    assert {answer.failure for answer in answers} == {"timeout"}
    assert mx.asked == 1
    assert elapsed < 0.8, elapsed


def test_a_cancelled_request_leaves_the_lookup_to_those_that_joined_it() -> None:
    # A client that leaves (its request cancelled) must not fail the requests that wait for the same
    # domain: they get the lookup's own answer.
    with silent_nameserver() as silent:
        mx = lookups(silent, timeout=0.3)

        async def scenario() -> tuple[bool, MxAnswer, MxAnswer]:
            first = asyncio.create_task(mx.best("customer.example"))
            await asyncio.sleep(0.05)
            joined = asyncio.create_task(mx.best("customer.example"))
            await asyncio.sleep(0.05)
            first.cancel()
            answer = await joined
            await asyncio.sleep(0)
            return first.cancelled(), answer, await mx.best("customer.example")

        cancelled, answer, kept = asyncio.run(scenario())
    assert cancelled
    assert answer == kept == MxAnswer((), failure="timeout")
    assert mx.asked == 1  # the lookup went on, and its answer was kept


def test_past_max_in_flight_a_new_domain_is_refused_at_once() -> None:
    with silent_nameserver() as silent:
        mx = lookups(silent, timeout=0.5, max_in_flight=2)

        async def scenario() -> tuple[float, list[MxAnswer | BaseException]]:
            slow = [asyncio.create_task(mx.best(d)) for d in ("a.example", "b.example")]
            await asyncio.sleep(0.05)
            assert mx.in_flight == 2
            start = time.monotonic()
            with pytest.raises(BusyError) as refused:
                await mx.best("c.example")
            elapsed = time.monotonic() - start
            assert refused.value.status == 503
            assert refused.value.headers == {"Retry-After": "1"}
            # A domain under way is joined, not refused.
            joined = asyncio.create_task(mx.best("a.example"))
            return elapsed, await asyncio.gather(*slow, joined, return_exceptions=True)

        elapsed, answers = asyncio.run(scenario())
    assert elapsed < 0.05, elapsed
    assert answers == [MxAnswer((), failure="timeout")] * 3
    assert mx.asked == 2
    assert mx.in_flight == 0


def test_answers_kept_are_answered_while_the_cap_is_reached() -> None:
    with silent_nameserver() as silent:
        mx = lookups(silent, timeout=0.3, max_in_flight=1, failure_ttl=30)
        assert best(mx, "a.example").failure == "timeout"  # kept for failure_ttl

        async def scenario() -> MxAnswer:
            under_way = asyncio.create_task(mx.best("b.example"))
            await asyncio.sleep(0.05)
            assert mx.in_flight == 1
            kept = await mx.best("a.example")  # from the cache: the cap is for questions
            await under_way
            return kept

        assert asyncio.run(scenario()).failure == "timeout"
    assert mx.asked == 2


def test_the_cache_is_bounded(lab: HostingLab) -> None:
    mx = lookups(lab.resolver, cache_entries=16)
    names = [f"n{i}.customer.example" for i in range(20)]  # each NXDOMAIN, kept 60 s
    for name in names:
        best(mx, name)
    assert mx.asked == 20
    best(mx, names[-1])  # among the 16 most recent: kept
    assert mx.asked == 20
    best(mx, names[0])  # the least recently used: out
    assert mx.asked == 21


def test_made_up_domains_never_push_a_customer_out(lab: HostingLab) -> None:
    mx = lookups(lab.resolver, cache_entries=16)
    assert best(mx, "customer.example").hosts == (MX1,)
    for i in range(40):  # a flood of domains without mail: NXDOMAIN, each kept apart
        best(mx, f"made-up{i}.customer.example")
    asked = mx.asked
    assert best(mx, "customer.example").hosts == (MX1,)
    assert mx.asked == asked  # still kept: no question


def test_past_the_budget_of_a_second_a_new_domain_is_refused_until_it_refills(lab: HostingLab) -> None:
    mx = lookups(lab.resolver, max_lookups_per_second=5)

    async def scenario() -> tuple[int, int]:
        answered = refused = 0
        for i in range(8):  # the resolver answers at once: the in-flight cap never binds
            try:
                await mx.best(f"flood{i}.customer.example")
                answered += 1
            except BusyError:
                refused += 1
        return answered, refused

    assert asyncio.run(scenario()) == (5, 3)
    assert mx.asked == 5
    assert best(mx, "flood0.customer.example").hosts == ()  # a kept answer costs no budget
    time.sleep(0.25)  # a quarter of a second refills a quarter of the budget: one lookup
    assert best(mx, "customer.example").hosts == (MX1,)
    assert mx.asked == 6
