"""An existing config-v1.1.xml (an organisation's static file, an ISPDB entry) -> a settings file.

What the settings cannot express is not silently lost: every element left out, and every value changed
on the way, is listed with the reason. Each note reads "<what>: <why>" on one printable line.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w
from lxml import etree

from autoconfig.domains import DomainNameError, to_ascii_domain
from autoconfig.errors import AutoconfigError, SettingsError
from autoconfig.settings import AUTH_METHODS, PLACEHOLDERS, settings_from_dict

from . import hardened_xml
from .thunderbird import SOCKET_TYPES

SECURITY = {value: key for key, value in SOCKET_TYPES.items()}
INCOMING_TYPES = ("imap", "pop3")
OUTGOING_TYPES = ("smtp",)
# Old names Thunderbird still reads (readFromXML), and the method the settings call them.
# Thunderbird treats smtp-after-pop as "no SMTP authentication": the server trusts where you come from.
AUTH_ALIASES = {
    "plain": "password-cleartext",
    "secure": "password-encrypted",
    "smtp-after-pop": "client-IP-address",
}
# Why an element has no place in the settings, by tag; anything else unread gets a generic reason.
REASONS = {
    "incomingServer": "only IMAP and POP3 incoming servers are served (not Exchange, EWS, OWA or Graph)",
    "outgoingServer": "only SMTP outgoing servers are served",
    "oAuth2": "OAuth2 client registrations are not part of the settings (OAuth2 stays in the auth lists)",
    "enable": "pages asking people to enable IMAP first are not part of the settings",
    "loginPageInfo": "webmail login-form automation is not in the settings (the webmail address is kept)",
    "pop3": "POP3 client options (leave on server, check interval) are not part of the settings",
    "restriction": "client restrictions on outgoing servers are not part of the settings",
    "addThisServer": "client options on outgoing servers are not part of the settings",
    "useGlobalPreferredServer": "client options on servers are not part of the settings",
}
GENERIC_REASON = "not expressible in the settings"
_PLACEHOLDER_LIKE = re.compile(r"%EMAIL(ADDRESS|LOCALPART|DOMAIN)%?")
_PORT = re.compile(r"[0-9]{1,5}")
# Characters that would end a TOML comment line, or steer a terminal: written as escapes in notes.
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


class ImportFormatError(AutoconfigError):
    """A file that is not a config-v1.1.xml document this importer can read."""


@dataclass
class Imported:
    settings: dict[str, Any]
    dropped: list[str] = field(default_factory=list)

    def to_toml(self, source: str) -> str:
        """The settings file: comments naming the source and everything left out, then the TOML."""
        head = [
            f"# Imported from {printable(source)} by `autoconfig import`. "
            "Review it, then run `autoconfig check`."
        ]
        head += [f"# Left out: {note}" for note in self.dropped]
        return "\n".join(head) + "\n\n" + tomli_w.dumps(self.settings)


def printable(text: str) -> str:
    """`text` on one line without control characters: safe in a TOML comment and on a terminal."""
    return _UNPRINTABLE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def import_clientconfig(document: bytes) -> Imported:
    """Read a config-v1.1.xml document into a settings dictionary (as TOML would hold it).

    Raises ImportFormatError, with a one-line message, for a document that is not well-formed XML, that
    declares a DTD, or that is not a clientConfig.
    """
    try:
        root = hardened_xml.parse(document)
    except etree.XMLSyntaxError as exc:
        raise ImportFormatError(f"not well-formed XML: {printable(str(exc.msg))}") from None
    if hardened_xml.declares_dtd(root):
        # Entities would be read as nothing: refuse rather than import a document with holes.
        raise ImportFormatError(
            "the document declares a DTD (<!DOCTYPE ...>), which a config-v1.1.xml never needs; "
            "its entities are not read: remove it"
        )
    provider_element = root.find("emailProvider")
    if root.tag != "clientConfig" or provider_element is None:
        raise ImportFormatError("not a config-v1.1.xml document (no clientConfig/emailProvider)")
    state = _Reader()
    provider = state.provider(provider_element)
    webmail = root.find("webMail/loginPage")
    if webmail is not None and webmail.get("url"):
        provider.setdefault("links", {})["webmail"] = webmail.get("url", "").strip()
        state.used(webmail.getparent(), webmail)
    state.report_unused(root)
    public_url = f"https://autoconfig.{provider['domains'][0] if provider['domains'] else 'example.org'}"
    settings = {"service": {"public_url": public_url}, "providers": [provider]}
    state.report_problems(settings)
    return Imported(settings, state.dropped)


class _Reader:
    def __init__(self) -> None:
        self.dropped: list[str] = []
        self._used: set[Any] = set()
        # The name each server element goes by in notes, its own and its children's.
        self._labels: dict[Any, str] = {}

    def drop(self, what: str, why: str) -> None:
        self.dropped.append(printable(f"{what}: {why}"))

    def used(self, *elements: Any) -> None:
        self._used.update(elements)

    def text(self, parent: Any, tag: str) -> str | None:
        element = parent.find(tag)
        if element is None:
            return None
        self.used(element)
        return (element.text or "").strip() or None

    def label_text(self, parent: Any, tag: str) -> str | None:
        """A name to show: its whitespace (line breaks of a pretty-printed file) made single spaces."""
        text = self.text(parent, tag)
        return " ".join(text.split()) if text else None

    def provider(self, element: Any) -> dict[str, Any]:
        self.used(element.getparent(), element)
        domains = self._domains(element)
        raw_id = element.get("id", "")
        try:
            provider_id = to_ascii_domain(raw_id)
        except DomainNameError as exc:
            provider_id = domains[0] if domains else "example.org"
            self.drop(f"emailProvider id {raw_id!r}", f"not hostname-like ({exc}); used {provider_id!r}")
        name = self.label_text(element, "displayName") or provider_id
        # displayNameShort is a misspelling some files use (ISPDB's nili.ca): the same thing.
        short = self.label_text(element, "displayShortName") or self.label_text(element, "displayNameShort")
        incoming = self._servers(element, "incomingServer", INCOMING_TYPES)
        outgoing = self._servers(element, "outgoingServer", OUTGOING_TYPES)
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
                self.drop(f"domain {raw!r}", str(exc))
                continue
            if domain in domains:
                self.drop(f"domain {raw!r}", "listed twice; kept once")
            else:
                domains.append(domain)
        return domains

    def _servers(self, provider: Any, tag: str, protocols: tuple[str, ...]) -> list[dict[str, Any]]:
        servers = []
        for element in provider.findall(tag):
            self._labels[element] = _server_label(element)
            if element.get("type") in protocols:
                server = self._server(element, tag == "incomingServer")
                if server is not None:
                    servers.append(server)
            # Other types stay unread: report_unused names them with the reason for their tag.
        return servers

    def _server(self, element: Any, incoming: bool) -> dict[str, Any] | None:
        label = self._labels[element]
        self.used(element)
        host = self.text(element, "hostname")
        port_text = self.text(element, "port") or ""
        port = int(port_text) if _PORT.fullmatch(port_text) else 0
        security = self._security(element)
        if not host or not 1 <= port <= 65535 or security is None:
            self.used(*element.iter())
            self.drop(
                label,
                "no usable hostname, port (1 to 65535) and socketType (plain, SSL, STARTTLS); "
                "Thunderbird skips such a server too",
            )
            return None
        server: dict[str, Any] = {}
        if incoming:
            server["protocol"] = element.get("type")
        server.update(host=host, port=port, security=security)
        auth = self._auth(element, label)
        server["auth"] = auth[0] if len(auth) == 1 else auth
        username = self._username(self.text(element, "username"), label)
        if username is not None:
            server["username"] = username
        return server

    def _security(self, element: Any) -> str | None:
        """The first socketType Thunderbird knows, as it reads them."""
        found: str | None = None
        for socket_type in element.findall("socketType"):
            self.used(socket_type)
            value = (socket_type.text or "").strip()
            if found is None and value in SECURITY:
                found = SECURITY[value]
        return found

    def _auth(self, element: Any, label: str) -> list[str]:
        auth: list[str] = []
        for auth_element in element.findall("authentication"):
            self.used(auth_element)
            raw = (auth_element.text or "").strip()
            method = AUTH_ALIASES.get(raw, raw)
            if method not in AUTH_METHODS:
                self.drop(f"{label} authentication {raw!r}", "not a method Thunderbird reads")
                continue
            if method != raw:
                self.drop(
                    f"{label} authentication {raw!r}",
                    f"an old name Thunderbird still reads; wrote {method!r}",
                )
            if method not in auth:
                auth.append(method)
        if not auth:
            self.drop(
                label,
                "no authentication Thunderbird reads (it would skip this server); "
                "wrote password-cleartext: check it",
            )
            auth.append("password-cleartext")
        return auth

    def _username(self, value: str | None, label: str) -> str | None:
        if value is None:
            # Thunderbird would send the string "undefined"; the provider's login is what was meant.
            self.drop(label, "no username; the provider's login (login.fallback) is sent instead")
            return None
        repaired = _PLACEHOLDER_LIKE.sub(lambda m: f"%EMAIL{m.group(1)}%", value)
        if repaired != value:
            self.drop(f"{label} username {value!r}", f"a misspelt placeholder; wrote {repaired!r}")
        return repaired

    def _documentation(self, element: Any) -> dict[str, Any] | None:
        self.used(*element.iter("documentation", "descr"))
        url = element.get("url", "").strip()
        if not url:
            self.drop("documentation", "no url")
            return None
        titles: dict[str, str] = {}
        plain: list[str] = []
        for descr in element.findall("descr"):
            text = " ".join((descr.text or "").split())
            language = descr.get("lang")
            if not text:
                continue
            if not language:
                plain.append(text)
            elif language in titles:
                self.drop(f"documentation {url} descr lang={language!r}", "a second one; kept the first")
            else:
                titles[language] = text
        title: str | dict[str, str]
        if titles:
            title = titles
            if plain:
                self.drop(f"documentation {url}", "descriptions without lang beside ones with it")
        else:
            title = plain[0] if plain else url
            if len(plain) > 1:
                self.drop(f"documentation {url}", "several descriptions without lang; kept the first")
        return {"url": url, "title": title}

    def report_unused(self, root: Any) -> None:
        """Name each element not read whose parent was read (its own children go with it)."""
        for element in root.iter():
            parent = element.getparent()
            if not isinstance(element.tag, str) or element in self._used or parent not in self._used:
                continue
            if element in self._labels:
                where = self._labels[element]
            elif parent in self._labels:
                where = f"{element.tag} in {self._labels[parent]}"
            else:
                kind = element.get("type")
                where = element.tag if kind is None else f"{element.tag} type={kind!r}"
            self.drop(where, REASONS.get(element.tag, GENERIC_REASON))

    def report_problems(self, settings: dict[str, Any]) -> None:
        """Say what keeps the result from loading (no server left, a port that contradicts security…)."""
        try:
            settings_from_dict(settings, source=Path("imported.toml"))
        except SettingsError as exc:
            for problem in exc.problems:
                found = "" if problem.found is None else f" (found {problem.found})"
                self.drop(
                    f"the result's {problem.path or 'top level'}",
                    f"{problem.message}{found}; edit the file before `autoconfig check` (fix: {problem.fix})",
                )


def _server_label(element: Any) -> str:
    """incomingServer type='imap' imap.example.org:993: the server as a person finds it in the file."""
    label = element.tag
    if element.get("type") is not None:
        label += f" type={element.get('type')!r}"
    host = (element.findtext("hostname") or "").strip()
    port = (element.findtext("port") or "").strip()
    if host:
        label += f" {host}:{port}" if port else f" {host}"
    return str(label)


def _common_username(servers: list[dict[str, Any]]) -> str:
    names = [s["username"] for s in servers if s.get("username")]
    if not names:
        return PLACEHOLDERS[0]
    counts = Counter(names)
    best = max(counts.values())
    return str(next(name for name in names if counts[name] == best))
