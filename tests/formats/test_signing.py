"""Signed Apple profiles: CMS SignedData checked with the real `openssl` command against a test chain.

The chains (root CA -> intermediate -> leaf, RSA-2048 and ECDSA P-256) are made once per module by
tests/helpers/certs.py; the service reads them from a settings file's [signing], as in production.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.serialization import pkcs7

from autoconfig.accounts import resolve_account
from autoconfig.errors import SettingsError
from autoconfig.formats.apple import build_mobileconfig
from autoconfig.formats.signing import (
    DEV_SUBJECT,
    Signer,
    development_signer,
    signer_for,
)
from autoconfig.paths import STATE_ENV, state_dir
from autoconfig.settings import Settings, load_settings, settings_warnings
from autoconfig.web.app import create_app
from tests.helpers.certs import (
    Chain,
    ChainFiles,
    KeyKind,
    cms_certificates,
    cms_print,
    cms_verify,
    key_pem,
    make_chain,
    pem,
    reissue_leaf,
    write_mismatched_key,
)
from tests.helpers.commands import assert_no_traceback, autoconfig
from tests.helpers.settings import MINIMAL, settings_data, write_settings

ADDRESS = "anne.marie@example.org"
UNSIGNED_WARNING = "no [signing]: Apple profiles will be served unsigned (iOS shows them as Not Verified)"


@pytest.fixture(scope="module")
def chains() -> dict[KeyKind, Chain]:
    return {"rsa": make_chain("rsa", name="RSA"), "ec": make_chain("ec", name="EC")}


@pytest.fixture(scope="module")
def other_chain() -> Chain:
    """A second, unrelated PKI: its root must not vouch for the first one's leaf."""
    return make_chain("ec", name="Other")


@pytest.fixture(scope="module", params=["rsa", "ec"])
def kind(request: pytest.FixtureRequest) -> KeyKind:
    value: KeyKind = request.param
    return value


@pytest.fixture(scope="module")
def files(
    kind: KeyKind, chains: dict[KeyKind, Chain], tmp_path_factory: pytest.TempPathFactory
) -> ChainFiles:
    return chains[kind].write(tmp_path_factory.mktemp(f"chain-{kind}"))


@pytest.fixture(scope="module")
def minimal(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    # Module-scoped, shared by every signing test: written with the builder, not conftest's settings_file.
    return load_settings(write_settings(tmp_path_factory.mktemp("minimal"), MINIMAL))


@pytest.fixture(scope="module")
def content(minimal: Settings) -> bytes:
    """The unsigned profile the tests sign."""
    return build_mobileconfig(resolve_account(minimal, ADDRESS), "en")


@pytest.fixture(scope="module")
def ec_files(chains: dict[KeyKind, Chain], tmp_path_factory: pytest.TempPathFactory) -> ChainFiles:
    return chains["ec"].write(tmp_path_factory.mktemp("chain-ec-only"))


def settings_with(folder: Path, signing: dict[str, Any]) -> Settings:
    """MINIMAL with this [signing], written to `folder`/settings.toml."""
    return load_settings(write_settings(folder, settings_data(signing=signing)))


def load(folder: Path, signing: dict[str, Any]) -> Signer:
    signer = signer_for(settings_with(folder, signing))
    assert signer is not None
    return signer


def refusal(folder: Path, signing: dict[str, Any]) -> SettingsError:
    """The SettingsError the signing files cause, at start (building the app), never later."""
    settings = settings_with(folder, signing)
    with pytest.raises(SettingsError) as info:
        create_app(settings)
    assert info.value.source == str(settings.source)
    with pytest.raises(SettingsError) as again:
        signer_for(settings)
    assert again.value.render() == info.value.render()
    return info.value


def der(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.DER)


# --- a signature iOS and OpenSSL accept -----------------------------------------------------------------


def test_signed_profile_verifies_against_the_root(files: ChainFiles, content: bytes, tmp_path: Path) -> None:
    signer = load(tmp_path, files.signing_data())  # Let's Encrypt's fullchain.pem and privkey.pem
    signed = signer.sign(content)
    result = cms_verify(signed, files.root, tmp_path)
    assert result.returncode == 0, result.stderr.decode()
    assert result.stderr == b"CMS Verification successful\n"
    # Content attached, byte for byte: what the device installs is the unsigned plist.
    assert result.stdout == content


def test_signed_data_is_der_with_sha256_and_the_chain(
    kind: KeyKind, files: ChainFiles, content: bytes, tmp_path: Path
) -> None:
    signer = load(tmp_path, files.signing_data())
    signed = signer.sign(content)
    assert signed[:1] == b"\x30"  # a DER SEQUENCE, not PEM or S/MIME text
    assert b"-----BEGIN" not in signed
    assert len(pkcs7.load_der_pkcs7_certificates(signed)) == 2
    carried = {der(c) for c in cms_certificates(signed)}
    leaf = x509.load_pem_x509_certificate(files.leaf.read_bytes())
    intermediate = x509.load_pem_x509_certificate(files.intermediate.read_bytes())
    root = x509.load_pem_x509_certificate(files.root.read_bytes())
    assert carried == {der(leaf), der(intermediate)}
    assert der(root) not in carried
    printed = cms_print(signed)
    assert "contentType: pkcs7-signedData (1.2.840.113549.1.7.2)" in printed
    assert "eContentType: pkcs7-data (1.2.840.113549.1.7.1)" in printed
    assert "eContent: <ABSENT>" not in printed
    digests = printed.split("digestAlgorithms:")[1].split("encapContentInfo:")[0]
    assert "algorithm: sha256 (2.16.840.1.101.3.4.2.1)" in digests
    signer_info = printed.split("signerInfos:")[1]
    assert re.search(r"digestAlgorithm:\s*algorithm: sha256 \(2\.16\.840\.1\.101\.3\.4\.2\.1\)", signer_info)
    expected = {"ec": "ecdsa-with-SHA256", "rsa": "rsaEncryption"}[kind]
    assert re.search(rf"signatureAlgorithm:\s*algorithm: {expected} ", signer_info)


def test_tampered_profile_is_rejected(files: ChainFiles, content: bytes, tmp_path: Path) -> None:
    signed = load(tmp_path, files.signing_data()).sign(content)
    # The address is in EmailAddress, the description and both usernames (MINIMAL logs in with it).
    assert signed.count(ADDRESS.encode()) == 4
    tampered = signed.replace(ADDRESS.encode(), b"anne.marie@example.com", 1)
    result = cms_verify(tampered, files.root, tmp_path)
    assert result.returncode != 0
    assert b"Verification failure" in result.stderr
    flipped = signed[:-1] + bytes([signed[-1] ^ 0x01])  # the signature's last byte
    assert cms_verify(flipped, files.root, tmp_path).returncode != 0


def test_another_root_does_not_vouch_for_the_profile(
    ec_files: ChainFiles, other_chain: Chain, content: bytes, tmp_path: Path
) -> None:
    signed = load(tmp_path, ec_files.signing_data()).sign(content)
    other_root = tmp_path / "other-root.pem"
    other_root.write_bytes(pem(other_chain.root))
    result = cms_verify(signed, other_root, tmp_path)
    assert result.returncode != 0
    assert b"unable to get local issuer certificate" in result.stderr


def test_intermediates_from_chain_files(ec_files: ChainFiles, tmp_path: Path) -> None:
    # The leaf alone in `certificate`, the intermediate in `chain`, and the same intermediate again
    # through a fullchain: it is sent once.
    signer = load(tmp_path, ec_files.signing_data(ec_files.leaf, None, ec_files.intermediate))
    assert [der(c) for c in signer.chain] == [
        der(x509.load_pem_x509_certificate(ec_files.intermediate.read_bytes()))
    ]
    result = cms_verify(signer.sign(b"x"), ec_files.root, tmp_path)
    assert result.returncode == 0, result.stderr.decode()
    twice = load(tmp_path, ec_files.signing_data(ec_files.fullchain, None, ec_files.intermediate))
    assert len(cms_certificates(twice.sign(b"x"))) == 2
    # The leaf again, through a fullchain given as `chain`: it is not an intermediate either.
    leaf_again = load(tmp_path, ec_files.signing_data(ec_files.leaf, None, ec_files.fullchain))
    assert [der(c) for c in leaf_again.chain] == [der(c) for c in signer.chain]


def test_root_at_the_end_of_the_chain_is_accepted(
    chains: dict[KeyKind, Chain], ec_files: ChainFiles, tmp_path: Path
) -> None:
    chain = chains["ec"]
    full = tmp_path / "full-with-root.pem"
    full.write_bytes(pem(chain.leaf, chain.intermediate, chain.root))
    signer = load(tmp_path, ec_files.signing_data(full))
    assert cms_verify(signer.sign(b"x"), ec_files.root, tmp_path).returncode == 0


def test_without_the_intermediate_openssl_cannot_build_the_chain(
    chains: dict[KeyKind, Chain], ec_files: ChainFiles, tmp_path: Path
) -> None:
    # Why a leaf sent alone is refused (test_signing_check.py): the device has no path to the root.
    chain = chains["ec"]
    alone = Signer(chain.leaf, chain.leaf_key, ())
    result = cms_verify(alone.sign(b"x"), ec_files.root, tmp_path)
    assert result.returncode != 0
    assert b"unable to get local issuer certificate" in result.stderr
    error = refusal(tmp_path, ec_files.signing_data(ec_files.leaf))
    assert [(p.path, p.found) for p in error.problems] == [
        ("signing.chain", "CN=autoconfig.example.org,O=autoconfig tests alone")
    ]


# --- refused at start -----------------------------------------------------------------------------------


def _no_key_material(text: str, *keys: Path) -> None:
    assert "PRIVATE KEY" not in text
    for key in keys:
        for line in key.read_text(encoding="ascii").splitlines()[1:-1]:
            assert line not in text


def test_key_that_does_not_match_the_certificate(
    kind: KeyKind,
    chains: dict[KeyKind, Chain],
    files: ChainFiles,
    tmp_path: Path,
) -> None:
    wrong = write_mismatched_key(chains[kind], tmp_path / "privkey.pem")
    error = refusal(tmp_path, files.signing_data(None, wrong))
    [problem] = error.problems
    assert problem.path == "signing.key"
    assert problem.found == str(wrong)
    assert problem.message == (
        "this key does not belong to the certificate in fullchain.pem "
        "(CN=autoconfig.example.org,O=autoconfig tests)"
    )
    assert "privkey.pem beside fullchain.pem" in problem.fix
    _no_key_material(error.render(), wrong, files.key)


def test_chain_out_of_order(ec_files: ChainFiles, tmp_path: Path) -> None:
    error = refusal(
        tmp_path, ec_files.signing_data(ec_files.leaf, None, ec_files.root, ec_files.intermediate)
    )
    [problem] = error.problems
    assert problem.path == "signing.chain"
    assert problem.found == "CN=EC Root CA,O=autoconfig tests at position 1"
    assert (
        problem.message
        == "CN=autoconfig.example.org,O=autoconfig tests is not issued by the certificate after it"
    )
    assert "leaf's issuer first" in problem.fix


def test_fullchain_with_the_intermediate_first(ec_files: ChainFiles, tmp_path: Path) -> None:
    reversed_chain = ec_files.folder / "reversed.pem"
    reversed_chain.write_bytes(ec_files.intermediate.read_bytes() + ec_files.leaf.read_bytes())
    error = refusal(tmp_path, ec_files.signing_data(reversed_chain))
    assert [p.path for p in error.problems] == ["signing.key", "signing.chain", "signing.certificate"]
    assert "CN=EC Intermediate CA" in error.problems[0].message
    # The CA certificate first may not sign, and the fix says where the service's own goes.
    assert error.problems[2].message.endswith("may not sign: its key usage lacks digitalSignature")
    assert "the service's own certificate comes first" in error.problems[2].fix


def test_intermediate_of_another_pki(ec_files: ChainFiles, other_chain: Chain, tmp_path: Path) -> None:
    stranger = tmp_path / "stranger.pem"
    stranger.write_bytes(pem(other_chain.intermediate))
    error = refusal(tmp_path, ec_files.signing_data(ec_files.leaf, None, stranger))
    assert [p.path for p in error.problems] == ["signing.chain"]
    assert error.problems[0].found == "CN=Other Intermediate CA,O=autoconfig tests at position 1"


@pytest.mark.parametrize(
    ("make_key", "message"),
    [
        pytest.param(
            lambda chain: key_pem(chain.leaf_key, password=b"correct horse"),
            "the key is protected by a passphrase",
            id="encrypted-key",
        ),
        pytest.param(
            lambda chain: chain.leaf_key.private_bytes(
                serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ),
            "no PEM private key could be read (ValueError)",
            id="der-key",
        ),
        pytest.param(
            lambda chain: b"not a key\n",
            "no PEM private key could be read (ValueError)",
            id="text",
        ),
        pytest.param(
            lambda chain: pem(chain.leaf),
            "no PEM private key could be read (ValueError)",
            id="certificate-as-key",
        ),
        pytest.param(
            lambda chain: key_pem(ed25519.Ed25519PrivateKey.generate()),
            "Ed25519PrivateKey keys cannot sign profiles",
            id="ed25519",
        ),
    ],
)
def test_unusable_key(
    chains: dict[KeyKind, Chain],
    ec_files: ChainFiles,
    tmp_path: Path,
    make_key: Callable[[Chain], bytes],
    message: str,
) -> None:
    key = tmp_path / "key.pem"
    key.write_bytes(make_key(chains["ec"]))
    error = refusal(tmp_path, ec_files.signing_data(None, key))
    [problem] = error.problems
    assert (problem.path, problem.found, problem.message) == ("signing.key", str(key), message)
    assert problem.fix
    _no_key_material(error.render(), ec_files.key)


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"-----BEGIN-----\n", id="broken-pem"),
        pytest.param(None, id="der"),
        pytest.param(b"key", id="key-as-certificate"),
    ],
)
def test_unreadable_certificate(
    chains: dict[KeyKind, Chain],
    ec_files: ChainFiles,
    tmp_path: Path,
    content: bytes | None,
) -> None:
    bad = tmp_path / "cert.pem"
    if content is None:
        content = der(chains["ec"].leaf)
    elif content == b"key":
        content = ec_files.key.read_bytes()
    bad.write_bytes(content)
    for signing, where in [
        (ec_files.signing_data(bad), "signing.certificate"),
        (ec_files.signing_data(ec_files.leaf, None, ec_files.intermediate, bad), "signing.chain[1]"),
    ]:
        error = refusal(tmp_path, signing)
        [problem] = error.problems
        assert problem.path == where
        assert problem.found == str(bad)
        assert problem.message.startswith("no PEM certificate could be read")
        assert problem.fix == "give a PEM file (-----BEGIN CERTIFICATE-----)"
        _no_key_material(error.render(), ec_files.key)


def test_every_problem_at_once(ec_files: ChainFiles, tmp_path: Path) -> None:
    bad_cert, bad_key = tmp_path / "cert.pem", tmp_path / "key.pem"
    bad_cert.write_bytes(b"nothing\n")
    bad_key.write_bytes(b"nothing\n")
    error = refusal(tmp_path, ec_files.signing_data(bad_cert, bad_key))
    assert [p.path for p in error.problems] == ["signing.certificate", "signing.key"]
    assert error.render().startswith(f"{error.source}: 2 problems\n  signing.certificate: found {bad_cert}\n")


# --- the command line: exit 1 with the problem, never a traceback or a key --------------------------------


def _cli_case(case: str, files: ChainFiles, other: Chain, folder: Path) -> tuple[dict[str, Any], str]:
    """A [signing] table with one kind of problem, and the start of what `check` must say."""
    if case == "mismatched-key":
        wrong = folder / "privkey.pem"
        wrong.write_bytes(key_pem(other.leaf_key))
        return files.signing_data(None, wrong), f"  signing.key: found {wrong}\n    this key does not belong"
    if case == "encrypted-key":
        locked = folder / "privkey.pem"
        locked.write_bytes(key_pem(other.leaf_key, password=b"secret"))
        return files.signing_data(None, locked), f"  signing.key: found {locked}\n    the key is protected"
    if case == "expired":
        now = dt.datetime.now(dt.UTC)
        old = reissue_leaf(other, now - dt.timedelta(days=100), now - dt.timedelta(days=10))
        expired = old.write(folder / "expired")
        day = f"{old.leaf.not_valid_after_utc:%Y-%m-%d}"
        return expired.signing_data(), (
            f"  signing.certificate: found {expired.fullchain}\n"
            f"    CN=autoconfig.example.org,O=autoconfig tests expired on {day}: "
        )
    if case == "no-intermediate":
        signing = files.signing_data(files.leaf)
        return signing, "  signing.chain: found CN=autoconfig.example.org,O=autoconfig tests alone\n"
    if case == "chain-order":
        signing = files.signing_data(files.leaf, None, files.root, files.intermediate)
        return signing, "  signing.chain: found CN=EC Root CA,O=autoconfig tests at position 1\n"
    broken = folder / "cert.pem"
    broken.write_bytes(files.key.read_bytes())  # the key where the certificate should be
    return files.signing_data(broken), f"  signing.certificate: found {broken}\n    no PEM certificate"


@pytest.mark.parametrize(
    ("command", "case"),
    [
        ("check", "mismatched-key"),
        ("serve", "mismatched-key"),
        ("check", "encrypted-key"),
        ("serve", "chain-order"),
        ("check", "not-pem"),
        ("check", "expired"),
        ("serve", "expired"),
        ("check", "no-intermediate"),
        ("serve", "no-intermediate"),
    ],
)
def test_cli_refuses_unusable_signing_files(
    command: str, case: str, ec_files: ChainFiles, other_chain: Chain, tmp_path: Path
) -> None:
    signing, says = _cli_case(case, ec_files, other_chain, tmp_path)
    path = settings_with(tmp_path, signing).source
    with pytest.raises(SettingsError) as info:
        signer_for(load_settings(path))
    args = [command, "--settings", str(path)] + (["--port", "0"] if command == "serve" else [])
    result = autoconfig(*args, timeout=20)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == info.value.render() + "\n"
    assert result.stderr.startswith(f"{path}: 1 problem\n{says}")
    assert "\n    fix: " in result.stderr
    assert "Uvicorn running" not in result.stderr
    assert_no_traceback(result)
    _no_key_material(result.stdout + result.stderr, ec_files.key, *tmp_path.glob("privkey.pem"))


def test_cli_check_warns_of_a_certificate_about_to_expire(
    chains: dict[KeyKind, Chain], tmp_path: Path
) -> None:
    now = dt.datetime.now(dt.UTC)
    files = reissue_leaf(
        chains["ec"], now - dt.timedelta(days=80), now + dt.timedelta(days=10, hours=1)
    ).write(tmp_path / "expiring")
    path = settings_with(tmp_path, files.signing_data()).source
    result = autoconfig("check", "--settings", str(path))
    assert result.returncode == 0, result.stderr
    day = (now + dt.timedelta(days=10, hours=1)).strftime("%Y-%m-%d")
    assert result.stderr == f"warning: the signing certificate expires in 10 days ({day}): renew it\n"
    assert_no_traceback(result)


# --- expiry -----------------------------------------------------------------------------------------------


def _signer_valid(chains: dict[KeyKind, Chain], tmp_path: Path, days: float) -> Signer:
    now = dt.datetime.now(dt.UTC)
    chain = reissue_leaf(chains["ec"], now - dt.timedelta(days=400), now + dt.timedelta(days=days))
    return load(tmp_path, chain.write(tmp_path / "leaf").signing_data())


@pytest.mark.parametrize(
    ("days", "expected"),
    [
        (90, []),
        (30.5, []),
        (29.5, ["the signing certificate expires in 29 days ({day}): renew it"]),
        (0.5, ["the signing certificate expires in 0 days ({day}): renew it"]),
        (1.5, ["the signing certificate expires in 1 day ({day}): renew it"]),
    ],
)
def test_expiry_warnings(
    chains: dict[KeyKind, Chain],
    tmp_path: Path,
    days: float,
    expected: list[str],
) -> None:
    # Expiring soon is a warning; expired is refused at load (test_signing_check.py).
    signer = _signer_valid(chains, tmp_path, days)
    day = f"{signer.not_after:%Y-%m-%d}"
    assert [note.headline for note in signer.warnings()] == [text.format(day=day) for text in expected]
    assert signer.development is False


def test_days_left_counts_from_the_given_time(chains: dict[KeyKind, Chain], tmp_path: Path) -> None:
    signer = _signer_valid(chains, tmp_path, 90.5)
    assert signer.days_left() == 90
    assert signer.days_left(signer.not_after - dt.timedelta(days=3, hours=1)) == 3
    assert signer.warnings(signer.not_after + dt.timedelta(hours=1))[0].headline.startswith(
        "the signing certificate expired"
    )


# --- unsigned -------------------------------------------------------------------------------------------


def test_no_signing_on_a_settings_file_of_ones_own(minimal: Settings) -> None:
    settings = minimal
    assert signer_for(settings) is None
    assert UNSIGNED_WARNING in [note.headline for note in settings_warnings(settings)]


def test_signing_configured_means_no_unsigned_warning(ec_files: ChainFiles, tmp_path: Path) -> None:
    settings = settings_with(tmp_path, ec_files.signing_data())
    assert settings_warnings(settings) == []


# --- the development signer of the bundled default --------------------------------------------------------


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_bundled_default_gets_the_development_signer(settings: Settings, tmp_path: Path) -> None:
    assert settings.signing is None
    signer = signer_for(settings)
    assert signer is not None
    assert signer.development is True
    certificate = signer.certificate
    assert DEV_SUBJECT in signer.subject
    assert "development" in signer.subject
    assert certificate.issuer == certificate.subject
    certificate.verify_directly_issued_by(certificate)  # self-signed
    assert signer.chain == ()
    assert any("development certificate" in note.headline for note in signer.warnings())
    # Kept in the state folder the tests point AUTOCONFIG_STATE_DIR at, never in $HOME.
    folder = state_dir() / "dev-signing"
    assert folder.parent == Path(os.environ[STATE_ENV])
    assert (folder / "certificate.pem").read_bytes() == pem(certificate)
    assert _mode(folder / "certificate.pem") == 0o600
    assert _mode(folder / "key.pem") == 0o600
    # Reused: the same certificate and key on the next call.
    again = signer_for(settings)
    assert again is not None
    assert der(again.certificate) == der(certificate)
    assert key_pem(again.key) == key_pem(signer.key)
    # It signs profiles that verify against itself.
    content = build_mobileconfig(resolve_account(settings, "jean.dupont@ac-paris.fr"), "fr")
    ca = tmp_path / "dev.pem"
    ca.write_bytes(pem(certificate))
    result = cms_verify(signer.sign(content), ca, tmp_path)
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout == content


def test_development_signer_made_once(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(STATE_ENV, str(tmp_path / "state"))
    first = development_signer()
    folder = tmp_path / "state" / "dev-signing"
    assert sorted(p.name for p in folder.iterdir()) == ["certificate.pem", "key.pem"]  # no temporary left
    assert _mode(folder) == 0o700
    assert _mode(folder / "key.pem") == 0o600
    stamp = (folder / "key.pem").stat().st_mtime_ns
    second = development_signer()
    assert der(second.certificate) == der(first.certificate)
    assert (folder / "key.pem").stat().st_mtime_ns == stamp


def test_development_signer_renewed_near_expiry(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(STATE_ENV, str(tmp_path))
    now = dt.datetime.now(dt.UTC)
    first = development_signer(now)
    assert der(development_signer(now + dt.timedelta(days=300)).certificate) == der(first.certificate)
    renewed = development_signer(now + dt.timedelta(days=340))
    assert der(renewed.certificate) != der(first.certificate)
    assert renewed.days_left(now + dt.timedelta(days=340)) >= 364


@pytest.mark.parametrize("damage", ["certificate", "key", "mismatch"])
def test_damaged_development_files_are_made_anew(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, damage: str
) -> None:
    monkeypatch.setenv(STATE_ENV, str(tmp_path))
    folder = tmp_path / "dev-signing"
    first = development_signer()
    if damage == "mismatch":
        # Two workers starting at once may each write one of the files: a key from another pair.
        (folder / "key.pem").write_bytes(key_pem(make_chain("ec").leaf_key))
    else:
        (folder / f"{damage}.pem").write_bytes(b"-----BEGIN truncated")
    signer = development_signer()
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    assert signer.key.public_key().public_bytes(serialization.Encoding.DER, public) == (
        signer.certificate.public_key().public_bytes(serialization.Encoding.DER, public)
    )
    ca = tmp_path / "ca.pem"
    ca.write_bytes(pem(signer.certificate))
    assert cms_verify(signer.sign(b"x"), ca, tmp_path).returncode == 0
    assert (folder / "certificate.pem").read_bytes() == pem(signer.certificate)
    if damage != "mismatch":
        assert der(signer.certificate) != der(first.certificate)


def test_cli_check_makes_the_development_certificate_once(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(STATE_ENV, str(tmp_path))
    first = autoconfig("check")
    assert first.returncode == 0, first.stderr
    assert "signed with a development certificate" in first.stderr
    certificate = (tmp_path / "dev-signing" / "certificate.pem").read_bytes()
    second = autoconfig("check")
    assert second.returncode == 0, second.stderr
    assert (tmp_path / "dev-signing" / "certificate.pem").read_bytes() == certificate
    assert_no_traceback(second)
