"""Calendars and address books, found the RFC 6764 way from the address's domain (as Thunderbird
does): the `_caldavs._tcp` / `_carddavs._tcp` SRV record with its `path=` TXT, else
`https://<domain>/.well-known/caldav|carddav`."""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit

from .chains import Step, judge
from .lookup import LookupFailure
from .network import REDIRECTS, FetchError, Network
from .report import Result

AGENT = "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Thunderbird/140.0"
KINDS = {"caldav": "calendar", "carddav": "contacts"}


def normalise(url: str) -> str:
    parts = urlsplit(url)
    port = parts.port
    default = 443 if parts.scheme == "https" else 80
    netloc = (parts.hostname or "") + ("" if port in (None, default) else f":{port}")
    return f"{parts.scheme}://{netloc}{parts.path or '/'}"


def _srv_step(kind: str, domain: str, network: Network) -> Step:
    name = f"_{kind}s._tcp.{domain}"
    try:
        records = [record for record in network.lookup.srv(name) if record.offered]
        texts = network.lookup.texts(name)
    except LookupFailure as failure:
        return Step(
            "srv", None, problem=f"no SRV record at {name}: {failure.message}", fix="see the dns results"
        )
    if not records:
        return Step("srv", None, problem=f"no SRV record at {name}", fix="see the dns results")
    path = next((t.removeprefix("path=") for t in texts if t.startswith("path=")), "/")
    host, port = records[0].host, records[0].port
    return Step("srv", None, answer=normalise(f"https://{host}:{port}{path}"), note=f"SRV {name}")


def _well_known_step(kind: str, domain: str, network: Network) -> Step:
    url = f"https://{domain}/.well-known/{kind}"
    fix = (
        f"send /.well-known/{kind} of https://{domain} to the service (docs/deployment.md, "
        '"The organisation\'s main site")'
    )
    try:
        answer = network.fetch("PROPFIND", url, headers={"User-Agent": AGENT, "Depth": "0"})
    except FetchError as failure:
        return Step("well-known", url, problem=failure.message, fix=fix)
    location = answer.header("location")
    if answer.status not in REDIRECTS or not location:
        return Step("well-known", url, problem=f"HTTP {answer.status}, no redirect", fix=fix)
    return Step("well-known", url, answer=normalise(urljoin(url, location)), note=f"HTTP {answer.status}")


def dav(kind: str, expected: str, domain: str, network: Network) -> list[Result]:
    """Discovery from the domain, against `expected`: where the service's redirect leads
    (version.discovery_url)."""
    wanted = normalise(expected)
    steps = [
        _against(found, wanted)
        for found in (_srv_step(kind, domain, network), _well_known_step(kind, domain, network))
    ]
    return judge(kind, steps)


def _against(step: Step, wanted: str) -> Step:
    if step.answer is None or step.answer == wanted:
        return step
    return Step(
        step.name,
        step.url,
        step.answer,
        f"the settings say {wanted}",
        "publish what `autoconfig dns` prints, and reload the service with these settings",
        note=step.note,
    )
