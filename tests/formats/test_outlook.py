"""Outlook autodiscover, the pure module: requests parsed (hostile ones included), answers parsed back
with lxml and read field by field, namespaces included."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from xml.sax.saxutils import escape

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from lxml import etree

from autoconfig.accounts import Account, resolve_account
from autoconfig.errors import RequestError
from autoconfig.formats import outlook as autodiscover
from autoconfig.formats.outlook import (
    MAX_BODY,
    PoxError,
    PoxRequest,
    build_error,
    build_json,
    build_json_error,
    build_pox,
    build_redirect,
    compile_pox,
    parse_request,
    read_request,
)
from autoconfig.paths import profiles_dir
from autoconfig.settings import Provider, Settings, load_settings
from tests.helpers.outlook import (
    BILLION_LAUGHS,
    HARMLESS_DTD,
    INDENTED_REQUEST,
    INTERNAL_ENTITY,
    JEAN,
    MOBILESYNC,
    MOBILESYNC_REQUEST_NS,
    OUTLOOK,
    OUTLOOK_REQUEST_NS,
    PROTOCOL_CHILDREN,
    QUADRATIC,
    RESPONSE,
    VARIED,
    XXE_EXTERNAL_DTD,
    XXE_NETWORK,
    XXE_PARAMETER_ENTITY,
    XXE_PASSWD,
    PoxView,
    ProtocolView,
    check_encryption_matches_port,
    outlook_request,
    paris_pox,
    read_error,
    read_pox,
)
from tests.helpers.settings import settings_data

# --- settings used below -----------------------------------------------------------------------------


HOSTILE = settings_data(
    provider={
        "name": 'Dupont & Fils <Courrier> "SA"',
        "login": {"overrides": "overrides.csv"},
        "outgoing": [
            {
                "host": "smtp.example.org",
                "port": 587,
                "security": "starttls",
                "username": "%EMAILLOCALPART%&smtp",
            }
        ],
    }
)
HOSTILE_LOGIN = 'j&d<"x">\'y</LoginName><injected/>'
HOSTILE_NAME = 'Dupont & <Fils> "SA"</DisplayName><injected/>'


@pytest.fixture
def varied(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(VARIED)


@pytest.fixture
def hostile(make_settings: Callable[..., Settings], tmp_path: Path) -> Settings:
    # Beside the settings file (make_settings writes to tmp_path): `overrides` is relative to it.
    (tmp_path / "overrides.csv").write_text(
        "address,login,name\n"
        'jean.dupont@example.org,"j&d<""x"">\'y</LoginName><injected/>",'
        '"Dupont & <Fils> ""SA""</DisplayName><injected/>"\n',
        encoding="utf-8",
    )
    return make_settings(HOSTILE)


# --- the module's constants --------------------------------------------------------------------------


def test_constants_are_microsofts() -> None:
    assert autodiscover.RESPONSE_NS == RESPONSE
    assert autodiscover.OUTLOOK_NS == OUTLOOK
    assert autodiscover.MOBILESYNC_NS == MOBILESYNC
    assert MAX_BODY == 8 * 1024
    assert len(outlook_request(JEAN)) < 400  # Outlook's request is small; the cap leaves room
    assert (autodiscover.ADDRESS_NOT_FOUND, autodiscover.INVALID_REQUEST, autodiscover.NO_PROVIDER) == (
        500,
        600,
        601,
    )


# --- parse_request: what is accepted ----------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(outlook_request(JEAN), id="outlook"),
        pytest.param(INDENTED_REQUEST, id="indented-crlf"),
        pytest.param(outlook_request(JEAN).split(b"?>", 1)[1], id="no-declaration"),
        pytest.param(b"\xef\xbb\xbf" + outlook_request(JEAN), id="utf8-bom"),
        pytest.param(outlook_request(JEAN).decode().replace("utf-8", "utf-16").encode("utf-16"), id="utf16"),
        pytest.param(
            b"\xff\xfe" + outlook_request(JEAN).decode().replace("utf-8", "UTF-16").encode("utf-16-le"),
            id="utf16le-bom",
        ),
        pytest.param(
            b"\xfe\xff" + outlook_request(JEAN).decode().replace("utf-8", "UTF-16").encode("utf-16-be"),
            id="utf16be-bom",
        ),
        pytest.param(outlook_request(JEAN).split(b"?>", 1)[1].decode().encode("utf-16"), id="utf16-no-decl"),
        pytest.param(outlook_request(JEAN, namespace=MOBILESYNC_REQUEST_NS), id="activesync-request-ns"),
        pytest.param(outlook_request(JEAN, namespace=""), id="no-namespace"),
        pytest.param(
            f'<a:Autodiscover xmlns:a="{OUTLOOK_REQUEST_NS}"><a:Request>'
            f"<a:AcceptableResponseSchema>{OUTLOOK}</a:AcceptableResponseSchema>"
            f"<a:EMailAddress>{JEAN}</a:EMailAddress></a:Request></a:Autodiscover>".encode(),
            id="prefixed-schema-first",
        ),
        pytest.param(
            f"<Autodiscover><Request><EMailAddress>\n\t {JEAN} \n</EMailAddress>"
            "</Request></Autodiscover>".encode(),
            id="whitespace-no-schema",
        ),
        pytest.param(
            f"<Autodiscover><Request><EMailAddress><![CDATA[{JEAN}]]></EMailAddress></Request></Autodiscover>".encode(),
            id="cdata",
        ),
        pytest.param(
            b"<Autodiscover><Request><EMailAddress>&#106;ean<!-- a comment -->.dupont<?pi x?>"
            b"&#x40;ac-paris.fr</EMailAddress></Request></Autodiscover>",
            id="character-references-comment-pi",
        ),
        pytest.param(
            outlook_request(JEAN) + b" " * (MAX_BODY - len(outlook_request(JEAN))), id="exactly-the-cap"
        ),
    ],
)
def test_request_shapes_clients_send(body: bytes) -> None:
    assert parse_request(body) == PoxRequest(JEAN, OUTLOOK)


def test_the_address_is_returned_as_sent() -> None:
    # Normalising is resolve_account's job; the parser keeps the casing and the escaped characters.
    assert parse_request(outlook_request("Jean.Dupont@AC-PARIS.FR")).address == "Jean.Dupont@AC-PARIS.FR"
    assert parse_request(outlook_request("o'neil&co@ac-paris.fr")).address == "o'neil&co@ac-paris.fr"
    latin1 = outlook_request("élodie@ac-paris.fr").decode().replace("utf-8", "ISO-8859-1").encode("latin-1")
    assert parse_request(latin1).address == "élodie@ac-paris.fr"


# --- parse_request: what is refused -----------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"jean.dupont@ac-paris.fr", id="not-xml"),
        pytest.param(b"<html><body>hello</body></html>", id="html"),
        pytest.param(outlook_request(JEAN)[:-20], id="truncated"),
        pytest.param(outlook_request(JEAN) + b"<Autodiscover/>", id="two-roots"),
        pytest.param(b"\x00" * 64, id="nul-bytes"),
        pytest.param(outlook_request(JEAN).replace(b"utf-8", b"x-no-such-charset"), id="unknown-encoding"),
        pytest.param(outlook_request(JEAN).replace(b"utf-8", b"utf-16"), id="declared-utf16-sent-utf8"),
        pytest.param(outlook_request(JEAN).replace(b"Autodiscover", b"Discover"), id="other-root"),
        pytest.param(b"<Autodiscover/>", id="no-request"),
        pytest.param(
            b"<Autodiscover><EMailAddress>jean@ac-paris.fr</EMailAddress></Autodiscover>", id="flat"
        ),
        pytest.param(
            f"<Autodiscover><Request><AcceptableResponseSchema>{OUTLOOK}</AcceptableResponseSchema>"
            "</Request></Autodiscover>".encode(),
            id="missing-address",
        ),
        pytest.param(outlook_request(""), id="empty-address"),
        pytest.param(outlook_request(" \r\n\t "), id="blank-address"),
        pytest.param(
            f"<Autodiscover><Request><LegacyDN>/o=ac-paris/ou=Exchange/cn=Recipients/cn=jdupont</LegacyDN>"
            f"<AcceptableResponseSchema>{OUTLOOK}</AcceptableResponseSchema></Request></Autodiscover>".encode(),
            id="legacydn-only",
        ),
        pytest.param(
            b'<Autodiscover xmlns:xi="http://www.w3.org/2001/XInclude"><Request><EMailAddress>'
            b'<xi:include href="file:///etc/passwd" parse="text"/></EMailAddress></Request></Autodiscover>',
            id="xinclude",
        ),
        pytest.param(
            b"<Autodiscover><Request><EMailAddress>&undefined;</EMailAddress></Request></Autodiscover>"
        ),
        pytest.param(XXE_PASSWD, id="xxe-passwd"),
        pytest.param(XXE_EXTERNAL_DTD, id="xxe-external-dtd"),
        pytest.param(XXE_PARAMETER_ENTITY, id="xxe-parameter-entity"),
        pytest.param(XXE_NETWORK, id="xxe-network"),
        pytest.param(HARMLESS_DTD, id="harmless-doctype"),
        pytest.param(INTERNAL_ENTITY, id="internal-entity"),
        pytest.param(BILLION_LAUGHS, id="billion-laughs"),
        pytest.param(QUADRATIC, id="quadratic-blowup"),
        pytest.param(b"<a>" * 2000 + b"</a>" * 2000, id="deep-nesting"),
        pytest.param(
            outlook_request(JEAN) + b" " * (MAX_BODY + 1 - len(outlook_request(JEAN))), id="over-cap"
        ),
        pytest.param(b"<" * (1024 * 1024), id="one-mebibyte"),
    ],
)
def test_malformed_and_hostile_requests_are_600(body: bytes) -> None:
    start = time.perf_counter()
    with pytest.raises(PoxError) as caught:
        parse_request(body)
    assert time.perf_counter() - start < 0.1
    assert caught.value.code == 600
    assert caught.value.schema == OUTLOOK
    assert "root:" not in caught.value.reason


def test_billion_laughs_and_xxe_are_refused_as_document_types() -> None:
    # Whatever the parser makes of them, the reason never quotes the document.
    for body in (XXE_PASSWD, XXE_EXTERNAL_DTD, XXE_PARAMETER_ENTITY, HARMLESS_DTD, INTERNAL_ENTITY):
        with pytest.raises(PoxError, match="document type declarations are not accepted"):
            parse_request(body)


def test_an_external_entity_is_never_read(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("s3cr3t-value@ac-paris.fr", encoding="utf-8")
    for body in (
        f'<!DOCTYPE a [<!ENTITY x SYSTEM "{secret.as_uri()}">]>'
        "<Autodiscover><Request><EMailAddress>&x;</EMailAddress></Request></Autodiscover>",
        f'<!DOCTYPE a SYSTEM "{secret.as_uri()}">'
        f"<Autodiscover><Request><EMailAddress>{JEAN}</EMailAddress></Request></Autodiscover>",
    ):
        with pytest.raises(PoxError) as caught:
            parse_request(body.encode())
        assert caught.value.code == 600
        assert "s3cr3t" not in str(caught.value)
        assert b"s3cr3t" not in build_error(caught.value.code, caught.value.schema)


@pytest.mark.parametrize(
    "schema",
    [
        MOBILESYNC,
        RESPONSE,
        "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006",
        "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006A",
        "urn:example:<&>",
    ],
)
def test_other_response_schemas_are_601(schema: str) -> None:
    with pytest.raises(PoxError) as caught:
        parse_request(outlook_request(JEAN, schema=escape(schema), namespace=MOBILESYNC_REQUEST_NS))
    assert caught.value.code == 601
    assert caught.value.schema == schema


def test_a_mobilesync_request_without_address_is_still_601() -> None:
    # The schema decides first: ActiveSync clients get an answer in their own schema.
    body = (
        f"<Autodiscover><Request><AcceptableResponseSchema>{MOBILESYNC}</AcceptableResponseSchema>"
        "</Request></Autodiscover>"
    )
    with pytest.raises(PoxError) as caught:
        parse_request(body.encode())
    assert (caught.value.code, caught.value.schema) == (601, MOBILESYNC)


_XML_TEXT = st.text(
    st.characters(blacklist_categories=("Cs", "Cc", "Cn"), blacklist_characters="\ufffe\uffff"),
    min_size=1,
    max_size=80,
)


@hypothesis_settings(max_examples=150, deadline=None, database=None)
@given(text=_XML_TEXT)
def test_any_xml_text_round_trips_as_the_address(text: str) -> None:
    if not text.strip():
        with pytest.raises(PoxError):
            parse_request(outlook_request(text))
    else:
        assert parse_request(outlook_request(text)) == PoxRequest(text.strip(), OUTLOOK)


def _spliced(data: tuple[int, int, bytes]) -> bytes:
    start, length, insert = data
    body = outlook_request(JEAN)
    start = start % len(body)
    return body[:start] + insert + body[start + length :]


@hypothesis_settings(max_examples=400, deadline=None, database=None)
@given(
    body=st.binary(max_size=MAX_BODY + 64)
    | st.tuples(st.integers(0, 400), st.integers(0, 8), st.binary(max_size=64)).map(_spliced)
    | st.sampled_from([BILLION_LAUGHS, QUADRATIC, XXE_PASSWD, INTERNAL_ENTITY]).flatmap(
        lambda b: st.integers(0, len(b)).map(lambda n: b[:n])
    )
)
def test_any_bytes_give_a_request_or_a_pox_error_fast(body: bytes) -> None:
    start = time.perf_counter()
    outcome: PoxRequest | PoxError
    try:
        outcome = parse_request(body)
    except PoxError as exc:
        outcome = exc
    assert time.perf_counter() - start < 0.25
    if isinstance(outcome, PoxError):
        assert outcome.code in {600, 601}
        assert outcome.reason
    else:
        assert outcome.schema == OUTLOOK
        assert outcome.address == outcome.address.strip() != ""


# --- compile_pox / build_pox -------------------------------------------------------------------------


def test_bundled_default_answer_field_by_field(settings: Settings, paris: Provider) -> None:
    document = build_pox(paris, resolve_account(settings, JEAN))
    view = read_pox(document)
    assert view == paris_pox("jdupont", "Jean Dupont")
    check_encryption_matches_port(view)
    root = etree.fromstring(document)
    assert root.nsmap == {None: RESPONSE}
    # Every element below Response is in Outlook's schema.
    assert {etree.QName(e).namespace for e in root[0].iter()} == {OUTLOOK}


@pytest.mark.parametrize(
    ("address", "login", "display_name"),
    [
        ("Jean.Dupont@AC-PARIS.FR", "jdupont", "Jean Dupont"),
        ("jean-pierre.de-la-fontaine2@ac-paris.fr", "jde-la-fontaine2", "Jean-Pierre de La Fontaine"),
        ("élodie.mérand@ac-paris.fr", "emerand", "Élodie Mérand"),
        # No name in the local part: the address stands for it.
        ("ce.0751234a@ac-paris.fr", "ce.0751234a", "ce.0751234a@ac-paris.fr"),
        ("o'neil&co@ac-paris.fr", "o'neil&co", "o'neil&co@ac-paris.fr"),
        ("%EMAILDOMAIN%@ac-paris.fr", "%EMAILDOMAIN%", "%EMAILDOMAIN%@ac-paris.fr"),
    ],
)
def test_bundled_default_logins_and_names(
    settings: Settings, paris: Provider, address: str, login: str, display_name: str
) -> None:
    document = build_pox(paris, resolve_account(settings, address))
    assert read_pox(document) == paris_pox(login, display_name)
    if "&" in address:
        assert b"o'neil&amp;co" in document


def _apply(fill: autodiscover.Fill, account: Account) -> str:
    return fill(account)


def test_compiled_answer_serves_every_person(settings: Settings, paris: Provider) -> None:
    compiled = compile_pox(paris)
    for address in (JEAN, "marie.curie@ac-paris.fr", "x@ac-paris.fr"):
        account = resolve_account(settings, address)
        assert compiled.render(partial(_apply, account=account)) == build_pox(paris, account)
    marie = read_pox(build_pox(paris, resolve_account(settings, "marie.curie@ac-paris.fr")))
    assert marie == paris_pox("mcurie", "Marie Curie")


def test_pop3_tls_none_domain_hosts_and_server_usernames(varied: Settings) -> None:
    provider = varied.providers[0]
    view = read_pox(build_pox(provider, resolve_account(varied, "Ana.Lopez@Example.NET")))
    assert view == PoxView(
        "Ana Lopez",
        "settings",
        (
            ProtocolView("POP3", "pop.example.net", 995, "Ana.Lopez@example.net", "on", "SSL"),
            ProtocolView("IMAP", "imap.example.org", 143, "Ana.Lopez+imap", "on", "TLS", spa="on"),
            ProtocolView("SMTP", "smtp.example.net", 465, "Ana.Lopez@example.net", "on", "SSL"),
            ProtocolView(
                "SMTP", "relay.example.org", 25, "Ana.Lopez@example.net", "off", "None", auth_required="off"
            ),
        ),
    )
    check_encryption_matches_port(view)
    # The same compiled answer at the provider's other domain names that domain's hosts.
    other = read_pox(build_pox(provider, resolve_account(varied, "ana@example.org")))
    assert [p.server for p in other.protocols] == [
        "pop.example.org",
        "imap.example.org",
        "smtp.example.org",
        "relay.example.org",
    ]
    # A local part shaped like a placeholder is data: it fills nothing in the hosts.
    odd = read_pox(build_pox(provider, resolve_account(varied, "%EMAILDOMAIN%@example.org")))
    assert odd.protocols[0] == ProtocolView(
        "POP3", "pop.example.org", 995, "%EMAILDOMAIN%@example.org", "on", "SSL"
    )
    assert odd.protocols[1].login_name == "%EMAILDOMAIN%+imap"


def test_every_bundled_and_example_profile_keeps_encryption_and_port_together() -> None:
    for path in sorted(profiles_dir().glob("*.toml")):
        loaded = load_settings(path)
        for provider in loaded.providers:
            account = resolve_account(loaded, f"marie.curie@{provider.domains[0]}")
            view = read_pox(build_pox(provider, account))
            check_encryption_matches_port(view)
            assert [p.type for p in view.protocols] == [
                *(s.protocol_name.upper() for s in provider.incoming),
                *("SMTP" for _ in provider.outgoing),
            ]


def test_hostile_logins_and_names_are_escaped_and_intact(hostile: Settings) -> None:
    provider = hostile.providers[0]
    account = resolve_account(hostile, "jean.dupont@example.org")
    assert account.login == HOSTILE_LOGIN
    document = build_pox(provider, account)
    assert b"<injected" not in document
    view = read_pox(document)
    assert view.display_name == HOSTILE_NAME
    assert view.protocols == (
        ProtocolView("IMAP", "imap.example.org", 143, HOSTILE_LOGIN, "on", "TLS"),
        ProtocolView("SMTP", "smtp.example.org", 587, "jean.dupont&smtp", "on", "TLS"),
    )
    # A hostile local part, escaped by the request's sender, comes back intact too.
    local = "a&b<c>'d{e}"
    with pytest.raises(RequestError, match="character addresses cannot have"):
        resolve_account(hostile, f"{local}@example.org")  # < > are no address characters
    sent = "o'neil&amp;co"
    request = parse_request(outlook_request("o'neil&co@example.org"))
    assert request.address == "o'neil&co@example.org"
    answer = build_pox(provider, resolve_account(hostile, request.address))
    assert sent.encode() in answer
    assert read_pox(answer).display_name == "o'neil&co@example.org"
    assert read_pox(answer).protocols[1].login_name == "o'neil&co&smtp"


# --- build_error / build_redirect / build_json -----------------------------------------------------


@pytest.mark.parametrize(
    ("code", "schema", "namespace"),
    [
        (500, OUTLOOK, RESPONSE),
        (600, OUTLOOK, RESPONSE),
        (601, OUTLOOK, RESPONSE),
        (601, MOBILESYNC, MOBILESYNC),
        (600, MOBILESYNC, MOBILESYNC),
        (601, "urn:example:<unknown>", RESPONSE),
    ],
)
def test_error_documents(code: int, schema: str, namespace: str) -> None:
    document = build_error(code, schema)
    view = read_error(document)
    assert (view.namespace, view.code) == (namespace, code)
    root = etree.fromstring(document)
    assert root.nsmap == {None: RESPONSE}
    assert {etree.QName(e).namespace for e in root[0].iter()} == {namespace}
    # Nothing of the request and none of the service's servers.
    assert b"unknown" not in document
    assert b"ac-paris" not in document
    assert b"imap." not in document
    assert b"smtp." not in document


def test_error_messages() -> None:
    assert read_error(build_error(500)).message == "The email address cannot be found"
    assert read_error(build_error(600)).message == "Invalid Request"
    assert "IMAP" in read_error(build_error(601)).message


@pytest.mark.parametrize(
    "address",
    ["jean.dupont@ac-paris.fr", "Jean.Dupont@ac-paris.fr", "o'neil&co@ac-paris.fr", "{x}<&>@ac-paris.fr"],
)
def test_redirect_documents(address: str) -> None:
    document = build_redirect(address)
    assert read_pox(document) == PoxView(None, "redirectAddr", redirect_addr=address)
    assert {etree.QName(e).namespace for e in etree.fromstring(document)[0].iter()} == {OUTLOOK}


def test_alias_domain_account_redirects_to_the_first_domain(varied: Settings) -> None:
    account = resolve_account(varied, "Ana.Lopez@Example-Alias.FR")
    assert account.alias == "Ana.Lopez@example-alias.fr"
    assert account.address == "Ana.Lopez@example.org"
    assert read_pox(build_redirect(account.address)).redirect_addr == "Ana.Lopez@example.org"
    assert resolve_account(varied, "ana@example.net").alias is None


def test_json_answers() -> None:
    body = build_json("https://autoconfig.ac-paris.fr")
    assert body == (
        b'{"Protocol":"AutodiscoverV1","Url":"https://autoconfig.ac-paris.fr/Autodiscover/Autodiscover.xml"}'
    )
    assert json.loads(build_json("https://example.org/mail")) == {
        "Protocol": "AutodiscoverV1",
        "Url": "https://example.org/mail/Autodiscover/Autodiscover.xml",
    }
    error = build_json_error("InvalidProtocol", 'say "AutodiscoverV1" </script>')
    assert json.loads(error) == {
        "ErrorCode": "InvalidProtocol",
        "ErrorMessage": 'say "AutodiscoverV1" </script>',
    }
    assert b"\n" not in error


def test_json_url_follows_the_settings(varied: Settings) -> None:
    assert json.loads(build_json(varied.service.public_url))["Url"] == (
        "https://autoconfig.example.org/mail/Autodiscover/Autodiscover.xml"
    )


def thunderbird_socket_type(protocol: ProtocolView) -> str:
    """How Thunderbird's own autodiscover reader (ExchangeAutoDiscover.sys.mjs) reads a Protocol: SSL off
    or Encryption None is plain; otherwise the port decides between STARTTLS and TLS."""
    if protocol.ssl.lower() == "off" or protocol.encryption.lower() == "none":
        return "plain"
    return "starttls" if protocol.port in {143, 110, 25, 587} else "tls"


@pytest.mark.parametrize("profile", ["ac-paris.toml", "ile-de-france.toml"])
def test_thunderbird_reads_every_encrypted_server_as_encrypted(profile: str) -> None:
    settings = load_settings(profiles_dir() / profile)
    for provider in settings.providers:
        account = resolve_account(settings, f"jean.dupont@{provider.domains[0]}")
        view = read_pox(build_pox(provider, account))
        servers = [*provider.incoming, *provider.outgoing]
        assert [thunderbird_socket_type(p) for p in view.protocols] == [
            s.security.replace("none", "plain") for s in servers
        ]


def test_thunderbird_reads_the_varied_settings_as_configured(varied: Settings) -> None:
    provider = varied.providers[0]
    account = resolve_account(varied, f"ana.lopez@{provider.domains[0]}")
    view = read_pox(build_pox(provider, account))
    expected = [s.security.replace("none", "plain") for s in (*provider.incoming, *provider.outgoing)]
    assert [thunderbird_socket_type(p) for p in view.protocols] == expected


@pytest.mark.parametrize(
    "body",
    [
        outlook_request("jean.dupont@ac-paris.fr"),
        outlook_request("jean.dupont@ac-paris.fr", schema=MOBILESYNC),
        BILLION_LAUGHS,
        b"<not xml",
        b"x" * 3000,  # past what is remembered: read each time
    ],
    ids=["outlook", "mobilesync", "billion-laughs", "malformed", "long"],
)
def test_a_remembered_request_reads_as_a_fresh_one(body: bytes) -> None:
    def outcome() -> PoxRequest | tuple[int, str, str]:
        try:
            return read_request(body)
        except PoxError as exc:
            return exc.code, exc.reason, exc.schema

    try:
        expected: PoxRequest | tuple[int, str, str] = parse_request(body)
    except PoxError as exc:
        expected = exc.code, exc.reason, exc.schema
    assert outcome() == expected
    assert outcome() == expected  # the second time, from memory


# --- only IMAP, POP3 and SMTP: nothing that sends Thunderbird or Outlook to Exchange ---------------------

EVERY_SETTINGS = [
    profiles_dir() / "ac-paris.toml",
    profiles_dir() / "ile-de-france.toml",
    Path(__file__).parent.parent / "data" / "golden" / "rich.toml",
]
# Every element an answer may hold: Exchange's (EXCH, EXPR, WEB Protocol types, EwsUrl, ASUrl, OOFUrl,
# the mobilesync schema) would make Thunderbird offer an Exchange account the organisation does not run.
POX_ELEMENTS = {
    "Autodiscover",
    "Response",
    "User",
    "DisplayName",
    "Account",
    "AccountType",
    "Action",
    "Protocol",
    *PROTOCOL_CHILDREN,
}
EXCHANGE_WORDS = ("EXCH", "EXPR", "EWS", "WEB", "mobilesync", "ActiveSync", "exch")


@pytest.mark.parametrize("path", EVERY_SETTINGS, ids=lambda p: Path(p).name)
def test_answers_list_only_imap_pop3_smtp_with_starttls_kept_on(path: Path) -> None:
    settings = load_settings(path)
    for provider in settings.providers:
        account = resolve_account(settings, f"jean.dupont@{provider.domains[0]}")
        document = build_pox(provider, account)
        root = etree.fromstring(document)
        assert {etree.QName(e).localname for e in root.iter()} <= POX_ELEMENTS, provider.id
        assert {etree.QName(e).namespace for e in root.iter()} == {RESPONSE, OUTLOOK}, provider.id
        texts = [e.text or "" for e in root.iter()]
        assert not [t for t in texts if t in EXCHANGE_WORDS or "mobilesync" in t], provider.id
        view = read_pox(document)
        assert {p.type for p in view.protocols} <= {"IMAP", "POP3", "SMTP"}
        assert "SMTP" in {p.type for p in view.protocols}
        for server, protocol in zip((*provider.incoming, *provider.outgoing), view.protocols, strict=True):
            assert protocol.type == server.protocol_name.upper()
            # Thunderbird reads SSL off as plain text: STARTTLS is SSL on with Encryption TLS.
            expected = {"starttls": ("on", "TLS"), "tls": ("on", "SSL"), "none": ("off", "None")}
            assert (protocol.ssl, protocol.encryption) == expected[server.security], protocol
