"""formats/dns.py: the records each domain publishes, for both bundled profiles and settings that use
every feature; the zone lines parse as a zone file's, and the JSON says the same as the zone."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from autoconfig.formats.dns import (
    MAIL_SERVICES,
    TTL,
    customer_records,
    dns_records,
    render_json,
    render_zone,
)
from autoconfig.formats.pacc import pacc_document
from autoconfig.paths import profiles_dir
from autoconfig.settings import Settings, load_settings
from tests.helpers.dns import RICH, ZoneLine, check_json_matches_zone, check_record_data, parse_zone

SERVICE = "autoconfig.ac-paris.fr."


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
    assert comments[0] == (
        f"{SERVICE} is the service's own name: give it A and AAAA records (a CNAME to itself would loop)"
    )
    # STARTTLS on 143 and 587, which PACC cannot describe: no document, and a note saying what it needs.
    assert comments[1].startswith("_ua-auto-config.ac-paris.fr. no PACC document: ")
    assert "offer IMAP on 993 and submission on 465" in comments[1]
    assert len(comments) == 2
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
    # autoconfig.ac-paris.fr is the service itself; Paris and Versailles offer STARTTLS only (no PACC).
    assert [c.split()[0] for c in comments] == [
        SERVICE,
        "_ua-auto-config.ac-paris.fr.",
        "_ua-auto-config.ac-versailles.fr.",
    ]
    # Créteil offers implicit TLS on 993 and 465: its PACC document and the record of its digest.
    assert found[("ua-auto-config.ac-creteil.fr.", "CNAME")] == [SERVICE]
    [txt] = found[("_ua-auto-config.ac-creteil.fr.", "TXT")]
    assert txt.startswith('"v=UAAC1; a=sha256; d=')
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


@pytest.fixture
def rich(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(RICH)


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
        # Implicit TLS on 993 and 465: a PACC document, and the digest of exactly the bytes served.
        assert found[(f"ua-auto-config.{domain}.", "CNAME")] == [service]
        document = pacc_document(rich.providers[0], domain)
        assert found[(f"_ua-auto-config.{domain}.", "TXT")] == [json.dumps(document.txt_record)]
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


# --- a hoster (profiles/hoster.toml) -------------------------------------------------------------------


def test_a_hoster_gets_its_mx_path_records_and_its_customers_apart() -> None:
    settings = profile("hoster.toml")
    records = dns_records(settings)
    zone, as_json = render_zone(records), render_json(records)
    parsed, comments = parse_zone(zone)
    for record in parsed:
        check_record_data(record)
    found = by_name(parsed)
    # Thunderbird's MX path: autoconfig.<MX host less its first label>; its registrable domain is the
    # hoster's own, whose records come with the domain.
    assert found[("autoconfig.mail.hoster.example.", "CNAME")] == ["autoconfig.hoster.example."]
    assert found[("autodiscover.hoster.example.", "CNAME")] == ["autoconfig.hoster.example."]
    certificate = next(c for c in comments if "certificate:" in c)
    for name in (
        "autoconfig.hoster.example",
        "autodiscover.hoster.example",
        "autoconfig.mail.hoster.example",
    ):
        assert f"-d {name}" in certificate
    # What a customer domain adds is a comment in the hoster's zone, never a line of it.
    assert not any("<customer>" in r.name for r in parsed)
    srv = "_autodiscover._tcp.<customer>."
    assert any(c.startswith(f"a customer domain may add: {srv}") for c in comments)
    assert any(c.startswith("<customer>. its MX must name mx1.mail.hoster.example") for c in comments)
    items = json.loads(as_json)
    parts = {item["name"]: item.get("part") for item in items}
    assert parts[srv] == "customer"
    assert parts["autoconfig.mail.hoster.example."] == "hosting"
    assert parts["autodiscover.hoster.example."] is None  # the domain's own: as without hosting
    # The JSON says what the zone says: its own records as lines, the customer's apart.
    own = [{k: v for k, v in item.items() if k != "part"} for item in items if item.get("part") != "customer"]
    own_zone = "\n".join(line for line in zone.splitlines() if "<customer>" not in line) + "\n"
    check_json_matches_zone(own_zone, json.dumps(own))
    customer = [item for item in items if item.get("part") == "customer" and item["type"] == "SRV"]
    # Each commented customer line is a whole zone line once uncommented, the same as its JSON record.
    lines = [c.removeprefix("a customer domain may add: ") for c in comments if c.startswith("a customer")]
    assert parse_zone("\n".join(lines))[0] == [
        ZoneLine(i["name"], i["ttl"], i["type"], i["data"]) for i in customer
    ]


def test_the_records_of_settings_without_hosting_have_no_part() -> None:
    for name in ("ac-paris.toml", "ile-de-france.toml"):
        items = json.loads(render_json(dns_records(profile(name))))
        assert all("part" not in item for item in items)
        assert all(not r.part for r in dns_records(profile(name)))


def test_a_customer_domain_gets_its_own_lines() -> None:
    settings = profile("hoster.toml")
    records = customer_records(
        settings.hosting_providers[0], "autoconfig.hoster.example", 443, "customer.example"
    )
    parsed, comments = parse_zone(render_zone(records))
    assert parsed == [
        ZoneLine("_autodiscover._tcp.customer.example.", TTL, "SRV", "0 0 443 autoconfig.hoster.example.")
    ]
    assert comments[0].startswith("customer.example. its MX must name mx1.mail.hoster.example or mx2")
