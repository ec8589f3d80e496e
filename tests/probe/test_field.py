"""`autoconfig probe` against what the field gets wrong beside the service: an AAAA record that leads
nowhere or to another server, and an organisation's main site that answers Thunderbird's autodiscover
POST with 401, hangs, or passes it on case-sensitively. One nginx serves every fault, each on its own
port (tests/helpers/probe_lab.py, FIELD_FAULTS); DNS and the service are the lab's."""

from __future__ import annotations

import base64
import time

from autoconfig.probe.mainsite import DUMMY_PASSWORD, basic_authorization
from tests.helpers.probe_lab import NAMES, Field, Lab, by_step, lines

ORG = "jean.dupont@example.org"
NET = "jean.dupont@example.net"
ORG_NAMES = ("autoconfig.example.org", "example.org", "autodiscover.example.org", "dav.example.org")
MAIN_SITE_FIX = "pass /autodiscover/autodiscover.xml of https://example.org to this service"


def test_the_healthy_lab_passes_each_family_and_the_main_site(lab: Lab) -> None:
    found = by_step(lab.healthy.results(ORG))
    for host in ORG_NAMES:
        assert found[("https", f"{host} IPv4")]["detail"].startswith("127.0.0.1: "), host
        assert found[("https", f"{host} IPv6")]["detail"].startswith("::1: "), host
        assert found[("https", f"{host} IPv6")]["status"] == "pass", host
    exchange = found[("thunderbird", "exchange-domain")]
    assert exchange["status"] == "pass"
    assert exchange["detail"].startswith("HTTP 200 within 1 s, ")
    assert "the service's answer (IMAP imap.example.org:143 STARTTLS" in exchange["detail"]
    assert exchange["url"] == "https://example.org/autodiscover/autodiscover.xml"
    casing = found[("outlook", "pox-domain-casing")]
    assert (casing["status"], casing["url"]) == ("pass", "https://example.org/Autodiscover/Autodiscover.xml")


def test_the_probe_never_sends_a_password() -> None:
    scheme, _, token = basic_authorization(ORG).partition(" ")
    assert scheme == "Basic"
    assert base64.b64decode(token).decode() == f"{ORG}:{DUMMY_PASSWORD}"
    assert "not-a-password" in DUMMY_PASSWORD


def test_an_aaaa_record_where_nothing_answers_fails_per_name(field: Field) -> None:
    deployment = field.at("ipv6-down")
    result = deployment.probe(ORG)
    found = by_step(deployment.results(ORG))
    assert result.returncode == 1, result.stdout
    for host in ORG_NAMES:
        assert found[("https", f"{host} IPv4")]["status"] == "pass", host
        ipv6 = found[("https", f"{host} IPv6")]
        # The main site only slows clients down; the service's names leave IPv6 people without settings.
        assert ipv6["status"] == ("warn" if host == "example.org" else "fail"), host
        assert ipv6["detail"].startswith("::1: "), ipv6
        assert "connection refused" in ipv6["detail"]
        assert f"people whose network prefers IPv6 cannot reach {host}" in ipv6["detail"]
        assert ipv6["fix"].startswith(f"correct the AAAA record of {host} to the web server's address")
        assert "listen on [::1]:443" in ipv6["fix"]
    # Over IPv4, which the other checks use, everything works: only the family lines can tell.
    assert [line for line in lines(result.stdout, "FAIL") if " IPv6 " not in line] == []
    text = result.stdout.splitlines()
    index = next(i for i, line in enumerate(text) if "autoconfig.example.org IPv6" in line)
    assert text[index + 1].strip().startswith("fix: correct the AAAA record of autoconfig.example.org")


def test_an_aaaa_record_leading_to_another_server_is_found(field: Field) -> None:
    found = by_step(field.at("ipv6-other").results(ORG))
    ipv6 = found[("https", "autodiscover.example.org IPv6")]
    assert ipv6["status"] == "fail"
    assert "certificate is not valid for 'autodiscover.example.org'" in ipv6["detail"]
    assert "(it names old.example.org;" in ipv6["detail"]
    assert ipv6["fix"].startswith("correct the AAAA record of autodiscover.example.org")
    assert "give it a certificate that names autodiscover.example.org" in ipv6["fix"]
    assert found[("https", "autodiscover.example.org IPv4")]["status"] == "pass"
    others = [r for r in found.values() if r["step"].endswith(" IPv6") and r is not ipv6]
    assert {r["status"] for r in others} == {"pass"}


def test_a_main_site_answering_401_is_an_error(field: Field) -> None:
    deployment = field.at("main-401")
    result = deployment.probe(ORG)
    found = by_step(deployment.results(ORG))
    assert result.returncode == 1, result.stdout
    exchange = found[("thunderbird", "exchange-domain")]
    assert exchange["status"] == "fail"
    assert exchange["detail"].startswith("HTTP 401 within 1 s ")
    assert 'Basic realm="Intranet"' in exchange["detail"]
    assert '"Exchange auth error"' in exchange["detail"]
    assert exchange["fix"].startswith(MAIN_SITE_FIX)
    assert "case-insensitively" in exchange["fix"]
    # Thunderbird still ends up right here (autoconfig.example.org answers): the failure is the main site's.
    assert found[("thunderbird", "result")]["status"] == "pass"
    assert [line.split()[1:3] for line in lines(result.stdout, "FAIL")] == [
        ["thunderbird", "exchange-domain"]
    ]


def test_a_main_site_that_hangs_is_an_error_in_bounded_time(field: Field) -> None:
    deployment = field.at("main-hangs")
    start = time.monotonic()
    found = by_step(deployment.results(ORG, "--timeout", "1"))
    elapsed = time.monotonic() - start
    assert elapsed < 20, elapsed
    exchange = found[("thunderbird", "exchange-domain")]
    assert exchange["status"] == "fail"
    assert "no complete answer within 1 s" in exchange["detail"]
    assert "Thunderbird waits for this address on every setup" in exchange["detail"]
    assert exchange["fix"].startswith(MAIN_SITE_FIX)
    # Only that path hangs: the main site's other paths are still asked, and answer.
    assert found[("thunderbird", "well-known-https")]["status"] == "pass"
    assert found[("caldav", "well-known")]["status"] == "pass"


def test_a_main_site_passing_the_path_case_sensitively_is_warned(field: Field) -> None:
    deployment = field.at("main-case")
    result = deployment.probe(ORG)
    found = by_step(deployment.results(ORG))
    assert result.returncode == 0, result.stdout
    assert found[("thunderbird", "exchange-domain")]["status"] == "pass"
    casing = found[("outlook", "pox-domain-casing")]
    assert casing["status"] == "warn"
    assert casing["detail"].startswith("HTTP 200, text/html: not an XML answer")
    assert "case-sensitively" in casing["detail"]
    assert "case-insensitively" in casing["fix"]
    assert [line.split()[1:3] for line in lines(result.stdout, "WARN")] == [["outlook", "pox-domain-casing"]]


def test_a_main_site_passing_the_path_to_the_service_passes(field: Field) -> None:
    deployment = field.at("main-passes")
    result = deployment.probe(ORG)
    assert result.returncode == 0, result.stdout
    assert lines(result.stdout, "WARN") == []
    assert lines(result.stdout, "FAIL") == []


def test_a_name_without_aaaa_is_fine(lab: Lab) -> None:
    def drop(records: list[str]) -> list[str]:
        return [r for r in records if r != "dav.example.org. 3600 IN AAAA ::1"]

    with lab.with_zone("no-dav-aaaa", drop) as deployment:
        found = by_step(deployment.results(ORG))
    ipv6 = found[("https", "dav.example.org IPv6")]
    assert (ipv6["status"], ipv6["detail"]) == ("pass", "no AAAA record: reached over IPv4 only")
    assert found[("https", "dav.example.org IPv4")]["status"] == "pass"


def test_at_leaves_the_families_out(lab: Lab) -> None:
    found = by_step(lab.healthy.results(ORG, "--at", "127.0.0.1"))
    assert [step for client, step in found if step.endswith(("IPv4", "IPv6"))] == []
    assert found[("thunderbird", "exchange-domain")]["status"] == "pass"


def test_one_certificate_missing_several_names_gets_one_fix(lab: Lab) -> None:
    missing = ("autodiscover.example.net", "ua-auto-config.example.net")
    names = tuple(n for n in NAMES if n not in missing)
    with lab.with_certificate("no-net-names", names) as deployment:
        found = by_step(deployment.results(NET))
    for host in missing:
        https = found[("https", host)]
        assert https["status"] == "fail", host
        assert https["fix"].startswith(
            "get a certificate that names autodiscover.example.net, ua-auto-config.example.net too "
            "(certbot: add -d autodiscover.example.net -d ua-auto-config.example.net"
        ), https["fix"]
    assert found[("https", "autoconfig.example.net")]["status"] == "pass"
