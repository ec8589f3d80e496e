"""The organisation's main site at `https://<domain>/autodiscover/autodiscover.xml`, as Thunderbird's
account hub asks it on every setup, and in the casing Outlook writes.

What Thunderbird does there (comm-central, mail/components/accountcreation/modules/, read at
releases-comm-central cf9726f5, August 2026):
- FindConfig.sys.mjs, `parallelAutoDiscovery`: the autoconfig lookups and `fetchConfigFromExchange`
  run side by side, and `Promise.allSettled([allFinishedPromise, exchangePromise])` waits for both
  before anything is decided. When every Exchange address fails and one failure is a 401, it throws
  "Exchange auth error" (Fluent `account-hub-credentials-wrong`), which the hub shows whenever
  autoconfig found nothing.
- ExchangeAutoDiscover.sys.mjs, `fetchConfigFromExchange`: url1 `https://autodiscover.<domain>/...`,
  url2 `https://<domain>/autodiscover/autodiscover.xml`, url3 over http, and the `_autodiscover._tcp`
  SRV target, all started at once; `promiseFirstSuccessful` takes them in that order, so url2 is waited
  for whenever url1 gives nothing. url1 and url2 go through `startFetchWithAuth`: HTTP Basic with the
  person's address (or login) and password, which views/email.mjs passes once it has one.
- FetchHTTP.sys.mjs: the Authorization header is sent with the first request (not after a challenge),
  and each request is given up after 5 s by default.

So a main site that answers there with 401 breaks setups, one that hangs holds every setup up, and
every answer there receives staff passwords: the path belongs to this service.
"""

from __future__ import annotations

import base64
import time

from autoconfig.accounts import Account

from . import outlook
from .chains import SERVICE_ANSWERS_OTHERWISE, UnusableAnswerError
from .expected import compare, expected_outcome
from .network import Answer, FetchError, Network
from .report import Result, Status
from .thunderbird import DESKTOP, DESKTOP_AGENT

# The password the probe sends in Thunderbird's place: never a real one, and plain to see in any log.
DUMMY_PASSWORD = "autoconfig-probe-not-a-password"  # noqa: S105 (a marker, by design)
PATH = "/autodiscover/autodiscover.xml"
OUTLOOK_PATH = "/Autodiscover/Autodiscover.xml"  # the casing of Outlook and of autodiscover.json's Url
THUNDERBIRD_TIMEOUT = 5.0  # FetchHTTP.sys.mjs: args.timeout || 5000
SLOW = 1.0  # seconds: an answer slower than this is felt on every setup
EXCHANGE_STEP = "exchange-domain"
CASING_STEP = "pox-domain-casing"


def _fix(domain: str) -> str:
    return (
        f"pass {PATH} of https://{domain} to this service, matching the path case-insensitively "
        "(nginx `location ~* ^/autodiscover/`), never answer it with 401, and do not log its "
        'Authorization header (docs/deployment.md, "The organisation\'s main site")'
    )


def basic_authorization(address: str) -> str:
    """Thunderbird's preemptive Basic header, with the probe's dummy password in place of the person's."""
    token = base64.b64encode(f"{address}:{DUMMY_PASSWORD}".encode()).decode("ascii")
    return f"Basic {token}"


def exchange_domain(account: Account, typed: str, domain: str, network: Network) -> Result:
    """Thunderbird's POST to the main site, with Basic authentication: fast, and never 401."""
    url = f"https://{domain}{PATH}"
    headers = {
        "User-Agent": DESKTOP_AGENT,
        # ExchangeAutoDiscover.sys.mjs sends exactly this type (outlook.com needs it so).
        "Content-Type": "text/xml; charset=utf-8",
        "Authorization": basic_authorization(typed),
    }
    start = time.monotonic()
    try:
        answer = network.fetch("POST", url, headers=headers, body=outlook.request_body(typed))
    except FetchError as failure:
        return _failed(failure, domain, url)
    return _judge(account, answer, time.monotonic() - start, domain, url)


def _failed(failure: FetchError, domain: str, url: str) -> Result:
    if failure.kind == "timeout":
        return Result(
            DESKTOP,
            EXCHANGE_STEP,
            Status.FAIL,
            f"{failure.message}: Thunderbird waits for this address on every setup (up to its own "
            f"{THUNDERBIRD_TIMEOUT:g} s) whenever autodiscover.{domain} gives nothing first, and Outlook "
            "asks it first",
            _fix(domain),
            url,
        )
    # Refused, unknown, a certificate error: Thunderbird fails at once and goes on.
    return Result(
        DESKTOP,
        EXCHANGE_STEP,
        Status.OK,
        f"no HTTP answer ({failure.message}): Thunderbird goes on at once (the https results judge "
        "the main site)",
        url=url,
    )


def _judge(account: Account, answer: Answer, elapsed: float, domain: str, url: str) -> Result:
    # The time only where it matters: a healthy run prints the same lines every time (monitoring diffs
    # them, and so do the tests).
    took = (
        f"HTTP {answer.status} in {elapsed:.2f} s"
        if elapsed >= SLOW
        else f"HTTP {answer.status} within {SLOW:g} s"
    )
    if answer.status == 401:
        challenge = answer.header("www-authenticate")
        return Result(
            DESKTOP,
            EXCHANGE_STEP,
            Status.FAIL,
            f"{took}{f' ({challenge})' if challenge else ''}: Thunderbird sends the person's password "
            f"here, and when neither its autoconfig lookup nor autodiscover.{domain} gives settings it "
            'stops with "Exchange auth error" (the credentials-wrong message) instead of the settings',
            _fix(domain),
            url,
        )
    if elapsed >= THUNDERBIRD_TIMEOUT:
        return Result(
            DESKTOP,
            EXCHANGE_STEP,
            Status.FAIL,
            f"{took}: slower than Thunderbird waits ({THUNDERBIRD_TIMEOUT:g} s); every setup waits for it "
            f"whenever autodiscover.{domain} gives nothing first",
            _fix(domain),
            url,
        )
    slow = (
        f"; slow: every setup waits for it whenever autodiscover.{domain} gives nothing first"
        if elapsed >= SLOW
        else ""
    )
    try:
        outcome = outlook.pox_outcome(outlook.parse_pox(answer.body)) if answer.status == 200 else None
    except UnusableAnswerError:
        outcome = None
    if outcome is None:
        return Result(
            DESKTOP,
            EXCHANGE_STEP,
            Status.WARN,
            f"{took}, not the service's answer{slow}: Thunderbird goes on, but this site receives the "
            "person's password with each setup",
            _fix(domain),
            url,
        )
    differences = compare(outcome, expected_outcome(account))
    if differences.servers:
        return Result(
            DESKTOP,
            EXCHANGE_STEP,
            Status.WARN,
            f"{took}: {differences.describe()}",
            SERVICE_ANSWERS_OTHERWISE,
            url,
        )
    if slow:
        return Result(
            DESKTOP, EXCHANGE_STEP, Status.WARN, f"{took}, the service's answer{slow}", _fix(domain), url
        )
    return Result(
        DESKTOP,
        EXCHANGE_STEP,
        Status.OK,
        f"{took}, the service's answer ({outcome.describe()}); sent with a dummy Basic credential",
        url=url,
    )


def casing(account: Account, typed: str, domain: str, network: Network) -> Result:
    """`/Autodiscover/Autodiscover.xml` at the main site: where the lower-case path reaches the service,
    this one must too (a case-sensitive proxy rule sends it to the main site's own 404)."""
    lower, upper = f"https://{domain}{PATH}", f"https://{domain}{OUTLOOK_PATH}"
    wanted = expected_outcome(account)
    try:
        outlook.read_pox(network, lower, typed)
    except (FetchError, UnusableAnswerError):
        return Result(
            outlook.CLIENT,
            CASING_STEP,
            Status.OK,
            f"not relevant: {PATH} does not reach the service either (see pox-domain)",
            url=upper,
        )
    try:
        got = outlook.read_pox(network, upper, typed)[0]
    except (FetchError, UnusableAnswerError) as failure:
        return Result(
            outlook.CLIENT,
            CASING_STEP,
            Status.WARN,
            f"{failure}, where {PATH} reaches the service: the main site matches the path case-sensitively; "
            "clients that write it so go on to the next address",
            _fix(domain),
            upper,
        )
    differences = compare(got, wanted)
    if differences.servers:
        return Result(
            outlook.CLIENT, CASING_STEP, Status.FAIL, differences.describe(), SERVICE_ANSWERS_OTHERWISE, upper
        )
    return Result(outlook.CLIENT, CASING_STEP, Status.OK, f"answers as {PATH} does", url=upper)
