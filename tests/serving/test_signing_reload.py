"""A signer that would ship bad profiles, against a real `autoconfig serve`: a certificate without its
intermediate, a key of another certificate, an expired certificate. Each is a problem `check` reports
(the key, the value, why, the fix), and a reload (SIGHUP, or the file watcher) refuses it: the service
keeps signing with the previous certificate, which still verifies with the real `openssl`."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
import time
from contextlib import ExitStack
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import pkcs7

from autoconfig.paths import profiles_dir
from tests.helpers.certs import Chain, cms_verify, key_pem, make_chain, pem, reissue_leaf
from tests.helpers.commands import assert_no_traceback, autoconfig
from tests.helpers.live import Server, serving, wait_for

PROFILE = "/profile.mobileconfig?email=jean.dupont@ac-paris.fr"
REFUSED = "refused; still serving the previous settings"
NOW = dt.datetime.now(dt.UTC)


@pytest.fixture(scope="module")
def served() -> Chain:
    return make_chain("ec", name="Served")


@pytest.fixture(scope="module")
def renewed() -> Chain:
    return make_chain("ec", name="Renewed")


def install(folder: Path, certificate: bytes, key: bytes) -> None:
    (folder / "tls").mkdir(exist_ok=True)
    (folder / "tls" / "cert.pem").write_bytes(certificate)
    (folder / "tls" / "key.pem").write_bytes(key)


def broken_files(case: str, renewed: Chain) -> tuple[bytes, bytes, str]:
    """The files an administrator might install in place of good ones, and what `check` must say."""
    if case == "broken-chain":  # cert.pem where fullchain.pem was meant
        return pem(renewed.leaf), key_pem(renewed.leaf_key), "signing.chain: found CN=autoconfig.example.org"
    if case == "mismatched-key":
        wrong = make_chain("ec", name="Other").leaf_key
        return pem(renewed.leaf, renewed.intermediate), key_pem(wrong), "signing.key: found "
    old = reissue_leaf(renewed, NOW - dt.timedelta(days=90), NOW - dt.timedelta(days=2))
    return pem(old.leaf, old.intermediate), key_pem(old.leaf_key), "signing.certificate: found "


def signed_by(server: Server, root: Path, folder: Path) -> x509.Certificate:
    """The certificate a profile is signed with, after `openssl cms -verify` against `root` passed."""
    response = server.get(PROFILE)
    assert response.status_code == 200, response.text
    result = cms_verify(response.content, root, folder)
    assert result.returncode == 0, result.stderr.decode()
    (leaf,) = [
        c
        for c in pkcs7.load_der_pkcs7_certificates(response.content)
        if not c.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    ]
    return leaf


@pytest.mark.parametrize(
    ("case", "trigger"),
    [
        ("broken-chain", "SIGHUP"),
        ("mismatched-key", "SIGHUP"),
        ("expired", "SIGHUP"),
        ("expired", "watch"),
    ],
)
def test_a_reload_refuses_a_broken_signer_and_keeps_the_previous_one(
    tmp_path: Path, served: Chain, renewed: Chain, case: str, trigger: str
) -> None:
    settings = tmp_path / "settings.toml"
    shutil.copy(profiles_dir() / "ac-paris.toml", settings)
    text = settings.read_text(encoding="utf-8")
    if trigger == "watch":
        text = text.replace("[service]\n", "[service]\nwatch_seconds = 0.5\n", 1)
    settings.write_text(
        text + '\n[signing]\ncertificate = "tls/cert.pem"\nkey = "tls/key.pem"\n', encoding="utf-8"
    )
    install(tmp_path, pem(served.leaf, served.intermediate), key_pem(served.leaf_key))
    root = tmp_path / "root.pem"
    root.write_bytes(pem(served.root))
    with serving(tmp_path / "logs", settings=settings, workers=2) as server:
        assert signed_by(server, root, tmp_path) == served.leaf
        offset = len(server.error_log())
        certificate, key, says = broken_files(case, renewed)
        install(tmp_path, certificate, key)

        check = autoconfig("check", "--settings", str(settings))
        assert check.returncode == 1
        assert check.stderr.startswith(f"{settings}: 1 problem\n  {says}")
        assert "\n    fix: " in check.stderr
        assert_no_traceback(check)

        if trigger == "SIGHUP":
            server.hangup()
        # The same report as `check`, problem, value and fix, in the service's log (the watcher may
        # first see the certificate written and not yet the key: a refusal of that state comes before).
        report = check.stderr.splitlines()[1:]
        log = wait_for(
            lambda: text if all(line in (text := server.error_log()[offset:]) for line in report) else None,
            10,
            f"the refusal in the log:\n{server.error_log()[offset:]}",
        )
        why = "SIGHUP" if trigger == "SIGHUP" else f"changed on disk: {tmp_path / 'tls'}"
        assert f"reload ({why}" in log
        assert REFUSED in log
        assert "Traceback" not in log
        # Every worker still signs with the previous certificate, and its profiles still verify.
        assert {signed_by(server, root, tmp_path) for _ in range(4)} == {served.leaf}
        health = server.get("/healthz").json()
        assert health["status"] == "degraded"
        assert health["signing"]["subject"] == "CN=autoconfig.example.org,O=autoconfig tests"
        assert says.split(": found")[0] in health["settings"]["file_problems"]
        assert server.process.poll() is None


def test_a_worker_replaced_after_the_certificate_expired_serves_what_was_checked(
    tmp_path: Path, served: Chain
) -> None:
    # What the supervisor accepted keeps serving until the next reload or restart refuses it: a worker
    # replaced after the certificate expired must not crash-loop the service out of existence.
    settings = tmp_path / "settings.toml"
    shutil.copy(profiles_dir() / "ac-paris.toml", settings)
    settings.write_text(
        settings.read_text(encoding="utf-8")
        + '\n[signing]\ncertificate = "tls/cert.pem"\nkey = "tls/key.pem"\n',
        encoding="utf-8",
    )
    with ExitStack() as stack:
        # The certificate must still be valid when the supervisor checks it, and is waited out after:
        # a few seconds suffice on a quiet machine; a start slower than that, which found it expired,
        # is tried again with more.
        for attempt, seconds in enumerate((6, 20)):
            ends = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds)
            expiring = reissue_leaf(served, NOW - dt.timedelta(days=1), ends)
            install(tmp_path, pem(expiring.leaf, expiring.intermediate), key_pem(expiring.leaf_key))
            logs = tmp_path / f"logs-{attempt}"
            try:
                server = stack.enter_context(serving(logs, "--give-up-after", "5", settings=settings))
                break
            except pytest.fail.Exception:
                if attempt == 1 or "expired" not in (logs / "error.log").read_text(errors="replace"):
                    raise
        first = server.wait_for_workers(1)
        time.sleep(max(0.0, (ends - dt.datetime.now(dt.UTC)).total_seconds() + 0.5))
        offset = len(server.error_log())
        os.kill(first[0], signal.SIGKILL)
        server.wait_for_workers(1, besides=tuple(first))
        response = server.get(PROFILE)
        assert response.status_code == 200
        assert expiring.leaf in pkcs7.load_der_pkcs7_certificates(response.content)
        assert server.get("/healthz").json()["status"] == "degraded"
        assert "Traceback" not in server.error_log()[offset:]
