"""What a request says: a query value in any casing, a body under a cap, the language it asks for."""

from __future__ import annotations

from starlette.requests import Request

from .languages import choose_language
from .loaded import loaded


def query_value(request: Request, name: str) -> str | None:
    """A query parameter by name in any casing (clients differ: emailaddress, emailAddress, EmailAddress)."""
    for key, value in request.query_params.multi_items():
        if key.lower() == name:
            return value
    return None


async def read_body(request: Request, limit: int) -> bytes | None:
    """The request body, or None as soon as it is known to be over `limit` bytes (declared or sent)."""
    declared = request.headers.get("content-length")
    # isdigit() alone admits superscripts ("²"), which int() refuses: ASCII digits only.
    if declared is not None and not (declared.isascii() and declared.isdigit() and int(declared) <= limit):
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


def request_language(request: Request) -> str:
    """`?lang=`, then the browser's Accept-Language, then the settings' default."""
    return choose_language(
        loaded(request).settings.service, query_value(request, "lang"), request.headers.get("accept-language")
    )
