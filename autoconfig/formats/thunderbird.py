"""Thunderbird's autoconfig document (config-v1.1.xml), also read by Evolution, KMail and K-9/Thunderbird
for Android.

A provider's document is built once with lxml; only the usernames, and hosts or links that hold
placeholders, change from one person to the next, so `compile_clientconfig` leaves a slot for each and
`ClientConfigTemplate.render` fills them in.
"""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from autoconfig.accounts import Account
from autoconfig.settings import DOMAIN_PLACEHOLDER, PLACEHOLDERS, Provider, Server

from .xmlslots import SlotBuilder, SlottedXml

MEDIA_TYPE = "application/xml"
SOCKET_TYPES = {"starttls": "STARTTLS", "tls": "SSL", "none": "plain"}


@dataclass(frozen=True)
class Slot:
    """What fills one hole: a settings value with placeholders, or None for the login the rule derives."""

    form: str | None
    # In a URL the person's local part is percent-encoded: `&`, `?`, `#` or `/` in it stay data.
    in_url: bool = False


@dataclass(frozen=True)
class ClientConfigTemplate:
    """A provider's config-v1.1.xml with a hole wherever a value depends on the person."""

    provider: Provider
    document: SlottedXml[Slot]

    def render(self, account: Account | None = None) -> bytes:
        """The document for one person, or with the clients' placeholders when there is no address."""
        return self.document.render(lambda slot: self._value(slot, account))

    def _value(self, slot: Slot, account: Account | None) -> str:
        if slot.form is None:
            return self.provider.login.fallback if account is None else account.login
        if account is None:
            return slot.form
        return account.fill(slot.form, in_url=slot.in_url)


def compile_clientconfig(provider: Provider) -> ClientConfigTemplate:
    """Build the provider's document once, leaving a hole for each person-dependent value."""
    slots: SlotBuilder[Slot] = SlotBuilder()

    def host_slot(value: str) -> str:
        return slots(Slot(value)) if DOMAIN_PLACEHOLDER in value else value

    def url_slot(value: str) -> str:
        return slots(Slot(value, in_url=True)) if any(p in value for p in PLACEHOLDERS) else value

    root = etree.Element("clientConfig", version="1.1")
    email = etree.SubElement(root, "emailProvider", id=provider.id)
    for domain in (*provider.domains, *provider.aliases):
        etree.SubElement(email, "domain").text = domain
    etree.SubElement(email, "displayName").text = provider.name
    etree.SubElement(email, "displayShortName").text = provider.display_short_name
    servers: list[tuple[str, Server]] = [("incomingServer", s) for s in provider.incoming]
    servers += [("outgoingServer", s) for s in provider.outgoing]
    for tag, server in servers:
        element = etree.SubElement(email, tag, type=server.protocol_name)
        etree.SubElement(element, "hostname").text = host_slot(server.host)
        etree.SubElement(element, "port").text = str(server.effective_port)
        etree.SubElement(element, "socketType").text = SOCKET_TYPES[server.security]
        etree.SubElement(element, "username").text = slots(Slot(server.username))
        for method in server.auth:
            etree.SubElement(element, "authentication").text = method
    for doc in provider.links.documentation:
        element = etree.SubElement(email, "documentation", url=url_slot(doc.url))
        for language, text in doc.title.items():
            descr = etree.SubElement(element, "descr")
            if language is not None:
                descr.set("lang", language)
            descr.text = text
    if provider.links.webmail is not None:
        webmail = etree.SubElement(root, "webMail")
        etree.SubElement(webmail, "loginPage", url=url_slot(provider.links.webmail))
    return ClientConfigTemplate(provider, slots.build(root))


def build_clientconfig(provider: Provider, account: Account | None = None) -> bytes:
    """One document, built from scratch: for the CLI and one-off uses. The app keeps compiled templates."""
    return compile_clientconfig(provider).render(account)
