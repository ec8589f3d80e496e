"""Thunderbird's autoconfig document (config-v1.1.xml), also read by Evolution, KMail and K-9/Thunderbird
for Android.

A provider's document is built once with lxml; only the usernames, and hosts or links that hold
placeholders, change from one person to the next, so `compile_clientconfig` leaves a slot for each and
`ClientConfigTemplate.render` fills them in.

The answer that names no person is built apart. Thunderbird for Android never sends the address, and its
parser rejects a whole document for one server it cannot use (a `plain` socketType, or no password
among the authentication methods: OAuth2 it uses only for its built-in providers): that answer leaves
such servers out, and its username is the login clients can fill in themselves (`generic_login`).
`generic_answer_notes` says what that costs.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from lxml import etree

from autoconfig.accounts import Account, derive_login, fill_placeholders
from autoconfig.errors import Note
from autoconfig.settings import DOMAIN_PLACEHOLDER, PLACEHOLDERS, OAuth, Provider, Server, Settings

from .xmlslots import SlotBuilder, SlottedXml

MEDIA_TYPE = "application/xml"
SOCKET_TYPES = {"starttls": "STARTTLS", "tls": "SSL", "none": "plain"}


@dataclass(frozen=True)
class Slot:
    """What fills one hole: a settings value with placeholders, or None for the login the rule derives."""

    form: str | None
    # In a URL the person's local part is percent-encoded: `&`, `?`, `#` or `/` in it stay data.
    in_url: bool = False


# What Thunderbird for Android can sign in with here; any other is ignored, and a server left with none
# rejects the whole document (RealAutoconfigParser.kt). Its parser also takes OAuth2, but signs in with it
# only for its built-in providers (Google, Microsoft, …), never a provider of this service's kind.
STRICT_AUTH = ("password-cleartext", "password-encrypted")
EVERY_ADDRESS = "%EMAILADDRESS%"


def authentication_methods(provider: Provider, server: Server) -> tuple[str, ...]:
    """A server's methods, OAuth2 first when the provider names an authorization server: a client that
    can use it tries it, one that cannot moves on to the password."""
    if provider.oauth is None or "OAuth2" in server.auth:
        return server.auth
    return ("OAuth2", *server.auth)


def _oauth_element(oauth: OAuth) -> etree._Element:
    """Thunderbird's <oAuth2>: the issuer's host, the scopes, and the endpoints when the settings give
    them (Thunderbird uses its own list of providers for hosts it knows; others read it as information)."""
    element = etree.Element("oAuth2")
    etree.SubElement(element, "issuer").text = urlsplit(oauth.issuer).hostname or oauth.issuer
    if oauth.scopes:
        etree.SubElement(element, "scope").text = " ".join(oauth.scopes)
    if oauth.authorization_url is not None:
        etree.SubElement(element, "authURL").text = oauth.authorization_url
    if oauth.token_url is not None:
        etree.SubElement(element, "tokenURL").text = oauth.token_url
    return element


def generic_login(provider: Provider, server: Server | None = None) -> str:
    """The username of the answer that names no person: the server's own form, else the provider's
    `fallback`, else, when the rule gives logins no placeholder can (a pattern, overrides, a directory)
    and the servers also accept the address, the full address."""
    if server is not None and server.username is not None:
        return server.username
    if not fallback_is_exact(provider) and provider.login.address_accepted:
        return EVERY_ADDRESS
    return provider.login.fallback


def fallback_is_exact(provider: Provider) -> bool:
    """Whether the fallback gives every person their login, as a client fills it in."""
    asks_directory = provider.directory is not None and provider.directory.lookup is not None
    return provider.login.exact_without_address and not asks_directory


def strict_reader_accepts(server: Server) -> bool:
    """Whether Thunderbird for Android's parser takes this server (or skips it) rather than rejecting
    the whole document because of it."""
    return server.security != "none" and any(method in STRICT_AUTH for method in server.auth)


def generic_servers(servers: tuple[Server, ...]) -> tuple[Server, ...]:
    """The servers of the answer that names no person: those a strict reader accepts, unless that
    leaves none (a client that reads the file less strictly still needs one)."""
    kept = tuple(server for server in servers if strict_reader_accepts(server))
    return kept or servers


@dataclass(frozen=True)
class ClientConfigTemplate:
    """A provider's config-v1.1.xml with a hole wherever a value depends on the person: one for the
    person's own answer, one for the answer that names no person."""

    provider: Provider
    personal: SlottedXml[Slot]
    generic: SlottedXml[Slot]
    # A provider that hosts mail for customer domains: the personal document that lists the person's
    # domain first (clients do not check the list, but the answer is that domain's configuration).
    hosted: SlottedXml[Slot] | None = None

    def render(self, account: Account | None = None) -> bytes:
        """The document for one person, or with the clients' placeholders when there is no address."""
        if account is None:
            return self.generic.render(lambda slot: slot.form if slot.form is not None else self._login)
        document = self.hosted if account.hosted and self.hosted is not None else self.personal
        return document.render(lambda slot: self._value(slot, account))

    def render_as_set(self) -> bytes:
        """Every server the settings describe, with the clients' placeholders: the provider as its
        settings say it (the import round trip compares this with the file imported)."""
        return self.personal.render(
            lambda slot: slot.form if slot.form is not None else self.provider.login.fallback
        )

    @property
    def _login(self) -> str:
        return generic_login(self.provider)

    @staticmethod
    def _value(slot: Slot, account: Account) -> str:
        if slot.form is None:
            return account.login
        return account.fill(slot.form, in_url=slot.in_url)


def compile_clientconfig(provider: Provider) -> ClientConfigTemplate:
    """Build the provider's documents once, leaving a hole for each person-dependent value."""
    return ClientConfigTemplate(
        provider,
        personal=_compile(provider, provider.incoming, provider.outgoing),
        generic=_compile(provider, generic_servers(provider.incoming), generic_servers(provider.outgoing)),
        hosted=None
        if provider.hosting is None
        else _compile(provider, provider.incoming, provider.outgoing, customer_domain=True),
    )


def _compile(
    provider: Provider,
    incoming: tuple[Server, ...],
    outgoing: tuple[Server, ...],
    *,
    customer_domain: bool = False,
) -> SlottedXml[Slot]:
    slots: SlotBuilder[Slot] = SlotBuilder()

    def host_slot(value: str) -> str:
        return slots(Slot(value)) if DOMAIN_PLACEHOLDER in value else value

    def url_slot(value: str) -> str:
        return slots(Slot(value, in_url=True)) if any(p in value for p in PLACEHOLDERS) else value

    root = etree.Element("clientConfig", version="1.1")
    email = etree.SubElement(root, "emailProvider", id=provider.id)
    if customer_domain:
        etree.SubElement(email, "domain").text = slots(Slot(DOMAIN_PLACEHOLDER))
    for domain in (*provider.domains, *provider.aliases):
        etree.SubElement(email, "domain").text = domain
    etree.SubElement(email, "displayName").text = provider.name
    etree.SubElement(email, "displayShortName").text = provider.display_short_name
    servers: list[tuple[str, Server]] = [("incomingServer", s) for s in incoming]
    servers += [("outgoingServer", s) for s in outgoing]
    for tag, server in servers:
        element = etree.SubElement(email, tag, type=server.protocol_name)
        etree.SubElement(element, "hostname").text = host_slot(server.host)
        etree.SubElement(element, "port").text = str(server.effective_port)
        etree.SubElement(element, "socketType").text = SOCKET_TYPES[server.security]
        etree.SubElement(element, "username").text = slots(Slot(server.username))
        for method in authentication_methods(provider, server):
            etree.SubElement(element, "authentication").text = method
    for doc in provider.links.documentation:
        element = etree.SubElement(email, "documentation", url=url_slot(doc.url))
        for language, text in doc.title.items():
            descr = etree.SubElement(element, "descr")
            if language is not None:
                descr.set("lang", language)
            descr.text = text
    if provider.oauth is not None:
        root.append(_oauth_element(provider.oauth))
    if provider.links.webmail is not None:
        webmail = etree.SubElement(root, "webMail")
        etree.SubElement(webmail, "loginPage", url=url_slot(provider.links.webmail))
    return slots.build(root)


def build_clientconfig(provider: Provider, account: Account | None = None) -> bytes:
    """One document, built from scratch: for the CLI and one-off uses. The app keeps compiled templates."""
    return compile_clientconfig(provider).render(account)


def generic_answer_notes(settings: Settings) -> list[Note]:
    """What the answer that names no person gets wrong, provider by provider: for `check`, `render` and
    the service's start."""
    notes: list[Note] = []
    for i, provider in enumerate(settings.providers):
        key = f"providers[{i}]"
        where = f"{key} ({provider.id})"
        login = generic_login(provider)
        if not fallback_is_exact(provider) and not provider.login.address_accepted:
            notes.append(
                Note(
                    f"{provider.id}: on Android, Thunderbird and K-9 Mail set the login "
                    f"{_example(provider, login)}; the Android guide gives each person theirs",
                    f"{where}: these apps send no address, and the answer that names no person (also the "
                    f"files of `autoconfig render`) can only give the login {login}, not the one the "
                    "pattern, the overrides or the directory give: people on Android should scan the QR "
                    "code of the Android guide or copy its values. If the mail servers also accept the "
                    "full address as the login, set login.address_accepted = true",
                )
            )
        for kind, servers in (("incoming", provider.incoming), ("outgoing", provider.outgoing)):
            kept = generic_servers(servers)
            for j, server in enumerate(servers):
                if not strict_reader_accepts(server) and server not in kept:
                    notes.append(
                        Note(
                            f"{key}.{kind}[{j}] ({server.host}:{server.port}): left out of the answer for "
                            "Thunderbird for Android",
                            "that answer names no person, and Thunderbird for Android would reject it whole "
                            f"for {_refusal(server)}",
                        )
                    )
        usable_imap = any(s.protocol_name == "imap" and strict_reader_accepts(s) for s in provider.incoming)
        if not usable_imap or not any(strict_reader_accepts(s) for s in provider.outgoing):
            notes.append(
                Note(
                    f"{where}: Thunderbird for Android cannot set this provider up by itself",
                    "it needs an IMAP and an SMTP server with encryption (starttls or tls) and a password",
                )
            )
    return notes


def _refusal(server: Server) -> str:
    if server.security == "none":
        return 'a server without encryption (security = "none")'
    return "a server without a password among its authentication methods"


def _example(provider: Provider, login: str) -> str:
    """What a client fills in for a name-shaped address, beside what the rule gives when they differ.
    The example names no address: the service's log holds none unless its settings say so."""
    local, domain = "prenom.nom", provider.domains[0]
    derived = derive_login(provider.login, local, domain)
    filled = fill_placeholders(login, local, domain)
    if filled == derived:
        return login
    shown = "to the whole address" if "@" in filled else f'"{filled}"'
    return f'{shown} where the rule gives "{derived}"'
