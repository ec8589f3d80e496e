"""CMS/PKCS#7 signing of Apple profiles, in-process with `cryptography`. The only module that touches keys.

Keys are read once, at start, and never logged or served. At every load the signer checks itself
(signing_check.py): a key that is not the certificate's, a chain out of order or missing its
intermediate, a certificate expired, not yet valid or not for signing, or a test signature that does
not verify, is a problem like any other, so `check` reports it, `serve` refuses to start and a reload
keeps the previous signer. A certificate expiring within 30 days is a warning.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import NameOID

from autoconfig.errors import Note, Problem, SettingsError, counted
from autoconfig.formats.signing_check import (
    chain_problems,
    date_problems,
    signature_problems,
    subject,
    usage_problems,
)
from autoconfig.paths import is_bundled_default, state_dir, write_private
from autoconfig.settings import Settings, SigningSettings

EXPIRY_WARNING_DAYS = 30
DEV_SUBJECT = "autoconfig development signer (not for production)"
DEV_VALIDITY_DAYS = 365
SigningKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


@dataclass(frozen=True)
class Signer:
    """A certificate, its key and the intermediates to send along, ready to sign profiles."""

    certificate: x509.Certificate
    key: SigningKey
    chain: tuple[x509.Certificate, ...]
    development: bool = False

    def sign(self, content: bytes) -> bytes:
        """DER CMS SignedData with the content attached, SHA-256, the signer and its intermediates."""
        builder = (
            pkcs7.PKCS7SignatureBuilder()
            .set_data(content)
            .add_signer(self.certificate, self.key, hashes.SHA256())
        )
        for certificate in self.chain:
            builder = builder.add_certificate(certificate)
        # Binary: the plist's bytes are signed as they are (no newline translation to CRLF).
        return builder.sign(serialization.Encoding.DER, [pkcs7.PKCS7Options.Binary])

    def to_pem(self) -> tuple[bytes, bytes]:
        """The certificate and the key as PEM (the development signer, handed to worker processes)."""
        key = self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        return self.certificate.public_bytes(serialization.Encoding.PEM), key

    @property
    def subject(self) -> str:
        return self.certificate.subject.rfc4514_string()

    @property
    def not_after(self) -> dt.datetime:
        return self.certificate.not_valid_after_utc

    def days_left(self, now: dt.datetime | None = None) -> int:
        return (self.not_after - (now or dt.datetime.now(dt.UTC))).days

    def warnings(self, now: dt.datetime | None = None) -> list[Note]:
        """What to tell the IT team at start: expiry, development certificate."""
        notes = []
        days = self.days_left(now)
        if days < 0:
            notes.append(
                Note(
                    f"the signing certificate expired on {self.not_after:%Y-%m-%d}: "
                    "iOS shows profiles as Not Verified",
                    "renew it, and the service reloads it (SIGHUP, or service.watch_seconds)",
                )
            )
        elif days < EXPIRY_WARNING_DAYS:
            notes.append(
                Note(
                    f"the signing certificate expires in {counted(days, 'day')} "
                    f"({self.not_after:%Y-%m-%d}): renew it"
                )
            )
        if self.development:
            notes.append(
                Note(
                    "Apple profiles are signed with a development certificate: iPhones and Macs show them "
                    "as Not Verified",
                    "the certificate is self-signed, made by this service in its state folder (replicas "
                    "would each sign with their own); for production, configure [signing] with a publicly "
                    "trusted certificate, such as the web server's",
                )
            )
        return notes


def signer_from_pem(certificate: bytes, key: bytes, *, development: bool = False) -> Signer:
    """A signer from a certificate and its key in PEM (as Signer.to_pem gives them)."""
    loaded = serialization.load_pem_private_key(key, password=None)
    if not isinstance(loaded, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise TypeError(f"{type(loaded).__name__} keys cannot sign profiles")
    return Signer(x509.load_pem_x509_certificate(certificate), loaded, (), development=development)


def signer_for(settings: Settings, *, dates: bool = True) -> Signer | None:
    """The signer the settings ask for: their [signing], the development one for the bundled default
    without [signing], or None (profiles served unsigned).

    `dates=False` leaves out the check of the certificates' dates: for a worker building what its
    supervisor already checked, which must serve it even once the certificate has expired since."""
    if settings.signing is not None:
        # The files as they were read with the settings: what `check` accepted is what signs.
        return load_signer(settings.signing, settings.source, settings.file_bytes, dates=dates)
    if is_bundled_default(settings.source):
        return development_signer()
    return None


def load_signer(
    signing: SigningSettings,
    source: Path | str = "settings",
    read: Callable[[Path], bytes] = Path.read_bytes,
    *,
    dates: bool = True,
) -> Signer:
    """Read the signing files and check the signer they make (signing_check.py), its dates unless
    `dates` is False. Raises SettingsError naming the key, the value, why and the fix."""
    problems: list[Problem] = []
    certificates = _read_certificates(read, signing.certificate, "signing.certificate", problems)
    key = _read_key(read, signing.key, problems)
    chain = list(certificates[1:])
    for index, path in enumerate(signing.chain):
        chain += _read_certificates(read, path, f"signing.chain[{index}]", problems)
    if problems:
        raise SettingsError(source, problems)
    leaf = certificates[0]
    assert key is not None  # noqa: S101 - no problem reported means the key was read
    matches = leaf.public_key().public_bytes(*_SPKI) == key.public_key().public_bytes(*_SPKI)
    if not matches:
        problems.append(
            Problem(
                "signing.key",
                str(signing.key),
                f"this key does not belong to the certificate in {signing.certificate.name} "
                f"({subject(leaf)})",
                "give the private key issued with that certificate "
                "(for Let's Encrypt: privkey.pem beside fullchain.pem)",
            )
        )
    # The same certificate twice (fullchain.pem, then chain.pem or cert.pem again, as Let's Encrypt
    # ships them) is no disorder: repeats are dropped before the order is checked.
    chain = _dedupe([leaf, *chain])[1:]
    where = str(signing.certificate)
    problems += chain_problems(leaf, chain) + usage_problems(leaf, where)
    if dates:
        problems += date_problems(leaf, where, chain, dt.datetime.now(dt.UTC))
    signer = Signer(leaf, key, tuple(chain))
    if matches:
        # The profile signer's own path, verified as a device would: what passes here is what ships.
        problems += signature_problems(signer.sign, leaf, chain, str(signing.key))
    if problems:
        raise SettingsError(source, problems)
    return signer


_SPKI = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _read_certificates(
    read: Callable[[Path], bytes], path: Path, where: str, problems: list[Problem]
) -> list[x509.Certificate]:
    try:
        certificates = x509.load_pem_x509_certificates(read(path))
    except (OSError, ValueError) as exc:
        problems.append(
            Problem(
                where,
                str(path),
                f"no PEM certificate could be read: {exc}",
                "give a PEM file (-----BEGIN CERTIFICATE-----)",
            )
        )
        return []
    return certificates


def _read_key(read: Callable[[Path], bytes], path: Path, problems: list[Problem]) -> SigningKey | None:
    fix = "give the certificate's private key as an unencrypted PEM file readable only by the service"
    try:
        key = serialization.load_pem_private_key(read(path), password=None)
    except TypeError:
        problems.append(Problem("signing.key", str(path), "the key is protected by a passphrase", fix))
        return None
    except (OSError, ValueError) as exc:
        # The message names the file, never its content.
        problems.append(
            Problem("signing.key", str(path), f"no PEM private key could be read ({type(exc).__name__})", fix)
        )
        return None
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        problems.append(
            Problem(
                "signing.key",
                str(path),
                f"{type(key).__name__} keys cannot sign profiles",
                "use an RSA or ECDSA key",
            )
        )
        return None
    return key


def _dedupe(certificates: list[x509.Certificate]) -> list[x509.Certificate]:
    seen: set[bytes] = set()
    out = []
    for certificate in certificates:
        der = certificate.public_bytes(serialization.Encoding.DER)
        if der not in seen:
            seen.add(der)
            out.append(certificate)
    return out


# --- the development signer ---------------------------------------------------------------------------


def development_signer(now: dt.datetime | None = None) -> Signer:
    """A self-signed certificate and key, made once in the state folder and reused until near expiry.

    Raises OSError when the state folder cannot keep them (`new_development_signer` makes a pair that
    lives in memory only)."""
    now = now or dt.datetime.now(dt.UTC)
    folder = state_dir() / "dev-signing"
    cert_path, key_path = folder / "certificate.pem", folder / "key.pem"
    if cert_path.is_file() and key_path.is_file():
        try:
            certificate = x509.load_pem_x509_certificate(cert_path.read_bytes())
            key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        except (ValueError, TypeError, OSError):
            pass  # damaged, encrypted or unreadable: made anew below
        else:
            fresh = (certificate.not_valid_after_utc - now).days >= EXPIRY_WARNING_DAYS
            # Two processes making the pair at once may leave one's key beside the other's certificate.
            if (
                fresh
                and isinstance(key, ec.EllipticCurvePrivateKey)
                and key.public_key().public_bytes(*_SPKI) == certificate.public_key().public_bytes(*_SPKI)
            ):
                return Signer(certificate, key, (), development=True)
    signer = new_development_signer(now)
    certificate_pem, key_pem = signer.to_pem()
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_private(key_path, key_pem)
    write_private(cert_path, certificate_pem)
    return signer


def new_development_signer(now: dt.datetime | None = None) -> Signer:
    """A new self-signed certificate (ECDSA P-256, signing only), kept nowhere."""
    now = now or dt.datetime.now(dt.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, DEV_SUBJECT),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "autoconfig (development only)"),
        ]
    )
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=DEV_VALIDITY_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_SIGNING_ONLY, critical=True)
        .sign(key, hashes.SHA256())
    )
    return Signer(certificate, key, (), development=True)


_SIGNING_ONLY = x509.KeyUsage(
    digital_signature=True,
    content_commitment=False,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    key_cert_sign=False,
    crl_sign=False,
    encipher_only=False,
    decipher_only=False,
)
