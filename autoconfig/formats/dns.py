"""The DNS records each mail domain should publish so that clients find the service and the servers.

- `autoconfig.<domain>` and `autodiscover.<domain>`: CNAME to the service's host (Thunderbird, Outlook);
- `_autodiscover._tcp`: SRV to the service (Outlook's last resort);
- RFC 6186 / RFC 8314 SRV for IMAP, POP3 and submission, target "." where a service is not offered;
- RFC 6764 `_caldavs._tcp` / `_carddavs._tcp` SRV with their `path=` TXT, when configured;
- PACC: `ua-auto-config.<domain>` to the service and the `_ua-auto-config.<domain>` TXT record with the
  digest of the domain's document, or why the provider has none;
- for a provider that hosts mail for other domains (part "hosting"): `autoconfig.<its MX hosts' names>`,
  where Thunderbird follows a customer domain's MX, and the names its certificate must hold; and (part
  "customer") what a customer domain may add: nothing for Thunderbird beyond its MX, the
  `_autodiscover._tcp` SRV record for Outlook.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from urllib.parse import urlsplit

from autoconfig.accounts import fill_placeholders
from autoconfig.domains import to_ascii_domain
from autoconfig.formats.pacc import HOST_LABEL, TXT_LABEL, PaccDocument, pacc_document
from autoconfig.settings import DavServer, Provider, Server, Settings

TTL = 3600
OWN_NAME = "A/AAAA"
NOTE = "NOTE"  # no record: a comment saying why (a provider PACC cannot describe)
HOSTING = "hosting"  # a hoster's own records for the MX path, and its certificate names
CUSTOMER = "customer"  # what a customer domain of a hoster may publish
CUSTOMER_PLACEHOLDER = "<customer>"
CNAME_TYPE = "CNAME"  # the customer domain, when `dns` is not given one
# (SRV service label, protocol, security) for RFC 6186 and RFC 8314, in the order a zone lists them.
MAIL_SERVICES = (
    ("_imap", "imap", "starttls"),
    ("_imaps", "imap", "tls"),
    ("_pop3", "pop3", "starttls"),
    ("_pop3s", "pop3", "tls"),
    ("_submission", "smtp", "starttls"),
    ("_submissions", "smtp", "tls"),
)


@dataclass(frozen=True)
class Record:
    name: str  # fully qualified, with the final dot
    type: str  # CNAME, SRV, TXT
    data: str  # as a zone file writes it
    comment: str = ""
    part: str = ""  # "": the domain's own; HOSTING or CUSTOMER (for a hoster)

    def zone_line(self) -> str:
        if self.part == CUSTOMER and CUSTOMER_PLACEHOLDER in self.name and self.type not in (OWN_NAME, NOTE):
            # Not this zone's: a line for each customer's own zone, with its name in place.
            return f"; a customer domain may add: {replace(self, part='').zone_line()}"
        if self.type in (OWN_NAME, NOTE):
            # Never a line to paste: the name needs the service's own addresses, which only the admin
            # knows, or there is nothing to publish.
            return f"; {self.name} {self.comment}"
        line = f"{self.name:<40} {TTL} IN {self.type:<5} {self.data}"
        return f"{line}  ; {self.comment}" if self.comment else line


def service_host(settings: Settings) -> str:
    return urlsplit(settings.service.public_url).hostname or ""


def dns_records(settings: Settings, previous: Settings | None = None) -> list[Record]:
    """Every record for every domain and alias of every provider, in a stable order. With `previous`
    (the settings being served), a PACC digest that changes is given twice: the new record to publish
    beside the old, and the old one to remove once the new settings serve."""
    records: list[Record] = []
    host = service_host(settings)
    # Outlook follows the SRV record to https://target:port/, so the port is the public URL's.
    port = urlsplit(settings.service.public_url).port or 443
    for provider in settings.providers:
        for domain in (*provider.domains, *provider.aliases):
            records += _service_names(domain, host, port)
            records += _mail_services(provider, domain)
            records += _dav(provider.calendar, "_caldav", domain)
            records += _dav(provider.contacts, "_carddav", domain)
            records += _pacc(provider, domain, host, _previous_document(previous, domain))
    for provider in settings.hosting_providers:
        records += hosting_records(settings, provider, host)
        records += customer_records(provider, host, port)
    return records


def rollovers(records: list[Record]) -> list[str]:
    """The domains whose PACC record changes (the records carry both digests)."""
    return sorted(
        {r.name.removeprefix(f"{TXT_LABEL}.").rstrip(".") for r in records if r.comment == OLD_DIGEST}
    )


OLD_DIGEST = "the document served now: remove this record once the new settings serve"
ROLLOVER_STEPS = (
    "The PACC document changes for {domains}. Clients accept it only when a TXT record holds its digest:",
    "  1. publish the new TXT record beside the old one (both lines below), and wait for the TTL;",
    "  2. reload the service with the new settings (systemctl reload autoconfig);",
    "  3. remove the old record.",
)


def _previous_document(previous: Settings | None, domain: str) -> PaccDocument | None:
    provider = previous.provider_for(domain) if previous is not None else None
    return pacc_document(provider, domain) if provider is not None else None


def _pacc(provider: Provider, domain: str, host: str, previous: PaccDocument | None) -> list[Record]:
    document = pacc_document(provider, domain)
    txt = f"{TXT_LABEL}.{domain}."
    if document.body is None:
        return [Record(txt, NOTE, "", f"no PACC document: {document.reason}")]
    name = f"{HOST_LABEL}.{domain}"
    records = [
        Record(f"{name}.", OWN_NAME, "", "is the service's own name: give it A and AAAA records")
        if name == host
        else Record(f"{name}.", "CNAME", f"{host}."),
        Record(txt, "TXT", json.dumps(document.txt_record), "PACC: the SHA-256 of the document's bytes"),
    ]
    if previous is not None and previous.body is not None and previous.digest != document.digest:
        records.append(Record(txt, "TXT", json.dumps(previous.txt_record), OLD_DIGEST))
    return records


def _service_names(domain: str, host: str, port: int = 443) -> list[Record]:
    records = []
    for label in ("autoconfig", "autodiscover"):
        name = f"{label}.{domain}"
        if name == host:
            # A CNAME to itself would be a loop: this name is the service's own, it gets A/AAAA records.
            note = "is the service's own name: give it A and AAAA records (a CNAME to itself would loop)"
            records.append(Record(f"{name}.", OWN_NAME, "", note))
        else:
            records.append(Record(f"{name}.", "CNAME", f"{host}."))
    records.append(Record(f"_autodiscover._tcp.{domain}.", "SRV", f"0 0 {port} {host}."))
    return records


def _mail_services(provider: Provider, domain: str) -> list[Record]:
    servers: list[Server] = [*provider.incoming, *provider.outgoing]
    records = []
    for label, protocol, security in MAIL_SERVICES:
        # "none" (no encryption) is announced under the STARTTLS name, which is the same port.
        wanted = {security, "none"} if security == "starttls" else {security}
        offered = [s for s in servers if s.protocol_name == protocol and s.security in wanted]
        name = f"{label}._tcp.{domain}."
        if not offered:
            records.append(Record(name, "SRV", "0 0 0 .", "not offered (RFC 2782)"))
            continue
        for priority, server in enumerate(offered):
            target = fill_placeholders(server.host, "", domain)
            records.append(Record(name, "SRV", f"{priority * 10} 1 {server.effective_port} {target}."))
    return records


def _dav(service: DavServer | None, label: str, domain: str) -> list[Record]:
    if service is None:
        return []
    url = urlsplit(fill_placeholders(service.url, "", domain))
    secure = url.scheme == "https"
    name = f"{label}{'s' if secure else ''}._tcp.{domain}."
    port = url.port or (443 if secure else 80)
    path = url.path or "/"
    return [
        Record(name, "SRV", f"0 1 {port} {url.hostname}."),
        Record(name, "TXT", json.dumps(f"path={path}")),
    ]


def render_zone(records: list[Record]) -> str:
    head = []
    changed = rollovers(records)
    if changed:
        head = [f"; {line.format(domains=', '.join(changed))}" for line in ROLLOVER_STEPS]
    return "\n".join([*head, *(record.zone_line() for record in records)]) + "\n"


def render_json(records: list[Record]) -> str:
    # `part` only where it says something: the records of settings without a hoster are as they were.
    items = [{**asdict(r), "ttl": TTL} for r in records]
    for item in items:
        if not item["part"]:
            del item["part"]
    return json.dumps(items, indent=2, ensure_ascii=False) + "\n"


# --- a provider that hosts mail for other domains ---------------------------------------------------


def registrable_above(parent: str, listed: frozenset[str] | set[str]) -> tuple[str, ...]:
    """The names above an MX host's parent one of which is its registrable domain, where Thunderbird
    asks too (by the Public Suffix List, which the service does not carry): the settings' domain among
    them if there is one, else each name down to two labels, for the admin to pick. Empty when the
    parent has two labels (it is then its own registrable domain, asked once)."""
    labels = parent.split(".")
    above = tuple(".".join(labels[i:]) for i in range(1, len(labels) - 1))
    return next(((name,) for name in above if name in listed), above)


def mx_path_names(provider: Provider, listed: frozenset[str] | set[str]) -> list[str]:
    """The names (without `autoconfig.`) Thunderbird derives from the provider's MX hosts and which
    its clear registrable domain gives: each MX host less its first label, and its registrable domain
    when known, in order."""
    names: list[str] = []
    if provider.hosting is None:
        return names
    for parent in provider.hosting.mx_parents():
        above = registrable_above(parent, listed)
        for name in (parent, *above[:1]) if len(above) <= 1 else (parent,):
            if name not in names:
                names.append(name)
    return names


def hosting_records(settings: Settings, provider: Provider, host: str) -> list[Record]:
    """The hoster's own records for the MX path, and the names its certificate must hold."""
    if provider.hosting is None:
        return []
    listed = settings.listed_domains
    why = "Thunderbird's MX path for customer domains"
    records = []
    certificate = [host]
    for domain in (*provider.domains, *provider.aliases):
        certificate += [f"autoconfig.{domain}", f"autodiscover.{domain}"]
        if pacc_document(provider, domain).body is not None:
            certificate.append(f"{HOST_LABEL}.{domain}")
    for name in mx_path_names(provider, listed):
        full = f"autoconfig.{name}"
        certificate.append(full)
        if name in listed:
            continue  # its records come with the domain's
        if full == host:
            records.append(Record(f"{full}.", OWN_NAME, "", f"is the service's own name: {why}", HOSTING))
        else:
            records.append(Record(f"{full}.", "CNAME", f"{host}.", why, HOSTING))
    for parent in provider.hosting.mx_parents():
        above = registrable_above(parent, listed)
        if len(above) > 1:
            choices = ", ".join(f"autoconfig.{name}" for name in above)
            records.append(
                Record(
                    f"autoconfig.{parent}.",
                    NOTE,
                    "",
                    f"Thunderbird also asks autoconfig.<the registrable domain above it>, one of {choices}: "
                    f"give the registrable one (by the Public Suffix List) a CNAME to {host}., and name it "
                    "in the certificate",
                    HOSTING,
                )
            )
    names = list(dict.fromkeys(certificate))
    flags = " ".join(f"-d {name}" for name in names)
    note = (
        f"certificate: clients ask the service over HTTPS only, at {', '.join(names)}: the web server in "
        f"front of it needs a certificate naming each (certbot: {flags})"
    )
    records.append(Record(f"{host}.", NOTE, "", note, HOSTING))
    return records


def customer_records(
    provider: Provider, host: str, port: int = 443, customer: str = CUSTOMER_PLACEHOLDER
) -> list[Record]:
    """What a customer domain of a hosting provider publishes: its MX (a note: nothing more for
    Thunderbird), and the `_autodiscover._tcp` SRV record Outlook follows to the service (its own name,
    `host`: an SRV target must not be a CNAME, RFC 2782)."""
    hosting = provider.hosting
    if hosting is None:
        return []
    records = []
    if customer != CUSTOMER_PLACEHOLDER and not hosting.admits(customer):
        lists = (
            "hosting.deny lists it" if not hosting.allow else "hosting.allow leaves it out, or deny lists it"
        )
        records.append(
            Record(f"{customer}.", NOTE, "", f"is not answered for {provider.name}: {lists}", CUSTOMER)
        )
    mx = " or ".join(hosting.mx)
    records.append(
        Record(
            f"{customer}.",
            NOTE,
            "",
            f"its MX must name {mx} (every MX of the lowest preference): Thunderbird and Thunderbird for "
            f"Android then find {provider.name}'s settings with nothing more published",
            CUSTOMER,
        )
    )
    records.append(
        Record(
            f"_autodiscover._tcp.{customer}.",
            "SRV",
            f"0 0 {port} {host}.",
            "for Outlook, the only client that needs a record of the customer's own",
            CUSTOMER,
        )
    )
    return records


def customer_zone(settings: Settings, customer: str) -> list[Record]:
    """What one customer domain publishes, for each provider that hosts mail for other domains. Raises
    ValueError (a DomainNameError for a name that is not a domain) saying why there is nothing to print."""
    domain = to_ascii_domain(customer)
    if not settings.hosting_providers:
        raise ValueError(
            f"no provider of {settings.source} hosts mail for other domains: add [providers.hosting] with "
            "its MX hosts, or leave --customer out"
        )
    if settings.provider_for(domain) is not None:
        raise ValueError(
            "a domain of the settings, not a customer's: its records are those `autoconfig dns` prints "
            "without --customer"
        )
    port = urlsplit(settings.service.public_url).port or 443
    host = service_host(settings)
    return [r for p in settings.hosting_providers for r in customer_records(p, host, port, domain)]
