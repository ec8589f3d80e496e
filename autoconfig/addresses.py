"""What a mail address may be: the one check every way in (requests, the overrides file) goes through."""

from __future__ import annotations

import unicodedata

from .domains import DomainNameError, to_ascii_domain
from .errors import RequestError

# RFC 5321 §4.5.3.1: local part 64 octets, domain 255, and a path of 256 octets including the
# angle brackets, so an address has at most 254.
MAX_LOCAL_PART = 64
MAX_ADDRESS = 254
# RFC 5322 atext, plus the dot between atoms; quoted local parts are refused (no mail service here uses them).
_ATEXT = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-/=?^_`{|}~")
_ATEXT_DOT = _ATEXT | {"."}


def parse_address(text: str) -> tuple[str, str]:
    """Split and check an address; return (local part, A-label domain). Raises RequestError."""
    if len(text) > MAX_ADDRESS * 4:  # cheap guard before any other work on hostile input
        raise RequestError("The address is too long.")
    # One spelling per address: an accent typed as a separate mark (as some systems send it) is
    # composed, so "e" + U+0301 is the same local part as "é" (RFC 6532 §3.1). ASCII is its own NFC.
    if not text.isascii():
        text = unicodedata.normalize("NFC", text)
    if not text:
        raise RequestError("The address is empty.")
    if _spaces_or_controls(text):
        raise RequestError("The address holds spaces, line breaks or control characters.")
    local, at, domain = text.rpartition("@")
    if not at:
        raise RequestError("The address has no @ sign.")
    if not local:
        raise RequestError("The address has nothing before the @ sign.")
    if len(local.encode("utf-8")) > MAX_LOCAL_PART:
        raise RequestError(f"The part before the @ sign is longer than {MAX_LOCAL_PART} characters.")
    if local.startswith(".") or local.endswith(".") or ".." in local:
        raise RequestError("The part before the @ sign has a misplaced dot.")
    if _unfit_local_part(local):
        raise RequestError("The part before the @ sign holds a character addresses cannot have.")
    try:
        ascii_domain = to_ascii_domain(domain)
    except DomainNameError:
        raise RequestError("The part after the @ sign is not a valid domain name.") from None
    if len(local.encode("utf-8")) + 1 + len(ascii_domain) > MAX_ADDRESS:
        raise RequestError(f"The address is longer than {MAX_ADDRESS} characters.")
    return local, ascii_domain


def _spaces_or_controls(text: str) -> bool:
    # Unicode categories C and Z; in ASCII, what isprintable() refuses and the space it accepts.
    if text.isascii():
        return not text.isprintable() or " " in text
    return any(unicodedata.category(c)[0] in "CZ" for c in text)


def _unfit_local_part(local: str) -> bool:
    if local.isascii():
        return not set(local) <= _ATEXT_DOT
    return any(c not in _ATEXT and c != "." and (c.isascii() or not _is_letter_or_mark(c)) for c in local)


def _is_letter_or_mark(c: str) -> bool:
    # Non-ASCII letters and digits, and the marks that some scripts cannot compose (Devanagari vowel
    # signs, Thai tone marks): internationalised addresses (RFC 6531) use them.
    return c.isalnum() or unicodedata.category(c)[0] == "M"


def address_key(local: str, ascii_domain: str) -> str:
    """The form addresses are compared in: local part case-folded, domain in A-label form."""
    return f"{local.lower()}@{ascii_domain}"
