"""Test certificates made with `cryptography`, and the real `openssl` command that checks signed profiles.

`make_chain` builds root CA -> intermediate CA -> leaf, RSA or ECDSA, with the leaf valid when asked;
`Chain.write` puts them in a folder as PEM files, in the shapes a server's TLS folder holds them
(Let's Encrypt's `fullchain.pem` and `privkey.pem` among them). `reissue_leaf` makes the leaves a signer
must refuse: expired, not yet valid, without digitalSignature, for another use, issued by the root.
"""

from __future__ import annotations

import datetime as dt
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

KeyKind = Literal["rsa", "ec"]
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
LEAF_HOST = "autoconfig.example.org"


def make_key(kind: KeyKind) -> PrivateKey:
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP256R1())


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "autoconfig tests"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _key_usage(*, ca: bool, digital_signature: bool = True) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature and not ca,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def _certificate(
    subject: str,
    *,
    key: PrivateKey,
    issuer: x509.Certificate | None,
    issuer_key: PrivateKey,
    not_before: dt.datetime,
    not_after: dt.datetime,
    path_length: int | None,
    digital_signature: bool = True,
    usages: tuple[x509.ObjectIdentifier, ...] = (ExtendedKeyUsageOID.SERVER_AUTH,),
) -> x509.Certificate:
    ca = path_length is not None
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer.subject if issuer is not None else _name(subject))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=path_length), critical=True)
        .add_extension(_key_usage(ca=ca, digital_signature=digital_signature), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if issuer is not None:
        ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
        )
    if not ca:
        # A web server's certificate, as Let's Encrypt issues them: the kind iOS shows as Verified.
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(LEAF_HOST)]), critical=False
        ).add_extension(x509.ExtendedKeyUsage(list(usages)), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def pem(*certificates: x509.Certificate) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certificates)


def key_pem(key: PrivateKeyTypes, password: bytes | None = None) -> bytes:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    )
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


@dataclass(frozen=True)
class ChainFiles:
    """The PEM files of one chain in one folder."""

    folder: Path
    root: Path  # the trust anchor, for `openssl cms -verify -CAfile`
    intermediate: Path
    leaf: Path  # the leaf alone
    fullchain: Path  # leaf then intermediate, as Let's Encrypt's fullchain.pem
    key: Path  # the leaf's key, unencrypted (privkey.pem)

    def signing_data(
        self, certificate: Path | None = None, key: Path | None = None, *chain: Path
    ) -> dict[str, Any]:
        """A [signing] table naming these files (by default: fullchain.pem and the key), as settings data:
        `settings_data(signing=files.signing_data())`."""
        table: dict[str, Any] = {
            "certificate": str(certificate or self.fullchain),
            "key": str(key or self.key),
        }
        if chain:
            table["chain"] = [str(path) for path in chain]
        return table


@dataclass(frozen=True)
class Chain:
    """Root CA -> intermediate CA -> leaf, each with its key."""

    root: x509.Certificate
    root_key: PrivateKey
    intermediate: x509.Certificate
    intermediate_key: PrivateKey
    leaf: x509.Certificate
    leaf_key: PrivateKey

    def write(self, folder: Path) -> ChainFiles:
        folder.mkdir(parents=True, exist_ok=True)
        files = ChainFiles(
            folder=folder,
            root=folder / "root.pem",
            intermediate=folder / "intermediate.pem",
            leaf=folder / "cert.pem",
            fullchain=folder / "fullchain.pem",
            key=folder / "privkey.pem",
        )
        files.root.write_bytes(pem(self.root))
        files.intermediate.write_bytes(pem(self.intermediate))
        files.leaf.write_bytes(pem(self.leaf))
        files.fullchain.write_bytes(pem(self.leaf, self.intermediate))
        files.key.write_bytes(key_pem(self.leaf_key))
        files.key.chmod(0o600)
        return files


def make_chain(
    kind: KeyKind = "ec",
    *,
    leaf_not_before: dt.datetime | None = None,
    leaf_not_after: dt.datetime | None = None,
    name: str = "Test",
) -> Chain:
    """A fresh chain; the CAs are valid for ten years around now, the leaf for 90 days unless told."""
    now = dt.datetime.now(dt.UTC)
    ca_from, ca_until = now - dt.timedelta(days=3650), now + dt.timedelta(days=3650)
    root_key, intermediate_key, leaf_key = make_key(kind), make_key(kind), make_key(kind)
    root = _certificate(
        f"{name} Root CA",
        key=root_key,
        issuer=None,
        issuer_key=root_key,
        path_length=1,
        not_before=ca_from,
        not_after=ca_until,
    )
    intermediate = _certificate(
        f"{name} Intermediate CA",
        key=intermediate_key,
        issuer=root,
        issuer_key=root_key,
        path_length=0,
        not_before=ca_from,
        not_after=ca_until,
    )
    chain = Chain(root, root_key, intermediate, intermediate_key, root, leaf_key)
    return reissue_leaf(
        chain,
        leaf_not_before or now - dt.timedelta(days=1),
        leaf_not_after or now + dt.timedelta(days=90),
    )


def reissue_leaf(
    chain: Chain,
    not_before: dt.datetime,
    not_after: dt.datetime,
    *,
    digital_signature: bool = True,
    usages: tuple[x509.ObjectIdentifier, ...] = (ExtendedKeyUsageOID.SERVER_AUTH,),
    by_root: bool = False,
) -> Chain:
    """The same CAs and leaf key, with a leaf valid for other dates (expiring, expired), without the
    digitalSignature key usage, for other extended key usages, or issued by the root itself."""
    leaf = _certificate(
        LEAF_HOST,
        key=chain.leaf_key,
        issuer=chain.root if by_root else chain.intermediate,
        issuer_key=chain.root_key if by_root else chain.intermediate_key,
        not_before=not_before,
        not_after=not_after,
        path_length=None,
        digital_signature=digital_signature,
        usages=usages,
    )
    return Chain(chain.root, chain.root_key, chain.intermediate, chain.intermediate_key, leaf, chain.leaf_key)


def write_mismatched_key(chain: Chain, path: Path) -> Path:
    """A key of the same kind as the leaf's that does not belong to it."""
    kind: KeyKind = "rsa" if isinstance(chain.leaf_key, rsa.RSAPrivateKey) else "ec"
    path.write_bytes(key_pem(make_key(kind)))
    return path


# --- the real openssl command -------------------------------------------------------------------------


def openssl(*args: str, data: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["openssl", *args], input=data, capture_output=True, timeout=30, check=False)


def cms_verify(signed: bytes, ca_file: Path, folder: Path) -> subprocess.CompletedProcess[bytes]:
    """`openssl cms -verify` of a DER profile against one trust anchor; stdout is the signed content.

    `-purpose any`: the leaf is a web server's certificate (serverAuth), which iOS accepts for profiles
    but OpenSSL's default S/MIME purpose would refuse. `-binary`: the content is compared byte for byte.
    """
    path = folder / "signed.mobileconfig"
    path.write_bytes(signed)
    return openssl(
        "cms", "-verify", "-binary", "-inform", "DER", "-in", str(path), "-CAfile", str(ca_file),
        "-purpose", "any",
    )  # fmt: skip


def cms_certificates(signed: bytes) -> list[x509.Certificate]:
    """The certificates a DER CMS SignedData carries, as `openssl pkcs7 -print_certs` lists them."""
    result = openssl("pkcs7", "-inform", "DER", "-print_certs", data=signed)
    assert result.returncode == 0, result.stderr.decode()
    return x509.load_pem_x509_certificates(result.stdout)


def cms_print(signed: bytes) -> str:
    """`openssl cms -cmsout -print`: the structure of the SignedData, as text."""
    result = openssl("cms", "-cmsout", "-print", "-inform", "DER", data=signed)
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout.decode("utf-8", "replace")
