"""PACC (draft-ietf-mailmaint-pacc): one JSON document per domain, which a client fetches at
`https://ua-auto-config.<domain>/.well-known/user-agent-configuration.json` and accepts only when the
SHA-256 of its exact bytes matches a `_ua-auto-config.<domain>` TXT record.

The document names hosts only, for implicit TLS on the standard ports (IMAP 993, POP3 995, submission
465) and https URLs on port 443: a server the provider offers otherwise (STARTTLS on 143 or 587, another
port) cannot be described truthfully, and is never described. A provider left with no incoming server or
no submission server gets no document at all (`pacc_document` says why). The bytes are stable: the same
settings give the same bytes, in every replica and at every restart (keys sorted, no spaces, UTF-8).
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from autoconfig.accounts import fill_placeholders
from autoconfig.settings import DOMAIN_PLACEHOLDER, DavServer, Provider, Server

MEDIA_TYPE = "application/json"
WELL_KNOWN_PATH = "/.well-known/user-agent-configuration.json"
HOST_LABEL = "ua-auto-config"
TXT_LABEL = "_ua-auto-config"


@dataclass(frozen=True)
class Revision:
    """What one revision of the draft calls things: the only place revision names live."""

    name: str
    protocol_keys: dict[str, str]  # our protocol -> the document's key


# -03 renamed the submission key from "smtp" to "submit"; a change of revision changes the bytes, and so
# the digest to publish.
REVISIONS = {
    "02": Revision("draft-ietf-mailmaint-pacc-02", {"imap": "imap", "pop3": "pop3", "smtp": "smtp"}),
    "03": Revision("draft-ietf-mailmaint-pacc-03", {"imap": "imap", "pop3": "pop3", "smtp": "submit"}),
}
REVISION = REVISIONS["03"]
# The ports a document implies: implicit TLS, each protocol's standard one.
STANDARD_PORTS = {"imap": 993, "pop3": 995, "smtp": 465}
PASSWORD_METHODS = ("password-cleartext", "password-encrypted")
PERSONAL = ("%EMAILADDRESS%", "%EMAILLOCALPART%")  # a document is a domain's: these name a person


@dataclass(frozen=True)
class PaccDocument:
    """A domain's document and its digest, or why the provider has none."""

    body: bytes | None
    reason: str | None = None

    @property
    def digest(self) -> str:
        """The TXT record's `d=`: standard base64 of the SHA-256 of the exact bytes."""
        return base64.b64encode(hashlib.sha256(self.body or b"").digest()).decode("ascii")

    @property
    def txt_record(self) -> str:
        return f"v=UAAC1; a=sha256; d={self.digest}"


def describable(server: Server) -> bool:
    """Whether a document can point a client at this server without lying about port or security."""
    return server.security == "tls" and server.effective_port == STANDARD_PORTS[server.protocol_name]


def pacc_document(provider: Provider, domain: str) -> PaccDocument:
    """The document for one of the provider's domains."""
    incoming = [s for s in provider.incoming if describable(s)]
    outgoing = [s for s in provider.outgoing if describable(s)]
    if not incoming or not outgoing:
        offered = ", ".join(
            f"{s.protocol_name.upper()} {s.effective_port} {s.security}"
            for s in (*provider.incoming, *provider.outgoing)
        )
        return PaccDocument(
            None,
            f"PACC describes only implicit TLS on the standard ports (IMAP 993 or POP3 995, and submission "
            f"465); this provider offers {offered}: offer IMAP on 993 and submission on 465 (with tls) to "
            "publish a document",
        )
    protocols: dict[str, Any] = {}
    for server in (*incoming, *outgoing):  # the first of each protocol, in the settings' order
        key = REVISION.protocol_keys[server.protocol_name]
        protocols.setdefault(key, {"host": fill_placeholders(server.host, "", domain)})
    for key, dav in (("caldav", provider.calendar), ("carddav", provider.contacts)):
        url = _dav_url(dav, domain)
        if url is not None:
            protocols[key] = {"url": url}
    authentication: dict[str, Any] = {}
    if any(method in PASSWORD_METHODS for s in (*incoming, *outgoing) for method in s.auth):
        authentication["password"] = True
    if provider.oauth is not None:
        authentication["oauth-public"] = {"issuer": provider.oauth.issuer}
    document = {"protocols": protocols, "info": _info(provider, domain)}
    if authentication:
        document["authentication"] = authentication
    body = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return PaccDocument(body)


def _dav_url(dav: DavServer | None, domain: str) -> str | None:
    # One document per domain: a URL that names a person, another scheme or a port cannot be given.
    if dav is None:
        return None
    url = dav.url.replace(DOMAIN_PLACEHOLDER, domain)
    parts = urlsplit(url)
    if any(p in url for p in PERSONAL) or parts.scheme != "https" or parts.port is not None:
        return None
    return url


def _info(provider: Provider, domain: str) -> dict[str, Any]:
    info: dict[str, Any] = {
        "provider": {"name": provider.name[:60], "shortName": provider.display_short_name[:20]}
    }
    help_: dict[str, Any] = {}
    documentation = [d.url for d in provider.links.documentation if not any(p in d.url for p in PERSONAL)]
    if documentation:
        help_["documentation"] = documentation[0].replace(DOMAIN_PLACEHOLDER, domain)
    contact = []
    if provider.support.url is not None:
        contact.append(provider.support.url.replace(DOMAIN_PLACEHOLDER, domain))
    if provider.support.email is not None:
        contact.append(f"mailto:{provider.support.email}")
    if contact:
        help_["contact"] = contact
    if help_:
        info["help"] = help_
    return info
