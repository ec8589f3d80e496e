"""HTTPS: every name a client asks answers over TLS with a certificate valid for that name, and not
about to expire."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

from cryptography import x509
from cryptography.x509.oid import NameOID

from autoconfig.errors import counted
from autoconfig.formats.signing import EXPIRY_WARNING_DAYS  # the service's own: one threshold

from .network import FetchError, Network
from .report import Result, Status

CLIENT = "https"
MAIN_SITE_FIX = (
    "the organisation's main site should answer HTTPS and send the mail clients' paths to the service "
    '(docs/deployment.md, "The organisation\'s main site")'
)


@dataclass(frozen=True)
class Name:
    host: str
    why: str  # who asks it, for the detail
    # The organisation's main site: clients that find nothing there go on to the next name, so its
    # absence costs time, not settings; a certificate error there is a real failure (Outlook warns).
    main_site: bool = False


def certificate_names(der: bytes) -> list[str]:
    certificate = x509.load_der_x509_certificate(der)
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        return [str(n) for n in san.get_values_for_type(x509.DNSName)]
    except x509.ExtensionNotFound:
        return [str(a.value) for a in certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]


def _issuer(certificate: x509.Certificate) -> str:
    names = certificate.issuer.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else certificate.issuer.rfc4514_string()


@dataclass(frozen=True)
class Checked:
    """One name's result, and what the probe learnt on the way."""

    result: Result
    reached: bool  # a TLS handshake verified for the name (the certificate may still be expiring)
    # The certificate presented where it is not valid for the name (read without checking), if any.
    wrong_certificate: bytes | None = None


def check_names(names: list[Name], network: Network, now: dt.datetime | None = None) -> list[Checked]:
    """One result per name, in order. Where one certificate lacks several of the names it is presented
    for, each of their fixes names them all: one certificate to reissue, not one name at a time."""
    now = now or dt.datetime.now(dt.UTC)
    checked = [_check(name, network, now) for name in names]
    missing: dict[bytes, list[str]] = {}
    for item in checked:
        if item.wrong_certificate is not None:
            missing.setdefault(item.wrong_certificate, []).append(item.result.step)
    return [
        replace(item, result=replace(item.result, fix=names_fix(missing[item.wrong_certificate])))
        if item.wrong_certificate is not None
        else item
        for item in checked
    ]


def names_fix(hosts: list[str]) -> str:
    """The fix for a certificate that does not name `hosts` (all those it is presented for)."""
    flags = " ".join(f"-d {host}" for host in hosts)
    return (
        f"get a certificate that names {', '.join(hosts)} too (certbot: add {flags} to the names it has, "
        "with --expand), then reload the web server"
    )


def _check(name: Name, network: Network, now: dt.datetime) -> Checked:
    host = name.host
    url = f"https://{host}/"
    try:
        der = network.certificate(host)
    except FetchError as failure:
        wrong = _unchecked(host, network) if failure.kind == "tls-name" else None
        return Checked(_failed(name, failure, network, url), reached=False, wrong_certificate=wrong)
    certificate = x509.load_der_x509_certificate(der)
    until = certificate.not_valid_after_utc
    days = (until - now).days
    detail = (
        f"certificate valid for {host} until {until:%Y-%m-%d} (issuer {_issuer(certificate)}); {name.why}"
    )
    if days < EXPIRY_WARNING_DAYS:
        return Checked(
            Result(
                CLIENT,
                host,
                Status.WARN,
                f"the certificate expires in {counted(days, 'day')} ({until:%Y-%m-%d}); {name.why}",
                "renew it now (certbot renew), then reload the web server",
                url,
            ),
            reached=True,
        )
    return Checked(Result(CLIENT, host, Status.OK, detail, url=url), reached=True)


def _failed(name: Name, failure: FetchError, network: Network, url: str) -> Result:
    host = name.host
    if failure.kind.startswith("tls-"):
        shown = presented(host, network)
        if failure.kind == "tls-name":
            return Result(
                CLIENT,
                host,
                Status.FAIL,
                f"the certificate is not valid for {host}{shown}; {name.why}",
                f"get a certificate that names {host} too (certbot: add -d {host} and --expand), "
                "then reload the web server",
                url,
            )
        if failure.kind == "tls-expired":
            return Result(
                CLIENT,
                host,
                Status.FAIL,
                f"the certificate is out of its validity dates{shown}: {failure.message}",
                "renew it (certbot renew), then reload the web server",
                url,
            )
        return Result(
            CLIENT,
            host,
            Status.FAIL,
            f"the certificate is not trusted{shown}: {failure.message}",
            "serve the whole chain (the leaf then its intermediates, as fullchain.pem) from a public CA; "
            "for a private CA, give the probe --ca-file",
            url,
        )
    if name.main_site:
        return Result(CLIENT, host, Status.WARN, f"{failure.message}; {name.why}", MAIN_SITE_FIX, url)
    fix = (
        f"publish an address for {host} (see the dns results)"
        if failure.kind == "dns"
        else f"make the web server answer HTTPS on port 443 for {host} (docs/deployment.md)"
    )
    return Result(CLIENT, host, Status.FAIL, f"{failure.message}; {name.why}", fix, url)


def _unchecked(host: str, network: Network, address: str | None = None) -> bytes | None:
    try:
        return network.certificate(host, verify=False, address=address)
    except FetchError:
        return None


def presented(host: str, network: Network, address: str | None = None) -> str:
    """What the server presents, for the detail: its names and dates, read without checking them."""
    der = _unchecked(host, network, address)
    if der is None:
        return ""
    certificate = x509.load_der_x509_certificate(der)
    names = ", ".join(certificate_names(der)) or "no name"
    return (
        f" (it names {names}; valid {certificate.not_valid_before_utc:%Y-%m-%d} to "
        f"{certificate.not_valid_after_utc:%Y-%m-%d}; issuer {_issuer(certificate)})"
    )
