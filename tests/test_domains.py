"""domains.py: what people type -> the ASCII names servers compare, and back."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from autoconfig.domains import (
    MAX_NAME,
    DomainNameError,
    host_from_header,
    to_ascii_domain,
    to_ascii_host,
    to_unicode_domain,
)

NAME_253 = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 61])
assert len(NAME_253) == MAX_NAME


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("ac-paris.fr", "ac-paris.fr"),
        ("AC-Paris.FR", "ac-paris.fr"),
        ("ac-paris.fr.", "ac-paris.fr"),
        ("  ac-paris.fr\t", "ac-paris.fr"),
        ("a.b.c.d.example.org", "a.b.c.d.example.org"),
        ("123.example.org", "123.example.org"),
        ("x1.fr", "x1.fr"),
        ("a" * 63 + ".fr", "a" * 63 + ".fr"),
        (NAME_253, NAME_253),
        (NAME_253 + ".", NAME_253),
        ("exämple.fr", "xn--exmple-cua.fr"),
        ("Exämple.FR.", "xn--exmple-cua.fr"),
        ("EXÄMPLE.FR", "xn--exmple-cua.fr"),
        ("exa\u0308mple.fr", "xn--exmple-cua.fr"),  # decomposed ä
        ("XN--EXMPLE-CUA.FR", "xn--exmple-cua.fr"),
        ("exämple\u3002fr", "xn--exmple-cua.fr"),  # IDEOGRAPHIC FULL STOP
        ("\uff25\uff38\uff21\uff2d\uff30\uff2c\uff25.fr", "example.fr"),  # fullwidth letters
        ("faß.de", "xn--fa-hia.de"),  # IDNA 2008: ß is kept, not mapped to ss
        ("académie-paris.fr", "xn--acadmie-paris-ehb.fr"),
        ("münchen.de", "xn--mnchen-3ya.de"),
        ("пример.рф", "xn--e1afmkfd.xn--p1ai"),
        ("例え.jp", "xn--r8jz45g.jp"),
    ],
)
def test_to_ascii_domain(value: str, expected: str) -> None:
    assert to_ascii_domain(value) == expected


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("", "the name is empty"),
        ("   ", "the name is empty"),
        (".", "the name is empty"),
        ("localhost", "it has no dot"),
        ("fr", "it has no dot"),
        ("exämple", "it has no dot"),
        ("[::1]", "it has no dot"),
        ("ac..fr", "is not a DNS label"),
        (".ac-paris.fr", "is not a DNS label"),
        ("ac-paris.fr..", "is not a DNS label"),
        ("-ac.fr", "is not a DNS label"),
        ("ac-.fr", "is not a DNS label"),
        ("ac_paris.fr", "is not a DNS label"),
        ("ac paris.fr", "is not a DNS label"),
        ("ac-paris.fr:443", "is not a DNS label"),
        ("ac-paris.fr/", "is not a DNS label"),
        ("user@ac-paris.fr", "is not a DNS label"),
        ("<b>.fr", "is not a DNS label"),
        ("a" * 64 + ".fr", "is not a DNS label"),
        (NAME_253 + "d", f"is {MAX_NAME + 1} characters long"),
        ("1.2.3.4", "its last part is a number"),
        ("example.123", "its last part is a number"),
        ("☃.fr", "not a valid internationalised domain name"),
        ("exämple..fr", "not a valid internationalised domain name"),
        ("é" * 60 + ".fr", "not a valid internationalised domain name"),
        ("-exämple.fr", "not a valid internationalised domain name"),
    ],
)
def test_to_ascii_domain_refuses(value: str, reason: str) -> None:
    with pytest.raises(DomainNameError) as caught:
        to_ascii_domain(value)
    assert reason in str(caught.value)
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    ("ascii_name", "expected"),
    [
        ("xn--exmple-cua.fr", "exämple.fr"),
        ("xn--fa-hia.de", "faß.de"),
        ("xn--e1afmkfd.xn--p1ai", "пример.рф"),
        ("ac-paris.fr", "ac-paris.fr"),
        # not valid punycode: shown as it is rather than failing
        ("xn--zz.fr", "xn--zz.fr"),
        ("xn--.fr", "xn--.fr"),
        ("xn---.fr", "xn---.fr"),
    ],
)
def test_to_unicode_domain(ascii_name: str, expected: str) -> None:
    assert to_unicode_domain(ascii_name) == expected


@pytest.mark.parametrize(
    "name", ["exämple.fr", "académie-paris.fr", "münchen.de", "пример.рф", "例え.jp", "ac-paris.fr"]
)
def test_unicode_round_trip(name: str) -> None:
    assert to_unicode_domain(to_ascii_domain(name)) == name
    assert to_ascii_domain(to_unicode_domain(to_ascii_domain(name))) == to_ascii_domain(name)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("imap.ac-paris.fr", "imap.ac-paris.fr"),
        ("IMAP.AC-PARIS.FR.", "imap.ac-paris.fr"),
        ("mäil.exämple.fr", "xn--mil-qla.xn--exmple-cua.fr"),
        ("192.0.2.1", "192.0.2.1"),
        (" 192.0.2.1 ", "192.0.2.1"),
        ("::1", "::1"),
        ("[::1]", "::1"),
        ("2001:DB8::1", "2001:db8::1"),
        ("[2001:db8:0:0:0:0:0:1]", "2001:db8::1"),
        ("::ffff:192.0.2.1", "::ffff:c000:201"),
    ],
)
def test_to_ascii_host(value: str, expected: str) -> None:
    assert to_ascii_host(value) == expected


@pytest.mark.parametrize(
    "value", ["", "imap", "256.1.1.1", "1.2.3", "imap.ac-paris.fr:993", "[imap.fr]", "::g"]
)
def test_to_ascii_host_refuses(value: str) -> None:
    with pytest.raises(DomainNameError):
        to_ascii_host(value)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("ac-paris.fr", "ac-paris.fr"),
        ("autoconfig.ac-paris.fr", "autoconfig.ac-paris.fr"),
        ("AC-PARIS.FR:443", "ac-paris.fr"),
        ("autoconfig.ac-paris.fr:8080", "autoconfig.ac-paris.fr"),
        ("autoconfig.ac-paris.fr.", "autoconfig.ac-paris.fr"),
        ("autoconfig.ac-paris.fr.:443", "autoconfig.ac-paris.fr"),
        (" ac-paris.fr ", "ac-paris.fr"),
        ("exämple.fr:8080", "xn--exmple-cua.fr"),
        ("autoconfig.xn--exmple-cua.fr", "autoconfig.xn--exmple-cua.fr"),
        ("[::1]", None),
        ("[::1]:8443", None),
        ("[2001:db8::1]", None),
        ("::1", None),
        ("2001:db8::1", None),
        ("127.0.0.1", None),
        ("127.0.0.1:8000", None),
        ("", None),
        ("   ", None),
        ("localhost", None),
        ("localhost:8000", None),
        ("ac-paris.fr:443:80", None),
        ("ac paris.fr", None),
        ("ac-paris.fr/evil", None),
        ("user@ac-paris.fr", None),
        ("<script>", None),
        ("☃.fr", None),
        ("a" * 64 + ".fr", None),
    ],
)
def test_host_from_header(header: str, expected: str | None) -> None:
    assert host_from_header(header) == expected


@hypothesis_settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_domain_functions_fail_only_with_domain_name_error(value: str) -> None:
    try:
        ascii_name = to_ascii_domain(value)
    except DomainNameError as exc:  # any other exception fails the test
        reason = str(exc)
    else:
        reason = ""
        assert ascii_name.isascii()
        assert ascii_name == ascii_name.lower()
        assert len(ascii_name) <= MAX_NAME
        assert to_ascii_domain(ascii_name) == ascii_name  # idempotent
    assert reason or ascii_name
    header = host_from_header(value)
    assert header is None or (header.isascii() and ":" not in header and "[" not in header)
    assert isinstance(to_unicode_domain(value), str)
