"""Apple devices: the profile the guide's button downloads, its CMS signature checked with the `openssl`
command (as a device checks it: content attached, the signer chained to a trusted root), and the mail
settings inside."""

from __future__ import annotations

import datetime as dt
import plistlib
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from autoconfig.accounts import Account
from autoconfig.errors import counted
from autoconfig.formats.apple import MEDIA_TYPE
from autoconfig.formats.signing import DEV_SUBJECT, EXPIRY_WARNING_DAYS
from autoconfig.settings import Settings

from .chains import SERVICE_ANSWERS_OTHERWISE
from .expected import MailServer, Outcome, compare, expected_outcome, login_fix
from .network import FetchError, Network
from .report import Result, Status

CLIENT = "apple"
AGENT = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Mobile/15E148"
)
# What Apple's UseSSL means on the ports that start in plain: STARTTLS required.
APPLE_STARTTLS_PORTS = (143, 110, 587, 25)
SIGNING_DOCS = 'docs/clients.md, "Signing, Verified and Not Verified"'


@dataclass(frozen=True)
class Verification:
    signed: bool
    content: bytes  # the plist
    signer: x509.Certificate | None = None
    problem: str | None = None  # the signature does not verify
    trusted: bool = False
    trust_problem: str = ""


def _openssl(*args: str, timeout: float) -> subprocess.CompletedProcess[bytes]:
    command = shutil.which("openssl")
    if command is None:
        raise FileNotFoundError("openssl")
    # The arguments are the probe's own, and the one file it names is a temporary one it wrote.
    return subprocess.run([command, *args], capture_output=True, timeout=timeout, check=False)  # noqa: S603


def verify(profile: bytes, ca_file: Path | None, timeout: float) -> Verification:
    """The signature alone, then the signer's chain against the system's roots (and `ca_file`).
    Raises FileNotFoundError without openssl, subprocess.TimeoutExpired."""
    if profile.lstrip().startswith(b"<?xml"):
        return Verification(False, profile)
    with tempfile.TemporaryDirectory(prefix="autoconfig-probe-") as folder:
        signed, content, signer = Path(folder, "profile"), Path(folder, "content"), Path(folder, "signer.pem")
        signed.write_bytes(profile)
        common = ["cms", "-verify", "-binary", "-inform", "DER", "-in", str(signed)]
        # -noverify: the signature and the content first, whoever signed.
        alone = _openssl(*common, "-noverify", "-out", str(content), "-signer", str(signer), timeout=timeout)
        if alone.returncode != 0:
            message = alone.stderr.decode("utf-8", "replace").strip().splitlines()
            return Verification(True, b"", problem=message[0] if message else "openssl cms -verify failed")
        try:
            certificate = x509.load_pem_x509_certificate(signer.read_bytes())
        except (OSError, ValueError):
            return Verification(True, b"", problem="the signature names no signer certificate")
        # -purpose any: iOS takes a web server's certificate (serverAuth) for profiles, OpenSSL's
        # default S/MIME purpose would not.
        trust = ["-purpose", "any", "-out", str(Path(folder, "checked"))]
        if ca_file is not None:
            trust += ["-CAfile", str(ca_file)]
        chained = _openssl(*common, *trust, timeout=timeout)
        reason = chained.stderr.decode("utf-8", "replace")
        return Verification(
            True,
            content.read_bytes(),
            certificate,
            trusted=chained.returncode == 0,
            trust_problem=_verify_reason(reason),
        )


def _verify_reason(stderr: str) -> str:
    for line in stderr.splitlines():
        if "Verify error:" in line:
            return line.split("Verify error:", 1)[1].strip()
    return stderr.strip().splitlines()[0] if stderr.strip() else ""


def _subject(certificate: x509.Certificate) -> str:
    return certificate.subject.rfc4514_string()


def mail_outcome(content: bytes) -> tuple[Outcome, list[str]]:
    """The mail payload's servers, UseSSL read as devices read it; and the payload types found."""
    try:
        profile: Any = plistlib.loads(content)
    except (plistlib.InvalidFileException, ValueError) as exc:
        raise ValueError(f"the signed content is not a property list ({exc})") from None
    payloads = profile.get("PayloadContent", []) if isinstance(profile, dict) else []
    types = [p.get("PayloadType", "") for p in payloads if isinstance(p, dict)]
    mail = next(
        (p for p in payloads if isinstance(p, dict) and p.get("PayloadType") == "com.apple.mail.managed"),
        None,
    )
    if mail is None:
        raise ValueError("no com.apple.mail.managed payload")

    def server(prefix: str, protocol: str) -> MailServer:
        port = int(mail.get(f"{prefix}MailServerPortNumber", 0))
        use_ssl = bool(mail.get(f"{prefix}MailServerUseSSL", False))
        security = ("starttls" if port in APPLE_STARTTLS_PORTS else "tls") if use_ssl else "none"
        return MailServer(
            protocol,
            str(mail.get(f"{prefix}MailServerHostName", "")).lower(),
            port,
            security,
            str(mail.get(f"{prefix}MailServerUsername", "")),
        )

    incoming = "imap" if mail.get("EmailAccountType") == "EmailTypeIMAP" else "pop3"
    return Outcome(server("Incoming", incoming), server("Outgoing", "smtp")), types


def apple(
    settings: Settings, account: Account, typed: str, network: Network, now: dt.datetime
) -> list[Result]:
    base = settings.service.public_url.rstrip("/")
    url = f"{base}/profile.mobileconfig?email={quote(typed, safe='@')}"
    try:
        answer = network.fetch("GET", url, headers={"User-Agent": AGENT, "Accept": "*/*"})
    except FetchError as failure:
        return [
            Result(
                CLIENT,
                "download",
                Status.FAIL,
                failure.message,
                "see the https results for the service's name",
                url,
            )
        ]
    disposition = answer.header("content-disposition") or ""
    if answer.status != 200 or answer.content_type != MEDIA_TYPE:
        detail = f"HTTP {answer.status}, {answer.content_type or 'no type'}: iOS installs only {MEDIA_TYPE}"
        return [
            Result(
                CLIENT,
                "download",
                Status.FAIL,
                detail,
                "serve the service's answer untouched by proxies",
                url,
            )
        ]
    results = [
        Result(
            CLIENT,
            "download",
            Status.OK,
            f"{MEDIA_TYPE}, {len(answer.body)} bytes, {disposition or 'inline'}",
            url=url,
        )
    ]
    try:
        checked = verify(answer.body, network.ca_file, network.timeout)
    except FileNotFoundError:
        results.append(
            Result(
                CLIENT,
                "signature",
                Status.WARN,
                "not checked: the openssl command is not installed",
                "install openssl (Debian: apt-get install openssl)",
                url,
            )
        )
        return results
    except subprocess.TimeoutExpired:
        results.append(
            Result(CLIENT, "signature", Status.WARN, "not checked: openssl did not finish in time", None, url)
        )
        return results
    if not checked.signed:
        results.append(
            Result(
                CLIENT,
                "signature",
                Status.WARN,
                "unsigned: iOS shows the profile as Not Verified",
                f"configure [signing] ({SIGNING_DOCS})",
                url,
            )
        )
    elif checked.problem is not None:
        results.append(
            Result(
                CLIENT,
                "signature",
                Status.FAIL,
                f"the signature does not verify: {checked.problem}",
                "check what rewrites the answer between the service and the device",
                url,
            )
        )
        return results
    else:
        results.append(
            Result(CLIENT, "signature", Status.OK, "CMS signature verifies, content attached", url=url)
        )
        results += _signer(settings, checked, now, url)
    results.append(_settings(checked.content, account, url))
    return results


def _signer(settings: Settings, checked: Verification, now: dt.datetime, url: str) -> list[Result]:
    certificate = checked.signer
    assert certificate is not None  # noqa: S101 - a verified signature names its signer
    subject = _subject(certificate)
    until = certificate.not_valid_after_utc
    days = (until - now).days
    renew = "renew the certificate [signing] names, then reload the service (systemctl reload autoconfig)"
    if until < now:
        result = Result(
            CLIENT,
            "signer",
            Status.FAIL,
            f"{subject} expired on {until:%Y-%m-%d}: iOS treats new installs as unsigned and shows "
            "installed profiles as Not Verified",
            renew,
            url,
        )
    elif DEV_SUBJECT in subject:
        result = Result(
            CLIENT,
            "signer",
            Status.WARN,
            f"Not Verified: the self-signed development certificate ({subject}), until {until:%Y-%m-%d}",
            f"configure [signing] with a certificate from a public CA ({SIGNING_DOCS})",
            url,
        )
    elif not checked.trusted:
        result = Result(
            CLIENT,
            "signer",
            Status.WARN,
            f"Not Verified: {subject}, until {until:%Y-%m-%d}, does not chain to a root devices trust "
            f"({checked.trust_problem})",
            f"sign with a certificate from a public CA, its intermediates included ({SIGNING_DOCS})",
            url,
        )
    elif days < EXPIRY_WARNING_DAYS:
        result = Result(
            CLIENT,
            "signer",
            Status.WARN,
            f"Verified, but {subject} expires in {counted(days, 'day')} ({until:%Y-%m-%d})",
            renew,
            url,
        )
    else:
        result = Result(CLIENT, "signer", Status.OK, f"Verified: {subject}, until {until:%Y-%m-%d}", url=url)
    results = [result]
    if settings.signing is not None:
        results.append(_configured(settings, certificate, url))
    return results


def _configured(settings: Settings, signer: x509.Certificate, url: str) -> Result:
    """Whether the service signs with the certificate these settings name (an old one means it serves
    older settings or files)."""
    assert settings.signing is not None  # noqa: S101 - only asked with [signing]
    try:
        configured = x509.load_pem_x509_certificates(settings.file_bytes(settings.signing.certificate))[0]
    except (OSError, ValueError, IndexError):
        return Result(
            CLIENT,
            "signer-file",
            Status.WARN,
            "the certificate [signing] names cannot be read here: not compared",
            None,
            url,
        )
    if configured.fingerprint(hashes.SHA256()) == signer.fingerprint(hashes.SHA256()):
        return Result(CLIENT, "signer-file", Status.OK, "the certificate [signing] names", url=url)
    return Result(
        CLIENT,
        "signer-file",
        Status.WARN,
        f"signed by {_subject(signer)} (until {signer.not_valid_after_utc:%Y-%m-%d}), not by the certificate "
        f"[signing] names ({_subject(configured)}, until {configured.not_valid_after_utc:%Y-%m-%d})",
        "reload the service so that it reads the signing files again (systemctl reload autoconfig)",
        url,
    )


def _settings(content: bytes, account: Account, url: str) -> Result:
    try:
        outcome, types = mail_outcome(content)
    except ValueError as exc:
        return Result(CLIENT, "result", Status.FAIL, str(exc), SERVICE_ANSWERS_OTHERWISE, url)
    wanted = expected_outcome(account)
    differences = compare(outcome, wanted)
    extras = [
        t.removeprefix("com.apple.").removesuffix(".account") for t in types if t != "com.apple.mail.managed"
    ]
    shown = outcome.describe() + (f" (with {', '.join(extras)})" if extras else "")
    if differences.servers or (differences.logins and login_fix(account) is None):
        return Result(
            CLIENT,
            "result",
            Status.FAIL,
            f"ends up with {shown}: {differences.describe()}",
            SERVICE_ANSWERS_OTHERWISE,
            url,
        )
    if differences.logins:
        return Result(
            CLIENT,
            "result",
            Status.WARN,
            f"ends up with {shown}: {differences.describe()}",
            login_fix(account),
            url,
        )
    return Result(CLIENT, "result", Status.OK, f"ends up with {shown}", url=url)
