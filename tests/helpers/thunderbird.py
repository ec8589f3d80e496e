"""Reading config-v1.1.xml back as a client does: parsed with lxml, field by field."""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

from lxml import etree

SOCKET_TYPES = {"plain", "SSL", "STARTTLS"}


_DECLARATION = re.compile(rb"""<\?xml version=(['"])1\.0\1 encoding=(['"])UTF-8\2\?>\n""")


# emailProvider's children in the order config-v1.1 lists them.
_PROVIDER_CHILDREN = re.compile(
    r"(domain )+displayName displayShortName (incomingServer )+(outgoingServer )+(documentation )*"
)


_SERVER_CHILDREN = re.compile(r"hostname port socketType username (authentication )+")


@dataclass(frozen=True)
class ServerView:
    type: str
    hostname: str
    port: int
    socket_type: str
    username: str
    authentication: tuple[str, ...]


@dataclass(frozen=True)
class DocumentationView:
    url: str
    descr: tuple[tuple[str | None, str], ...]


@dataclass(frozen=True)
class ConfigView:
    """What a client reads from a config-v1.1.xml document."""

    id: str
    domains: tuple[str, ...]
    display_name: str
    display_short_name: str
    incoming: tuple[ServerView, ...]
    outgoing: tuple[ServerView, ...]
    documentation: tuple[DocumentationView, ...] = ()
    webmail: str | None = None


def _text(element: etree._Element) -> str:
    assert len(element) == 0, f"<{element.tag}> has child elements"
    text = element.text or ""
    assert text == text.strip(), f"<{element.tag}> has stray whitespace: {text!r}"
    return text


def _attribute(element: etree._Element, name: str) -> str:
    value = element.get(name)
    assert value, f"<{element.tag}> lacks {name}"
    return value


def _server(element: etree._Element) -> ServerView:
    tags = " ".join(str(child.tag) for child in element) + " "
    assert _SERVER_CHILDREN.fullmatch(tags), f"<{element.tag}> children: {tags}"
    values = {str(child.tag): _text(child) for child in element}
    socket_type = values["socketType"]
    assert socket_type in SOCKET_TYPES
    username = values["username"]
    # Thunderbird turns a missing or empty username into the string "undefined". (The string itself
    # is a fine login: undefined@ac-paris.fr logs in as "undefined".)
    assert username
    port = values["port"]
    assert port.isdigit()
    assert 1 <= int(port) <= 65535
    assert element.keys() == ["type"]
    return ServerView(
        type=_attribute(element, "type"),
        hostname=values["hostname"],
        port=int(port),
        socket_type=socket_type,
        username=username,
        authentication=tuple(_text(child) for child in element if child.tag == "authentication"),
    )


def _documentation(element: etree._Element) -> DocumentationView:
    descr: list[tuple[str | None, str]] = []
    for child in element:
        assert child.tag == "descr"
        assert set(child.attrib) <= {"lang"}
        descr.append((child.get("lang"), _text(child)))
    assert descr
    return DocumentationView(_attribute(element, "url"), tuple(descr))


def check_encoding(document: bytes) -> None:
    """UTF-8 without a byte order mark, with an XML declaration that says so."""
    assert not document.startswith(codecs.BOM_UTF8)
    assert _DECLARATION.match(document), document[:60]
    document.decode("utf-8")  # raises if it is not UTF-8


def parse(document: bytes) -> etree._Element:
    """The document parsed as a client would, refusing DTDs, entities and the network."""
    check_encoding(document)
    assert b"<!DOCTYPE" not in document
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    root = etree.fromstring(document, parser)
    assert root.getroottree().docinfo.encoding == "UTF-8"
    return root


def read_config(document: bytes) -> ConfigView:
    """Parse a config-v1.1.xml document and read every field, checking its shape on the way."""
    root = parse(document)
    assert root.tag == "clientConfig"
    assert root.items() == [("version", "1.1")]
    top = [str(child.tag) for child in root]
    assert top in (["emailProvider"], ["emailProvider", "webMail"]), top
    provider = root[0]
    assert set(provider.attrib) == {"id"}
    tags = " ".join(str(child.tag) for child in provider) + " "
    assert _PROVIDER_CHILDREN.fullmatch(tags), tags
    by_tag: dict[str, list[etree._Element]] = {}
    for child in provider:
        by_tag.setdefault(str(child.tag), []).append(child)
    for name in ("domain", "displayName", "displayShortName"):
        for element in by_tag[name]:
            assert not element.attrib
    outgoing = tuple(_server(e) for e in by_tag["outgoingServer"])
    assert {s.type for s in outgoing} == {"smtp"}
    webmail = None
    if len(root) == 2:
        (login_page,) = root[1]
        assert login_page.tag == "loginPage"
        assert len(login_page) == 0
        webmail = _attribute(login_page, "url")
    return ConfigView(
        id=_attribute(provider, "id"),
        domains=tuple(_text(e) for e in by_tag["domain"]),
        display_name=_text(by_tag["displayName"][0]),
        display_short_name=_text(by_tag["displayShortName"][0]),
        incoming=tuple(_server(e) for e in by_tag["incomingServer"]),
        outgoing=outgoing,
        documentation=tuple(_documentation(e) for e in by_tag.get("documentation", [])),
        webmail=webmail,
    )


def paris_view(username: str) -> ConfigView:
    """The bundled default's document as a client must read it, for one username."""
    return ConfigView(
        id="ac-paris.fr",
        domains=("ac-paris.fr",),
        display_name="Académie de Paris",
        display_short_name="AC Paris",
        incoming=(
            ServerView("imap", "imap.ac-paris.fr", 143, "STARTTLS", username, ("password-cleartext",)),
        ),
        outgoing=(
            ServerView("smtp", "smtp.ac-paris.fr", 587, "STARTTLS", username, ("password-cleartext",)),
        ),
        documentation=(
            DocumentationView(
                "https://www.ac-paris.fr/messagerie",
                (("fr", "Messagerie académique : mode d'emploi"), ("en", "Staff mail: how to")),
            ),
        ),
        webmail="https://webmail.ac-paris.fr",
    )


_ANDROID_SOCKETS = {"SSL", "STARTTLS"}
_ANDROID_AUTH = {"OAuth2", "password-cleartext", "password-encrypted"}
_LEGAL_HOST = re.compile(
    r"^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$"
)


def android_reader_refusals(document: bytes) -> list[str]:
    """Why Thunderbird for Android's strict parser (RealAutoconfigParser.kt) would reject the whole
    document; an empty list: it takes it. IMAP and SMTP entries are read, POP3 ones skipped unread."""
    refusals: list[str] = []
    if not document.startswith(b"<?xml"):
        refusals.append("something (a byte-order mark?) before <?xml")
    provider = parse(document).find("emailProvider")
    if provider is None or not _LEGAL_HOST.match(provider.get("id", "")):
        refusals.append("no valid emailProvider id")
        return refusals
    if not any(_LEGAL_HOST.match(d.text or "") for d in provider.findall("domain")):
        refusals.append("no valid domain")
    read = {"incomingServer": "imap", "outgoingServer": "smtp"}
    for tag, kind in read.items():
        servers = [s for s in provider.findall(tag) if s.get("type") == kind]
        if not servers:
            refusals.append(f"no {kind} server")
        for server in servers:
            values = {child.tag: child.text or "" for child in server if child.tag != "authentication"}
            methods = {child.text for child in server.findall("authentication")}
            hostname = values.get("hostname", "")
            if hostname != hostname.strip() or not _LEGAL_HOST.match(hostname):
                refusals.append(f"{kind}: hostname {hostname!r}")
            if not values.get("port", "").isdigit() or not 1 <= int(values["port"]) <= 65535:
                refusals.append(f"{kind}: port {values.get('port')!r}")
            if values.get("socketType") not in _ANDROID_SOCKETS:
                refusals.append(f"{kind}: socketType {values.get('socketType')!r}")
            if not values.get("username"):
                refusals.append(f"{kind}: no username")
            if not methods & _ANDROID_AUTH:
                refusals.append(f"{kind}: no usable authentication among {sorted(m or '' for m in methods)}")
    return refusals
