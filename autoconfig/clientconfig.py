"""Thunderbird's autoconfig document (config-v1.1.xml), also read by Evolution, KMail and K-9/Thunderbird
for Android.

A provider's document is built once with lxml; only the usernames change from one person to the next,
so `compile_clientconfig` leaves a slot for each and `ClientConfigTemplate.render` fills them in.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from functools import partial
from xml.sax.saxutils import escape

from lxml import etree

from .accounts import Account
from .settings import DOMAIN_PLACEHOLDER, Provider, Server

MEDIA_TYPE = "application/xml"
SOCKET_TYPES = {"starttls": "STARTTLS", "tls": "SSL", "none": "plain"}
# Holes sit in element text and in double-quoted attributes alike: escape for both.
_XML_SAFE = partial(escape, entities={'"': "&quot;"})


@dataclass(frozen=True)
class ClientConfigTemplate:
    """A provider's config-v1.1.xml with a hole wherever a value depends on the person."""

    provider: Provider
    parts: tuple[bytes, ...]
    # Per hole: a settings value with placeholders to fill in, or None for the login the rule derives.
    slots: tuple[str | None, ...]

    def render(self, account: Account | None = None) -> bytes:
        """The document for one person, or with the clients' placeholders when there is no address."""
        out = [self.parts[0]]
        for form, part in zip(self.slots, self.parts[1:], strict=True):
            out.append(_XML_SAFE(self._value(form, account)).encode("utf-8"))
            out.append(part)
        return b"".join(out)

    def _value(self, form: str | None, account: Account | None) -> str:
        if account is None:
            return form if form is not None else self.provider.login.fallback
        return account.login if form is None else account.fill(form)


def compile_clientconfig(provider: Provider) -> ClientConfigTemplate:
    """Build the provider's document once, leaving a hole for each person-dependent value."""
    # The marker is random so that no text from the settings can collide with it.
    marker = f"slot-{secrets.token_hex(16)}"
    slots: list[str | None] = []

    def slot(form: str | None) -> str:
        slots.append(form)
        return marker

    def maybe_slot(value: str) -> str:
        return slot(value) if DOMAIN_PLACEHOLDER in value else value

    root = etree.Element("clientConfig", version="1.1")
    email = etree.SubElement(root, "emailProvider", id=provider.id)
    for domain in provider.domains:
        etree.SubElement(email, "domain").text = domain
    etree.SubElement(email, "displayName").text = provider.name
    etree.SubElement(email, "displayShortName").text = provider.display_short_name
    servers: list[tuple[str, Server]] = [("incomingServer", s) for s in provider.incoming]
    servers += [("outgoingServer", s) for s in provider.outgoing]
    for tag, server in servers:
        element = etree.SubElement(email, tag, type=server.protocol_name)
        etree.SubElement(element, "hostname").text = maybe_slot(server.host)
        etree.SubElement(element, "port").text = str(server.effective_port)
        etree.SubElement(element, "socketType").text = SOCKET_TYPES[server.security]
        etree.SubElement(element, "username").text = slot(server.username)
        for method in server.auth:
            etree.SubElement(element, "authentication").text = method
    for doc in provider.links.documentation:
        element = etree.SubElement(email, "documentation", url=doc.url)
        for language, text in doc.title.items():
            descr = etree.SubElement(element, "descr")
            if language is not None:
                descr.set("lang", language)
            descr.text = text
    if provider.links.webmail is not None:
        webmail = etree.SubElement(root, "webMail")
        etree.SubElement(webmail, "loginPage", url=maybe_slot(provider.links.webmail))
    document = etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    parts = tuple(document.split(marker.encode("ascii")))
    return ClientConfigTemplate(provider, parts, tuple(slots))


def build_clientconfig(provider: Provider, account: Account | None = None) -> bytes:
    """One document, built from scratch: for the CLI and one-off uses. The app keeps compiled templates."""
    return compile_clientconfig(provider).render(account)
