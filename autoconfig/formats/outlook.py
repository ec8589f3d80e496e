"""Outlook autodiscover: the POX request (read by hardened_xml) and its answers, and
autodiscover.json. Pure functions of bytes, settings and account; no HTTP here.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lxml import etree

from autoconfig.accounts import Account
from autoconfig.caches import memoize
from autoconfig.errors import RequestError
from autoconfig.settings import Provider, Server

from . import hardened_xml
from .xmlslots import SlotBuilder, SlottedXml

MEDIA_TYPE = "application/xml"
RESPONSE_NS = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"
OUTLOOK_NS = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"
MOBILESYNC_NS = "http://schemas.microsoft.com/exchange/autodiscover/mobilesync/responseschema/2006"
# Outlook's request is about 350 bytes; anything much larger is not a request from a mail client.
MAX_BODY = 8 * 1024
JSON_PROTOCOL = "autodiscoverv1"

ADDRESS_NOT_FOUND = 500
INVALID_REQUEST = 600
NO_PROVIDER = 601
_MESSAGES = {
    ADDRESS_NOT_FOUND: "The email address cannot be found",
    INVALID_REQUEST: "Invalid Request",
    NO_PROVIDER: "The requested schema is not served: this service configures IMAP, POP3 and SMTP only",
}
_PROTOCOL_TYPES = {"imap": "IMAP", "pop3": "POP3", "smtp": "SMTP"}
# (SSL, Encryption). Outlook reads Encryption before SSL: TLS means STARTTLS on the given port, SSL means
# implicit TLS. SSL stays "on" for STARTTLS: Thunderbird's autodiscover reader ignores Encryption and
# takes SSL "off" for no encryption at all, while "on" with port 143 or 587 makes it use STARTTLS.
_ENCRYPTION = {"starttls": ("on", "TLS"), "tls": ("on", "SSL"), "none": ("off", "None")}


def _nsmap(namespace: str) -> Any:
    # The default namespace's key is None, which lxml-stubs' mapping type does not admit.
    return {None: namespace}


class PoxError(RequestError):
    """A request that gets an autodiscover Error document instead of settings (status 200, as Exchange
    answers protocol errors)."""

    def __init__(self, code: int, reason: str, schema: str = OUTLOOK_NS) -> None:
        super().__init__(reason, status=200)
        self.code = code
        self.reason = reason
        self.schema = schema  # the answer is written in the schema the client asked for


@dataclass(frozen=True)
class PoxRequest:
    address: str
    schema: str


def parse_request(body: bytes) -> PoxRequest:
    """Read a POX request: its EMailAddress and AcceptableResponseSchema.

    Raises PoxError 600 for anything malformed (including any DTD: entities are never expanded and
    never looked up), 601 for a response schema other than Outlook's.
    """
    if len(body) > MAX_BODY:
        raise PoxError(INVALID_REQUEST, "the request is too large")
    try:
        root = hardened_xml.parse(body)
    except (etree.XMLSyntaxError, ValueError):
        raise PoxError(INVALID_REQUEST, "the request is not well-formed XML") from None
    if hardened_xml.declares_dtd(root):
        raise PoxError(INVALID_REQUEST, "document type declarations are not accepted")
    if etree.QName(root).localname != "Autodiscover":
        raise PoxError(INVALID_REQUEST, "the request is not an Autodiscover request")
    request = _child(root, "Request")
    if request is None:
        raise PoxError(INVALID_REQUEST, "the request has no Request element")
    schema = _text(_child(request, "AcceptableResponseSchema"))
    if schema is not None and schema != OUTLOOK_NS:
        raise PoxError(NO_PROVIDER, "only the Outlook response schema is served", schema)
    address = _text(_child(request, "EMailAddress"))
    if address is None:
        raise PoxError(INVALID_REQUEST, "the request has no EMailAddress")
    return PoxRequest(address, schema or OUTLOOK_NS)


def read_request(body: bytes) -> PoxRequest:
    """parse_request, remembered for the bodies seen lately: Outlook asks the same question on every
    host it tries, and again at each start."""
    outcome = _remembered(body)
    if isinstance(outcome, PoxRequest):
        return outcome
    raise PoxError(*outcome)


# Outlook's requests are about 400 bytes; a longer body is parsed and not kept. Errors are kept as
# values (the same body fails the same way). No settings are read: right for any version.
@memoize("pox_requests", max_chars=2048)
def _remembered(body: bytes) -> PoxRequest | tuple[int, str, str]:
    try:
        return parse_request(body)
    except PoxError as exc:
        return exc.code, exc.reason, exc.schema


def _child(parent: etree._Element, name: str) -> etree._Element | None:
    # Clients disagree on the request's namespace (Outlook's, ActiveSync's, none): match the local name.
    for child in parent:
        if isinstance(child.tag, str) and etree.QName(child).localname == name:
            return child
    return None


def _text(element: etree._Element | None) -> str | None:
    if element is None or element.text is None:
        return None
    return element.text.strip() or None


Fill = Callable[[Account], str]


def _filled(form: str) -> Fill:
    return lambda account: account.fill(form)


def _login_for(server: Server) -> Fill:
    return lambda account: account.login_for(server.username)


def compile_pox(provider: Provider) -> SlottedXml[Fill]:
    """The provider's Outlook answer, built once, with holes for the person's name, logins and hosts."""
    slot: SlotBuilder[Fill] = SlotBuilder()
    root = etree.Element(f"{{{RESPONSE_NS}}}Autodiscover", nsmap=_nsmap(RESPONSE_NS))
    response = etree.SubElement(root, f"{{{OUTLOOK_NS}}}Response", nsmap=_nsmap(OUTLOOK_NS))

    def add(parent: etree._Element, tag: str, text: str) -> None:
        etree.SubElement(parent, f"{{{OUTLOOK_NS}}}{tag}").text = text

    user = etree.SubElement(response, f"{{{OUTLOOK_NS}}}User")
    add(user, "DisplayName", slot(lambda account: account.display_name or account.unicode_address))
    account_element = etree.SubElement(response, f"{{{OUTLOOK_NS}}}Account")
    add(account_element, "AccountType", "email")
    add(account_element, "Action", "settings")
    servers: list[Server] = [*provider.incoming, *provider.outgoing]
    for server in servers:
        protocol = etree.SubElement(account_element, f"{{{OUTLOOK_NS}}}Protocol")
        add(protocol, "Type", _PROTOCOL_TYPES[server.protocol_name])
        add(protocol, "Server", slot(_filled(server.host)))
        add(protocol, "Port", str(server.effective_port))
        add(protocol, "DomainRequired", "off")
        add(protocol, "LoginName", slot(_login_for(server)))
        add(protocol, "SPA", "on" if server.auth[0] in ("NTLM", "GSSAPI") else "off")
        ssl, encryption = _ENCRYPTION[server.security]
        add(protocol, "SSL", ssl)
        add(protocol, "Encryption", encryption)
        add(protocol, "AuthRequired", "off" if server.auth == ("none",) else "on")
    return slot.build(root)


def build_pox(provider: Provider, account: Account) -> bytes:
    """One answer built from scratch: for one-off uses. The app keeps compiled answers."""
    return compile_pox(provider).render(lambda fill: fill(account))


def build_redirect(address: str) -> bytes:
    """Send Outlook to another address (an alias domain's mailbox at the provider's main domain).

    Outlook then asks again for that address."""
    root = etree.Element(f"{{{RESPONSE_NS}}}Autodiscover", nsmap=_nsmap(RESPONSE_NS))
    response = etree.SubElement(root, f"{{{OUTLOOK_NS}}}Response", nsmap=_nsmap(OUTLOOK_NS))
    account = etree.SubElement(response, f"{{{OUTLOOK_NS}}}Account")
    etree.SubElement(account, f"{{{OUTLOOK_NS}}}AccountType").text = "email"
    etree.SubElement(account, f"{{{OUTLOOK_NS}}}Action").text = "redirectAddr"
    etree.SubElement(account, f"{{{OUTLOOK_NS}}}RedirectAddr").text = address
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))


def build_error(code: int, schema: str = OUTLOOK_NS) -> bytes:
    """An autodiscover Error document. It names none of the service's servers and echoes nothing."""
    response_ns = MOBILESYNC_NS if schema == MOBILESYNC_NS else RESPONSE_NS
    root = etree.Element(f"{{{RESPONSE_NS}}}Autodiscover", nsmap=_nsmap(RESPONSE_NS))
    response = etree.SubElement(root, f"{{{response_ns}}}Response", nsmap=_nsmap(response_ns))
    error = etree.SubElement(response, f"{{{response_ns}}}Error", Time="00:00:00", Id="0")
    etree.SubElement(error, f"{{{response_ns}}}ErrorCode").text = str(code)
    etree.SubElement(error, f"{{{response_ns}}}Message").text = _MESSAGES[code]
    etree.SubElement(error, f"{{{response_ns}}}DebugData")
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))


def build_json(public_url: str) -> bytes:
    """The autodiscover.json answer: where the POX endpoint is."""
    body = {"Protocol": "AutodiscoverV1", "Url": f"{public_url}/Autodiscover/Autodiscover.xml"}
    return json.dumps(body, separators=(",", ":")).encode("utf-8")


def build_json_error(code: str, message: str) -> bytes:
    return json.dumps({"ErrorCode": code, "ErrorMessage": message}, separators=(",", ":")).encode("utf-8")
