"""Outlook's side: the POX requests clients send, hostile ones, and the answers read back field by field."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape

from lxml import etree

# The namespaces written out here, not taken from the module: a typo there must fail a test.
RESPONSE = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"


OUTLOOK = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"


MOBILESYNC = "http://schemas.microsoft.com/exchange/autodiscover/mobilesync/responseschema/2006"


OUTLOOK_REQUEST_NS = "http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"


MOBILESYNC_REQUEST_NS = "http://schemas.microsoft.com/exchange/autodiscover/mobilesync/requestschema/2006"


JEAN = "jean.dupont@ac-paris.fr"


_DECLARATION = re.compile(rb"""<\?xml version=(['"])1\.0\1 encoding=(['"])UTF-8\2\?>\n""")


PROTOCOL_CHILDREN = [  # every child of a Protocol, in Outlook's order
    "Type",
    "Server",
    "Port",
    "DomainRequired",
    "LoginName",
    "SPA",
    "SSL",
    "Encryption",
    "AuthRequired",
]


# A parser for the answers as strict as the service's own for requests.
_STRICT = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


def outlook_request(address: str, schema: str = OUTLOOK, namespace: str = OUTLOOK_REQUEST_NS) -> bytes:
    """The body Outlook (2007 to 365) POSTs, byte for byte, for an address (escaped as XML text)."""
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        f'<Autodiscover xmlns="{namespace}">'
        f"<Request><EMailAddress>{escape(address)}</EMailAddress>"
        f"<AcceptableResponseSchema>{schema}</AcceptableResponseSchema></Request></Autodiscover>"
    ).encode()


# The same request as some Outlook builds and scripts send it: indented, CRLF line ends.
INDENTED_REQUEST = (
    '<?xml version="1.0" encoding="utf-8"?>\r\n'
    f'<Autodiscover xmlns="{OUTLOOK_REQUEST_NS}">\r\n'
    "  <Request>\r\n"
    f"    <EMailAddress>{JEAN}</EMailAddress>\r\n"
    f"    <AcceptableResponseSchema>{OUTLOOK}</AcceptableResponseSchema>\r\n"
    "  </Request>\r\n"
    "</Autodiscover>\r\n"
).encode()


# Hostile bodies: each must be refused with 600, fast, and leak nothing.
XXE_PASSWD = (
    b'<?xml version="1.0"?>\n<!DOCTYPE Autodiscover [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
    b"<Autodiscover><Request><EMailAddress>&xxe;</EMailAddress>"
    b"<AcceptableResponseSchema>" + OUTLOOK.encode() + b"</AcceptableResponseSchema>"
    b"</Request></Autodiscover>"
)


XXE_EXTERNAL_DTD = (
    b'<?xml version="1.0"?>\n<!DOCTYPE Autodiscover SYSTEM "file:///etc/passwd">\n'
    b"<Autodiscover><Request><EMailAddress>jean.dupont@ac-paris.fr</EMailAddress></Request></Autodiscover>"
)


XXE_PARAMETER_ENTITY = (
    b'<?xml version="1.0"?>\n<!DOCTYPE Autodiscover [<!ENTITY % p SYSTEM "file:///etc/passwd"> %p;]>\n'
    b"<Autodiscover><Request><EMailAddress>jean.dupont@ac-paris.fr</EMailAddress></Request></Autodiscover>"
)


XXE_NETWORK = (
    b'<?xml version="1.0"?>\n<!DOCTYPE Autodiscover [<!ENTITY x SYSTEM "http://127.0.0.1:9/x">]>\n'
    b"<Autodiscover><Request><EMailAddress>&x;@ac-paris.fr</EMailAddress></Request></Autodiscover>"
)


HARMLESS_DTD = (
    b'<?xml version="1.0"?>\n<!DOCTYPE Autodiscover>\n'
    b"<Autodiscover><Request><EMailAddress>jean.dupont@ac-paris.fr</EMailAddress></Request></Autodiscover>"
)


INTERNAL_ENTITY = (
    b'<?xml version="1.0"?>\n<!DOCTYPE Autodiscover [<!ENTITY who "jean.dupont">]>\n'
    b"<Autodiscover><Request><EMailAddress>&who;@ac-paris.fr</EMailAddress></Request></Autodiscover>"
)


def _billion_laughs() -> bytes:
    entities = ['<!ENTITY lol0 "lol">'] + [f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)]
    return (
        '<?xml version="1.0"?>\n<!DOCTYPE Autodiscover [' + "".join(entities) + "]>\n"
        "<Autodiscover><Request><EMailAddress>&lol9;@ac-paris.fr</EMailAddress></Request></Autodiscover>"
    ).encode()


BILLION_LAUGHS = _billion_laughs()


# Quadratic blow-up: one big entity referenced many times, no nesting for a parser to count.
QUADRATIC = (
    b'<?xml version="1.0"?>\n<!DOCTYPE Autodiscover [<!ENTITY a "'
    + b"a" * 2000
    + b'">]>\n<Autodiscover><Request><EMailAddress>'
    + b"&a;" * 1500
    + b"</EMailAddress></Request></Autodiscover>"
)


@dataclass(frozen=True)
class ProtocolView:
    type: str
    server: str
    port: int
    login_name: str
    ssl: str
    encryption: str
    spa: str = "off"
    auth_required: str = "on"
    domain_required: str = "off"


@dataclass(frozen=True)
class PoxView:
    """What Outlook reads from a settings or redirect answer."""

    display_name: str | None
    action: str
    protocols: tuple[ProtocolView, ...] = ()
    redirect_addr: str | None = None


@dataclass(frozen=True)
class ErrorView:
    namespace: str  # the Response element's
    code: int
    message: str


def _leaf(element: etree._Element) -> str:
    assert len(element) == 0, f"<{element.tag}> has child elements"
    text = element.text or ""
    assert text == text.strip(), f"<{element.tag}> has stray whitespace: {text!r}"
    return text


def _named(element: etree._Element, namespace: str) -> str:
    """The element's local name, after checking its namespace and that it is written without a prefix."""
    assert isinstance(element.tag, str), "a comment or processing instruction in the answer"
    name = etree.QName(element)
    assert name.namespace == namespace, f"<{name.localname}> is in {name.namespace}, not {namespace}"
    assert element.prefix is None, f"<{name.localname}> has a prefix"
    return name.localname


def _root(document: bytes) -> etree._Element:
    assert _DECLARATION.match(document), document[:80]
    assert not document.startswith(b"\xef\xbb\xbf")
    root = etree.fromstring(document, _STRICT)
    docinfo = root.getroottree().docinfo
    assert b"<!DOCTYPE" not in document
    assert docinfo.internalDTD is None
    assert docinfo.encoding == "UTF-8"
    assert _named(root, RESPONSE) == "Autodiscover"
    assert not root.attrib
    assert len(root) == 1
    return root


def read_pox(document: bytes) -> PoxView:
    """Parse a settings or redirect answer and read it as Outlook does, checking every element's place."""
    response = _root(document)[0]
    assert _named(response, OUTLOOK) == "Response"
    assert response.nsmap == {None: OUTLOOK}
    names = [_named(child, OUTLOOK) for child in response]
    display_name = None
    if names == ["User", "Account"]:
        user, account = response
        (display,) = user
        assert _named(display, OUTLOOK) == "DisplayName"
        display_name = _leaf(display)
    else:
        assert names == ["Account"], names
        (account,) = response
    fields = [(_named(child, OUTLOOK), child) for child in account]
    assert [name for name, _ in fields[:2]] == ["AccountType", "Action"], fields
    assert _leaf(fields[0][1]) == "email"
    action = _leaf(fields[1][1])
    rest = fields[2:]
    if action == "redirectAddr":
        assert display_name is None
        assert [name for name, _ in rest] == ["RedirectAddr"]
        return PoxView(None, action, redirect_addr=_leaf(rest[0][1]))
    assert action == "settings"
    assert display_name is not None
    assert rest, "no Protocol"
    protocols = []
    for name, protocol in rest:
        assert name == "Protocol"
        values = {_named(child, OUTLOOK): _leaf(child) for child in protocol}
        assert [_named(child, OUTLOOK) for child in protocol] == PROTOCOL_CHILDREN
        assert values["Port"] == str(int(values["Port"]))
        protocols.append(
            ProtocolView(
                type=values["Type"],
                server=values["Server"],
                port=int(values["Port"]),
                login_name=values["LoginName"],
                ssl=values["SSL"],
                encryption=values["Encryption"],
                spa=values["SPA"],
                auth_required=values["AuthRequired"],
                domain_required=values["DomainRequired"],
            )
        )
    return PoxView(display_name, action, tuple(protocols))


def read_error(document: bytes) -> ErrorView:
    """Parse an Error answer: Autodiscover in the base schema, Response and below in one namespace."""
    response = _root(document)[0]
    namespace = etree.QName(response).namespace
    assert namespace in {RESPONSE, MOBILESYNC}
    assert _named(response, namespace) == "Response"
    (error,) = response
    assert _named(error, namespace) == "Error"
    assert set(error.attrib) == {"Time", "Id"}
    assert re.fullmatch(r"\d\d:\d\d:\d\d(\.\d+)?", str(error.get("Time")))
    assert [_named(child, namespace) for child in error] == ["ErrorCode", "Message", "DebugData"]
    code, message, debug = error
    assert _leaf(debug) == ""
    text = _leaf(message)
    assert text
    return ErrorView(namespace, int(_leaf(code)), text)


def check_encryption_matches_port(view: PoxView) -> None:
    """Never an Encryption that contradicts the port: implicit-TLS ports get SSL, the others never do;
    SSL is off exactly when there is no encryption (what Thunderbird's reader goes by)."""
    for protocol in view.protocols:
        assert (protocol.ssl == "off") == (protocol.encryption == "None")
        assert protocol.encryption in {"SSL", "TLS", "None"}
        if protocol.port in {993, 995, 465}:
            assert (protocol.ssl, protocol.encryption) == ("on", "SSL")
        if protocol.port in {143, 110, 587, 25}:
            assert protocol.encryption != "SSL"


def paris_pox(login: str, display_name: str) -> PoxView:
    """The bundled default's answer for one person."""
    return PoxView(
        display_name,
        "settings",
        (
            ProtocolView("IMAP", "imap.ac-paris.fr", 143, login, "on", "TLS"),
            ProtocolView("SMTP", "smtp.ac-paris.fr", 587, login, "on", "TLS"),
        ),
    )


# Outlook asks for the first; other clients, proxies and people type the others.
XML_PATHS = [
    "/autodiscover/autodiscover.xml",
    "/Autodiscover/Autodiscover.xml",
    "/AutoDiscover/AutoDiscover.xml",
    "/AUTODISCOVER/AUTODISCOVER.XML",
    "/autodiscover/Autodiscover.xml",
    "/Autodiscover/autodiscover.XML",
    "/aUtOdIsCoVeR/AuToDiScOvEr.XmL",
]


JSON_PATHS = [
    "/autodiscover/autodiscover.json",
    "/Autodiscover/Autodiscover.json",
    "/AUTODISCOVER/AUTODISCOVER.JSON",
    "/AutoDiscover/autodiscover.Json",
]


# The headers Outlook for Windows sends with its POST.
OUTLOOK_HEADERS = {
    "Content-Type": "text/xml",
    "User-Agent": "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17928; Pro)",
    "X-MapiHttpCapability": "1",
    "X-AnchorMailbox": JEAN,
    "Accept": "*/*",
}


JSON_URL = "https://autoconfig.ac-paris.fr/Autodiscover/Autodiscover.xml"


SETTINGS_ANSWER = {"Protocol": "AutodiscoverV1", "Url": JSON_URL}


# Settings that vary everything Outlook reads: POP3 first, NTLM, per-server logins, placeholders in hosts,
# an alias domain, plain SMTP on 25.
VARIED: dict[str, Any] = {
    "service": {"public_url": "https://autoconfig.example.org/mail/"},
    "providers": [
        {
            "id": "example.org",
            "name": "Example",
            "domains": ["example.org", "example.net"],
            "aliases": ["example-alias.fr"],
            "incoming": [
                {"protocol": "pop3", "host": "pop.%EMAILDOMAIN%", "security": "tls"},
                {
                    "protocol": "imap",
                    "host": "imap.example.org",
                    "port": 143,
                    "security": "starttls",
                    "auth": "NTLM",
                    "username": "%EMAILLOCALPART%+imap",
                },
            ],
            "outgoing": [
                {"host": "smtp.%EMAILDOMAIN%", "port": 465, "security": "tls", "username": "%EMAILADDRESS%"},
                {"host": "relay.example.org", "port": 25, "security": "none", "auth": "none"},
            ],
        }
    ],
}
