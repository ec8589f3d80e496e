"""One version of the settings and everything derived from it, made once: each provider's answer templates,
each domain's PACC document, DNS records and DAV discovery URL, the signer, what one connection may cost
a worker, the log-hash key, what to warn about.

`check`, `dns`, `render`, `serve` (its supervisor and every worker) and the probe read the same object, so
that what the probe expects is what the service answers. A reload makes a new one; a worker applies it
in one call. Nothing here knows of the web or the serving layers: they wrap a Version with what belongs
to one process (pages, caches, the directory connections).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field

from autoconfig.domains import host_from_header
from autoconfig.formats import apple
from autoconfig.formats.dns import Record, dns_records, service_host
from autoconfig.formats.outlook import Fill, build_json, compile_pox
from autoconfig.formats.pacc import PaccDocument, pacc_document
from autoconfig.formats.signing import Signer
from autoconfig.formats.thunderbird import ClientConfigTemplate, compile_clientconfig
from autoconfig.formats.xmlslots import SlottedXml
from autoconfig.settings import DOMAIN_PLACEHOLDER, DavServer, Provider, Settings


@dataclass(frozen=True)
class Limits:
    """What one connection may cost a worker (serving/protocol.py holds it to them)."""

    head_timeout: float
    max_connections: int
    max_head_bytes: int


@dataclass(frozen=True)
class Version:
    settings: Settings
    signer: Signer | None  # None: profiles go out unsigned
    log_hash_key: bytes | None  # the key of log_addresses = "hash"
    notes: tuple[str, ...]  # what the supervisor noticed, for /healthz (a state folder it cannot write)
    limits: Limits
    clientconfig: Mapping[str, ClientConfigTemplate]  # by provider id
    pox: Mapping[str, SlottedXml[Fill]]  # by provider id
    pacc: Mapping[str, PaccDocument]  # by domain and alias: the bytes the TXT records' digests are of
    records: tuple[Record, ...]  # what `autoconfig dns` prints
    autodiscover_json: bytes  # the same for every address: where the POX endpoint is
    made_at: dt.datetime
    # Apple templates, made on first use: two languages and two forms for each provider would cost
    # seconds at load with thousands of providers, most never asked. Bounded by the providers.
    _apple: dict[tuple[str, str, bool], SlottedXml[str]] = field(
        default_factory=dict, compare=False, repr=False
    )
    _apple_lock: threading.Lock = field(default_factory=threading.Lock, compare=False, repr=False)

    @classmethod
    def build(
        cls,
        settings: Settings,
        signer: Signer | None,
        log_hash_key: bytes | None = None,
        notes: tuple[str, ...] = (),
    ) -> Version:
        service = settings.service
        return cls(
            settings,
            signer,
            log_hash_key,
            notes,
            Limits(service.header_timeout, service.max_connections, service.max_head_bytes),
            clientconfig={p.id: compile_clientconfig(p) for p in settings.providers},
            pox={p.id: compile_pox(p) for p in settings.providers},
            pacc={d: pacc_document(p, d) for p in settings.providers for d in (*p.domains, *p.aliases)},
            records=tuple(dns_records(settings)),
            autodiscover_json=build_json(service.public_url),
            made_at=dt.datetime.now(dt.UTC),
        )

    @property
    def digest(self) -> str:
        return self.settings.digest

    @property
    def listed_domains(self) -> frozenset[str] | None:
        """With a provider that hosts mail for customer domains, the domains the settings list (the
        logs hide any other, like a local part); None without one."""
        settings = self.settings
        return settings.listed_domains if settings.hosting_providers else None

    @property
    def host(self) -> str:
        """The service's own name (public_url's host)."""
        return service_host(self.settings)

    def apple_template(self, provider: Provider, language: str, named: bool) -> SlottedXml[str]:
        key = (provider.id, language, named)
        template = self._apple.get(key)
        if template is None:
            with self._apple_lock:  # the signing threads ask too
                template = self._apple.get(key) or apple.compile_template(provider, language, named)
                self._apple[key] = template
        return template

    def records_for(self, domain: str) -> list[Record]:
        """What `autoconfig dns` prints for one domain (one of a provider's domains or aliases)."""
        suffix = f".{domain}."
        found = []
        for record in self.records:
            prefix = record.name.removesuffix(suffix)
            # `<label>.<domain>.` or `_service._tcp.<domain>.`: not a record of a sub-domain also served.
            if record.part:
                continue  # a hoster's MX-path records and what its customers add: not the domain's own
            if record.name.endswith(suffix) and (
                "." not in prefix or (prefix.endswith("._tcp") and prefix.count(".") == 1)
            ):
                found.append(record)
        return found


def discovery_domain(provider: Provider, host: str) -> str:
    """The domain a DAV discovery on `host` (a domain, or `autoconfig.<domain>`) is answered for: one of
    the provider's domains, else its first (an alias is answered as the domain it stands for)."""
    name = host_from_header(host) or ""
    candidates = (name, name.partition(".")[2])
    return next((d for d in candidates if d in provider.domains), provider.domains[0])


def discovery_url(service: DavServer, provider: Provider, host: str) -> str:
    """Where a DAV discovery that names nobody leads (RFC 6764): the settings' URL for the domain, up
    to its per-person part, which nobody named cannot fill in."""
    url = service.url.replace(DOMAIN_PLACEHOLDER, discovery_domain(provider, host))
    cut = url.find("%EMAIL")
    return url if cut == -1 else url[: url.rfind("/", 0, cut) + 1]
