"""Outlook: autodiscover.json, then the POX POST at the addresses classic Outlook tries, in its order;
and the `mobilesync` schema Microsoft's cloud may ask, which must get error 601, not a crash."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from urllib.parse import quote
from xml.sax.saxutils import escape

from lxml import etree

from autoconfig.accounts import Account
from autoconfig.formats import hardened_xml
from autoconfig.formats.outlook import MOBILESYNC_NS, NO_PROVIDER, OUTLOOK_NS

from .chains import Step, UnusableAnswerError, judge, judged_step
from .expected import MailServer, Outcome, expected_outcome, login_fix
from .lookup import LookupFailure
from .network import Answer, FetchError, Network
from .report import Result, Status

CLIENT = "outlook"
AGENT = "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17928; Pro)"
REQUEST_NS = "http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"
MOBILESYNC_REQUEST_NS = "http://schemas.microsoft.com/exchange/autodiscover/mobilesync/requestschema/2006"
MEDIA_TYPES = ("text/xml", "application/xml")
# Outlook reads Encryption before SSL: TLS is STARTTLS on the port given, SSL implicit TLS.
_ENCRYPTION = {"tls": "starttls", "ssl": "tls", "none": "none", "auto": "tls"}


@dataclass(frozen=True)
class PoxAnswer:
    action: str  # settings, redirectAddr or error
    protocols: list[dict[str, str]] = field(default_factory=list)
    redirect: str | None = None
    error_code: int | None = None
    error_message: str = ""


def request_body(address: str, schema: str = OUTLOOK_NS, namespace: str = REQUEST_NS) -> bytes:
    """What Outlook POSTs."""
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        f'<Autodiscover xmlns="{namespace}"><Request><EMailAddress>{escape(address)}</EMailAddress>'
        f"<AcceptableResponseSchema>{schema}</AcceptableResponseSchema></Request></Autodiscover>"
    ).encode()


def _local(element: etree._Element) -> str:
    return etree.QName(element).localname if isinstance(element.tag, str) else ""


def _child(parent: etree._Element, name: str) -> etree._Element | None:
    return next((c for c in parent if _local(c) == name), None)


def parse_pox(body: bytes) -> PoxAnswer:
    """A POX answer, matched by local names (Outlook's reader does not insist on prefixes). Raises
    UnusableAnswerError."""
    try:
        root = hardened_xml.parse(body)
    except (etree.XMLSyntaxError, ValueError) as exc:
        raise UnusableAnswerError(f"not well-formed XML ({exc})") from None
    response = _child(root, "Response") if _local(root) == "Autodiscover" else None
    if response is None:
        raise UnusableAnswerError("not an Autodiscover answer")
    error = _child(response, "Error")
    if error is not None:
        code = _child(error, "ErrorCode")
        message = _child(error, "Message")
        try:
            number = int((code.text or "").strip()) if code is not None else None
        except ValueError:
            number = None
        return PoxAnswer(
            "error", error_code=number, error_message=(message.text or "") if message is not None else ""
        )
    account = _child(response, "Account")
    if account is None:
        raise UnusableAnswerError("no Account in the answer")
    action_element = _child(account, "Action")
    action = (action_element.text or "").strip() if action_element is not None else ""
    if action == "redirectAddr":
        target = _child(account, "RedirectAddr")
        return PoxAnswer(action, redirect=(target.text or "").strip() if target is not None else None)
    protocols = [{_local(c): (c.text or "").strip() for c in p} for p in account if _local(p) == "Protocol"]
    return PoxAnswer(action, protocols)


def _mail_server(protocol: dict[str, str]) -> MailServer:
    encryption = protocol.get("Encryption")
    if encryption is not None:
        security = _ENCRYPTION.get(encryption.lower())
        if security is None:
            raise UnusableAnswerError(f"Encryption {encryption!r}")
    else:
        security = "none" if protocol.get("SSL", "on").lower() == "off" else "tls"
    try:
        port = int(protocol.get("Port", ""))
    except ValueError:
        raise UnusableAnswerError(f"Port {protocol.get('Port')!r}") from None
    return MailServer(
        protocol.get("Type", "").lower(),
        protocol.get("Server", "").lower(),
        port,
        security,
        protocol.get("LoginName"),
    )


def pox_outcome(answer: PoxAnswer) -> Outcome:
    incoming = next((p for p in answer.protocols if p.get("Type") in ("IMAP", "POP3")), None)
    outgoing = next((p for p in answer.protocols if p.get("Type") == "SMTP"), None)
    if incoming is None or outgoing is None:
        raise UnusableAnswerError("no IMAP or POP3 and SMTP Protocol in the answer")
    return Outcome(_mail_server(incoming), _mail_server(outgoing))


def _post(network: Network, url: str, body: bytes) -> Answer:
    return network.fetch("POST", url, headers={"User-Agent": AGENT, "Content-Type": "text/xml"}, body=body)


def read_pox(network: Network, url: str, address: str) -> tuple[Outcome, str]:
    """The settings a POX endpoint gives, after one redirectAddr as Outlook follows it. Raises
    UnusableAnswerError or FetchError."""
    note = ""
    for _ in range(2):
        answer = _post(network, url, request_body(address))
        if answer.content_type not in MEDIA_TYPES:
            raise UnusableAnswerError(
                f"HTTP {answer.status}, {answer.content_type or 'no type'}: not an XML answer"
            )
        pox = parse_pox(answer.body)
        if pox.action == "error":
            raise UnusableAnswerError(
                f"HTTP {answer.status}, Error {pox.error_code}: {pox.error_message.strip()}"
            )
        if pox.action == "redirectAddr" and pox.redirect and not note:
            note, address = f"redirectAddr to {pox.redirect}, asked again", pox.redirect
            continue
        if pox.action != "settings":
            raise UnusableAnswerError(f"Action {pox.action!r}")
        if answer.status != 200:
            raise UnusableAnswerError(f"HTTP {answer.status}")
        return pox_outcome(pox), note
    raise UnusableAnswerError("redirectAddr twice")


def _json_step(network: Network, domain: str, address: str) -> tuple[str | None, Result]:
    query = f"Email={quote(address, safe='@')}&Protocol=AutodiscoverV1"
    url = f"https://autodiscover.{domain}/autodiscover/autodiscover.json?{query}"
    try:
        answer = network.fetch("GET", url, headers={"User-Agent": AGENT, "Accept": "application/json"})
        document = json.loads(answer.body) if answer.status == 200 else {}
        pox_url = document.get("Url") if isinstance(document, dict) else None
        if not isinstance(pox_url, str) or not pox_url.startswith("https://"):
            problem = f"HTTP {answer.status}, no https Url in the answer"
            fix = f"serve the service at autodiscover.{domain}, its answers untouched"
            return None, Result(CLIENT, "autodiscover.json", Status.FAIL, problem, fix, url)
    except ValueError as exc:
        fix = f"serve the service at autodiscover.{domain}, its answers untouched"
        return None, Result(CLIENT, "autodiscover.json", Status.FAIL, f"not JSON ({exc})", fix, url)
    except FetchError as failure:
        fix = _fetch_fix(failure, f"autodiscover.{domain}")
        return None, Result(CLIENT, "autodiscover.json", Status.FAIL, failure.message, fix, url)
    return pox_url, Result(CLIENT, "autodiscover.json", Status.OK, f"points to {pox_url}", url=url)


def _fetch_fix(failure: FetchError, host: str) -> str:
    if failure.kind.startswith("tls"):
        return f"see the https results for {host}"
    if failure.kind == "dns":
        return f"publish {host} (see the dns results)"
    return f"serve the service at {host} (docs/deployment.md)"


def _pox_fix(name: str, domain: str, failure: FetchError | UnusableAnswerError) -> str:
    if isinstance(failure, FetchError) and failure.kind.startswith("tls"):
        return "see the https results for this name"
    if name == "pox-domain":
        return (
            f"send /autodiscover/ of https://{domain} to the service (docs/deployment.md, "
            '"The organisation\'s main site")'
        )
    return "serve the service at this address (see the dns and https results)"


def _srv_url(network: Network, domain: str) -> str | None:
    try:
        records = [record for record in network.lookup.srv(f"_autodiscover._tcp.{domain}") if record.offered]
    except LookupFailure:
        return None
    if not records:
        return None
    port = "" if records[0].port == 443 else f":{records[0].port}"
    return f"https://{records[0].host}{port}/autodiscover/autodiscover.xml"


def _mobilesync(network: Network, url: str, address: str) -> Result:
    body = request_body(address, MOBILESYNC_NS, MOBILESYNC_REQUEST_NS)
    fix = "the POX endpoint must answer other schemas with an Error document: is it this service?"
    try:
        answer = _post(network, url, body)
        pox = parse_pox(answer.body)
    except (FetchError, UnusableAnswerError) as failure:
        return Result(CLIENT, "mobilesync", Status.FAIL, f"no Error document: {failure}", fix, url)
    if answer.status >= 500:
        return Result(
            CLIENT, "mobilesync", Status.FAIL, f"HTTP {answer.status}: the endpoint fails", fix, url
        )
    if pox.action != "error" or pox.error_code != NO_PROVIDER:
        shown = f"Error {pox.error_code}" if pox.action == "error" else f"Action {pox.action}"
        return Result(CLIENT, "mobilesync", Status.FAIL, f"{shown}, where 601 is expected", fix, url)
    return Result(
        CLIENT,
        "mobilesync",
        Status.OK,
        f"Error 601 (HTTP {answer.status}): {pox.error_message.strip()}",
        url=url,
    )


def outlook(account: Account, typed: str, domain: str, network: Network) -> list[Result]:
    wanted = expected_outcome(account)
    pox_url, json_result = _json_step(network, domain, typed)
    candidates = [] if pox_url is None else [("pox-json", pox_url)]
    candidates += [
        ("pox-domain", f"https://{domain}/autodiscover/autodiscover.xml"),
        ("pox-autodiscover", f"https://autodiscover.{domain}/autodiscover/autodiscover.xml"),
    ]
    srv = _srv_url(network, domain)
    if srv is not None:
        candidates.append(("pox-srv", srv))
    steps = []
    for name, url in candidates:
        try:
            outcome, note = read_pox(network, url, typed)
        except (FetchError, UnusableAnswerError) as failure:
            steps.append(Step(name, url, problem=str(failure), fix=_pox_fix(name, domain, failure)))
            continue
        steps.append(judged_step(name, url, outcome, wanted, note=note, login_fix=login_fix(account)))
    judged = judge(CLIENT, steps)
    if json_result.status is Status.FAIL:
        rescued = judged[-1].status is not Status.FAIL
        json_result = Result(
            CLIENT,
            "autodiscover.json",
            Status.WARN if rescued else Status.FAIL,
            json_result.detail + ("; Outlook goes on to the POX addresses" if rescued else ""),
            json_result.fix,
            json_result.url,
        )
    used = next((s.url for s in steps if s.answer is not None), None) or candidates[0][1]
    return [json_result, *judged[:-1], _mobilesync(network, used, typed), judged[-1]]
