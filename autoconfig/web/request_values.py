"""What a request says: a query value in any casing, a body under a cap, the language it asks for, and
the address that links leaving the browser (QR codes) should use."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from urllib.parse import parse_qsl, urlsplit

from starlette.requests import ClientDisconnect, Request

from autoconfig.accounts import provider_for_host
from autoconfig.caches import memoize
from autoconfig.domains import host_from_header
from autoconfig.errors import UnknownDomainError

from .languages import choose_language
from .middleware import varies_with_host
from .served import serving, trial_base


def query_value(request: Request, name: str) -> str | None:
    """A query parameter by name in any casing (clients differ: emailaddress, emailAddress, EmailAddress);
    the first, when a name is given twice."""
    raw: bytes = request.scope.get("query_string", b"")
    return _query(raw).get(name)


# A person's client asks the same query several times (both Thunderbird addresses, the retries): read
# once, kept while it comes again. No settings are read: right for any version.
@memoize("queries", max_chars=512)
def _query(raw: bytes) -> Mapping[str, str]:
    # As Starlette reads a query: bytes as Latin-1, then percent-decoded as UTF-8.
    found: dict[str, str] = {}
    for key, value in parse_qsl(raw.decode("latin-1"), keep_blank_values=True):
        found.setdefault(key.lower(), value)
    return MappingProxyType(found)


async def read_body(request: Request, limit: int) -> bytes | None:
    """The request body, or None as soon as it is known to be over `limit` bytes (declared or sent)."""
    declared = request.headers.get("content-length")
    # isdigit() alone admits superscripts ("²"), which int() refuses: ASCII digits only.
    if declared is not None and not (declared.isascii() and declared.isdigit() and int(declared) <= limit):
        return None
    body = bytearray()
    # The messages as the server hands them (Starlette's stream() costs a generator and a request state
    # for what is, for a mail client, one message); a client gone midway ends the request as there.
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        body += message.get("body", b"")
        if len(body) > limit:
            return None
        if not message.get("more_body", False):
            return bytes(body)


def request_language(request: Request) -> str:
    """`?lang=`, then the browser's Accept-Language, then the settings' default."""
    return choose_language(
        serving(request).settings.service,
        query_value(request, "lang"),
        request.headers.get("accept-language"),
    )


def link_base(request: Request) -> str:
    """Where a QR code sends a phone: the host this page was served from when the service answers
    there (its public name, `autoconfig.<domain>` or `<domain>` of a provider, or loopback for a trial),
    else `public_url`. A Host header the service does not answer for never reaches a link; the answer
    varies with the Host header, and says so (`Vary: Host`)."""
    varies_with_host(request.scope)
    settings = serving(request).settings
    public_url = settings.service.public_url
    header = request.headers.get("host", "").strip()
    trial = trial_base(request, header)
    if trial is not None:
        return trial
    host = host_from_header(header)
    if host is None or host == urlsplit(public_url).hostname:
        return public_url
    try:
        provider_for_host(settings, host)
    except UnknownDomainError:
        return public_url
    return f"https://{host}"
