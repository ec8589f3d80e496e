"""Access logs that keep no full mail address unless the settings say so."""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import time
from typing import Literal
from urllib.parse import unquote

from starlette.types import ASGIApp, Message, Receive, Scope, Send

ACCESS_LOGGER = "autoconfig.access"
Mode = Literal["redact", "hash", "full"]
# Anything shaped like an address, percent-encoded or not, wherever it sits in a path or query.
# The apostrophe is part of the local part (pierre.d'alembert@…), not a border. A match starts only
# at the start of a run (the lookbehind), so a long run without @ costs linear time, not quadratic.
_ADDRESS = re.compile(r"(?<![^\s/?&=;,<>\"@])([^\s/?&=;,<>\"@]+)@([^\s/?&=;,<>\"'@]*)")
# A client or proxy that encodes twice sends %2540 for @: decode a few rounds, not just one.
_DECODE_ROUNDS = 3
_HASH_KEY = secrets.token_bytes(32)  # per process: hashes link requests in one run, never across runs


def redact_addresses(text: str, mode: Mode) -> str:
    """Replace each address in `text`: `jean.dupont@ac-paris.fr` -> `j***@ac-paris.fr` (redact),
    `h:5f2c…@ac-paris.fr` (hash), or unchanged (full)."""
    if mode == "full":
        return text
    decoded = text
    for _ in range(_DECODE_ROUNDS):
        decoded, previous = unquote(decoded, errors="replace"), decoded
        if decoded == previous:
            break

    def hide(match: re.Match[str]) -> str:
        local, domain = match.group(1), match.group(2)
        if mode == "hash":
            digest = hmac.new(_HASH_KEY, local.lower().encode(), hashlib.sha256).hexdigest()[:12]
            return f"h:{digest}@{domain}"
        return f"{local[:1]}***@{domain}"

    return _ADDRESS.sub(hide, decoded)


def _printable(text: str) -> str:
    # A log line is one line: control characters from a hostile request are shown escaped.
    return (
        text.encode("unicode_escape", errors="backslashreplace").decode("ascii")
        if not text.isprintable()
        else text
    )


class AccessLogMiddleware:
    """One line per request: client, method, path and query with addresses hidden, status, duration."""

    def __init__(self, app: ASGIApp, mode: Mode) -> None:
        self.app = app
        self.mode = mode
        self.logger = logging.getLogger(ACCESS_LOGGER)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            if self.logger.isEnabledFor(logging.INFO):
                target = scope.get("path", "")
                query = scope.get("query_string", b"").decode("latin-1")
                if query:
                    target = f"{target}?{query}"
                client = scope.get("client")
                self.logger.info(
                    '%s "%s %s" %d %.1fms',
                    client[0] if client else "-",
                    scope.get("method", "-"),
                    _printable(redact_addresses(target, self.mode)),
                    status,
                    (time.perf_counter() - start) * 1000,
                )
