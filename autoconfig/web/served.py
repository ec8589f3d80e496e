"""The version of the settings this worker serves (a Version, autoconfig/version.py, with what belongs to
this process), the one way a request reaches it (`serving`: pinned for the whole request), and the one
way a request turns an address into an account."""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.types import Scope

from autoconfig.accounts import Account, resolve_account, with_directory
from autoconfig.caches import LRU
from autoconfig.directory import StaffDirectory, read_password
from autoconfig.formats.outlook import Fill
from autoconfig.formats.pacc import PaccDocument
from autoconfig.formats.signing import Signer
from autoconfig.formats.thunderbird import ClientConfigTemplate
from autoconfig.formats.xmlslots import SlottedXml
from autoconfig.paths import templates_dir
from autoconfig.settings import Settings
from autoconfig.version import Version

from .metrics import SIGNING_EXPIRY
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
    # Addresses resolved by the rule or the overrides (not the directory, which has its own cache), by
    # the text asked: parsing, the rule and the name are the same for every request of one person. It
    # lives with the version: a reload builds a new Served, and so starts with an empty cache.
    accounts: LRU[str, Account] = field(default_factory=lambda: LRU("accounts"), compare=False, repr=False)

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

    async def account(self, address: str) -> Account:
        """The account for an address: the overrides file, else the staff directory, else the rule."""
        account = self.resolve(address)
        directory = self.directories.get(account.provider.id)
        if directory is None or account.source == "override":
            return account
        entry = await directory.find(account.local_part, account.domain)
        return account if entry is None else with_directory(account, entry.login, entry.name)


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
