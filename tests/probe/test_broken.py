"""`autoconfig probe` against the loopback deployment with one thing broken at a time: each is found,
said, and given its fix."""

from __future__ import annotations

import datetime as dt
import socket
import time
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from cryptography import x509

from tests.helpers.certs import ChainFiles, make_chain, reissue_leaf
from tests.helpers.live import free_port
from tests.helpers.probe_lab import NAMES, Lab, by_step, lines

ORG = "jean.dupont@example.org"
NET = "jean.dupont@example.net"
NOW = dt.datetime.now(dt.UTC)


def test_a_missing_record_is_found_with_the_line_to_publish(lab: Lab) -> None:
    def drop(records: list[str]) -> list[str]:
        return [r for r in records if not r.startswith("autodiscover.example.org. ")]

    with lab.with_zone("no-autodiscover", drop) as deployment:
        result = deployment.probe(ORG)
        found = by_step(deployment.results(ORG))
    assert result.returncode == 1, result.stdout
    record = found[("dns", "autodiscover.example.org CNAME")]
    assert record["status"] == "fail"
    assert record["detail"].startswith("missing: autodiscover.example.org does not exist")
    assert record["fix"] == "publish `autodiscover.example.org. 3600 IN CNAME autoconfig.example.org.`"
    assert found[("https", "autodiscover.example.org")]["status"] == "fail"
    # Outlook loses autodiscover.json, and still ends up right through the POX at the domain.
    assert found[("outlook", "autodiscover.json")]["status"] == "warn"
    assert "Outlook goes on" in found[("outlook", "autodiscover.json")]["detail"]
    assert found[("outlook", "pox-domain")]["status"] == "pass"
    assert found[("outlook", "result")]["status"] == "pass"
    # The text says the same, each failure followed by its fix.
    failures = lines(result.stdout, "FAIL")
    assert any("autodiscover.example.org CNAME" in line for line in failures)
    text = result.stdout.splitlines()
    index = next(i for i, line in enumerate(text) if "autodiscover.example.org CNAME" in line)
    assert text[index + 1].strip().startswith("fix: publish `autodiscover.example.org.")


def test_a_certificate_without_one_of_the_names_is_found(lab: Lab) -> None:
    names = tuple(n for n in NAMES if n != "autodiscover.example.org")
    with lab.with_certificate("no-autodiscover-name", names) as deployment:
        result = deployment.probe(ORG)
        found = by_step(deployment.results(ORG))
    assert result.returncode == 1, result.stdout
    https = found[("https", "autodiscover.example.org")]
    assert https["status"] == "fail"
    assert https["detail"].startswith("the certificate is not valid for autodiscover.example.org (it names ")
    assert "autoconfig.example.org" in https["detail"]
    assert https["fix"].startswith("get a certificate that names autodiscover.example.org too")
    assert found[("https", "autoconfig.example.org")]["status"] == "pass"
    assert found[("outlook", "autodiscover.json")]["status"] == "warn"
    assert found[("outlook", "pox-autodiscover")]["status"] == "warn"
    assert found[("outlook", "pox-autodiscover")]["fix"] == "see the https results for this name"
    assert found[("outlook", "result")]["status"] == "pass"
    assert found[("thunderbird", "result")]["status"] == "pass"


@dataclass(frozen=True)
class SignerCase:
    status: str
    detail: str  # a part of the detail
    fix: str  # how the fix starts
    exit_code: int


EXPIRES_IN_SECONDS = 8  # long enough for the service to start and check it, short enough to wait for
SIGNERS = {
    "expired": SignerCase("fail", "expired on", "renew the certificate [signing] names", 1),
    "expiring": SignerCase(
        "warn", "Verified, but CN=autoconfig.example.org,O=autoconfig tests expires in", "renew", 0
    ),
    # iOS shows Not Verified, as for the development signer: a warning, expected in development.
    "other-ca": SignerCase(
        "warn", "Not Verified: CN=autoconfig.example.org", "sign with a certificate from a public CA", 0
    ),
}


def _signing_files(lab: Lab, case: str) -> ChainFiles:
    folder = lab.folder / f"signer-{case}"
    if case == "expired":
        # The lab's own CA, so that only the dates are wrong. A service refuses to start with an expired
        # certificate: this one expires while it serves, as in the field.
        ends = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=EXPIRES_IN_SECONDS)
        return reissue_leaf(lab.chain, NOW - dt.timedelta(days=100), ends).write(folder)
    if case == "expiring":
        return reissue_leaf(lab.chain, NOW - dt.timedelta(days=80), NOW + dt.timedelta(days=10)).write(folder)
    return make_chain("ec", name="Elsewhere").write(folder)


@pytest.mark.parametrize("case", sorted(SIGNERS))
def test_the_profile_signer_is_judged_as_ios_does(lab: Lab, case: str) -> None:
    expected = SIGNERS[case]
    files = _signing_files(lab, case)
    with lab.with_signing(case, files) as deployment:
        if case == "expired":
            ends = x509.load_pem_x509_certificate(files.leaf.read_bytes()).not_valid_after_utc
            time.sleep(max(0.0, (ends - dt.datetime.now(dt.UTC)).total_seconds() + 1))
        result = deployment.probe(ORG)
        found = by_step(deployment.results(ORG))
    assert result.returncode == expected.exit_code, result.stdout
    signer = found[("apple", "signer")]
    assert signer["status"] == expected.status
    assert expected.detail in signer["detail"]
    assert signer["fix"].startswith(expected.fix)
    # The rest still works: the profile is the person's, signed with what [signing] names.
    assert found[("apple", "signature")]["status"] == "pass"
    assert found[("apple", "result")]["status"] == "pass"
    assert found[("apple", "signer-file")]["status"] == "pass"
    assert [line for line in lines(result.stdout, "FAIL") if " apple " not in line] == []


def test_a_pacc_digest_that_does_not_match_is_found(lab: Lab) -> None:
    other = '"v=UAAC1; a=sha256; d=' + "A" * 43 + '="'

    def change(records: list[str]) -> list[str]:
        return [
            r.split(" IN TXT ")[0] + f" IN TXT   {other}"
            if r.startswith("_ua-auto-config.example.net.")
            else r
            for r in records
        ]

    with lab.with_zone("other-digest", change) as deployment:
        result = deployment.probe(NET)
        found = by_step(deployment.results(NET))
    assert result.returncode == 1, result.stdout
    record = found[("dns", "_ua-auto-config.example.net TXT")]
    assert record["status"] == "fail"
    assert "not the digest of the settings' document" in record["detail"]
    digest = found[("pacc", "digest")]
    assert digest["status"] == "fail"
    assert "clients reject the document" in digest["detail"]
    assert "d=" + "A" * 43 in digest["detail"]
    assert digest["fix"].startswith('publish _ua-auto-config.example.net. TXT "v=UAAC1; a=sha256; d=')
    served = found[("pacc", "document")]["detail"].split("sha256 ")[1]
    assert f"d={served}" in digest["fix"]
    # The settings do not change: what the clients get is right, only the record is not.
    assert found[("thunderbird", "result")]["status"] == "pass"


def test_a_service_serving_other_settings_is_found(lab: Lab, tmp_path: Path) -> None:
    # The settings as the IT team changed them, before the service was reloaded: logins are now the
    # full address. The DNS records do not change.
    text = lab.healthy.settings.read_text(encoding="utf-8")
    changed = text.replace('fallback = "%EMAILLOCALPART%"', 'fallback = "%EMAILADDRESS%"')
    assert changed != text
    settings = tmp_path / "settings.toml"
    settings.write_text(changed, encoding="utf-8")
    deployment = replace(lab.healthy, settings=settings)
    result = deployment.probe(ORG)
    found = by_step(deployment.results(ORG))
    assert result.returncode == 1, result.stdout
    for client in ("thunderbird", "thunderbird-android", "outlook", "apple"):
        assert found[(client, "result")]["status"] == "fail", client
        assert (
            "login jean.dupont, where the settings give jean.dupont@example.org"
            in found[(client, "result")]["detail"]
        )
        assert "reload" in found[(client, "result")]["fix"]


def test_a_web_server_that_never_answers_fails_in_bounded_time(lab: Lab) -> None:
    # Connections are accepted by the kernel and never read: every TLS handshake waits for nothing.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)
        deployment = replace(lab.healthy, https_port=silent.getsockname()[1], http_port=free_port())
        start = time.monotonic()
        result = deployment.probe(ORG, "--timeout", "1")
        elapsed = time.monotonic() - start
    assert result.returncode == 1, result.stdout
    assert elapsed < 30, elapsed
    https = [line for line in lines(result.stdout, "FAIL") if line.split()[1] == "https"]
    assert [line.split()[2] for line in https] == [
        "autoconfig.example.org",
        "autodiscover.example.org",
        "dav.example.org",
    ]
    assert all("no TLS handshake within 1 s" in line for line in https)
    # The organisation's main site only slows clients down: they go on to the next address.
    (main_site,) = [line for line in lines(result.stdout, "WARN") if line.split()[1] == "https"]
    assert main_site.split()[2] == "example.org"
    assert any(line.split()[1:3] == ["thunderbird", "result"] for line in lines(result.stdout, "FAIL"))
    # DNS still answers: what it says is checked all the same.
    assert [line for line in lines(result.stdout, "FAIL") if line.split()[1] == "dns"] == []
