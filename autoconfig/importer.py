"""An existing config-v1.1.xml (an organisation's static file, an ISPDB entry) -> a settings file.

What the settings cannot express is not silently lost: every element left out is listed with the reason.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import tomli_w
from lxml import etree

from .clientconfig import SOCKET_TYPES
from .domains import DomainNameError, to_ascii_domain
from .errors import AutoconfigError
from .settings import AUTH_METHODS, PLACEHOLDERS

SECURITY = {value: key for key, value in SOCKET_TYPES.items()}
INCOMING_TYPES = {"imap", "pop3"}
# Why an element has no place in the settings, by tag; anything else unread gets a generic reason.
REASONS = {
    "incomingServer": "only IMAP and POP3 incoming servers are served (not Exchange, EWS, OWA or Graph)",
    "oAuth2": "OAuth2 client registrations are not part of the settings (OAuth2 stays in the auth lists)",
    "enable": "pages asking people to enable IMAP first are not part of the settings",
    "loginPageInfo": "webmail login-form automation is not in the settings (the webmail address is kept)",
    "pop3": "POP3 client options (leave on server, check interval) are not part of the settings",
    "restriction": "client restrictions on outgoing servers are not part of the settings",
    "addThisServer": "client options on outgoing servers are not part of the settings",
    "useGlobalPreferredServer": "client options on servers are not part of the settings",
}
_PLACEHOLDER_LIKE = re.compile(r"%EMAIL(ADDRESS|LOCALPART|DOMAIN)%?")


class ImportFormatError(AutoconfigError):
    """A file that is not a config-v1.1.xml document this importer can read."""


@dataclass
class Imported:
    settings: dict[str, Any]
    dropped: list[str] = field(default_factory=list)

    def to_toml(self, source: str) -> str:
        head = [f"# Imported from {source} by `autoconfig import`. Review it, then run `autoconfig check`."]
        head += [f"# Left out: {note}" for note in self.dropped]
        return "\n".join(head) + "\n\n" + tomli_w.dumps(self.settings)


def import_clientconfig(document: bytes) -> Imported:
    """Read a config-v1.1.xml document into a settings dictionary (as TOML would hold it)."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    try:
        root = etree.fromstring(document, parser)
    except etree.XMLSyntaxError as exc:
        raise ImportFormatError(f"not well-formed XML: {exc}") from None
    provider_element = root.find("emailProvider")
    if root.tag != "clientConfig" or provider_element is None:
        raise ImportFormatError("not a config-v1.1.xml document (no clientConfig/emailProvider)")
    state = _Reader()
    provider = state.provider(provider_element)
    webmail = root.find("webMail/loginPage")
    if webmail is not None and webmail.get("url"):
        provider.setdefault("links", {})["webmail"] = webmail.get("url")
        state.used(webmail.getparent(), webmail)
    state.report_unused(root)
    public_url = f"https://autoconfig.{provider['domains'][0] if provider['domains'] else 'example.org'}"
    return Imported({"service": {"public_url": public_url}, "providers": [provider]}, state.dropped)


class _Reader:
    def __init__(self) -> None:
        self.dropped: list[str] = []
        self._used: set[Any] = set()

    def used(self, *elements: Any) -> None:
        self._used.update(elements)

    def text(self, parent: Any, tag: str) -> str | None:
        element = parent.find(tag)
        if element is None:
            return None
        self.used(element)
        return (element.text or "").strip() or None

    def provider(self, element: Any) -> dict[str, Any]:
        self.used(element.getparent(), element)
        domains = self._domains(element)
        provider_id = element.get("id", "")
        try:
            provider_id = to_ascii_domain(provider_id)
        except DomainNameError:
            replacement = domains[0] if domains else "example.org"
            self.dropped.append(
                f"emailProvider id {provider_id!r} is not hostname-like; used {replacement!r}"
            )
            provider_id = replacement
        name = self.text(element, "displayName") or provider_id
        short = self.text(element, "displayShortName") or self.text(element, "displayNameShort")
        incoming = [s for s in (self._server(e, "incoming") for e in element.findall("incomingServer")) if s]
        outgoing = [s for s in (self._server(e, "outgoing") for e in element.findall("outgoingServer")) if s]
        provider: dict[str, Any] = {"id": provider_id, "name": name}
        if short and short != name:
            provider["short_name"] = short
        provider["domains"] = domains
        provider["login"] = {"fallback": _common_username(incoming + outgoing)}
        for server in incoming + outgoing:
            if server.get("username") == provider["login"]["fallback"]:
                del server["username"]
        provider["incoming"] = incoming
        provider["outgoing"] = outgoing
        documentation = [d for d in (self._documentation(e) for e in element.findall("documentation")) if d]
        if documentation:
            provider["links"] = {"documentation": documentation}
        return provider

    def _domains(self, element: Any) -> list[str]:
        domains: list[str] = []
        for domain_element in element.findall("domain"):
            self.used(domain_element)
            raw = (domain_element.text or "").strip()
            try:
                domain = to_ascii_domain(raw)
            except DomainNameError as exc:
                self.dropped.append(f"domain {raw!r}: {exc}")
                continue
            if domain in domains:
                self.dropped.append(f"domain {raw!r} is listed twice; kept once")
            else:
                domains.append(domain)
        return domains

    def _server(self, element: Any, kind: str) -> dict[str, Any] | None:
        protocol = element.get("type", "")
        label = f"{element.tag} type={protocol!r}"
        if kind == "incoming" and protocol not in INCOMING_TYPES:
            return None  # reported with the reason for incomingServer by report_unused
        if kind == "outgoing" and protocol != "smtp":
            return None
        host = self.text(element, "hostname")
        port_text = self.text(element, "port")
        socket_type = self.text(element, "socketType")
        self.used(element)
        if not host or not port_text or not port_text.isdigit() or socket_type not in SECURITY:
            self.dropped.append(f"{label} without a usable hostname, port and socketType")
            return None
        server: dict[str, Any] = {}
        if kind == "incoming":
            server["protocol"] = protocol
        server.update(host=host, port=int(port_text), security=SECURITY[socket_type])
        auth: list[str] = []
        for auth_element in element.findall("authentication"):
            self.used(auth_element)
            method = (auth_element.text or "").strip()
            if method in AUTH_METHODS and method not in auth:
                auth.append(method)
            elif method not in auth:
                self.dropped.append(f"{label} {host}: authentication {method!r} is not one Thunderbird reads")
        server["auth"] = auth[0] if len(auth) == 1 else (auth or "password-cleartext")
        username = self._username(self.text(element, "username"), f"{label} {host}")
        if username is not None:
            server["username"] = username
        return server

    def _username(self, value: str | None, label: str) -> str | None:
        if value is None:
            # Thunderbird would send the string "undefined"; the provider's login is what was meant.
            self.dropped.append(f"{label} has no username; it uses the provider's login")
            return None
        repaired = _PLACEHOLDER_LIKE.sub(lambda m: f"%EMAIL{m.group(1)}%", value)
        if repaired != value:
            self.dropped.append(f"{label}: username {value!r} is a misspelt placeholder; used {repaired!r}")
        return repaired

    def _documentation(self, element: Any) -> dict[str, Any] | None:
        self.used(element)
        url = element.get("url", "").strip()
        titles: dict[str, str] = {}
        plain: list[str] = []
        for descr in element.findall("descr"):
            self.used(descr)
            text = " ".join((descr.text or "").split())
            if not text:
                continue
            if descr.get("lang"):
                titles.setdefault(descr.get("lang"), text)
            else:
                plain.append(text)
        if not url:
            self.dropped.append("documentation without url")
            return None
        title: str | dict[str, str]
        if titles:
            title = titles
            if plain:
                self.dropped.append(f"documentation {url}: descriptions without lang beside ones with it")
        else:
            title = plain[0] if plain else url
        return {"url": url, "title": title}

    def report_unused(self, root: Any) -> None:
        """Name each element not read whose parent was read (its own children go with it)."""
        for element in root.iter():
            parent = element.getparent()
            if not isinstance(element.tag, str) or element in self._used or parent not in self._used:
                continue
            kind = element.get("type")
            where = element.tag if kind is None else f"{element.tag} type={kind!r}"
            self.dropped.append(f"{where}: {REASONS.get(element.tag, 'not expressible in the settings')}")


def _common_username(servers: list[dict[str, Any]]) -> str:
    names = [s["username"] for s in servers if s.get("username")]
    if not names:
        return PLACEHOLDERS[0]
    counts = Counter(names)
    best = max(counts.values())
    return str(next(name for name in names if counts[name] == best))
