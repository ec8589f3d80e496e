"""Thunderbird desktop and Thunderbird for Android: config-v1.1.xml, in each one's order, read as each
one reads it."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from urllib.parse import quote

from lxml import etree

from autoconfig.accounts import Account, fill_placeholders
from autoconfig.formats import hardened_xml
from autoconfig.formats.thunderbird import generic_login, generic_servers
from autoconfig.settings import Server

from .chains import Step, UnusableAnswerError, judge, judged_step
from .expected import MailServer, Outcome, compare, expected_outcome, login_fix
from .network import FetchError, Network
from .report import Result

DESKTOP = "thunderbird"
ANDROID = "thunderbird-android"
DESKTOP_AGENT = "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Thunderbird/140.0"
# Thunderbird for Android's requests carry OkHttp's default User-Agent and nothing else of its own.
ANDROID_AGENT = "okhttp/4.12.0"
MEDIA_TYPES = ("application/xml", "text/xml")
SOCKETS = {"STARTTLS": "starttls", "SSL": "tls", "plain": "none"}
PASSWORDS = ("password-cleartext", "password-encrypted")
_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$"
)
REJECTED_FIX = (
    "the service leaves such servers out of the answer without address: is another server answering, "
    "or the files of an old `autoconfig render`?"
)
ANDROID_LOGIN_FIX = (
    "Thunderbird for Android sends no address, so every person gets the same login form: people on "
    "Android should scan the QR code of the Android guide; if the mail servers also accept the full "
    "address as the login, set login.address_accepted = true"
)


@dataclass(frozen=True)
class ConfigServer:
    type: str
    hostname: str  # as written, spaces included (Android trips on them)
    port: str
    socket_type: str
    username: str | None
    authentication: tuple[str, ...]


@dataclass(frozen=True)
class ClientConfig:
    provider_id: str
    domains: tuple[str, ...]
    incoming: tuple[ConfigServer, ...]
    outgoing: tuple[ConfigServer, ...]


def _text(element: etree._Element, name: str) -> str | None:
    child = element.find(name)
    return child.text or "" if child is not None else None


def parse_clientconfig(body: bytes) -> ClientConfig:
    """config-v1.1.xml as Thunderbird's reader sees it. Raises UnusableAnswerError."""
    try:
        root = hardened_xml.parse(body)
    except (etree.XMLSyntaxError, ValueError) as exc:
        raise UnusableAnswerError(f"not well-formed XML ({exc})") from None
    if root.tag != "clientConfig":
        raise UnusableAnswerError(f"the root element is <{root.tag}>, not <clientConfig>")
    provider = root.find("emailProvider")
    if provider is None:
        raise UnusableAnswerError("no <emailProvider>")

    def servers(tag: str) -> tuple[ConfigServer, ...]:
        return tuple(
            ConfigServer(
                type=element.get("type", ""),
                hostname=_text(element, "hostname") or "",
                port=_text(element, "port") or "",
                socket_type=_text(element, "socketType") or "",
                username=_text(element, "username"),
                authentication=tuple(a.text or "" for a in element.findall("authentication")),
            )
            for element in provider.findall(tag)
        )

    return ClientConfig(
        provider_id=provider.get("id", ""),
        domains=tuple(d.text or "" for d in provider.findall("domain")),
        incoming=servers("incomingServer"),
        outgoing=servers("outgoingServer"),
    )


def _mail_server(server: ConfigServer, local: str, domain: str) -> MailServer:
    try:
        port = int(server.port.strip())
    except ValueError:
        raise UnusableAnswerError(
            f"the port of {server.hostname.strip()} is not a number: {server.port!r}"
        ) from None
    security = SOCKETS.get(server.socket_type.strip())
    if security is None:
        raise UnusableAnswerError(f"the socketType of {server.hostname.strip()} is {server.socket_type!r}")
    username = server.username
    if username is None:
        raise UnusableAnswerError(f"{server.hostname.strip()} has no <username>")
    return MailServer(
        server.type,
        fill_placeholders(server.hostname.strip(), local, domain).lower(),
        port,
        security,
        fill_placeholders(username.strip(), local, domain),
    )


def desktop_outcome(config: ClientConfig, local: str, domain: str) -> Outcome:
    """Thunderbird desktop takes the first incoming server it supports and the first SMTP server."""
    incoming = next((s for s in config.incoming if s.type in ("imap", "pop3")), None)
    outgoing = next((s for s in config.outgoing if s.type == "smtp"), None)
    if incoming is None or outgoing is None:
        raise UnusableAnswerError("no usable incoming or outgoing server")
    return Outcome(_mail_server(incoming, local, domain), _mail_server(outgoing, local, domain))


def android_refusals(body: bytes, config: ClientConfig) -> list[str]:
    """Why Thunderbird for Android's strict parser (RealAutoconfigParser.kt) rejects the whole document."""
    problems = []
    if not body.startswith(b"<?xml"):
        problems.append("something comes before <?xml (a byte-order mark or a space)")
    for name in (config.provider_id, *config.domains):
        if not _HOSTNAME.match(name.lower()):
            problems.append(f"{name!r} (emailProvider id or domain) is not a valid host name")
    if not any(s.type == "imap" for s in config.incoming):
        problems.append("no IMAP server (POP3 servers are skipped unread)")
    for server in (*config.incoming, *config.outgoing):
        if server.type not in ("imap", "smtp"):
            continue
        host = server.hostname.strip()
        if server.hostname != host:
            problems.append(f"spaces or line breaks around the hostname {host}")
        if server.socket_type not in ("SSL", "STARTTLS"):
            problems.append(f"{host}: socketType {server.socket_type!r} (only SSL or STARTTLS are accepted)")
        if not any(method in PASSWORDS for method in server.authentication):
            if "OAuth2" in server.authentication:
                problems.append(f"{host}: OAuth2 alone, which it accepts only for its built-in providers")
            else:
                problems.append(f"{host}: no password among its authentication methods")
        if server.username is None:
            problems.append(f"{host}: no <username>")
        if server.port.strip() in ("", "0") or not server.port.strip().isdigit():
            problems.append(f"{host}: port {server.port!r}")
    return problems


def android_outcome(config: ClientConfig, typed_local: str, typed_domain: str) -> Outcome:
    """The first IMAP and SMTP servers, with the placeholders as the phone fills them in: the address as
    typed, the domain in lower case."""
    incoming = next(s for s in config.incoming if s.type == "imap")
    outgoing = next((s for s in config.outgoing if s.type == "smtp"), None)
    if outgoing is None:
        raise UnusableAnswerError("no SMTP server")
    return Outcome(
        _mail_server(incoming, typed_local, typed_domain.lower()),
        _mail_server(outgoing, typed_local, typed_domain.lower()),
    )


def urls(domain: str, query: str) -> list[tuple[str, str]]:
    """The provider's four addresses, in the clients' order."""
    return [
        ("autoconfig-https", f"https://autoconfig.{domain}/mail/config-v1.1.xml{query}"),
        ("well-known-https", f"https://{domain}/.well-known/autoconfig/mail/config-v1.1.xml{query}"),
        ("autoconfig-http", f"http://autoconfig.{domain}/mail/config-v1.1.xml{query}"),
        ("well-known-http", f"http://{domain}/.well-known/autoconfig/mail/config-v1.1.xml{query}"),
    ]


def _fetch_document(network: Network, url: str, agent: str) -> tuple[bytes, ClientConfig, str, bool]:
    """The document at `url` after redirects, parsed; a note on the redirects; whether it came over
    plain http. Raises UnusableAnswerError or FetchError."""
    answer, hops = network.follow(url, headers={"User-Agent": agent, "Accept": "*/*"})
    note = f"redirected to {hops[-1]}" if hops else ""
    if answer.status != 200:
        raise UnusableAnswerError(
            f"HTTP {answer.status}" + (f" after a redirect to {hops[-1]}" if hops else "")
        )
    if answer.content_type not in MEDIA_TYPES:
        raise UnusableAnswerError(
            f"served as {answer.content_type or 'no type'}, not application/xml or text/xml"
        )
    return answer.body, parse_clientconfig(answer.body), note, answer.url.startswith("http://")


def _fix_for(name: str, domain: str, failure: FetchError | UnusableAnswerError) -> str:
    if isinstance(failure, FetchError) and failure.kind.startswith("tls"):
        return "see the https results for this name"
    if name.startswith("well-known"):
        return (
            f"send /.well-known/autoconfig/ of https://{domain} to the service (docs/deployment.md, "
            '"The organisation\'s main site")'
        )
    if isinstance(failure, FetchError) and failure.kind in ("dns", "refused", "timeout"):
        return f"publish autoconfig.{domain} and serve the service there (see the dns and https results)"
    return f"serve the service at autoconfig.{domain}, with its answer untouched by proxies"


Read = Callable[[str, str], Step]


def _chain(domain: str, query: str, read: Read) -> list[Step]:
    """Each address in the clients' order, read by `read(name, url)`; plain http that is refused or
    unknown is no fault (clients go on), anything else that fails is said with its fix."""
    steps = []
    for name, url in urls(domain, query):
        try:
            steps.append(read(name, url))
        except (FetchError, UnusableAnswerError) as failure:
            harmless = (
                url.startswith("http://")
                and isinstance(failure, FetchError)
                and failure.kind in ("refused", "dns")
            )
            steps.append(
                Step(name, url, problem=str(failure), fix=_fix_for(name, domain, failure), harmless=harmless)
            )
    return steps


def desktop_reader(account: Account, typed: str, domain: str, network: Network) -> Read:
    """How Thunderbird desktop reads one address: the person's own login expected."""
    local = typed.rpartition("@")[0]
    wanted = expected_outcome(account)

    def read(name: str, url: str) -> Step:
        _, config, note, plain = _fetch_document(network, url, DESKTOP_AGENT)
        outcome = desktop_outcome(config, local, domain)
        return judged_step(name, url, outcome, wanted, plain=plain, note=note, login_fix=login_fix(account))

    return read


def address_query(typed: str) -> str:
    return "?emailaddress=" + quote(typed, safe="")


def desktop(account: Account, typed: str, domain: str, network: Network) -> list[Result]:
    """Thunderbird desktop: the address sent along, the person's own login expected."""
    return judge(
        DESKTOP, _chain(domain, address_query(typed), desktop_reader(account, typed, domain, network))
    )


def android_expected(account: Account, typed: str) -> tuple[Outcome, Outcome]:
    """What the answer without address should give once the phone fills it in, and what the person
    really needs: the logins differ when the settings' rule gives what no placeholder can."""
    provider = account.provider
    local, _, domain = typed.rpartition("@")
    imap = [s for s in generic_servers(provider.incoming) if s.protocol_name == "imap"]
    incoming, outgoing = imap[0] if imap else provider.incoming[0], generic_servers(provider.outgoing)[0]
    personal = expected_outcome(account, incoming, outgoing)

    def filled(server: Server) -> MailServer:
        return MailServer(
            server.protocol_name,
            fill_placeholders(server.host, local, domain.lower()).lower(),
            server.effective_port,
            server.security,
            fill_placeholders(generic_login(provider, server), local, domain.lower()),
        )

    return Outcome(filled(incoming), filled(outgoing)), personal


def android_reader(account: Account, typed: str, domain: str, network: Network) -> Read:
    """How Thunderbird for Android reads one address: no address sent, a strict parser, the login
    filled in on the phone."""
    local = typed.rpartition("@")[0]
    served, personal = android_expected(account, typed)
    limit = compare(served, personal).logins

    def read(name: str, url: str) -> Step:
        body, config, note, plain = _fetch_document(network, url, ANDROID_AGENT)
        refusals = android_refusals(body, config)
        if refusals:
            return Step(name, url, problem="rejected whole: " + "; ".join(refusals), fix=REJECTED_FIX)
        outcome = android_outcome(config, local, domain)
        step = judged_step(name, url, outcome, served, plain=plain, note=note)
        if step.problem is None and limit:
            # The service answers what the settings say, and that is not this person's login.
            return replace(step, problem="; ".join(limit), fix=ANDROID_LOGIN_FIX, known_limit=True)
        return step

    return read


def android(account: Account, typed: str, domain: str, network: Network) -> list[Result]:
    """Thunderbird for Android: no address sent, a strict parser, the login filled in on the phone."""
    return judge(ANDROID, _chain(domain, "", android_reader(account, typed, domain, network)))
