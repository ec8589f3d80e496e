"""Access logs that keep no full mail address unless the settings say so."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import secrets
import time
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Literal
from urllib.parse import unquote

from starlette.types import Scope

from autoconfig.caches import memoize
from autoconfig.errors import Note
from autoconfig.paths import state_dir, write_private

ACCESS_LOGGER = "autoconfig.access"
Mode = Literal["redact", "hash", "full"]
Format = Literal["plain", "json"]
# Anything shaped like an address, percent-encoded or not, wherever it sits in a path or query.
# The apostrophe is part of the local part (pierre.d'alembert@…), not a border. A match starts only
# at the start of a run (the lookbehind), so a long run without @ costs linear time, not quadratic.
_ADDRESS = re.compile(r"(?<![^\s/?&=;,<>\"@])([^\s/?&=;,<>\"@]+)@([^\s/?&=;,<>\"'@]*)")
# The ways @ is written so as not to read as one, once decoded: " at ", "(at)", "[at]", "{at}", "<at>"
# (a form sends a space as "+"), HTML's "&#64;", "&#x40;", "&commat;", and IIS's "%u0040". Each run of
# spaces is tried from its start only (the lookbehinds): linear time on any target.
_SPELLED_AT = re.compile(
    r"(?<![\s+])[\s+]*[(\[{<][\s+]*at[\s+]*[)\]}>][\s+]*"
    r"|(?<![\s+])[\s+]+at[\s+]+"
    r"|&#0*64;?|&#x0*40;?|&commat;|%u0*40",
    re.IGNORECASE,
)
# The same HTML references sent raw in a query, where their "&" would split the address in two.
_RAW_REFERENCE = re.compile(r"&(?:#0*64;?|#x0*40;?|commat;)", re.IGNORECASE)
# A client or proxy that encodes twice sends %2540 for @: decode until nothing changes (a bound keeps a
# hostile target from costing more than a few passes).
_DECODE_ROUNDS = 8
# A target longer than this is cut in the log: 1,000 requests with 60 kB paths once added 57 MiB.
MAX_TARGET = 1024


HASH_KEY_FILE = "log-hash.key"
_HASH_KEY_BYTES = 32


def _read_hash_key(path: Path) -> bytes | None:
    try:
        stored = path.read_bytes()
    except OSError:
        return None
    return stored if len(stored) == _HASH_KEY_BYTES else None


_given_key: bytes | None = None


def use_hash_key(key: bytes | None) -> None:
    """The key the supervisor gives its workers (the same for all), when it has one."""
    global _given_key  # noqa: PLW0603 - one key per process, set once at its start
    _given_key = key
    _hash_key.cache_clear()
    _shown.cache_clear()  # hashed targets were of the previous key


# With a provider that hosts mail for customer domains, the domains the settings list: any other domain in
# a target is a customer's (or anyone's), hidden like a local part. None: every domain is shown.
_listed_domains: frozenset[str] | None = None


def use_listed_domains(domains: frozenset[str] | None) -> None:
    """The domains a log may show when addresses are hidden (None: all), from the version served."""
    global _listed_domains  # noqa: PLW0603 - one version per process at a time, set with the key
    if domains != _listed_domains:
        _listed_domains = domains
        _shown.cache_clear()


@memoize("hash_key")  # forgotten with the targets whenever a version brings its key (use_hash_key)
def _hash_key() -> bytes:
    """The key of the "hash" mode: given by the supervisor, else made once in the state folder, shared
    by every worker and restart, so one person's requests can be followed without the address being in
    the logs."""
    if _given_key is not None:
        return _given_key
    return stored_hash_key()[0]


def stored_hash_key() -> tuple[bytes, Note | None]:
    """The key kept in the state folder (made there the first time), and a warning when it cannot be
    kept: then hashes stay stable only until the service restarts."""
    path = state_dir() / HASH_KEY_FILE
    stored = _read_hash_key(path)
    if stored is not None:
        return stored, None
    key = secrets.token_bytes(_HASH_KEY_BYTES)
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        _publish_key(path, key)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        return key, Note(
            f"the log-hash key cannot be kept in {path} ({reason}): hashed addresses change at each restart",
            "make the state folder writable, or name a key file in service.log_hash_key_file",
        )
    # Processes that make a key at the same moment each make one: the first put in place is the one
    # every process uses.
    return _read_hash_key(path) or key, None


def _publish_key(path: Path, key: bytes) -> None:
    """Put the key in place whole (mode 0600), unless another process put a usable one there first."""
    if not write_private(path, key, replace=False) and _read_hash_key(path) is None:
        write_private(path, key)  # a damaged key file is replaced


def _decoded(text: str) -> str:
    """Percent-decoded until nothing changes, then in compatibility form (a full-width commercial at,
    U+FF20, or another look-alike is an @ to whoever reads the log), with @ spelled out written as @."""
    if text.isascii() and "%" not in text:  # nothing to decode, and ASCII is its own NFKC
        return _SPELLED_AT.sub("@", text) if _may_spell_at(text) else text
    for _ in range(_DECODE_ROUNDS):
        text, previous = unquote(text, errors="replace"), text
        if text == previous:
            break
    text = unicodedata.normalize("NFKC", text)
    return _SPELLED_AT.sub("@", text) if _may_spell_at(text) else text


def _may_spell_at(text: str) -> bool:
    # A few substring tests cost a tenth of the expression, and most pieces of a target pass none.
    return "at" in text or "&" in text or "%" in text or "AT" in text or "At" in text or "aT" in text


def _hidden(local: str, domain: str, mode: Mode) -> str:
    if _listed_domains is not None and domain.lower().rstrip(".") not in _listed_domains:
        # A hosted customer's domain names the customer: hashed or starred like the local part.
        domain = f"h:{_digest(domain.lower())}" if mode == "hash" else "***"
    if mode == "hash":
        return f"h:{_digest(local.lower())}@{domain}"
    return f"{local[:1]}***@{domain}"


def _digest(text: str) -> str:
    return hmac.new(_hash_key(), text.encode(), hashlib.sha256).hexdigest()[:12]


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
    if "&#" in query or "&c" in query or "&C" in query:
        query = _RAW_REFERENCE.sub("%40", query)
    pairs = []
    for pair in query.split("&"):
        key, equals, value = pair.partition("=")
        pairs.append(f"{redact_addresses(key, mode)}{equals}{piece(value)}" if equals else piece(pair))
    return f"{segments}?{'&'.join(pairs)}"


# The same targets come again (a client's retries, the checks of a monitor): short ones are kept. The
# version's part, the log-hash key, is forgotten with them when it changes (use_hash_key).
@memoize("log_targets", max_chars=520)  # a target of at most 512 characters, and the mode
def _shown(path: str, query: str, mode: Mode) -> str:
    return redact_target(path, query, mode)


def _printable(text: str) -> str:
    """One line that no request can forge fields in: control characters escaped, quotes too (the
    target sits between quotes), and no longer than MAX_TARGET characters."""
    if len(text) > MAX_TARGET:
        text = f"{text[:MAX_TARGET]}…(+{len(text) - MAX_TARGET})"
    if not text.isprintable():
        text = text.encode("unicode_escape", errors="backslashreplace").decode("ascii")
    return text.replace('"', '\\"')


class AccessLog:
    """Writes one access line per request: client, method, path and query with addresses hidden,
    status, duration; plain text or JSON, as the settings the request was served with say."""

    def __init__(self, style_of: Callable[[Scope], tuple[Mode, Format]]) -> None:
        self.style_of = style_of
        self.logger = logging.getLogger(ACCESS_LOGGER)

    def __call__(self, scope: Scope, status: int, seconds: float) -> None:
        write = _line_writer
        if write is None:
            if not self.logger.isEnabledFor(logging.INFO):
                return
            write = self._log
        mode, fmt = self.style_of(scope)
        client = scope.get("client")
        address = client[0] if client else "-"
        method = scope.get("method", "-")
        # The target as sent: the server decodes %2F in the path, which would split a local part.
        raw_path = scope.get("raw_path")
        path = raw_path.decode("latin-1") if isinstance(raw_path, bytes) else scope.get("path", "")
        shown = _shown(path, scope.get("query_string", b"").decode("latin-1"), mode)
        when = _timestamp()
        if fmt == "json":
            line = {"time": when, "client": address, "method": method, "target": shown[:MAX_TARGET]}
            line |= {"status": status, "ms": round(seconds * 1000, 1)}
            write(json.dumps(line, ensure_ascii=True))
        else:
            write(f'{when} {address} "{method} {_printable(shown)}" {status} {seconds * 1000:.1f}ms')

    def _log(self, line: str) -> None:
        self.logger.info("%s", line)


# A worker writes access lines straight to its log thread (serving/logqueue.py): building a log record
# for each was a fifth of a request's time.
_line_writer: Callable[[str], None] | None = None


def use_line_writer(write: Callable[[str], None] | None) -> None:
    """Where access lines go, formatted, instead of the `autoconfig.access` logger (None: the logger)."""
    global _line_writer  # noqa: PLW0603 - one writer per process, set at its start
    _line_writer = write


_second: tuple[int, str] = (0, "")  # the last second a line was written in, as ISO 8601


def _timestamp() -> str:
    """Now, in UTC to the millisecond (2026-12-07T05:42:29.584Z): the date and time are made once a
    second, which was two fifths of an access line's cost."""
    global _second  # noqa: PLW0603 - one clock per process
    now = time.time()
    whole = int(now)
    if whole != _second[0]:
        _second = (whole, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)))
    return f"{_second[1]}.{int((now - whole) * 1000):03d}Z"
