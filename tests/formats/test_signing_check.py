"""The signer's self-check at load: the chain it will send (complete, in order), the certificate's dates
and uses, and a test signature verified with the leaf's public key. Each case is a real certificate made
by tests/helpers/certs.py, read from a settings file's [signing] as in production, and checked against
the real `openssl` where it shows what a device would do."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from autoconfig.errors import Problem, SettingsError
from autoconfig.formats.signing import Signer, signer_for
from autoconfig.formats.signing_check import PROBE, date_problems, signature_problems
from autoconfig.settings import Settings, load_settings
from autoconfig.web.app import create_app
from tests.helpers.certs import Chain, ChainFiles, KeyKind, cms_verify, make_chain, make_key, reissue_leaf
from tests.helpers.settings import settings_data, write_settings

NOW = dt.datetime.now(dt.UTC)
LEAF = "CN=autoconfig.example.org,O=autoconfig tests"


@pytest.fixture(scope="module")
def chain() -> Chain:
    return make_chain("ec", name="Check")


@pytest.fixture(scope="module", params=["rsa", "ec"])
def kind_chain(request: pytest.FixtureRequest) -> Chain:
    kind: KeyKind = request.param
    return make_chain(kind, name=kind.upper())


def settings_with(folder: Path, signing: dict[str, Any]) -> Settings:
    return load_settings(write_settings(folder, settings_data(signing=signing)))


def refused(folder: Path, signing: dict[str, Any]) -> list[Problem]:
    """The problems the signing files cause: at start (building the app) and in signer_for alike."""
    settings = settings_with(folder, signing)
    with pytest.raises(SettingsError) as info:
        create_app(settings)
    with pytest.raises(SettingsError) as again:
        signer_for(settings)
    assert again.value.render() == info.value.render()
    for problem in info.value.problems:
        assert problem.fix, problem  # every problem says what to do
    return info.value.problems


def leaf(chain: Chain, folder: Path, **changes: Any) -> ChainFiles:
    """The chain with its leaf issued anew (valid from yesterday for 90 days unless told), written out."""
    dates = {"not_before": NOW - dt.timedelta(days=1), "not_after": NOW + dt.timedelta(days=90)}
    dates.update({k: changes.pop(k) for k in list(changes) if k in dates})
    return reissue_leaf(chain, dates["not_before"], dates["not_after"], **changes).write(folder)


# --- the chain sent ------------------------------------------------------------------------------------


def test_a_leaf_sent_without_its_intermediate_is_refused(chain: Chain, tmp_path: Path) -> None:
    files = chain.write(tmp_path / "pki")
    [problem] = refused(tmp_path, files.signing_data(files.leaf))  # cert.pem instead of fullchain.pem
    assert (problem.path, problem.found) == ("signing.chain", f"{LEAF} alone")
    assert problem.message == (
        "its issuer's certificate (CN=Check Intermediate CA,O=autoconfig tests) is not sent: "
        "devices cannot link the profile to a root"
    )
    assert "fullchain.pem as certificate (not cert.pem)" in problem.fix
    # The intermediate in `chain` completes it: the profile then verifies against the root.
    signer = signer_for(settings_with(tmp_path, files.signing_data(files.leaf, None, files.intermediate)))
    assert signer is not None
    assert cms_verify(signer.sign(b"x"), files.root, tmp_path).returncode == 0


def test_a_leaf_issued_by_a_root_of_ones_own_is_sent_with_that_root(chain: Chain, tmp_path: Path) -> None:
    files = leaf(chain, tmp_path / "pki", by_root=True)
    [problem] = refused(tmp_path, files.signing_data(files.leaf))
    assert problem.message.startswith("its issuer's certificate (CN=Check Root CA,")
    assert "add that root in chain" in problem.fix
    signer = signer_for(settings_with(tmp_path, files.signing_data(files.leaf, None, files.root)))
    assert signer is not None
    assert cms_verify(signer.sign(b"x"), files.root, tmp_path).returncode == 0


def test_a_chain_skipping_the_intermediate_is_out_of_order(chain: Chain, tmp_path: Path) -> None:
    files = chain.write(tmp_path / "pki")
    [problem] = refused(tmp_path, files.signing_data(files.leaf, None, files.root))
    assert (problem.path, problem.found) == (
        "signing.chain",
        "CN=Check Root CA,O=autoconfig tests at position 1",
    )
    assert problem.message == f"{LEAF} is not issued by the certificate after it"


# --- the dates ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("ago", [dt.timedelta(minutes=5), dt.timedelta(days=40)], ids=["just", "long-ago"])
def test_an_expired_certificate_is_refused(chain: Chain, tmp_path: Path, ago: dt.timedelta) -> None:
    files = leaf(chain, tmp_path / "pki", not_before=NOW - dt.timedelta(days=90), not_after=NOW - ago)
    [problem] = refused(tmp_path, files.signing_data())
    day = f"{NOW - ago:%Y-%m-%d}"
    assert (problem.path, problem.found) == ("signing.certificate", str(files.fullchain))
    assert problem.message == (
        f"{LEAF} expired on {day}: devices would take every new profile as unsigned (Not Verified)"
    )
    assert problem.fix.startswith("renew it (for Let's Encrypt: certbot renew), then reload the service")


def test_a_certificate_not_yet_valid_is_refused(chain: Chain, tmp_path: Path) -> None:
    start = NOW + dt.timedelta(days=2)
    files = leaf(chain, tmp_path / "pki", not_before=start, not_after=NOW + dt.timedelta(days=90))
    [problem] = refused(tmp_path, files.signing_data())
    assert (problem.path, problem.found) == ("signing.certificate", str(files.fullchain))
    assert problem.message == f"{LEAF} is valid only from {start:%Y-%m-%d %H:%M} UTC"
    assert "clock" in problem.fix


def test_a_worker_serving_what_was_checked_does_not_judge_the_dates(chain: Chain, tmp_path: Path) -> None:
    # What the supervisor accepted keeps serving in a worker started after the certificate expired.
    files = leaf(
        chain, tmp_path / "pki", not_before=NOW - dt.timedelta(days=90), not_after=NOW - dt.timedelta(1)
    )
    signer = signer_for(settings_with(tmp_path, files.signing_data()), dates=False)
    assert signer is not None
    assert signer.days_left() < 0
    assert signer.warnings()[0].headline.startswith("the signing certificate expired on ")


def test_an_expired_intermediate_is_a_chain_problem_and_a_root_sent_along_is_not_judged(chain: Chain) -> None:
    # Twenty years on, the CAs (ten years) and the leaf have all expired; the root is the device's own.
    later = NOW + dt.timedelta(days=7300)
    problems = date_problems(chain.leaf, "fullchain.pem", [chain.intermediate, chain.root], later)
    assert [(p.path, p.found) for p in problems] == [
        ("signing.certificate", "fullchain.pem"),
        ("signing.chain", "CN=Check Intermediate CA,O=autoconfig tests"),
    ]
    assert problems[1].message.startswith("CN=Check Intermediate CA,O=autoconfig tests expired on ")
    assert problems[1].fix.startswith("give the CA's current intermediate")
    assert date_problems(chain.leaf, "fullchain.pem", [chain.intermediate, chain.root], NOW) == []


# --- what the certificate may do -------------------------------------------------------------------------


def test_a_certificate_without_digital_signature_is_refused(chain: Chain, tmp_path: Path) -> None:
    files = leaf(chain, tmp_path / "pki", digital_signature=False)
    [problem] = refused(tmp_path, files.signing_data())
    assert (problem.path, problem.found) == ("signing.certificate", str(files.fullchain))
    assert problem.message == f"{LEAF} may not sign: its key usage lacks digitalSignature"


@pytest.mark.parametrize(
    ("usages", "refused_as"),
    [
        pytest.param((ExtendedKeyUsageOID.SERVER_AUTH,), None, id="server"),
        pytest.param((ExtendedKeyUsageOID.EMAIL_PROTECTION,), None, id="smime"),
        pytest.param((ExtendedKeyUsageOID.CODE_SIGNING,), None, id="code"),
        pytest.param((ExtendedKeyUsageOID.TIME_STAMPING,), "timeStamping", id="timestamping"),
        pytest.param((ExtendedKeyUsageOID.OCSP_SIGNING,), "OCSPSigning", id="ocsp"),
        pytest.param((x509.ObjectIdentifier("1.3.6.1.4.1.99999.1"),), "1.3.6.1.4.1.99999.1", id="private"),
    ],
)
def test_extended_key_usage(
    chain: Chain, tmp_path: Path, usages: tuple[x509.ObjectIdentifier, ...], refused_as: str | None
) -> None:
    files = leaf(chain, tmp_path / "pki", usages=usages)
    signing = files.signing_data()
    if refused_as is None:
        assert signer_for(settings_with(tmp_path, signing)) is not None
        return
    [problem] = refused(tmp_path, signing)
    assert (problem.path, problem.found) == ("signing.certificate", str(files.fullchain))
    assert problem.message == f"{LEAF} is only for {refused_as}: devices refuse it as a profile's signer"


def test_every_problem_of_one_certificate_at_once(chain: Chain, tmp_path: Path) -> None:
    files = leaf(
        chain,
        tmp_path / "pki",
        not_before=NOW - dt.timedelta(days=90),
        not_after=NOW - dt.timedelta(days=1),
        digital_signature=False,
    )
    problems = refused(tmp_path, files.signing_data(files.leaf))
    assert [p.path for p in problems] == ["signing.chain", "signing.certificate", "signing.certificate"]
    assert "lacks digitalSignature" in problems[1].message
    assert " expired on " in problems[2].message


# --- the test signature ---------------------------------------------------------------------------------


def test_the_test_signature_verifies_for_rsa_and_ecdsa(kind_chain: Chain) -> None:
    signer = Signer(kind_chain.leaf, kind_chain.leaf_key, (kind_chain.intermediate,))
    assert signature_problems(signer.sign, kind_chain.leaf, [kind_chain.intermediate], "key.pem") == []


def _flip_last_byte(signed: bytes) -> bytes:
    return signed[:-1] + bytes([signed[-1] ^ 0x01])


@pytest.mark.parametrize(
    ("forge", "why"),
    [
        pytest.param(
            lambda chain, signer: lambda content: _flip_last_byte(signer.sign(content)),
            "the signature is not the leaf key's",
            id="signature-damaged",
        ),
        pytest.param(
            lambda chain, signer: lambda content: signer.sign(content).replace(PROBE, PROBE.upper()),
            "the content it carries is not what was signed",
            id="content-changed",
        ),
        pytest.param(
            lambda chain, signer: (
                lambda content: Signer(chain.leaf, make_key("ec"), signer.chain).sign(content)
            ),
            "the signature is not the leaf key's",
            id="another-key",
        ),
        pytest.param(
            lambda chain, signer: lambda content: Signer(chain.leaf, chain.leaf_key, ()).sign(content),
            "the certificates it carries are not the chain",
            id="intermediate-left-out",
        ),
        pytest.param(
            lambda chain, signer: lambda content: signer.sign(b"another content"),
            "the content it carries is not what was signed",
            id="other-content",
        ),
        pytest.param(
            lambda chain, signer: lambda content: b"\x30\x03\x02\x01\x01",
            "ValueError",
            id="not-cms",
        ),
    ],
)
def test_a_test_signature_that_does_not_verify_is_a_key_problem(
    chain: Chain, forge: Callable[[Chain, Signer], Callable[[bytes], bytes]], why: str
) -> None:
    signer = Signer(chain.leaf, chain.leaf_key, (chain.intermediate,))
    [problem] = signature_problems(forge(chain, signer), chain.leaf, [chain.intermediate], "privkey.pem")
    assert (problem.path, problem.found) == ("signing.key", "privkey.pem")
    assert problem.message.startswith("a test signature does not verify with the certificate's public key (")
    assert why in problem.message
    assert problem.fix


def test_the_digest_the_signature_covers_is_the_contents(chain: Chain) -> None:
    # Another content of the same length signed correctly, then the probe put in its place: the signature
    # over the signed attributes still verifies, their messageDigest does not match (a device refuses it).
    def swapped(content: bytes) -> bytes:
        signer = Signer(chain.leaf, chain.leaf_key, (chain.intermediate,))
        return signer.sign(content.upper()).replace(content.upper(), content)

    [problem] = signature_problems(swapped, chain.leaf, [chain.intermediate], "privkey.pem")
    assert "(its messageDigest attribute is not the content's SHA-256)" in problem.message
