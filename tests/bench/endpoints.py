"""What the benchmark asks for: the endpoints of the main table, their wrk scripts and the issue's targets.

Each endpoint is one row. Its `first` target is the request captured from the service for the baselines
to answer as a constant; the wrk script then repeats it, or varies the address when a cache must not help
(a new person each time) or should be tested at scale (100,000 people in turn).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import quote

DOMAIN = "ac-paris.fr"
PERSON = f"jean.dupont@{DOMAIN}"
OUTLOOK_BODY = (
    '<?xml version="1.0" encoding="utf-8"?><Autodiscover xmlns="http://schemas.microsoft.com/exchange/'
    f'autodiscover/outlook/requestschema/2006"><Request><EMailAddress>{PERSON}</EMailAddress>'
    "<AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/"
    "2006a</AcceptableResponseSchema></Request></Autodiscover>"
)
THUNDERBIRD_PATH = "/mail/config-v1.1.xml"


@dataclass(frozen=True)
class Endpoint:
    key: str  # for --only and the JSON output
    name: str
    method: str
    path: str
    query_key: str = ""  # the parameter that carries the address, when there is one
    body: str = ""
    addresses: int = 1  # 1: always `person`; 0: a new address each request; N: N addresses in turn
    person: str = PERSON
    target: float | None = None  # at least this share of the Starlette baseline, at 2 workers
    host: str = ""  # the Host header, when not the URL's (a hoster's autoconfig name)

    def target_of(self, address: str) -> str:
        if not self.query_key:
            return self.path
        return f"{self.path}?{self.query_key}={quote(address, safe='@')}"

    @property
    def first(self) -> str:
        return self.target_of(self.person)

    def lua(self, salt: int) -> str:
        """The wrk script. `salt` makes every run's new people new: a later round must not meet the
        addresses an earlier one left in the service's caches."""
        head = f'wrk.method = "{self.method}"\n'
        if self.host:
            head += f'wrk.headers["Host"] = "{self.host}"\n'
        if self.body:
            head += 'wrk.headers["Content-Type"] = "text/xml"\n' + f"wrk.body = {json.dumps(self.body)}\n"
        if self.addresses == 1:
            return head + f"wrk.path = {json.dumps(self.first)}\n"
        return head + _varying_addresses(self, salt)


def _varying_addresses(endpoint: Endpoint, salt: int) -> str:
    # Local parts of the form first.lastN, which the Académie's login rule matches, as real people's do.
    prefix = f"{endpoint.path}?{endpoint.query_key}=jean.dupont"
    if endpoint.addresses == 0:
        number = f'string.format("%06d%d%09d", {salt % 1_000_000}, id, counter)'
    else:
        # Threads start half a cycle apart, and each run far from where the previous one started
        # (consecutive salts, times a large odd number): no thread nor round walks where another just
        # did, so the share of cache hits is the service's, not the script's.
        cycle = endpoint.addresses
        number = f"({salt * 48271 % cycle} + id * {cycle // 2} + counter) % {cycle}"
    return (
        "local threads = 0\n"
        "function setup(thread)\n"
        "  threads = threads + 1\n"
        "  thread:set('id', threads)\n"
        "end\n"
        "local counter = 0\n"
        "function request()\n"
        "  counter = counter + 1\n"
        f'  return wrk.format(nil, "{prefix}" .. {number} .. "@{DOMAIN}")\n'
        "end\n"
    )


ENDPOINTS = (
    Endpoint("thunderbird", "Thunderbird XML", "GET", THUNDERBIRD_PATH, "emailaddress", target=0.80),
    Endpoint(
        "json",
        "autodiscover.json",
        "GET",
        f"/autodiscover/autodiscover.json/v1.0/{PERSON}?Protocol=AutodiscoverV1",
        target=0.80,
    ),
    Endpoint("pox", "POX POST", "POST", "/autodiscover/autodiscover.xml", body=OUTLOOK_BODY, target=0.70),
    Endpoint(
        "profile-same", "Apple profile, same person", "GET", "/profile.mobileconfig", "email", target=0.80
    ),
    Endpoint(
        "profile-new",
        "Apple profile, new person (ECDSA P-256)",
        "GET",
        "/profile.mobileconfig",
        "email",
        addresses=0,
        target=0.50,
    ),
    Endpoint("guide", "guide page", "GET", "/guide/android", "email", target=0.50),
    Endpoint(
        "thunderbird-100k",
        "Thunderbird XML, 100,000 addresses",
        "GET",
        THUNDERBIRD_PATH,
        "emailaddress",
        addresses=100_000,
        target=0.60,
    ),
)


def thunderbird(addresses: int, person: str = PERSON) -> Endpoint:
    """The Thunderbird document for `addresses` people in turn (1: `person` alone), for the growth table."""
    return Endpoint(
        f"thunderbird-{addresses}",
        "Thunderbird XML",
        "GET",
        THUNDERBIRD_PATH,
        "emailaddress",
        addresses=addresses,
        person=person,
    )
