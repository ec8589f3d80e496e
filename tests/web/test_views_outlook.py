"""The HTTP contract of Outlook's routes, through the ASGI application: POX autodiscover and
autodiscover.json. Every answer is parsed back and read field by field."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from typing import Any
from xml.sax.saxutils import escape

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.testclient import TestClient
from starlette.types import Message

from autoconfig.accounts import resolve_account
from autoconfig.formats.outlook import MAX_BODY, build_pox
from autoconfig.paths import profiles_dir
from autoconfig.settings import Provider, Settings, load_settings
from autoconfig.web.app import create_app
from tests.helpers.outlook import (
    BILLION_LAUGHS,
    INDENTED_REQUEST,
    JSON_PATHS,
    MOBILESYNC,
    MOBILESYNC_REQUEST_NS,
    OUTLOOK,
    OUTLOOK_HEADERS,
    QUADRATIC,
    RESPONSE,
    SETTINGS_ANSWER,
    VARIED,
    XML_PATHS,
    XXE_EXTERNAL_DTD,
    XXE_PARAMETER_ENTITY,
    XXE_PASSWD,
    ErrorView,
    PoxView,
    ProtocolView,
    check_encryption_matches_port,
    outlook_request,
    paris_pox,
    read_error,
    read_pox,
)

JEAN = "jean.dupont@ac-paris.fr"
XML_PATH = "/autodiscover/autodiscover.xml"
UNKNOWN_DOMAIN = "This service does not configure mail for that domain."


@pytest.fixture
def varied(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(VARIED)


@pytest.fixture
def varied_client(make_client: Callable[..., TestClient], varied: Settings) -> TestClient:
    return make_client(varied)


def check_pox_headers(response: Any, status: int = 200) -> None:
    """An XML answer: never HTML, never a traceback, never cached, never sniffed."""
    assert response.status_code == status
    assert response.headers["content-type"] == "application/xml"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "private, no-store"
    assert int(response.headers["content-length"]) == len(response.content)
    assert "server" not in response.headers
    assert b"<html" not in response.content.lower()
    assert b"Traceback" not in response.content


def pox_answer(response: Any) -> PoxView:
    check_pox_headers(response)
    view = read_pox(response.content)
    check_encryption_matches_port(view)
    return view


def pox_error(response: Any, status: int = 200) -> ErrorView:
    check_pox_headers(response, status)
    return read_error(response.content)


def json_answer(response: Any, status: int) -> Any:
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert int(response.headers["content-length"]) == len(response.content)
    return json.loads(response.content)


# --- POX: answers -------------------------------------------------------------------------------------


def test_outlooks_exact_request(client: TestClient, settings: Settings, paris: Provider) -> None:
    response = client.post(XML_PATH, content=outlook_request(JEAN), headers=OUTLOOK_HEADERS)
    assert pox_answer(response) == paris_pox("jdupont", "Jean Dupont")
    assert response.content == build_pox(paris, resolve_account(settings, JEAN))


@pytest.mark.parametrize("path", XML_PATHS)
def test_every_path_casing(client: TestClient, path: str) -> None:
    response = client.post(path, content=outlook_request(JEAN), headers=OUTLOOK_HEADERS)
    assert pox_answer(response) == paris_pox("jdupont", "Jean Dupont")


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(INDENTED_REQUEST, id="indented-crlf"),
        pytest.param(outlook_request(JEAN).split(b"?>", 1)[1], id="no-declaration"),
        pytest.param(b"\xef\xbb\xbf" + outlook_request(JEAN), id="utf8-bom"),
        pytest.param(outlook_request(JEAN).decode().replace("utf-8", "utf-16").encode("utf-16"), id="utf16"),
        pytest.param(outlook_request(JEAN, namespace=MOBILESYNC_REQUEST_NS), id="activesync-request-ns"),
        pytest.param(outlook_request("Jean.Dupont@AC-PARIS.FR"), id="upper-case"),
        pytest.param(outlook_request(" jean.dupont@ac-paris.fr. "), id="trailing-dot-and-spaces"),
    ],
)
@pytest.mark.parametrize("content_type", ["text/xml", "text/xml; charset=utf-8", "application/xml", None])
def test_request_shapes(client: TestClient, body: bytes, content_type: str | None) -> None:
    headers = {} if content_type is None else {"Content-Type": content_type}
    response = client.post(XML_PATH, content=body, headers=headers)
    assert pox_answer(response) == paris_pox("jdupont", "Jean Dupont")


def test_existing_and_invented_mailboxes_answer_alike(client: TestClient) -> None:
    real = client.post(XML_PATH, content=outlook_request(JEAN))
    invented = client.post(XML_PATH, content=outlook_request("zq.xwv@ac-paris.fr"))
    assert pox_answer(invented) == paris_pox("zxwv", "Zq Xwv")
    assert real.status_code == invented.status_code == 200
    assert real.content.replace(b"jdupont", b"zxwv").replace(b"Jean Dupont", b"Zq Xwv") == invented.content


def test_pop3_tls_none_and_domain_hosts(varied_client: TestClient) -> None:
    response = varied_client.post(
        "/Autodiscover/Autodiscover.xml", content=outlook_request("ana@Example.NET")
    )
    assert pox_answer(response) == PoxView(
        "ana@example.net",
        "settings",
        (
            ProtocolView("POP3", "pop.example.net", 995, "ana@example.net", "on", "SSL"),
            ProtocolView("IMAP", "imap.example.org", 143, "ana+imap", "on", "TLS", spa="on"),
            ProtocolView("SMTP", "smtp.example.net", 465, "ana@example.net", "on", "SSL"),
            ProtocolView(
                "SMTP", "relay.example.org", 25, "ana@example.net", "off", "None", auth_required="off"
            ),
        ),
    )


def test_each_provider_of_a_multi_provider_file(make_client: Callable[..., TestClient]) -> None:
    test_client = make_client(load_settings(profiles_dir() / "ile-de-france.toml"), host=None)
    creteil = pox_answer(test_client.post(XML_PATH, content=outlook_request("marie.curie@ac-creteil.fr")))
    paris = pox_answer(test_client.post(XML_PATH, content=outlook_request("marie.curie@ac-paris.fr")))
    login = "marie.curie@ac-creteil.fr"
    assert creteil == PoxView(
        "Marie Curie",
        "settings",
        (
            ProtocolView("IMAP", "imap.ac-creteil.fr", 993, login, "on", "SSL"),
            ProtocolView("SMTP", "smtp.ac-creteil.fr", 465, login, "on", "SSL"),
        ),
    )
    assert paris == paris_pox("mcurie", "Marie Curie")


def test_alias_domain_redirects_to_the_first_domain(varied_client: TestClient) -> None:
    response = varied_client.post(XML_PATH, content=outlook_request("Ana.Lopez@Example-Alias.FR"))
    view = pox_answer(response)
    assert view == PoxView(None, "redirectAddr", redirect_addr="Ana.Lopez@example.org")
    # Outlook then asks again for that address, and gets the settings.
    assert view.redirect_addr is not None
    again = pox_answer(varied_client.post(XML_PATH, content=outlook_request(view.redirect_addr)))
    assert again.action == "settings"
    assert again.protocols[0] == ProtocolView(
        "POP3", "pop.example.org", 995, "Ana.Lopez@example.org", "on", "SSL"
    )


def test_hostile_local_part_is_escaped(client: TestClient) -> None:
    response = client.post(XML_PATH, content=outlook_request("o'neil&co@ac-paris.fr"))
    assert pox_answer(response) == paris_pox("o'neil&co", "o'neil&co@ac-paris.fr")
    assert b"o'neil&amp;co" in response.content


# --- POX: errors --------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", XML_PATHS[:3])
def test_get_and_head_are_600(client: TestClient, path: str) -> None:
    get = client.get(path, params={"emailaddress": JEAN})
    assert pox_error(get) == ErrorView(RESPONSE, 600, "Invalid Request")
    head = client.head(path)
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-type"] == "application/xml"
    assert int(head.headers["content-length"]) == len(get.content)


def test_mobilesync_is_601_in_its_own_schema(client: TestClient) -> None:
    body = outlook_request(JEAN, schema=MOBILESYNC, namespace=MOBILESYNC_REQUEST_NS)
    response = client.post("/Autodiscover/Autodiscover.xml", content=body)
    view = pox_error(response)
    assert (view.namespace, view.code) == (MOBILESYNC, 601)
    assert b"ac-paris" not in response.content


@pytest.mark.parametrize(
    "schema",
    [
        RESPONSE,
        "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006",
        "urn:x:&lt;",
    ],
)
def test_other_schemas_are_601(client: TestClient, schema: str) -> None:
    response = client.post(XML_PATH, content=outlook_request(JEAN, schema=schema))
    error = pox_error(response)
    assert (error.namespace, error.code) == (RESPONSE, 601)
    assert b"urn:x" not in response.content


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"jean.dupont@ac-paris.fr", id="not-xml"),
        pytest.param(b"emailaddress=jean.dupont%40ac-paris.fr", id="form"),
        pytest.param(b'{"EMailAddress": "jean.dupont@ac-paris.fr"}', id="json"),
        pytest.param(outlook_request(JEAN)[:-30], id="truncated"),
        pytest.param(b"<Autodiscover/>", id="no-request"),
        pytest.param(
            f"<Autodiscover><Request><AcceptableResponseSchema>{OUTLOOK}</AcceptableResponseSchema>"
            "</Request></Autodiscover>".encode(),
            id="missing-address",
        ),
        pytest.param(
            f"<Autodiscover><Request><LegacyDN>/o=ac-paris/cn=jdupont</LegacyDN>"
            f"<AcceptableResponseSchema>{OUTLOOK}</AcceptableResponseSchema></Request></Autodiscover>".encode(),
            id="legacydn-only",
        ),
        pytest.param(XXE_EXTERNAL_DTD, id="external-dtd"),
        pytest.param(XXE_PARAMETER_ENTITY, id="parameter-entity"),
        pytest.param(QUADRATIC, id="quadratic"),
    ],
)
def test_malformed_requests_are_600(client: TestClient, body: bytes) -> None:
    assert pox_error(client.post(XML_PATH, content=body)) == ErrorView(RESPONSE, 600, "Invalid Request")


@pytest.mark.parametrize(
    "address",
    [
        "jean.dupont",
        "@ac-paris.fr",
        "jean.dupont@",
        "jean..dupont@ac-paris.fr",
        "jean dupont@ac-paris.fr",
        "<script>alert(1)</script>@ac-paris.fr",
        "jean@ac_paris.fr",
        "jean@localhost",
        "jean.dupont@127.0.0.1",
        "jean\u202e.dupont@ac-paris.fr",
        "a" * 65 + "@ac-paris.fr",
        "a@" + "b" * 300 + ".fr",
    ],
)
def test_malformed_addresses_are_600(client: TestClient, address: str) -> None:
    response = client.post(XML_PATH, content=outlook_request(address))
    assert pox_error(response) == ErrorView(RESPONSE, 600, "Invalid Request")
    assert escape(address[:10]).encode() not in response.content  # nothing echoed


@pytest.mark.parametrize(
    "address", ["jean.dupont@example.org", "jean.dupont@ac-creteil.fr", "x@ac-paris.fr.evil.example"]
)
def test_unknown_domain_is_404_with_500(client: TestClient, address: str) -> None:
    response = client.post(XML_PATH, content=outlook_request(address))
    assert pox_error(response, 404) == ErrorView(RESPONSE, 500, "The email address cannot be found")
    for named in (b"imap.", b"smtp.", b"ac-paris", b"example.org", b"creteil"):
        assert named not in response.content


def test_xxe_reading_etc_passwd_leaks_nothing(client: TestClient) -> None:
    response = client.post(XML_PATH, content=XXE_PASSWD, headers=OUTLOOK_HEADERS)
    assert pox_error(response) == ErrorView(RESPONSE, 600, "Invalid Request")
    assert b"root:" not in response.content
    assert b"passwd" not in response.content


def test_billion_laughs_is_answered_fast(client: TestClient) -> None:
    start = time.perf_counter()
    response = client.post(XML_PATH, content=BILLION_LAUGHS)
    assert time.perf_counter() - start < 0.5
    assert pox_error(response) == ErrorView(RESPONSE, 600, "Invalid Request")
    assert b"lol" not in response.content


def test_the_cap_is_8_kib(client: TestClient) -> None:
    body = outlook_request(JEAN)
    exactly = client.post(XML_PATH, content=body + b" " * (MAX_BODY - len(body)))
    assert pox_answer(exactly) == paris_pox("jdupont", "Jean Dupont")
    over = client.post(XML_PATH, content=body + b" " * (MAX_BODY + 1 - len(body)))
    assert pox_error(over, 413) == ErrorView(RESPONSE, 600, "Invalid Request")


def test_four_mebibytes_with_content_length_is_413(client: TestClient) -> None:
    response = client.post(XML_PATH, content=b"<" * (4 * 1024 * 1024))
    assert pox_error(response, 413) == ErrorView(RESPONSE, 600, "Invalid Request")


def test_four_mebibytes_chunked_is_413(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(256):
            yield b"a" * (16 * 1024)

    response = client.post(XML_PATH, content=chunks())
    assert pox_error(response, 413) == ErrorView(RESPONSE, 600, "Invalid Request")
    # Really sent without a Content-Length: the cap is enforced on what arrives.
    assert "content-length" not in response.request.headers
    assert response.request.headers["transfer-encoding"] == "chunked"


def test_a_declared_length_over_the_cap_is_413_before_the_body(client: TestClient) -> None:
    # A small body that claims to be large: the claim alone is refused.
    response = client.post(XML_PATH, content=outlook_request(JEAN), headers={"Content-Length": "4194304"})
    assert pox_error(response, 413) == ErrorView(RESPONSE, 600, "Invalid Request")


def _call(app: Starlette, headers: list[tuple[bytes, bytes]], body: bytes) -> tuple[int, bytes, bytes]:
    """One request straight through the ASGI interface, with headers no HTTP client would send."""
    messages: list[Message] = []
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> Message:
        return pending.pop(0) if pending else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        messages.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": XML_PATH,
        "raw_path": XML_PATH.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8080),
    }
    asyncio.run(app(scope, receive, send))
    start = next(m for m in messages if m["type"] == "http.response.start")
    content_type = dict(start["headers"])[b"content-type"]
    return start["status"], content_type, b"".join(m.get("body", b"") for m in messages[1:])


@pytest.mark.parametrize("declared", [b"\xb2", b"\xb9\xb2", b"12x", b"-1", b"", b"1e3", b"9" * 40])
def test_odd_content_lengths_get_an_xml_answer(settings: Settings, declared: bytes) -> None:
    # Superscript digits are digits to str.isdigit() but not to int(): no 500, no traceback.
    body = outlook_request(JEAN)
    status, content_type, content = _call(
        create_app(settings), [(b"host", b"autoconfig.ac-paris.fr"), (b"content-length", declared)], body
    )
    assert content_type == b"application/xml"
    assert status == 413
    assert read_error(content) == ErrorView(RESPONSE, 600, "Invalid Request")


def test_other_methods_are_405(client: TestClient) -> None:
    for method in ("PUT", "DELETE", "PATCH"):
        response = client.request(method, XML_PATH, content=outlook_request(JEAN))
        assert response.status_code == 405
        assert {m.strip() for m in response.headers["allow"].split(",")} == {"GET", "HEAD", "POST"}
        assert response.headers["x-content-type-options"] == "nosniff"
        assert b"<Protocol>" not in response.content


# The client is function-scoped but holds no state between examples: every request stands alone.
@hypothesis_settings(
    max_examples=100,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    body=st.binary(max_size=600)
    | st.text(max_size=80).map(outlook_request)
    | st.text(max_size=70).map(lambda local: outlook_request(f"{local}@ac-paris.fr"))
)
def test_no_body_makes_a_500(client: TestClient, body: bytes) -> None:
    response = client.post(XML_PATH, content=body)
    assert response.status_code in {200, 404}
    check_pox_headers(response, response.status_code)
    if response.status_code == 404:
        assert read_error(response.content).code == 500
    elif b"<Protocol>" in response.content:
        view = read_pox(response.content)
        assert [p.server for p in view.protocols] == ["imap.ac-paris.fr", "smtp.ac-paris.fr"]
        assert all(p.login_name.strip() == p.login_name != "" for p in view.protocols)
    else:
        assert read_error(response.content).code in {600, 601}


# --- autodiscover.json -------------------------------------------------------------------------------


@pytest.mark.parametrize("path", JSON_PATHS)
@pytest.mark.parametrize("protocol", ["AutodiscoverV1", "autodiscoverv1", "AUTODISCOVERV1"])
def test_json_with_the_address_in_the_query(client: TestClient, path: str, protocol: str) -> None:
    response = client.get(path, params={"Email": JEAN, "Protocol": protocol})
    assert json_answer(response, 200) == SETTINGS_ANSWER
    assert response.content == (
        b'{"Protocol":"AutodiscoverV1","Url":"https://autoconfig.ac-paris.fr/Autodiscover/Autodiscover.xml"}'
    )
    assert response.headers["cache-control"] == "private, max-age=3600"


@pytest.mark.parametrize(
    "path", [f"{p}/v1.0/{JEAN}" for p in JSON_PATHS] + [f"/autodiscover/autodiscover.json/V1.0/{JEAN}"]
)
@pytest.mark.parametrize("key", ["Protocol", "protocol", "PROTOCOL"])
def test_json_with_the_address_in_the_path(client: TestClient, path: str, key: str) -> None:
    assert json_answer(client.get(path, params={key: "AutodiscoverV1"}), 200) == SETTINGS_ANSWER


def test_json_query_keys_in_any_casing(client: TestClient) -> None:
    for key in ("Email", "email", "EMAIL"):
        response = client.get(JSON_PATHS[0], params={key: JEAN, "protocol": "AutodiscoverV1"})
        assert json_answer(response, 200) == SETTINGS_ANSWER
    encoded = client.get(f"{JSON_PATHS[0]}/v1.0/jean.dupont%40ac-paris.fr?Protocol=AutodiscoverV1")
    assert json_answer(encoded, 200) == SETTINGS_ANSWER


def test_json_url_follows_the_settings(varied_client: TestClient) -> None:
    response = varied_client.get(
        JSON_PATHS[0], params={"Email": "ana@example-alias.fr", "Protocol": "AutodiscoverV1"}
    )
    assert json_answer(response, 200) == {
        "Protocol": "AutodiscoverV1",
        "Url": "https://autoconfig.example.org/mail/Autodiscover/Autodiscover.xml",
    }


@pytest.mark.parametrize(
    "protocol", [None, "", "ActiveSync", "Rest", "AutodiscoverV2", "AutodiscoverV1x", " AutodiscoverV1"]
)
@pytest.mark.parametrize("address_in", ["query", "path"])
def test_json_wrong_protocol_is_400(client: TestClient, protocol: str | None, address_in: str) -> None:
    params = {} if protocol is None else {"Protocol": protocol}
    if address_in == "query":
        response = client.get(JSON_PATHS[0], params={**params, "Email": JEAN})
    else:
        response = client.get(f"{JSON_PATHS[0]}/v1.0/{JEAN}", params=params)
    body = json_answer(response, 400)
    assert set(body) == {"ErrorCode", "ErrorMessage"}
    assert body["ErrorCode"] == "InvalidProtocol"
    assert "AutodiscoverV1" in body["ErrorMessage"]
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize(
    "address", ["", "jean.dupont", "jean..dupont@ac-paris.fr", "<b>@ac-paris.fr", "jean@localhost", "a" * 300]
)
def test_json_malformed_address_is_400(client: TestClient, address: str) -> None:
    response = client.get(JSON_PATHS[0], params={"Email": address, "Protocol": "AutodiscoverV1"})
    body = json_answer(response, 400)
    assert body["ErrorCode"] == "InvalidEmailAddress"
    assert body["ErrorMessage"].endswith(".")
    assert "<" not in body["ErrorMessage"]
    assert not address or address[:6] not in body["ErrorMessage"]


def test_json_missing_address_is_400(client: TestClient) -> None:
    body = json_answer(client.get(JSON_PATHS[0], params={"Protocol": "AutodiscoverV1"}), 400)
    assert body == {"ErrorCode": "InvalidEmailAddress", "ErrorMessage": "The address is empty."}


@pytest.mark.parametrize("form", ["query", "path"])
def test_json_unknown_domain_is_404(client: TestClient, form: str) -> None:
    address = "jean.dupont@example.org"
    if form == "query":
        response = client.get(JSON_PATHS[0], params={"Email": address, "Protocol": "AutodiscoverV1"})
    else:
        response = client.get(f"{JSON_PATHS[1]}/v1.0/{address}", params={"Protocol": "AutodiscoverV1"})
    assert json_answer(response, 404) == {"ErrorCode": "UnknownDomain", "ErrorMessage": UNKNOWN_DOMAIN}


def test_every_answer_is_xml_or_json_with_nosniff(client: TestClient) -> None:
    xml = [
        client.post(XML_PATH, content=outlook_request(JEAN)),
        client.post(XML_PATH, content=b"<"),
        client.post(XML_PATH, content=outlook_request("x@example.org")),
        client.post(XML_PATH, content=b"a" * (MAX_BODY + 1)),
        client.get(XML_PATHS[3]),
    ]
    answers = [
        client.get(JSON_PATHS[0], params={"Email": JEAN, "Protocol": "AutodiscoverV1"}),
        client.get(JSON_PATHS[0], params={"Email": JEAN}),
        client.get(JSON_PATHS[0], params={"Email": "x", "Protocol": "AutodiscoverV1"}),
        client.get(JSON_PATHS[0], params={"Email": "x@example.org", "Protocol": "AutodiscoverV1"}),
    ]
    for response in xml:
        assert response.headers["content-type"] == "application/xml"
        assert response.content.startswith(b"<?xml ")
    for response in answers:
        assert response.headers["content-type"] == "application/json"
        json.loads(response.content)
    for response in xml + answers:
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"
