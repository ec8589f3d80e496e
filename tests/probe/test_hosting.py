"""`autoconfig probe` for a customer address of a hoster (profiles/hoster.toml): the customer domain's
MX, Thunderbird's and Thunderbird for Android's MX path, Outlook's SRV path, against a real deployment
(Knot with the hoster's and the customers' zones, nginx with TLS, `autoconfig serve` asking that Knot)."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from autoconfig.paths import profiles_dir
from tests.helpers.probe_lab import Deployment, by_step, hoster_lab, lines

SETTINGS = "IMAP imap.mail.hoster.example:993 SSL/TLS, SMTP smtp.mail.hoster.example:465 SSL/TLS"


@pytest.fixture(scope="module")
def hoster(tmp_path_factory: pytest.TempPathFactory, state_dir: Path) -> Iterator[Deployment]:
    data = tomllib.loads((profiles_dir() / "hoster.toml").read_text(encoding="utf-8"))
    with hoster_lab(tmp_path_factory.mktemp("hoster-lab"), data) as deployment:
        yield deployment


def test_a_customer_address_passes_each_path(hoster: Deployment) -> None:
    result = hoster.probe("ana@customer.example")
    assert result.returncode == 0, result.stdout
    assert lines(result.stdout, "FAIL") == [], result.stdout
    assert lines(result.stdout, "WARN") == [], result.stdout
    found = by_step(hoster.results("ana@customer.example"))
    assert found[("dns", "customer.example MX")]["detail"].startswith(
        "the best MX is mx1.mail.hoster.example"
    )
    for name in ("autoconfig.hoster.example", "autoconfig.mail.hoster.example"):
        assert found[("https", name)]["status"] == "pass"
    query = "?emailaddress=ana%40customer.example"
    desktop = found[("thunderbird", "mx-autoconfig")]
    assert desktop["url"] == f"https://autoconfig.mail.hoster.example/mail/config-v1.1.xml{query}"
    assert desktop["detail"] == f"answers {SETTINGS}, login ana@customer.example"
    registrable = found[("thunderbird", "mx-registrable")]
    assert registrable["url"] == f"https://autoconfig.hoster.example/mail/config-v1.1.xml{query}"
    assert found[("thunderbird-android", "mx-autoconfig")]["url"].endswith("/mail/config-v1.1.xml")
    assert found[("thunderbird-android", "result")]["detail"] == (
        f"ends up with {SETTINGS}, login ana@customer.example"
    )
    assert found[("outlook", "srv")]["detail"] == (
        "_autodiscover._tcp.customer.example points to autoconfig.hoster.example"
    )
    assert found[("outlook", "result")]["detail"] == f"ends up with {SETTINGS}, login ana@customer.example"
    assert found[("outlook", "pox-srv")]["status"] == "pass"


def test_a_customer_whose_mx_points_elsewhere_fails_with_the_fix(hoster: Deployment) -> None:
    result = hoster.probe("ana@elsewhere.example")
    assert result.returncode == 1
    failures = lines(result.stdout, "FAIL")
    assert failures[0].split(None, 3)[1:3] == ["dns", "elsewhere.example"]
    assert "the best MX is mx.elsewhere.example, not Hoster Mail's" in failures[0]
    fix = result.stdout.splitlines()[result.stdout.splitlines().index(failures[0]) + 1]
    assert "fix: point the MX of elsewhere.example at mx1.mail.hoster.example or mx2" in fix
    found = by_step(hoster.results("ana@elsewhere.example"))
    assert found[("thunderbird", "result")]["status"] == "fail"
    # The SRV record leads Outlook to the hoster, which answers a domain whose MX is elsewhere as unknown.
    assert found[("outlook", "result")]["status"] == "fail"


def test_a_customer_without_the_srv_record_warns_for_outlook_only(hoster: Deployment) -> None:
    result = hoster.probe("ana@nosrv.example")
    assert result.returncode == 0, result.stdout
    assert lines(result.stdout, "FAIL") == []
    warnings = lines(result.stdout, "WARN")
    assert len(warnings) == 1, result.stdout
    assert warnings[0].split()[1:3] == ["outlook", "srv"]
    assert (
        "fix: publish `_autodiscover._tcp.nosrv.example. 3600 IN SRV 0 0 443 autoconfig.hoster.example.`"
        in (result.stdout)
    )
