"""Access logs that keep no full mail address unless the settings say so."""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Literal
from urllib.parse import unquote

from starlette.types import Scope

from autoconfig.paths import state_dir

ACCESS_LOGGER = "autoconfig.access"
Mode = Literal["redact", "hash", "full"]
Format = Literal["plain", "json"]
# Anything shaped like an address, percent-encoded or not, wherever it sits in a path or query.
# The apostrophe is part of the local part (pierre.d'alembert@…), not a border. A match starts only
# at the start of a run (the lookbehind), so a long run without @ costs linear time, not quadratic.
_ADDRESS = re.compile(r"(?<![^\s/?&=;,<>\"@])([^\s/?&=;,<>\"@]+)@([^\s/?&=;,<>\"'@]*)")
# A client or proxy that encodes twice sends %2540 for @: decode a few rounds, not just one.
_DECODE_ROUNDS = 3


HASH_KEY_FILE = "log-hash.key"
_HASH_KEY_BYTES = 32


def _read_hash_key(path: Path) -> bytes | None:
    try:
        stored = path.read_bytes()
    except OSError:
        return None
    return stored if len(stored) == _HASH_KEY_BYTES else None


@functools.cache
def _hash_key() -> bytes:
    """The key of the "hash" mode: made once in the state folder, shared by every worker and restart,
    so one person's requests can be followed without the address being in the logs."""
    path = state_dir() / HASH_KEY_FILE
    stored = _read_hash_key(path)
    if stored is not None:
        return stored
    key = secrets.token_bytes(_HASH_KEY_BYTES)
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        _publish_key(path, key)
    except OSError:
        return key  # a read-only state folder: hashes stay stable within this process only
    # Workers that log their first address at the same moment each make a key: the first one put in
    # place is the one every process uses.
    return _read_hash_key(path) or key


def _publish_key(path: Path, key: bytes) -> None:
    """Put the key in place whole (mode 0600), unless another process put a usable one there first."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        try:
            os.fchmod(handle, 0o600)
            os.write(handle, key)
        finally:
            os.close(handle)
        try:
            os.link(temporary, path)  # fails when the file exists: never replaces a key in use
        except FileExistsError:
            if _read_hash_key(path) is None:  # a damaged key file is replaced
                os.replace(temporary, path)
    finally:
        Path(temporary).unlink(missing_ok=True)


def _decoded(text: str) -> str:
    for _ in range(_DECODE_ROUNDS):
        text, previous = unquote(text, errors="replace"), text
        if text == previous:
            break
    return text


def _hidden(local: str, domain: str, mode: Mode) -> str:
    if mode == "hash":
        digest = hmac.new(_hash_key(), local.lower().encode(), hashlib.sha256).hexdigest()[:12]
        return f"h:{digest}@{domain}"
    return f"{local[:1]}***@{domain}"


def redact_addresses(text: str, mode: Mode) -> str:
    """Replace each address in `text`: `jean.dupont@ac-paris.fr` -> `j***@ac-paris.fr` (redact),
    `h:5f2c…@ac-paris.fr` (hash), or unchanged (full)."""
    if mode == "full":
        return text
    return _ADDRESS.sub(lambda m: _hidden(m.group(1), m.group(2), mode), _decoded(text))


def redact_target(path: str, query: str, mode: Mode) -> str:
    """A request's path and query for the log. A query value or path segment holding an @ is hidden
    whole, before any decoding: a local part may itself hold `&`, `=`, `/` or `;` (`jean%26co@…`),
    which would otherwise split it; whatever else looks like an address is hidden as in
    redact_addresses."""
    if mode == "full":
        return f"{path}?{query}" if query else path

    def piece(raw: str) -> str:
        value = _decoded(raw)
        local, at, domain = value.rpartition("@")
        return _hidden(local, domain, mode) if at else redact_addresses(raw, mode)

    segments = "/".join(piece(segment) for segment in path.split("/"))
    if not query:
        return segments
    pairs = []
    for pair in query.split("&"):
        key, equals, value = pair.partition("=")
        pairs.append(f"{redact_addresses(key, mode)}{equals}{piece(value)}" if equals else piece(pair))
    return f"{segments}?{'&'.join(pairs)}"


def _printable(text: str) -> str:
    # A log line is one line: control characters from a hostile request are shown escaped.
    return (
        text.encode("unicode_escape", errors="backslashreplace").decode("ascii")
        if not text.isprintable()
        else text
    )


class AccessLog:
    """Writes one access line per request: client, method, path and query with addresses hidden,
    status, duration; plain text or JSON, as the settings the request was served with say."""

    def __init__(self, style_of: Callable[[Scope], tuple[Mode, Format]]) -> None:
        self.style_of = style_of
        self.logger = logging.getLogger(ACCESS_LOGGER)

    def __call__(self, scope: Scope, status: int, seconds: float) -> None:
        if not self.logger.isEnabledFor(logging.INFO):
            return
        mode, fmt = self.style_of(scope)
        client = scope.get("client")
        address = client[0] if client else "-"
        method = scope.get("method", "-")
        shown = redact_target(scope.get("path", ""), scope.get("query_string", b"").decode("latin-1"), mode)
        if fmt == "json":
            line = {"client": address, "method": method, "target": shown, "status": status}
            self.logger.info("%s", json.dumps({**line, "ms": round(seconds * 1000, 1)}, ensure_ascii=True))
        else:
            self.logger.info(
                '%s "%s %s" %d %.1fms', address, method, _printable(shown), status, seconds * 1000
            )
