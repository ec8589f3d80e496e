"""The settings being served, with everything derived from them once, at load time, for every request
to share; and the one way a request turns an address into an account."""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.types import Scope

from autoconfig.accounts import Account, resolve_account, with_directory
from autoconfig.directory import StaffDirectory, read_password
from autoconfig.formats.outlook import Fill, compile_pox
from autoconfig.formats.pacc import PaccDocument, pacc_document
from autoconfig.formats.signing import Signer, signer_for
from autoconfig.formats.thunderbird import ClientConfigTemplate, compile_clientconfig
from autoconfig.formats.xmlslots import SlottedXml
from autoconfig.paths import templates_dir
from autoconfig.settings import Settings

from .metrics import SIGNING_EXPIRY
from .middleware import Edge, parse_networks
from .pages import Pages
from .profiles import SignedProfiles


class Unset:
    """No value given (None, for a signer, means: profiles unsigned)."""


UNSET = Unset()
ACCOUNT_CACHE_SIZE = 10_000  # per worker: about 5 MB at most


@dataclass(frozen=True)
class Loaded:
    """One version of the settings, compiled for serving. A reload builds a new one and swaps it in."""

    settings: Settings
    clientconfig: dict[str, ClientConfigTemplate]  # by provider id
    pox: dict[str, SlottedXml[Fill]]  # by provider id
    pacc: dict[str, PaccDocument]  # by domain (and alias): the bytes the TXT records' digests are of
    signer: Signer | None
    pages: Pages
    edge: Edge  # what the middleware needs: trusted proxies, the request deadline
    metrics_networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network]  # /metrics, /healthz details
    loaded_at: dt.datetime
    profiles: SignedProfiles | None  # None: profiles are served unsigned
    directories: dict[str, StaffDirectory]  # by provider id, for providers with a directory lookup
    notes: tuple[str, ...] = ()  # what the supervisor noticed (a state folder it cannot write)
    # Addresses resolved by the rule or the overrides (not the directory, which has its own cache), by
    # the text asked: parsing, the rule and the name are the same for every request of one person. A
    # reload builds a new Loaded, and so starts with an empty cache.
    accounts: dict[str, Account] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def build(
        cls, settings: Settings, signer: Signer | Unset | None = UNSET, notes: tuple[str, ...] = ()
    ) -> Loaded:
        """Raises SettingsError when the signing files cannot be used. `signer`: the one the supervisor
        made (the development signer), else the one the settings name; `notes`: what the supervisor
        noticed, for /healthz."""
        if isinstance(signer, Unset):
            signer = signer_for(settings)
        if signer is not None:
            SIGNING_EXPIRY.set(signer.not_after.timestamp())
        return cls(
            settings,
            clientconfig={p.id: compile_clientconfig(p) for p in settings.providers},
            pox={p.id: compile_pox(p) for p in settings.providers},
            pacc={d: pacc_document(p, d) for p in settings.providers for d in (*p.domains, *p.aliases)},
            signer=signer,
            pages=Pages(settings, templates_dir()),
            edge=Edge(parse_networks(settings.service.trusted_proxies), settings.service.request_timeout),
            metrics_networks=parse_networks(settings.service.metrics_networks),
            loaded_at=dt.datetime.now(dt.UTC),
            profiles=SignedProfiles(signer) if signer is not None else None,
            directories={
                p.id: StaffDirectory(
                    p.directory.lookup, p.directory.base_dn, read_password(settings, p.directory.lookup)
                )
                for p in settings.providers
                if p.directory is not None and p.directory.lookup is not None
            },
            notes=notes,
        )

    def resolve(self, address: str) -> Account:
        """The account by the overrides file or the rule, without the directory (raises RequestError)."""
        account = self.accounts.get(address)
        if account is None:
            account = resolve_account(self.settings, address)
            if len(self.accounts) >= ACCOUNT_CACHE_SIZE:
                # The oldest goes first: a flood of new addresses costs evictions, never memory.
                del self.accounts[next(iter(self.accounts))]
            self.accounts[address] = account
        return account

    async def account(self, address: str) -> Account:
        """The account for an address: the overrides file, else the staff directory, else the rule."""
        account = self.resolve(address)
        directory = self.directories.get(account.provider.id)
        if directory is None or account.source == "override":
            return account
        entry = await directory.find(account.local_part, account.domain)
        return account if entry is None else with_directory(account, entry.login, entry.name)


def loaded(request: Request) -> Loaded:
    """The settings this request is served with: read once, then kept for the whole request, so that
    a reload in the middle of it (while it waits for the directory) never mixes two versions."""
    return pinned(request.scope)


_PINNED = "autoconfig.loaded"  # a key of the request's scope, which Starlette passes along as it is


def pinned(scope: Scope) -> Loaded:
    """The same, from the scope: the middleware's first look pins the version for the whole request."""
    served: Loaded | None = scope.get(_PINNED)
    if served is None:
        served = scope[_PINNED] = scope["app"].state.loaded
    return served
