"""`autoconfig probe` against a healthy deployment on loopback (Knot DNS, nginx with TLS from a test CA,
`autoconfig serve`): every step passes, in each client's order, and the JSON says the same."""

from __future__ import annotations

import json

import httpx2

from tests.helpers.probe_lab import Lab, lines

ORG = "jean.dupont@example.org"  # STARTTLS: no PACC document, a calendar and contacts
NET = "jean.dupont@example.net"  # implicit TLS: a PACC document
CLIENTS = [
    "dns",
    "https",
    "thunderbird",
    "thunderbird-android",
    "outlook",
    "apple",
    "pacc",
    "caldav",
    "carddav",
]
ORG_SETTINGS = "IMAP imap.example.org:143 STARTTLS, SMTP smtp.example.org:587 STARTTLS, login jean.dupont"
NET_SETTINGS = (
    "IMAP imap.example.net:993 SSL/TLS, SMTP smtp.example.net:465 SSL/TLS, login jean.dupont@example.net"
)
KEYS = ["client", "step", "status", "detail", "fix", "url"]


def _clients(output: str) -> list[str]:
    seen: list[str] = []
    for line in output.splitlines()[1:-1]:
        if line.startswith(("pass  ", "WARN  ", "FAIL  ")) and line.split()[1] not in seen:
            seen.append(line.split()[1])
    return seen


def test_every_step_passes_in_each_clients_order(lab: Lab) -> None:
    result = lab.healthy.probe(ORG)
    assert result.returncode == 0, result.stdout
    assert lines(result.stdout, "FAIL") == []
    assert lines(result.stdout, "WARN") == []
    assert result.stderr == ""
    assert _clients(result.stdout) == CLIENTS
    last = result.stdout.splitlines()[-1]
    assert last.endswith("passed, 0 warnings, 0 failures"), last
    steps = [line.split()[1:3] for line in lines(result.stdout, "pass")]
    thunderbird = [step for client, step in steps if client == "thunderbird"]
    assert thunderbird == [
        "autoconfig-https",
        "well-known-https",
        "autoconfig-http",
        "well-known-http",
        "exchange-domain",
        "result",
    ]
    outlook = [step for client, step in steps if client == "outlook"]
    assert outlook == [
        "autodiscover.json", "pox-json", "pox-domain", "pox-autodiscover", "pox-srv", "mobilesync",
        "pox-domain-casing", "result",
    ]  # fmt: skip


def test_each_client_ends_up_with_the_settings(lab: Lab) -> None:
    found = {(r["client"], r["step"]): r for r in lab.healthy.results(ORG)}
    for client in ("thunderbird", "thunderbird-android", "outlook", "apple"):
        assert found[(client, "result")]["detail"].startswith(f"ends up with {ORG_SETTINGS}"), client
    assert found[("thunderbird", "autoconfig-https")]["url"] == (
        "https://autoconfig.example.org/mail/config-v1.1.xml?emailaddress=jean.dupont%40example.org"
    )
    # Thunderbird for Android never sends the address.
    assert found[("thunderbird-android", "autoconfig-https")]["url"].endswith("/mail/config-v1.1.xml")
    # Plain http redirects to https, where the client gets the same answer.
    assert (
        "redirected to https://autoconfig.example.org/" in found[("thunderbird", "autoconfig-http")]["detail"]
    )
    assert found[("outlook", "mobilesync")]["detail"].startswith("Error 601")
    assert found[("apple", "signer")]["detail"].startswith("Verified: CN=autoconfig.example.org")
    assert found[("caldav", "result")]["detail"] == "ends up with https://dav.example.org/cal/"
    assert found[("carddav", "result")]["detail"] == "ends up with https://dav.example.org/card/"
    # A STARTTLS provider has no PACC document, and no record: expected, not a failure.
    assert found[("pacc", "document")]["status"] == "pass"
    assert found[("pacc", "document")]["detail"].startswith("none, as expected")
    assert found[("dns", "_ua-auto-config.example.org TXT")]["status"] == "pass"


def test_a_pacc_document_matches_its_txt_record(lab: Lab) -> None:
    result = lab.healthy.probe(NET)
    assert result.returncode == 0, result.stdout
    assert lines(result.stdout, "FAIL") == []
    assert lines(result.stdout, "WARN") == []
    found = {(r["client"], r["step"]): r for r in lab.healthy.results(NET)}
    assert found[("pacc", "digest")] == {
        "client": "pacc",
        "step": "digest",
        "status": "pass",
        "detail": "matches the TXT record at _ua-auto-config.example.net",
        "fix": None,
        "url": "https://ua-auto-config.example.net/.well-known/user-agent-configuration.json",
    }
    assert found[("pacc", "result")]["detail"].startswith(
        "ends up with IMAP imap.example.net:993 SSL/TLS, SMTP smtp.example.net:465 SSL/TLS"
    )
    assert found[("thunderbird", "result")]["detail"] == f"ends up with {NET_SETTINGS}"
    # The CNAMEs of example.net lead into another zone, which the probe follows to the service.
    assert found[("https", "autoconfig.example.net")]["status"] == "pass"


def test_json_is_one_list_of_results_with_stable_keys(lab: Lab) -> None:
    result = lab.healthy.probe(ORG, "--json")
    assert result.returncode == 0
    document = json.loads(result.stdout)
    assert isinstance(document, list)
    assert all(list(item) == KEYS for item in document)
    assert {item["status"] for item in document} == {"pass"}
    assert all(isinstance(item["detail"], str) and item["detail"] for item in document)
    assert all(item["fix"] is None or isinstance(item["fix"], str) for item in document)
    pairs = [(item["client"], item["step"]) for item in document]
    assert len(pairs) == len(set(pairs))
    assert list(dict.fromkeys(client for client, _ in pairs)) == CLIENTS
    # The same deployment gives the same document, and the text run lists the same results.
    assert lab.healthy.probe(ORG, "--json").stdout == result.stdout
    text = lab.healthy.probe(ORG).stdout
    assert len(lines(text, "pass")) == len(document)


def test_at_connects_to_one_address_whatever_dns_says(lab: Lab) -> None:
    result = lab.healthy.probe(ORG, "--at", "127.0.0.1")
    assert result.returncode == 0, result.stdout
    assert result.stdout.splitlines()[0].endswith("connecting to 127.0.0.1")
    assert lines(result.stdout, "FAIL") == []


def test_the_service_counts_the_probe_apart_from_peoples_setups(lab: Lab) -> None:
    def requests_by_family() -> dict[str, int]:
        health = httpx2.get(f"http://127.0.0.1:{lab.service_port}/healthz", timeout=5).json()
        return {family: entry["requests"] for family, entry in health["clients"]["families"].items()}

    before = requests_by_family()
    assert lab.healthy.probe(ORG).returncode == 0
    after = requests_by_family()
    grown = {family for family, count in after.items() if count > before.get(family, 0)}
    # The probe plays Thunderbird, Android, Outlook and Apple, and is counted as none of them (the
    # health questions above count as `unknown`: httpx's User-Agent).
    assert grown - {"unknown"} == {"probe"}
    assert after["probe"] - before.get("probe", 0) >= 10
