"""/healthz: ok; degraded (200: the signing certificate expires within 30 days or has expired, or a file on
disk would not load while the previous settings keep serving), each with its reason; failing (503) only
when this process cannot serve what it should; warnings, whatever the status, for profiles unsigned or
signed with the development certificate; with what the IT team needs to tell which settings are
served."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from autoconfig import __version__, caches
from autoconfig.formats.signing import DEV_SUBJECT, EXPIRY_WARNING_DAYS, signer_for
from autoconfig.serving.snapshot import Snapshot
from autoconfig.serving.worker import apply_snapshot
from autoconfig.settings import Settings, load_settings
from autoconfig.version import Version
from autoconfig.web import health
from autoconfig.web.app import create_app
from autoconfig.web.health import file_problems, health_report
from tests.helpers.certs import ChainFiles, key_pem, make_chain, pem, reissue_leaf
from tests.helpers.commands import assert_no_traceback, autoconfig
from tests.helpers.kubelet import publish
from tests.helpers.live import serving
from tests.helpers.settings import outgoing, settings_data, write_settings
from tests.helpers.versions import serve_again

# /healthz gives its details to the IT team's networks (metrics_networks, loopback by default).
LOOPBACK = ("127.0.0.1", 50000)

NOW = dt.datetime.now(dt.UTC)

MakeClient = Callable[..., TestClient]


@dataclass
class Deployment:
    """A settings file signing with a test chain, the data written in it, and the app serving it."""

    settings: Path
    data: dict[str, Any]
    files: ChainFiles
    client: TestClient

    def rewrite(self, **changes: Any) -> None:
        """Write the settings file again, as `settings_data(**changes)` with this deployment's [signing]
        unless changed: the app is not told."""
        data = settings_data(**{"signing": self.data["signing"], **changes})
        write_settings(self.settings.parent, data, self.settings.name)

    def health(self) -> tuple[int, dict[str, Any]]:
        response = self.client.get("/healthz")
        assert response.headers["content-type"] == "application/json"
        assert response.headers["cache-control"] == "no-store"
        body: dict[str, Any] = response.json()
        return response.status_code, body


Deploy = Callable[[dt.timedelta], Deployment]


@pytest.fixture
def deploy(tmp_path: Path, settings_file: Callable[..., Path], make_client: MakeClient) -> Deploy:
    """Serve the minimal settings with a [signing] whose leaf certificate expires after the given time."""

    def make(validity: dt.timedelta) -> Deployment:
        chain = make_chain("ec", leaf_not_before=NOW - dt.timedelta(days=400), leaf_not_after=NOW + validity)
        files = chain.write(tmp_path / "tls")
        data = settings_data(signing=files.signing_data())
        path = settings_file(data)
        client = make_client(load_settings(path), host=None, client=LOOPBACK)
        return Deployment(path, data, files, client)

    return make


def test_ok_names_the_version_the_file_its_digest_the_providers_and_the_signer(deploy: Deploy) -> None:
    deployment = deploy(dt.timedelta(days=90))
    status, body = deployment.health()
    assert status == 200
    assert body["status"] == "ok"
    assert body["version"] == __version__
    assert body["settings"]["file"] == str(deployment.settings)
    assert body["settings"]["sha256"] == hashlib.sha256(deployment.settings.read_bytes()).hexdigest()
    assert body["settings"]["file_problems"] is None
    assert dt.datetime.fromisoformat(body["settings"]["loaded"]) <= dt.datetime.now(dt.UTC)
    assert body["providers"] == [{"id": "example.org", "domains": ["example.org"]}]
    signing = body["signing"]
    assert signing["subject"] == "CN=autoconfig.example.org,O=autoconfig tests"
    assert signing["days_left"] in (89, 90)
    assert signing["development"] is False
    assert dt.datetime.fromisoformat(signing["not_after"]) > dt.datetime.now(dt.UTC)


@pytest.mark.parametrize("days", [1, 10, EXPIRY_WARNING_DAYS - 1])
def test_a_certificate_expiring_within_30_days_is_degraded_but_200(deploy: Deploy, days: int) -> None:
    status, body = deploy(dt.timedelta(days=days, hours=1)).health()
    assert status == 200
    assert body["status"] == "degraded"
    assert body["signing"]["days_left"] == days


@pytest.mark.parametrize("expired_for", [dt.timedelta(hours=1), dt.timedelta(days=40)])
def test_an_expired_certificate_is_degraded_not_failing(deploy: Deploy, expired_for: dt.timedelta) -> None:
    # Profiles still install (as Not Verified): a load balancer must not pull a service that serves. An
    # expired certificate does not load (signing_check.py): it is one that expires while it serves.
    deployment = deploy(dt.timedelta(days=90))
    settings = load_settings(deployment.settings)
    signer = signer_for(settings)
    assert signer is not None
    body, healthy = health_report(settings, signer, NOW, now=signer.not_after + expired_for)
    assert healthy
    assert body["status"] == "degraded"
    assert body["signing"]["days_left"] < 0
    assert body["settings"]["file_problems"] is None  # the certificate alone makes it degraded
    assert body["reasons"] == [
        f"the signing certificate expired on {signer.not_after:%Y-%m-%d}: profiles show as Not Verified"
    ]
    assert body["warnings"] == []  # signed with the settings' certificate: nothing to warn of


def test_the_30_day_boundary(deploy: Deploy) -> None:
    deployment = deploy(dt.timedelta(days=60))
    settings = load_settings(deployment.settings)
    signer = signer_for(settings)
    assert signer is not None

    def status_at(now: dt.datetime) -> tuple[str, bool]:
        body, healthy = health_report(settings, signer, NOW, now=now)
        return body["status"], healthy

    not_after = signer.not_after
    assert status_at(not_after - dt.timedelta(days=EXPIRY_WARNING_DAYS, seconds=1)) == ("ok", True)
    assert status_at(not_after - dt.timedelta(days=EXPIRY_WARNING_DAYS - 1)) == ("degraded", True)
    assert status_at(not_after - dt.timedelta(seconds=1)) == ("degraded", True)
    assert status_at(not_after + dt.timedelta(seconds=1)) == ("degraded", True)


def test_without_signing_there_is_no_expiry_to_report_but_a_warning(
    settings_file: Callable[..., Path], make_client: MakeClient
) -> None:
    path = settings_file()
    client = make_client(load_settings(path), host=None, client=LOOPBACK)
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    # Unsigned profiles are a choice: said, but the status (what alerts watch) stays ok.
    assert (body["status"], body["reasons"]) == ("ok", [])
    assert body["warnings"] == [UNSIGNED]
    assert body["signing"] is None


def test_the_bundled_default_reports_its_development_signer(make_client: MakeClient) -> None:
    response = make_client(host=None, client=LOOPBACK).get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["reasons"]) == ("ok", [])
    assert body["warnings"] == [DEVELOPMENT]
    assert body["providers"] == [{"id": "ac-paris.fr", "domains": ["ac-paris.fr"]}]
    assert DEV_SUBJECT in body["signing"]["subject"]
    assert body["signing"]["development"] is True


def test_the_caches_are_reported_with_their_entries_and_maximum(make_client: MakeClient) -> None:
    client = make_client(host=None, client=LOOPBACK)
    assert client.get("/mail/config-v1.1.xml?emailaddress=jean.dupont@ac-paris.fr").status_code == 200
    reported = client.get("/healthz").json()["caches"]
    # Every cache of the table, the signed profiles' and the accounts' with the version being served (the
    # MX answers' only with a provider that hosts mail for other domains).
    assert set(caches.SIZES) - {"mx_answers"} <= set(reported)
    assert reported["queries"]["max"] == caches.SIZES["queries"]
    assert reported["queries"]["entries"] >= 1
    # Summed over the versions still alive in this process: at least the one that served the address.
    assert reported["accounts"]["entries"] >= 1
    assert reported["accounts"]["max"] >= caches.SIZES["accounts"]
    assert all(0 <= r["entries"] <= r["max"] for r in reported.values())


# What /healthz and `autoconfig healthcheck` say of the profiles' signing, through a real service.
UNSIGNED = (
    "Apple profiles are served unsigned (no [signing]): iPhones and Macs show them as Not Verified; "
    "configure [signing] with a publicly trusted certificate to sign them"
)
DEVELOPMENT = (
    "Apple profiles are signed with the development certificate: iPhones and Macs show them as Not "
    "Verified; configure [signing] with a publicly trusted certificate, such as the web server's"
)


@pytest.mark.parametrize("signing", ["unsigned", "development", "signed"])
def test_a_real_service_warns_of_unsigned_and_development_signed_profiles(
    signing: str, tmp_path: Path
) -> None:
    if signing == "unsigned":
        settings: Path | None = write_settings(tmp_path, settings_data())
    elif signing == "development":
        settings = None  # the bundled default signs with the development certificate
    else:
        files = make_chain("ec").write(tmp_path / "tls")
        settings = write_settings(tmp_path, settings_data(signing=files.signing_data()))
    warnings = {"unsigned": [UNSIGNED], "development": [DEVELOPMENT], "signed": []}[signing]
    with serving(tmp_path / "logs", settings=settings) as server:
        answer = server.get("/healthz")
        told = autoconfig("healthcheck", "--port", str(server.port))
    assert answer.status_code == 200
    body = answer.json()
    assert (body["status"], body["reasons"], body["warnings"]) == ("ok", [], warnings)
    assert_no_traceback(told)
    assert told.returncode == 0, told.stderr
    assert told.stdout.splitlines() == [
        f"http://127.0.0.1:{server.port}/healthz: ok",
        *(f"  warning: {warning}" for warning in warnings),
    ]


def test_a_settings_file_broken_on_disk_is_degraded_until_fixed(deploy: Deploy) -> None:
    deployment = deploy(dt.timedelta(days=90))
    good = deployment.settings.read_text(encoding="utf-8")
    served = hashlib.sha256(good.encode()).hexdigest()

    (imap,) = deployment.data["providers"][0]["incoming"]
    deployment.rewrite(provider={"incoming": [{**imap, "port": 99999}]})
    status, body = deployment.health()
    assert status == 200
    assert body["status"] == "degraded"
    assert body["reasons"] == [
        "the settings on disk would not load: the previous ones keep serving (file_problems)"
    ]
    problems = body["settings"]["file_problems"]
    assert str(deployment.settings) in problems
    assert "providers[0].incoming[0].port" in problems
    assert "99999" in problems
    assert body["settings"]["sha256"] == served  # what is served has not changed

    # A valid edit not yet reloaded is no problem; the old settings are still the ones reported.
    deployment.rewrite(provider={"incoming": [{**imap, "host": "mail.example.org"}]})
    status, body = deployment.health()
    assert (status, body["status"], body["settings"]["file_problems"]) == (200, "ok", None)
    assert body["settings"]["sha256"] == served

    deployment.settings.write_text(good, encoding="utf-8")
    status, body = deployment.health()
    assert (status, body["status"], body["settings"]["file_problems"]) == (200, "ok", None)


def test_a_broken_signing_file_on_disk_is_degraded(deploy: Deploy) -> None:
    deployment = deploy(dt.timedelta(days=90))
    # The settings file changes (so it is checked again) and now names a key file that is not a key.
    bad_key = deployment.files.folder / "not-a-key.pem"
    bad_key.write_text("not a key\n", encoding="utf-8")
    deployment.rewrite(signing=deployment.files.signing_data(key=bad_key))
    status, body = deployment.health()
    assert status == 200
    assert body["status"] == "degraded"
    assert "signing.key" in body["settings"]["file_problems"]


def test_a_missing_settings_file_is_degraded(deploy: Deploy) -> None:
    deployment = deploy(dt.timedelta(days=90))
    deployment.settings.unlink()
    status, body = deployment.health()
    assert status == 200
    assert body["status"] == "degraded"
    assert "cannot read the file" in body["settings"]["file_problems"]


def test_file_problems_compares_the_disk_with_what_is_served(settings_file: Callable[..., Path]) -> None:
    path = settings_file()
    served = load_settings(path)
    assert file_problems(served) == (False, None)
    # A key the settings do not know, in the last table of the file (the SMTP server).
    settings_file(provider={"outgoing": outgoing(unknown_key=1)})
    changed, problems = file_problems(served)
    assert changed
    assert problems is not None
    assert "unknown_key" in problems
    # Another valid file: changed, and it would load.
    settings_file(provider={"name": "Autre"})
    assert file_problems(served) == (True, None)


def test_file_problems_keeps_its_comparison_for_a_second_while_the_files_look_the_same(
    settings_file: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = settings_file()
    served = load_settings(path)
    assert file_problems(served) == (False, None)
    ((compared_at, _),) = health._compared.values()
    assert file_problems(served) == (False, None)
    assert [at for at, _ in health._compared.values()] == [compared_at]  # kept, not compared again
    monkeypatch.setattr(health, "COMPARE_EVERY", 0.0)
    assert file_problems(served) == (False, None)
    assert [at for at, _ in health._compared.values()] != [compared_at]  # a second later: compared
    monkeypatch.setattr(health, "COMPARE_EVERY", 3600.0)
    # Within the second, an edit is still seen at once: the files' metadata are part of the key.
    settings_file(provider={"name": "Autre"})
    assert file_problems(served) == (True, None)


def tls_secret(certificate: bytes, key: bytes) -> dict[str, bytes]:
    return {"tls.crt": certificate, "tls.key": key}


def test_file_problems_follows_a_secret_through_its_links(tmp_path: Path) -> None:
    # The kubelet deletes the folder the previous version's links led to: what counts is the content
    # at the path the settings write.
    first, second = make_chain(), make_chain()
    publish(tmp_path / "tls", tls_secret(pem(first.leaf, first.intermediate), key_pem(first.leaf_key)))
    signing = {"certificate": "tls/tls.crt", "key": "tls/tls.key"}
    path = write_settings(tmp_path, settings_data(signing=signing))
    served = load_settings(path)
    assert served.referenced_files() == (tmp_path / "tls/tls.crt", tmp_path / "tls/tls.key")
    assert file_problems(served) == (False, None)
    publish(tmp_path / "tls", tls_secret(pem(second.leaf, second.intermediate), key_pem(first.leaf_key)))
    changed, problems = file_problems(served)
    assert changed
    assert problems is not None
    assert "does not belong to the certificate" in problems
    publish(tmp_path / "tls", tls_secret(pem(second.leaf, second.intermediate), key_pem(second.leaf_key)))
    assert file_problems(served) == (True, None)


def test_a_reload_reads_the_signing_files_again(deploy: Deploy) -> None:
    deployment = deploy(dt.timedelta(days=90))
    assert deployment.health()[1]["status"] == "ok"
    # The certificate is renewed in place (same paths) with one that expires soon: the reload sees it.
    chain = make_chain("ec")
    expiring = reissue_leaf(chain, NOW - dt.timedelta(days=80), NOW + dt.timedelta(days=5, hours=1))
    deployment.files.fullchain.write_bytes(pem(expiring.leaf, expiring.intermediate))
    deployment.files.key.write_bytes(key_pem(expiring.leaf_key))
    assert deployment.health()[1]["status"] == "ok"  # not yet reloaded
    app = deployment.client.app
    assert isinstance(app, Starlette)
    serve_again(app)
    status, body = deployment.health()
    assert (status, body["status"], body["signing"]["days_left"]) == (200, "degraded", 5)


def test_outside_the_allowed_networks_only_the_state_is_told(make_client: MakeClient) -> None:
    response = make_client(host=None, client=("203.0.113.9", 50000)).get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "degraded"} or response.json() == {"status": "ok"}
    assert "settings" not in response.text
    assert "warning" not in response.text
    assert "caches" not in response.text


def test_a_signing_key_replaced_in_place_is_noticed(deploy: Deploy) -> None:
    deployment = deploy(dt.timedelta(days=90))
    assert deployment.health()[0] == 200
    # The settings file is untouched; only the key file changes, to one of another certificate:
    # the next start would refuse it, so the health says so now.
    other = make_chain("ec").write(deployment.files.folder / "other")
    deployment.files.key.write_bytes(other.key.read_bytes())
    status, body = deployment.health()
    assert status == 200
    assert body["status"] == "degraded"
    assert "signing.key" in body["settings"]["file_problems"]


def test_a_worker_that_could_not_apply_new_settings_is_failing(deploy: Deploy) -> None:
    deployment = deploy(dt.timedelta(days=90))
    app = deployment.client.app
    assert isinstance(app, Starlette)
    served = load_settings(deployment.settings)
    # New settings from the supervisor that this process cannot build (here: a signing key gone).
    snapshot = Snapshot.take(Version.build(served, signer_for(served)))
    apply_snapshot(app, dataclasses.replace(snapshot, files={}))
    status, body = deployment.health()
    assert (status, body["status"]) == (503, "failing")
    assert body["reasons"][0] == "this worker could not apply the latest settings (see the log)"
    assert body["settings"]["sha256"] == served.digest  # the previous settings still serve
    apply_snapshot(app, snapshot)
    assert deployment.health()[0] == 200


def test_what_the_supervisor_noticed_makes_it_degraded(
    make_settings: Callable[..., Settings], make_client: MakeClient
) -> None:
    note = "the state folder /var/lib/autoconfig cannot be written: Permission denied"
    app = create_app(make_settings(), notes=(note,))
    body = make_client(app, host=None, client=LOOPBACK).get("/healthz").json()
    # Unsigned as well: the warning is told and the status is the reasons' own.
    assert (body["status"], body["reasons"], body["warnings"]) == ("degraded", [note], [UNSIGNED])
