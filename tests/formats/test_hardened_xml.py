"""The one parser for XML from outside, fed what an attacker would send: what comes out is the outcome
checked, not the parser's settings."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from lxml import etree

from autoconfig.formats import hardened_xml
from autoconfig.formats.importer import ImportFormatError, import_clientconfig
from autoconfig.formats.outlook import INVALID_REQUEST, PoxError, parse_request
from autoconfig.probe.chains import UnusableAnswerError
from autoconfig.probe.thunderbird import parse_clientconfig

SECRET = "s3cr3t-never-to-be-read"  # noqa: S105 - what an attacker would want read, not a password
LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE r ['
    b'<!ENTITY a "aaaaaaaaaa">'
    + b"".join(f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">'.encode() for i in range(8))
    + b"]><r>&i;</r>"
)
# Under libxml2's amplification cap: parsed, and must still not be expanded.
FEW_LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">'
    b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;">]><r>&c;</r>'
)


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "secret.txt"
    path.write_text(SECRET, encoding="utf-8")
    return path


class _Recorder(http.server.BaseHTTPRequestHandler):
    asked: list[str]

    def do_GET(self) -> None:
        self.asked.append(self.path)
        body = f'<!ENTITY x "{SECRET}">'.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def dtd_server() -> Iterator[tuple[str, list[str]]]:
    """A real HTTP server on loopback that serves a DTD and records whether anyone asked for it."""
    asked: list[str] = []
    handler = type("Handler", (_Recorder,), {"asked": asked})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/evil.dtd", asked
    finally:
        server.shutdown()
        server.server_close()


def _everything(root: etree._Element) -> bytes:
    return etree.tostring(root.getroottree())


def test_an_external_entity_is_never_read(secret_file: Path) -> None:
    document = (
        f'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "{secret_file.as_uri()}">]><r>&x;</r>'
    ).encode()
    root = hardened_xml.parse(document)
    assert SECRET.encode() not in _everything(root)
    assert not root.text
    assert hardened_xml.declares_dtd(root)


def test_billion_laughs_is_refused() -> None:
    # Expanded, &i; would be 10^9 characters: libxml2 stops at the declarations already.
    with pytest.raises(etree.XMLSyntaxError, match="amplification"):
        hardened_xml.parse(LAUGHS)


def test_a_few_laughs_stay_unexpanded() -> None:
    root = hardened_xml.parse(FEW_LAUGHS)
    assert len(_everything(root)) < 2 * len(FEW_LAUGHS)
    assert "aaaaaaaaaa" not in "".join(str(text) for text in root.itertext())


def test_an_external_dtd_is_never_fetched(dtd_server: tuple[str, list[str]]) -> None:
    url, asked = dtd_server
    root = hardened_xml.parse(f'<?xml version="1.0"?><!DOCTYPE r SYSTEM "{url}"><r>&x;</r>'.encode())
    assert asked == []
    assert SECRET.encode() not in _everything(root)
    parameter_entity = f'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY % p SYSTEM "{url}"> %p;]><r>&x;</r>'
    root = hardened_xml.parse(parameter_entity.encode())
    assert asked == []
    assert SECRET.encode() not in _everything(root)


def test_a_local_dtd_is_never_read(tmp_path: Path) -> None:
    dtd = tmp_path / "evil.dtd"
    dtd.write_text(f'<!ENTITY x "{SECRET}">', encoding="utf-8")
    for document in (
        f'<?xml version="1.0"?><!DOCTYPE r SYSTEM "{dtd.as_uri()}"><r>&x;</r>',
        f'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY % p SYSTEM "{dtd.as_uri()}"> %p;]><r>&x;</r>',
    ):
        root = hardened_xml.parse(document.encode())
        assert SECRET.encode() not in _everything(root)
        assert hardened_xml.declares_dtd(root)


def test_a_huge_text_node_is_refused() -> None:
    with pytest.raises(etree.XMLSyntaxError, match="Text node too long"):
        hardened_xml.parse(b"<r>" + b"a" * 10_000_001 + b"</r>")


def test_a_document_nested_past_libxml2s_depth_is_refused() -> None:
    with pytest.raises(etree.XMLSyntaxError, match="depth"):
        hardened_xml.parse(b"<a>" * 5000 + b"</a>" * 5000)


def test_comments_and_processing_instructions_are_dropped_and_the_text_joined() -> None:
    root = hardened_xml.parse(
        b'<?xml version="1.0"?><?evil x?><!-- a --><r>imap.<!-- b -->example.org<?pi y?></r><!-- c -->'
    )
    # Thunderbird and Thunderbird for Android read "imap.example.org" here; so does the probe now.
    assert root.text == "imap.example.org"
    assert len(root) == 0
    assert _everything(root) == b"<r>imap.example.org</r>"


def test_the_readers_refuse_or_neutralise_the_same_inputs(secret_file: Path) -> None:
    with pytest.raises(PoxError) as refused:
        parse_request(FEW_LAUGHS)
    assert refused.value.code == INVALID_REQUEST
    assert "document type" in refused.value.reason
    with pytest.raises(ImportFormatError, match="DTD"):
        import_clientconfig(FEW_LAUGHS.replace(b"<r>&c;</r>", b"<clientConfig/>"))
    xxe = (
        f'<?xml version="1.0"?><!DOCTYPE clientConfig [<!ENTITY x SYSTEM "{secret_file.as_uri()}">]>'
        "<clientConfig><emailProvider id='a'><domain>&x;</domain></emailProvider></clientConfig>"
    )
    # The probe reads on: the entity is read as nothing, as a client that refuses external entities does.
    assert parse_clientconfig(xxe.encode()).domains == ("",)
    with pytest.raises(UnusableAnswerError, match="external entity") as unread:
        parse_clientconfig(xxe.replace("id='a'", "id='&x;'").encode())  # XML forbids it in an attribute
    assert SECRET not in str(unread.value)
