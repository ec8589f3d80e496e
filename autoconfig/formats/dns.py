"""The DNS records each mail domain should publish so that clients find the service and the servers.

- `autoconfig.<domain>` and `autodiscover.<domain>`: CNAME to the service's host (Thunderbird, Outlook);
- `_autodiscover._tcp`: SRV to the service (Outlook's last resort);
- RFC 6186 / RFC 8314 SRV for IMAP, POP3 and submission, target "." where a service is not offered;
- RFC 6764 `_caldavs._tcp` / `_carddavs._tcp` SRV with their `path=` TXT, when configured;
- PACC: `ua-auto-config.<domain>` to the service and the `_ua-auto-config.<domain>` TXT record with the
  digest of the domain's document, or why the provider has none.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from urllib.parse import urlsplit

from autoconfig.accounts import fill_placeholders
from autoconfig.formats.pacc import HOST_LABEL, TXT_LABEL, PaccDocument, pacc_document
from autoconfig.settings import DavServer, Provider, Server, Settings

TTL = 3600
OWN_NAME = "A/AAAA"
NOTE = "NOTE"  # no record: a comment saying why (a provider PACC cannot describe)
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

    def zone_line(self) -> str:
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
    return json.dumps([{**asdict(r), "ttl": TTL} for r in records], indent=2, ensure_ascii=False) + "\n"
