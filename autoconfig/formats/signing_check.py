"""The signer's self-check, at every load: the chain it will send, the certificate's dates and uses, and
a test signature verified as a device verifies one, before any profile goes out.

Each check returns Problems (the key, the value, why, the fix) for `check`, `serve` and reloads to report
like any other; the files were read by signing.py, which holds the keys.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding, pkcs7
from cryptography.x509.oid import ExtendedKeyUsageOID

from autoconfig.errors import Problem

PROBE = b"autoconfig signing self-check\n"
RELOAD = "then reload the service (SIGHUP, or service.watch_seconds)"
# Extended key usages under which devices accept a profile's signer: none stated, any, or the web server's
# (the usual public certificate), a client's, e-mail (S/MIME) or code signing.
SIGNING_USAGES = frozenset(
    {
        ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE,
        ExtendedKeyUsageOID.SERVER_AUTH,
        ExtendedKeyUsageOID.CLIENT_AUTH,
        ExtendedKeyUsageOID.EMAIL_PROTECTION,
        ExtendedKeyUsageOID.CODE_SIGNING,
    }
)
MESSAGE_DIGEST = bytes.fromhex("06092a864886f70d010904")  # the OID 1.2.840.113549.1.9.4, DER
Element = tuple[int, int, int, int]  # DER: tag, where the value starts and ends, where the header starts


def subject(certificate: x509.Certificate) -> str:
    return certificate.subject.rfc4514_string()


def self_signed(certificate: x509.Certificate) -> bool:
    if certificate.issuer != certificate.subject:
        return False
    try:
        certificate.verify_directly_issued_by(certificate)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


# --- the chain ----------------------------------------------------------------------------------------------


def chain_problems(leaf: x509.Certificate, chain: list[x509.Certificate]) -> list[Problem]:
    """Each certificate issued by the next (leaf, its issuer, that one's issuer…), ending at a root or
    just below one: a leaf sent alone must be its own issuer, or its issuer's certificate is missing."""
    issued = leaf
    for index, certificate in enumerate(chain):
        try:
            issued.verify_directly_issued_by(certificate)
        except (ValueError, TypeError, InvalidSignature):
            return [
                Problem(
                    "signing.chain",
                    f"{subject(certificate)} at position {index + 1}",
                    f"{subject(issued)} is not issued by the certificate after it",
                    "list the intermediates in order, the leaf's issuer first "
                    "(as in Let's Encrypt's fullchain.pem)",
                )
            ]
        issued = certificate
    # A CA certificate last is taken to be just below a root, which devices hold; a leaf alone is not:
    # public CAs never issue leaves from a root, so its issuer is an intermediate the device lacks.
    if not chain and not self_signed(leaf):
        return [
            Problem(
                "signing.chain",
                f"{subject(leaf)} alone",
                f"its issuer's certificate ({leaf.issuer.rfc4514_string()}) is not sent: "
                "devices cannot link the profile to a root",
                "give the intermediates: Let's Encrypt's fullchain.pem as certificate (not cert.pem), or "
                "chain.pem in chain; if a root of your own issued it directly, add that root in chain",
            )
        ]
    return []


def date_problems(
    leaf: x509.Certificate, where: str, chain: list[x509.Certificate], now: dt.datetime
) -> list[Problem]:
    """The leaf and the intermediates valid now (a root sent along is not judged: devices use their own)."""
    problems = []
    for path, certificate, found in [
        ("signing.certificate", leaf, where),
        *(("signing.chain", c, subject(c)) for c in chain if not self_signed(c)),
    ]:
        name = subject(certificate)
        if now > certificate.not_valid_after_utc:
            problems.append(
                Problem(
                    path,
                    found,
                    f"{name} expired on {certificate.not_valid_after_utc:%Y-%m-%d}: "
                    "devices would take every new profile as unsigned (Not Verified)",
                    f"renew it (for Let's Encrypt: certbot renew), {RELOAD}; to serve until then, "
                    "remove [signing] (profiles go out unsigned)"
                    if path == "signing.certificate"
                    else f"give the CA's current intermediate (Let's Encrypt: fullchain.pem), {RELOAD}",
                )
            )
        elif now < certificate.not_valid_before_utc:
            problems.append(
                Problem(
                    path,
                    found,
                    f"{name} is valid only from {certificate.not_valid_before_utc:%Y-%m-%d %H:%M} UTC",
                    "check this machine's clock (timedatectl), or give the certificate in use today",
                )
            )
    return problems


def usage_problems(leaf: x509.Certificate, where: str) -> list[Problem]:
    """The certificate allowed to sign: digitalSignature when it states key usages, and an extended key
    usage devices accept when it states those."""
    fix = (
        "use a certificate issued for a web server or for signing (such as the service's Let's Encrypt "
        "certificate); in a fullchain.pem the service's own certificate comes first"
    )
    problems = []
    try:
        usage = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        pass
    else:
        if not usage.digital_signature:
            problems.append(
                Problem(
                    "signing.certificate",
                    where,
                    f"{subject(leaf)} may not sign: its key usage lacks digitalSignature",
                    fix,
                )
            )
    try:
        extended = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return problems
    if not SIGNING_USAGES.intersection(extended):
        stated = ", ".join(_usage_name(oid) for oid in extended)
        problems.append(
            Problem(
                "signing.certificate",
                where,
                f"{subject(leaf)} is only for {stated}: devices refuse it as a profile's signer",
                fix,
            )
        )
    return problems


def _usage_name(oid: x509.ObjectIdentifier) -> str:
    name: str = getattr(oid, "_name", "Unknown OID")  # cryptography's name for the OIDs it knows
    return oid.dotted_string if name == "Unknown OID" else name


# --- the test signature ---------------------------------------------------------------------------------


def signature_problems(
    sign: Callable[[bytes], bytes], leaf: x509.Certificate, chain: list[x509.Certificate], key_path: str
) -> list[Problem]:
    """Sign PROBE as profiles are signed, then verify it with the leaf's public key and the chain sent."""
    try:
        signed = sign(PROBE)
        why = _verify(signed, leaf, chain)
    except (ValueError, TypeError, IndexError, StopIteration) as exc:
        why = f"{type(exc).__name__}: {exc}"
    if why is None:
        return []
    return [
        Problem(
            "signing.key",
            key_path,
            f"a test signature does not verify with the certificate's public key ({why})",
            "give the private key issued with the certificate; if it does match, report this as a bug",
        )
    ]


def _verify(signed: bytes, leaf: x509.Certificate, chain: list[x509.Certificate]) -> str | None:
    """Why the DER CMS SignedData would not verify, or None. RFC 5652: the signature covers the signed
    attributes (DER, as a SET), which carry the content's digest."""
    carried = {c.public_bytes(Encoding.DER) for c in pkcs7.load_der_pkcs7_certificates(signed)}
    if carried != {c.public_bytes(Encoding.DER) for c in [leaf, *chain]}:
        return "the certificates it carries are not the chain"
    # ContentInfo { contentType, [0] SignedData { version, digestAlgorithms, encapContentInfo, [0]
    # certificates, signerInfos } }; encapContentInfo { eContentType, [0] OCTET STRING }.
    (_, explicit) = _inside(signed, _tlv(signed, 0))
    (signed_data,) = _inside(signed, explicit)
    fields = _inside(signed, signed_data)
    (_, wrapped) = _inside(signed, fields[2])
    (octets,) = _inside(signed, wrapped)
    if signed[octets[1] : octets[2]] != PROBE:
        return "the content it carries is not what was signed"
    (info,) = _inside(signed, fields[-1])  # the one SignerInfo
    parts = _inside(signed, info)
    attributes = next(part for part in parts if part[0] == 0xA0)  # [0] IMPLICIT signedAttrs
    signature = next(part for part in parts[parts.index(attributes) :] if part[0] == 0x04)
    # Each attribute is { type, SET { value } }: the messageDigest's value is the content's SHA-256.
    digests = [
        signed[value[1] : value[2]]
        for kind, values in (_inside(signed, attribute) for attribute in _inside(signed, attributes))
        if signed[kind[3] : kind[2]] == MESSAGE_DIGEST
        for value in _inside(signed, values)
    ]
    if digests != [hashlib.sha256(PROBE).digest()]:
        return "its messageDigest attribute is not the content's SHA-256"
    covered = b"\x31" + signed[attributes[3] + 1 : attributes[2]]  # the attributes re-tagged as a SET
    value, public = signed[signature[1] : signature[2]], leaf.public_key()
    try:
        if isinstance(public, rsa.RSAPublicKey):
            public.verify(value, covered, padding.PKCS1v15(), hashes.SHA256())
        elif isinstance(public, ec.EllipticCurvePublicKey):
            public.verify(value, covered, ec.ECDSA(hashes.SHA256()))
        else:
            return f"{type(public).__name__} keys cannot sign profiles"
    except InvalidSignature:
        return "the signature is not the leaf key's"
    return None


def _tlv(data: bytes, at: int) -> Element:
    """The element whose header starts at `at` (DER: single-byte tags, definite lengths)."""
    tag, length, start = data[at], data[at + 1], at + 2
    if length & 0x80:
        count = length & 0x7F
        length, start = int.from_bytes(data[start : start + count], "big"), start + count
    if start + length > len(data):
        raise ValueError("truncated DER")
    return tag, start, start + length, at


def _inside(data: bytes, element: Element) -> list[Element]:
    """The elements a constructed element holds."""
    found, at = [], element[1]
    while at < element[2]:
        found.append(_tlv(data, at))
        at = found[-1][2]
    return found
