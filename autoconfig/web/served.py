"""The version of the settings this worker serves (a Version, autoconfig/version.py, with what belongs to
this process), the one way a request reaches it (`serving`: pinned for the whole request), and the one
way a request turns an address into an account."""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.types import Scope

from autoconfig.accounts import (
    Account,
    hosted_account,
    hosters_for_host,
    parse_address,
    resolve_account,
    with_directory,
)
from autoconfig.caches import LRU
from autoconfig.directory import StaffDirectory, read_password
from autoconfig.domains import host_from_header
from autoconfig.errors import UnknownDomainError
from autoconfig.formats.outlook import Fill
from autoconfig.formats.pacc import PaccDocument
from autoconfig.formats.signing import Signer
from autoconfig.formats.thunderbird import ClientConfigTemplate
from autoconfig.formats.xmlslots import SlottedXml
from autoconfig.paths import templates_dir
from autoconfig.settings import Settings
from autoconfig.version import Version

from .metrics import SIGNING_EXPIRY

if TYPE_CHECKING:  # mx.py brings dnspython, imported by the services that host mail for others only
    from autoconfig.mx import MxAnswer, MxLookups
from .middleware import Edge, parse_networks
from .pages import Pages
from .profiles import SignedProfiles


@dataclass(frozen=True)
class Served:
    """A version of the settings, as one worker serves it: the Version, and what belongs to this process
    (the pages, the signing gate and its cache, the directory connections, the account cache). A reload
    builds a new one and swaps it in."""

    version: Version
    pages: Pages
    edge: Edge  # what the middleware needs: trusted proxies, the request deadline
    metrics_networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network]  # /metrics, /healthz details
    profiles: SignedProfiles | None  # None: profiles are served unsigned
    directories: dict[str, StaffDirectory]  # by provider id, for providers with a directory lookup
    mx: MxLookups | None  # None: no provider hosts mail for domains it does not list
    # Addresses resolved by the rule or the overrides (not the directory, which has its own cache), by
    # the text asked: parsing, the rule and the name are the same for every request of one person. It
    # lives with the version: a reload builds a new Served, and so starts with an empty cache.
    accounts: LRU[str, Account] = field(default_factory=lambda: LRU("accounts"), compare=False, repr=False)
    # Accounts at customer domains of a hoster, by the address and the Host asked, with the MX answer
    # they were made from: good while that answer is kept.
    hosted: LRU[tuple[str, str], tuple[MxAnswer, Account]] = field(
        default_factory=lambda: LRU("accounts"), compare=False, repr=False
    )
    # Answers rendered for one person (the POX document, Thunderbird's), by format and every fact of the
    # account the document is made of: a client asks the same several times, and a reload forgets them.
    answers: LRU[tuple[str, str, str, str, str | None, bool], bytes] = field(
        default_factory=lambda: LRU("answers"), compare=False, repr=False
    )

    @classmethod
    def wrap(cls, version: Version) -> Served:
        settings, signer = version.settings, version.signer
        if signer is not None:
            SIGNING_EXPIRY.set(signer.not_after.timestamp())
        return cls(
            version,
            pages=Pages(settings, templates_dir()),
            edge=Edge(parse_networks(settings.service.trusted_proxies), settings.service.request_timeout),
            metrics_networks=parse_networks(settings.service.metrics_networks),
            profiles=SignedProfiles(signer) if signer is not None else None,
            directories={
                p.id: StaffDirectory(
                    p.directory.lookup, p.directory.base_dn, read_password(settings, p.directory.lookup)
                )
                for p in settings.providers
                if p.directory is not None and p.directory.lookup is not None
            },
            mx=_mx_lookups(settings),
        )

    # The Version's parts that most requests read, by their names.
    @property
    def settings(self) -> Settings:
        return self.version.settings

    @property
    def signer(self) -> Signer | None:
        return self.version.signer

    @property
    def clientconfig(self) -> Mapping[str, ClientConfigTemplate]:
        return self.version.clientconfig

    @property
    def pox(self) -> Mapping[str, SlottedXml[Fill]]:
        return self.version.pox

    @property
    def pacc(self) -> Mapping[str, PaccDocument]:
        return self.version.pacc

    @property
    def notes(self) -> tuple[str, ...]:
        return self.version.notes

    @property
    def loaded_at(self) -> dt.datetime:
        return self.version.made_at

    def resolve(self, address: str) -> Account:
        """The account by the overrides file or the rule, without the directory (raises RequestError)."""
        account = self.accounts.get(address)
        if account is None:
            account = resolve_account(self.settings, address)
            self.accounts.put(address, account)  # a flood of new addresses costs evictions, never memory
        return account

    async def resolve_hosted(self, address: str, request: Request | None) -> Account:
        """The same, or, for a domain the settings do not list, the account of a provider that hosts its
        mail (its MX says so), when the request came to that provider's host (raises RequestError)."""
        mx = self.mx
        if mx is None or request is None:
            return self.resolve(address)
        host = request.headers.get("host", "")
        kept = self.hosted.get((address, host))
        if kept is not None and mx.kept(kept[1].domain) is kept[0]:
            return kept[1]
        try:
            return self.resolve(address)
        except UnknownDomainError:
            pass
        hosters = hosters_for_host(self.settings, host, own_host=_own_host(request))
        local, domain = parse_address(address)
        if not any(p.hosting is not None and p.hosting.admits(domain) for p in hosters):
            raise UnknownDomainError()
        answer = await mx.best(domain)
        owners = {id(p): p for p in map(self.settings.hoster_of_mx, answer.hosts)}
        # No MX, a failed lookup, or best MX hosts not all one provider's, or not one this host names.
        provider = next(iter(owners.values())) if len(owners) == 1 else None
        if provider is None or provider.hosting is None or not any(provider is p for p in hosters):
            raise UnknownDomainError()
        hosting = provider.hosting
        if not hosting.admits(domain) or (hosting.require_dnssec and not answer.secure):
            raise UnknownDomainError()
        account = hosted_account(provider, local, domain)
        self.hosted.put((address, host), (answer, account))
        return account

    def rendered(self, kind: str, account: Account, render: Callable[[], bytes]) -> bytes:
        """A person's document of one format: kept, or rendered and kept."""
        key = (
            kind,
            account.provider.id,
            account.address,
            account.login,
            account.display_name,
            account.hosted,
        )
        answer = self.answers.get(key)
        if answer is None:
            answer = render()
            self.answers.put(key, answer)
        return answer

    async def account(self, address: str, request: Request | None = None) -> Account:
        """The account for an address: the overrides file, else the staff directory, else the rule; for
        a customer domain of a hosting provider (with the request, to know the host it came to), the same
        by that provider's rules."""
        account = await self.resolve_hosted(address, request)
        directory = self.directories.get(account.provider.id)
        if directory is None or account.source == "override" or account.hosted:
            return account
        entry = await directory.find(account.local_part, account.domain)
        return account if entry is None else with_directory(account, entry.login, entry.name)


# A trial on one machine: http://127.0.0.1:8080, http://localhost:8080, http://[::1]:8080, on the port
# the service listens on. Any other loopback spelling or port (`127.1.2.3:99`) is no trial's: public_url.
_TRIAL_HOST = re.compile(r"^(localhost|127\.0\.0\.1|\[::1\])(?::([0-9]{1,5}))?$", re.IGNORECASE)
_DEFAULT_PORTS = {"http": 80, "https": 443}


def trial_base(request: Request, header: str) -> str | None:
    """The loopback address of a trial, when the Host names it with the port the request came in on
    (a Host is only what a client wrote; the port the socket listens on is the service's own)."""
    match = _TRIAL_HOST.match(header)
    server = request.scope.get("server")
    if match is None or not server:
        return None
    scheme = request.url.scheme
    port = int(match[2]) if match[2] else _DEFAULT_PORTS.get(scheme)
    return f"{scheme}://{header.lower()}" if port == server[1] else None


def _own_host(request: Request) -> bool:
    """Whether the request came to the service's own name (public_url's host), or to loopback for a trial."""
    header = request.headers.get("host", "").strip()
    return (
        host_from_header(header) == serving(request).version.host or trial_base(request, header) is not None
    )


def _mx_lookups(settings: Settings) -> MxLookups | None:
    if not settings.hosting_providers:
        return None
    from autoconfig.mx import MxLookups  # noqa: PLC0415 - see TYPE_CHECKING above

    return MxLookups(settings.service.resolver)


def serving(request: Request) -> Served:
    """The settings this request is served with: read once, then kept for the whole request, so that
    a reload in the middle of it (while it waits for the directory) never mixes two versions."""
    return serving_scope(request.scope)


_PINNED = "autoconfig.loaded"  # a key of the request's scope, which Starlette passes along as it is


def serving_scope(scope: Scope) -> Served:
    """The same, from the scope: the middleware's first look pins the version for the whole request."""
    served: Served | None = scope.get(_PINNED)
    if served is None:
        served = scope[_PINNED] = scope["app"].state.served
    return served
