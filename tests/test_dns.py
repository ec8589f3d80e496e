"""dns.py: the records each domain publishes, for both bundled profiles and a file that uses every
feature; the zone lines parse as a zone file's, and the JSON says the same as the zone."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from autoconfig.formats.dns import MAIL_SERVICES, TTL, dns_records, render_json, render_zone
from autoconfig.paths import profiles_dir
from autoconfig.settings import Settings, load_settings

SERVICE = "autoconfig.ac-paris.fr."


@dataclass(frozen=True)
class ZoneLine:
    name: str
    ttl: int
    type: str
    data: str


def _without_comment(line: str) -> str:
    """The line up to its `;` comment, a `;` inside a quoted string being data."""
    quoted = False
    for index, char in enumerate(line):
        if char == '"':
            quoted = not quoted
        elif char == ";" and not quoted:
            return line[:index]
    return line


def parse_zone(text: str) -> tuple[list[ZoneLine], list[str]]:
    """A zone file's records (name, ttl, IN, type, data) and its comment-only lines, strictly:
    every line that is not blank or a comment must have the five fields."""
    records: list[ZoneLine] = []
    comments: list[str] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        if line.lstrip().startswith(";"):
            comments.append(line.lstrip()[1:].strip())
            continue
        fields = _without_comment(line).split(None, 4)
        assert len(fields) == 5, line
        name, ttl, klass, kind, data = fields
        assert klass == "IN", line
        assert name.endswith("."), line  # fully qualified: no $ORIGIN to add
        records.append(ZoneLine(name, int(ttl), kind, data.strip()))
    return records, comments


def check_record_data(record: ZoneLine) -> None:
    """What each type's data must look like in a zone file."""
    if record.type == "CNAME":
        assert record.data.endswith("."), record
        assert record.data != record.name, record  # a CNAME to itself loops
    elif record.type == "SRV":
        priority, weight, port, target = record.data.split()
        assert 0 <= int(priority) <= 65535
        assert 0 <= int(weight) <= 65535
        assert 0 <= int(port) <= 65535
        assert target.endswith("."), record
        if target == ".":
            assert (priority, weight, port) == ("0", "0", "0"), record  # RFC 6186 §3.4: not offered
        else:
            assert int(port) > 0, record
        assert record.name.startswith("_"), record
        assert "._tcp." in record.name, record
    elif record.type == "TXT":
        assert record.data.startswith('"'), record
        assert record.data.endswith('"'), record
        assert json.loads(record.data).startswith("path=/"), record
    else:
        pytest.fail(f"unexpected record type {record.type}")


def check_json_matches_zone(zone: str, document: str) -> None:
    """Every JSON record is in the zone, as a record or (for the service's own name) as a comment."""
    records, comments = parse_zone(zone)
    items: list[dict[str, Any]] = json.loads(document)
    pasted = [item for item in items if item["type"] != "A/AAAA"]
    assert [ZoneLine(i["name"], i["ttl"], i["type"], i["data"]) for i in pasted] == records
    assert [f"{i['name']} {i['comment']}" for i in items if i["type"] == "A/AAAA"] == comments
    assert {frozenset(item) for item in items} == {frozenset({"name", "type", "data", "comment", "ttl"})}


def by_name(records: list[ZoneLine]) -> dict[tuple[str, str], list[str]]:
    found: dict[tuple[str, str], list[str]] = {}
    for record in records:
        found.setdefault((record.name, record.type), []).append(record.data)
    return found


def profile(name: str) -> Settings:
    return load_settings(profiles_dir() / name)


def zone_of(settings: Settings) -> tuple[list[ZoneLine], list[str]]:
    return parse_zone(render_zone(dns_records(settings)))


# --- the bundled profiles ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["ac-paris.toml", "ile-de-france.toml"])
def test_every_domain_gets_every_record(name: str) -> None:
    settings = profile(name)
    records, comments = zone_of(settings)
    found = by_name(records)
    for record in records:
        assert record.ttl == TTL
        check_record_data(record)
    domains = [d for p in settings.providers for d in (*p.domains, *p.aliases)]
    assert len(domains) >= 1
    for domain in domains:
        for label in ("autoconfig", "autodiscover"):
            name_ = f"{label}.{domain}."
            if name_ == SERVICE:
                # The service's own name: a note to give it addresses, not a record to paste.
                assert (name_, "CNAME") not in found
                assert any(c.startswith(f"{name_} ") and "A and AAAA" in c for c in comments)
            else:
                assert found[(name_, "CNAME")] == [SERVICE]
        assert found[(f"_autodiscover._tcp.{domain}.", "SRV")] == [f"0 0 443 {SERVICE}"]
        for label, _, _ in MAIL_SERVICES:
            assert (f"{label}._tcp.{domain}.", "SRV") in found, (domain, label)
    check_json_matches_zone(render_zone(dns_records(settings)), render_json(dns_records(settings)))


def test_ac_paris_records() -> None:
    records, comments = zone_of(profile("ac-paris.toml"))
    found = by_name(records)
    assert comments == [
        f"{SERVICE} is the service's own name: give it A and AAAA records (a CNAME to itself would loop)"
    ]
    assert found[("autodiscover.ac-paris.fr.", "CNAME")] == [SERVICE]
    assert found[("_imap._tcp.ac-paris.fr.", "SRV")] == ["0 1 143 imap.ac-paris.fr."]
    assert found[("_submission._tcp.ac-paris.fr.", "SRV")] == ["0 1 587 smtp.ac-paris.fr."]
    for label in ("_imaps", "_pop3", "_pop3s", "_submissions"):
        assert found[(f"{label}._tcp.ac-paris.fr.", "SRV")] == ["0 0 0 ."], label
    # The calendar is configured: RFC 6764 SRV and its path.
    assert found[("_caldavs._tcp.ac-paris.fr.", "SRV")] == ["0 1 443 agenda.ac-paris.fr."]
    assert found[("_caldavs._tcp.ac-paris.fr.", "TXT")] == ['"path=/dav/"']
    # No address book is configured: nothing for it.
    assert not any("carddav" in record.name for record in records)
    assert len(records) == 1 + 1 + 6 + 2  # autodiscover CNAME, its SRV, six mail SRV, CalDAV SRV + TXT


def test_ile_de_france_records() -> None:
    records, comments = zone_of(profile("ile-de-france.toml"))
    found = by_name(records)
    assert len(comments) == 1  # autoconfig.ac-paris.fr is the service itself
    assert found[("autoconfig.ac-creteil.fr.", "CNAME")] == [SERVICE]
    assert found[("autoconfig.ac-versailles.fr.", "CNAME")] == [SERVICE]
    assert found[("_imaps._tcp.ac-creteil.fr.", "SRV")] == ["0 1 993 imap.ac-creteil.fr."]
    assert found[("_imap._tcp.ac-creteil.fr.", "SRV")] == ["0 0 0 ."]
    assert found[("_submissions._tcp.ac-creteil.fr.", "SRV")] == ["0 1 465 smtp.ac-creteil.fr."]
    assert found[("_submission._tcp.ac-creteil.fr.", "SRV")] == ["0 0 0 ."]
    assert found[("_imap._tcp.ac-versailles.fr.", "SRV")] == ["0 1 143 imap.ac-versailles.fr."]
    # No provider here has a calendar: no DAV records at all.
    assert not any("dav" in record.name for record in records)
    assert len({r.name.split("._tcp.")[-1] for r in records if "._tcp." in r.name}) == 3


# --- a file with aliases, several servers, DAV, and the service at autodiscover.<domain> ------------------

RICH = """
[service]
public_url = "https://autodiscover.example.org:8443"

[[providers]]
id = "example.org"
name = "Example"
domains = ["example.org"]
aliases = ["example.net"]

[[providers.incoming]]
protocol = "imap"
host = "imap.%EMAILDOMAIN%"
port = 993
security = "tls"

[[providers.incoming]]
protocol = "imap"
host = "imap-legacy.example.org"
port = 143
security = "starttls"

[[providers.incoming]]
protocol = "pop3"
host = "pop.example.org"
port = 110
security = "none"

[[providers.outgoing]]
host = "smtp.example.org"
port = 465
security = "tls"

[[providers.outgoing]]
host = "smtp2.example.org"
port = 465
security = "tls"

[providers.calendar]
url = "https://dav.example.org/cal/"

[providers.contacts]
url = "http://dav.example.org:8008/card/"
"""


@pytest.fixture
def rich(write_settings: Callable[[str], Path]) -> Settings:
    return load_settings(write_settings(RICH))


def test_every_feature(rich: Settings) -> None:
    zone = render_zone(dns_records(rich))
    records, comments = parse_zone(zone)
    for record in records:
        check_record_data(record)
    found = by_name(records)
    service = "autodiscover.example.org."
    for domain in ("example.org", "example.net"):
        assert found[(f"autoconfig.{domain}.", "CNAME")] == [service]
        # Outlook goes to https://target:port/ from the SRV record: the public URL's port.
        assert found[(f"_autodiscover._tcp.{domain}.", "SRV")] == [f"0 0 8443 {service}"]
        assert found[(f"_imap._tcp.{domain}.", "SRV")] == ["0 1 143 imap-legacy.example.org."]
        # %EMAILDOMAIN% in a host is the domain the record is for.
        assert found[(f"_imaps._tcp.{domain}.", "SRV")] == [f"0 1 993 imap.{domain}."]
        assert found[(f"_pop3._tcp.{domain}.", "SRV")] == ["0 1 110 pop.example.org."]  # "none": same port
        assert found[(f"_pop3s._tcp.{domain}.", "SRV")] == ["0 0 0 ."]
        assert found[(f"_submission._tcp.{domain}.", "SRV")] == ["0 0 0 ."]
        # Several servers: in the settings' order of preference.
        assert found[(f"_submissions._tcp.{domain}.", "SRV")] == [
            "0 1 465 smtp.example.org.",
            "10 1 465 smtp2.example.org.",
        ]
        assert found[(f"_caldavs._tcp.{domain}.", "SRV")] == ["0 1 443 dav.example.org."]
        assert found[(f"_caldavs._tcp.{domain}.", "TXT")] == ['"path=/cal/"']
        assert found[(f"_carddav._tcp.{domain}.", "SRV")] == ["0 1 8008 dav.example.org."]
        assert found[(f"_carddav._tcp.{domain}.", "TXT")] == ['"path=/card/"']
    # The service's own name is autodiscover.example.org: a note, and a CNAME for the alias's name.
    assert (service, "CNAME") not in found
    assert [c.split()[0] for c in comments] == [service]
    assert found[("autodiscover.example.net.", "CNAME")] == [service]
    check_json_matches_zone(zone, render_json(dns_records(rich)))


def test_the_order_is_stable(rich: Settings) -> None:
    assert render_zone(dns_records(rich)) == render_zone(dns_records(rich))
    names = [r.name for r in dns_records(rich)]
    first_alias = names.index("autoconfig.example.net.")
    assert all(name.endswith("example.org.") for name in names[:first_alias])
    assert all(name.endswith("example.net.") for name in names[first_alias:])


def test_the_zone_parser_refuses_what_a_zone_would_refuse() -> None:
    with pytest.raises(AssertionError):
        parse_zone("autoconfig.example.org 3600 IN CNAME x.example.org.\n")  # not fully qualified
    with pytest.raises(AssertionError):
        parse_zone("autoconfig.example.org. 3600 CNAME x.example.org.\n")  # no class
    with pytest.raises(ValueError, match="invalid literal"):
        parse_zone("autoconfig.example.org. ttl IN CNAME x.example.org.\n")
    records, comments = parse_zone('; note\n_x._tcp.a. 60 IN TXT "path=/;x"  ; comment\n')
    assert records == [ZoneLine("_x._tcp.a.", 60, "TXT", '"path=/;x"')]
    assert comments == ["note"]
