"""Address -> Account: validate and normalise, find the provider, derive the login, guess a name."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from .domains import DomainNameError, host_from_header, to_ascii_domain, to_unicode_domain
from .errors import RequestError, UnknownDomainError
from .settings import LoginRule, Provider, Settings

# RFC 5321 §4.5.3.1: local part 64 octets, domain 255, and a path of 256 octets including the
# angle brackets, so an address has at most 254.
MAX_LOCAL_PART = 64
MAX_ADDRESS = 254
# RFC 5322 atext, plus the dot between atoms; quoted local parts are refused (no mail service here uses them).
_ATEXT = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-/=?^_`{|}~")
# Letters that Unicode does not decompose but people spell out when they write without accents.
_LIGATURES = str.maketrans({"œ": "oe", "æ": "ae", "ß": "ss", "ø": "o", "đ": "d", "ł": "l", "ı": "i"})  # noqa: RUF001 - the dotless i is meant
_PARTICLES = {
    "de",
    "du",
    "des",
    "d",
    "la",
    "le",
    "les",
    "l",
    "van",
    "von",
    "der",
    "den",
    "di",
    "da",
    "del",
    "dos",
}
_SERVICE_LABELS = {"autoconfig", "autodiscover"}
_PLACEHOLDER = re.compile(r"%EMAIL(?:ADDRESS|LOCALPART|DOMAIN)%")
_NAME_PART = re.compile(r"^[^\W\d_]+(?:['-][^\W\d_]+)*$")


@dataclass(frozen=True)
class Account:
    """One person's address as the service understands it."""

    address: str  # local part as typed, domain in A-label form, lower case
    local_part: str
    domain: str  # A-label form
    provider: Provider
    login: str
    display_name: str | None  # None when the local part does not look like a name

    def fill(self, form: str) -> str:
        """A settings value with the clients' placeholders filled in for this person."""
        return fill_placeholders(form, self.local_part, self.domain)

    @property
    def unicode_address(self) -> str:
        return f"{self.local_part}@{to_unicode_domain(self.domain)}"


def parse_address(text: str) -> tuple[str, str]:
    """Split and check an address; return (local part, A-label domain). Raises RequestError."""
    if len(text) > MAX_ADDRESS * 4:  # cheap guard before any other work on hostile input
        raise RequestError("The address is too long.")
    if not text:
        raise RequestError("The address is empty.")
    if any(unicodedata.category(c)[0] in "CZ" for c in text):
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
    if any(c not in _ATEXT and c != "." and (c.isascii() or not c.isalnum()) for c in local):
        raise RequestError("The part before the @ sign holds a character addresses cannot have.")
    try:
        ascii_domain = to_ascii_domain(domain)
    except DomainNameError:
        raise RequestError("The part after the @ sign is not a valid domain name.") from None
    if len(local.encode("utf-8")) + 1 + len(ascii_domain) > MAX_ADDRESS:
        raise RequestError(f"The address is longer than {MAX_ADDRESS} characters.")
    return local, ascii_domain


def resolve_account(settings: Settings, text: str) -> Account:
    """The account for an address, with its provider, login and display name.

    Raises RequestError (400) for a malformed address, UnknownDomainError (404) for a domain no
    provider serves. Any local part at a known domain is answered: the service never reveals which
    mailboxes exist.
    """
    local, domain = parse_address(text)
    provider = settings.provider_for(domain)
    if provider is None:
        raise UnknownDomainError()
    address = f"{local}@{domain}"
    override = provider.login.table.get(f"{local.lower()}@{domain}")
    if override is not None:
        login, name = override
        return Account(address, local, domain, provider, login, name or guess_display_name(local))
    return Account(
        address,
        local,
        domain,
        provider,
        derive_login(provider.login, local, domain),
        guess_display_name(local),
    )


def provider_for_host(settings: Settings, host_header: str) -> Provider:
    """The provider a request's `Host` names: `autoconfig.<domain>`, `autodiscover.<domain>` or `<domain>`."""
    host = host_from_header(host_header)
    if host is not None:
        label, _, parent = host.partition(".")
        candidates = (host, parent) if label in _SERVICE_LABELS else (host,)
        for candidate in candidates:
            if (provider := settings.provider_for(candidate)) is not None:
                return provider
    raise UnknownDomainError()


def fold(text: str) -> str:
    """Lower case without accents: `Jérôme` -> `jerome`, `Cœur` -> `coeur`."""
    decomposed = unicodedata.normalize("NFKD", text.lower().translate(_LIGATURES))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def derive_login(rule: LoginRule, local: str, domain: str) -> str:
    """The login for an address by the provider's rule, or by its fallback when the rule does not apply."""
    regex, template = rule.regex, rule.template
    if regex is not None and template is not None:
        folded = fold(local)
        match = regex.fullmatch(folded)
        if match is not None:
            fields = {k: v or "" for k, v in match.groupdict().items()}
            fields.update(localpart=folded, domain=domain, address=f"{folded}@{domain}")
            login = template.format_map(fields)
            if rule.remove:
                login = login.translate(str.maketrans("", "", rule.remove))
            if login:
                return login
    return fill_placeholders(rule.fallback, local, domain)


def fill_placeholders(form: str, local: str, domain: str) -> str:
    """Replace the mail clients' placeholders by an address's parts, in one pass (a local part may
    itself look like a placeholder)."""
    values = {"%EMAILADDRESS%": f"{local}@{domain}", "%EMAILLOCALPART%": local, "%EMAILDOMAIN%": domain}
    return _PLACEHOLDER.sub(lambda m: values[m.group(0)], form)


def guess_display_name(local: str) -> str | None:
    """`jean-pierre.dupont2` -> `Jean-Pierre Dupont`; None when the local part does not look like a name."""
    parts = [p for p in re.split(r"[._]", local.rstrip("0123456789")) if p]
    if len(parts) < 2 or not all(_NAME_PART.match(p) for p in parts):
        return None
    words = []
    for index, part in enumerate(parts):
        lowered = part.lower()
        if index > 0 and lowered in _PARTICLES:
            words.append(lowered)
        else:
            words.append(_capitalise(lowered))
    return " ".join(words)


def _capitalise(word: str) -> str:
    # Each piece between hyphens and apostrophes gets a capital, but an elided particle stays small:
    # d'alembert -> d'Alembert, o'neil -> O'Neil, jean-pierre -> Jean-Pierre.
    pieces = re.split(r"(['-])", word)
    out = []
    for i, piece in enumerate(pieces):
        elided = i + 1 < len(pieces) and pieces[i + 1] == "'" and piece in {"d", "l"}
        out.append(piece if elided or piece in "'-" else piece[:1].upper() + piece[1:])
    return "".join(out)
