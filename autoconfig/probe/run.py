"""The whole probe for one address, in a stable order: DNS, HTTPS, then each client's chain."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from urllib.parse import urlsplit

from autoconfig.accounts import Account, hosted_account, parse_address, resolve_account
from autoconfig.errors import RequestError, UnknownDomainError
from autoconfig.formats.pacc import HOST_LABEL
from autoconfig.settings import Settings
from autoconfig.version import Version, discovery_url

from . import apple, dav, families, hosted, mainsite, outlook, pacc, records, thunderbird, tls
from .network import Network
from .report import ProbeError, Result


@dataclass(frozen=True)
class Target:
    typed: str  # the address as given: what clients send
    domain: str  # its domain in A-label form: where clients look
    account: Account


def target_for(settings: Settings, address: str) -> Target:
    """The address checked against the settings. Raises ProbeError."""
    try:
        local, domain = parse_address(address)
    except RequestError as exc:
        raise ProbeError(f"{address!r} is not a mail address: {exc.message}") from None
    try:
        account = resolve_account(settings, address)
    except UnknownDomainError:
        if settings.hosting_providers:
            # Perhaps a customer's: the MX decides, as the service's lookup does (hosted.py).
            return Target(address, domain, hosted_account(settings.hosting_providers[0], local, domain))
        served = sorted({d for p in settings.providers for d in (*p.domains, *p.aliases)})
        shown = ", ".join(served[:8]) + (", …" if len(served) > 8 else "")
        raise ProbeError(
            f"{domain} is not a domain the settings {settings.source} serve (they serve {shown})"
        ) from None
    return Target(address, domain, account)


def https_names(version: Version, target: Target) -> list[tls.Name]:
    """Every name a client asks over HTTPS for this address, once each, with who asks it."""
    domain, provider = target.domain, target.account.provider
    wanted = [
        tls.Name(f"autoconfig.{domain}", "Thunderbird's first address"),
        tls.Name(domain, "Thunderbird's second address, Outlook's first, the DAV well-known", main_site=True),
        tls.Name(f"autodiscover.{domain}", "Outlook's autodiscover"),
        tls.Name(version.host, "the service's own name: the Apple profile, autodiscover.json's Url"),
    ]
    if version.pacc[domain].body is not None:
        wanted.append(tls.Name(f"{HOST_LABEL}.{domain}", "PACC"))
    for kind, service in (("caldav", provider.calendar), ("carddav", provider.contacts)):
        url = urlsplit(discovery_url(service, provider, domain)) if service is not None else None
        if url is not None and url.scheme == "https" and url.hostname:
            wanted.append(tls.Name(url.hostname, f"the {dav.KINDS[kind]} server"))
    names: dict[str, tls.Name] = {}
    for name in wanted:
        seen = names.get(name.host)
        names[name.host] = (
            name
            if seen is None
            else tls.Name(name.host, f"{seen.why}; {name.why}", seen.main_site and name.main_site)
        )
    return list(names.values())


def probe(version: Version, target: Target, network: Network, now: dt.datetime | None = None) -> list[Result]:
    """Every check, in order, against what this version of the settings makes the service answer.
    Raises ProbeError when the resolver does not answer at all."""
    now = now or dt.datetime.now(dt.UTC)
    network.lookup.check_answers(target.domain)
    if target.account.hosted:
        return hosted.hosted_probe(version, target.typed, target.domain, network, now)
    account, typed, domain = target.account, target.typed, target.domain
    provider = account.provider
    results = records.check_records(version.records_for(domain), network.lookup)
    service = version.host
    names = https_names(version, target)
    for checked, name in zip(tls.check_names(names, network, now), names, strict=True):
        results.append(checked.result)
        if checked.reached:
            ask = families.ask_for(name.host, domain, typed, service)
            results += families.check_families(name, ask, network)
    # The main site's answers are steps beside each client's chain: put before its result.
    desktop = thunderbird.desktop(account, typed, domain, network)
    results += [*desktop[:-1], mainsite.exchange_domain(account, typed, domain, network), desktop[-1]]
    results += thunderbird.android(account, typed, domain, network)
    microsoft = outlook.outlook(account, typed, domain, network)
    results += [*microsoft[:-1], mainsite.casing(account, typed, domain, network), microsoft[-1]]
    results += apple.apple(version.settings, account, typed, network, now)
    results += pacc.pacc(account, domain, network)
    if provider.calendar is not None:
        results += dav.dav("caldav", discovery_url(provider.calendar, provider, domain), domain, network)
    if provider.contacts is not None:
        results += dav.dav("carddav", discovery_url(provider.contacts, provider, domain), domain, network)
    return results
