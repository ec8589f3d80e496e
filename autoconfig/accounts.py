"""Address -> Account: validate and normalise, find the provider, derive the login, guess a name."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote

from .addresses import address_key, parse_address
from .caches import memoize
from .domains import host_from_header, to_unicode_domain
from .errors import UnknownDomainError
from .settings import LoginRule, Provider, Settings

# Particles stay small inside a name (Charles de Gaulle); the articles le, la, les take a capital
# (Jean Le Goff, Jean de La Fontaine), as French typography writes them.
_PARTICLES = {
    "de",
    "du",
    "des",
    "d",
    "van",
    "von",
    "der",
    "den",
    "di",
    "da",
    "del",
    "dos",
}
_ARTICLES = {"le", "la", "les"}
_SERVICE_LABELS = {"autoconfig", "autodiscover", "ua-auto-config"}
_PLACEHOLDER = re.compile(r"%EMAIL(?:ADDRESS|LOCALPART|DOMAIN)%")
_NAME_PART = re.compile(r"^[^\W\d_]+(?:['-][^\W\d_]+)*$")


__all__ = [
    "Account",
    "hosted_account",
    "hosters_for_host",
    "lacks_form",
    "nearest_domain",
    "parse_address",
    "provider_for_host",
    "resolve_account",
]


@dataclass(frozen=True)
class Account:
    """One person's address as the service understands it."""

    address: str  # local part as typed, domain in A-label form, lower case
    local_part: str
    domain: str  # A-label form
    provider: Provider
    login: str
    display_name: str | None  # None when the local part does not look like a name
    # The address as asked, when its domain is one of the provider's aliases; `address` is then the
    # same mailbox at the provider's first domain.
    alias: str | None = None
    # Where the login comes from: the overrides file, the directory, or the rule (with its fallback).
    source: Literal["override", "directory", "rule"] = "rule"
    # The domain is not in the settings: the provider hosts its mail, as the domain's MX says.
    hosted: bool = False

    def fill(self, form: str, *, in_url: bool = False) -> str:
        """A settings value with the clients' placeholders filled in for this person.

        In a URL the local part is percent-encoded, so that `&`, `?`, `#` or `/` in it stay data.
        """
        local = quote(self.local_part, safe="") if in_url else self.local_part
        return fill_placeholders(form, local, self.domain)

    def login_for(self, form: str | None) -> str:
        """The login a server (or DAV service) wants: its own form filled in, else the derived login."""
        return self.login if form is None else self.fill(form)

    @property
    def unicode_address(self) -> str:
        return f"{self.local_part}@{to_unicode_domain(self.domain)}"


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
    alias = None
    if domain not in provider.domains:
        alias, domain = f"{local}@{domain}", provider.domains[0]
    return _account(provider, local, domain, alias=alias)


def hosted_account(provider: Provider, local: str, domain: str) -> Account:
    """The account of an address at a customer domain whose MX is the provider's: its login rule (usually
    the full address); the overrides apply as for a listed domain."""
    return _account(provider, local, domain, hosted=True)


def _account(
    provider: Provider, local: str, domain: str, *, alias: str | None = None, hosted: bool = False
) -> Account:
    """The account at the provider's `domain`: the overrides file's login and name, else the rule's."""
    address = f"{local}@{domain}"
    override = provider.login.table.get(address_key(local, domain))
    if override is not None:
        login, name = override
        name = name or guess_display_name(local)
        return Account(address, local, domain, provider, login, name, alias, "override", hosted)
    login = derive_login(provider.login, local, domain)
    return Account(address, local, domain, provider, login, guess_display_name(local), alias, hosted=hosted)


def lacks_form(account: Account) -> bool:
    """Whether the address lacks its provider's stated form (jdupont@ac-paris.fr where staff addresses
    are prenom.nom): worth a warning. An address the overrides or the directory know exists is right."""
    form = account.provider.address_form
    return form is not None and account.source == "rule" and not form.fits(account.local_part)


def nearest_domain(settings: Settings, ascii_domain: str) -> str | None:
    """The configured domain a domain no provider serves is a slip away from: one or two edits (a letter
    missed, added, wrong, or two swapped: ac-pari.fr, acparis.fr), or the same name under another
    top-level domain (ac-paris.com). None when no domain is that close, or two are equally close."""
    name = ascii_domain.rpartition(".")[0]
    scored: list[tuple[int, str]] = []
    for provider in settings.providers:
        for domain in (*provider.domains, *provider.aliases):
            distance = _edits(ascii_domain, domain)
            if distance > 2 and name and name == domain.rpartition(".")[0]:
                distance = 2
            if distance <= 2:
                scored.append((distance, domain))
    scored.sort()
    if not scored or (len(scored) > 1 and scored[0][0] == scored[1][0]):
        return None
    return scored[0][1]


def _edits(a: str, b: str) -> int:
    """Optimal string alignment distance: insertions, deletions, substitutions, adjacent swaps."""
    if abs(len(a) - len(b)) > 2:
        return 3  # more than the two edits anyone is offered a correction for
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            cost = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                cost = min(cost, previous2[j - 2] + 1)
            current.append(cost)
        previous2, previous = previous, current
    return previous[-1]


def with_directory(account: Account, login: str, name: str | None) -> Account:
    """The account with the login (and name, when it has one) the staff directory gave."""
    return dataclasses.replace(
        account, login=login, display_name=name or account.display_name, source="directory"
    )


def provider_for_host(settings: Settings, host_header: str) -> Provider:
    """The provider a request's `Host` names: `autoconfig.<domain>`, `autodiscover.<domain>`,
    `ua-auto-config.<domain>` or `<domain>`."""
    return domain_for_host(settings, host_header)[0]


def domain_for_host(settings: Settings, host_header: str) -> tuple[Provider, str]:
    """The provider a request's `Host` names, and the mail domain (A-label form) it names."""
    host = host_from_header(host_header)
    if host is not None:
        label, _, parent = host.partition(".")
        candidates = (host, parent) if label in _SERVICE_LABELS else (host,)
        for candidate in candidates:
            if (provider := settings.provider_for(candidate)) is not None:
                return provider, candidate
        # autoconfig.<the name of a hosting provider's MX hosts>: where Thunderbird asks for a domain
        # whose mail that provider hosts.
        if label in _SERVICE_LABELS and (provider := settings.hoster_named(parent)) is not None:
            return provider, provider.domains[0]
    raise UnknownDomainError()


def hosters_for_host(settings: Settings, host_header: str, *, own_host: bool) -> tuple[Provider, ...]:
    """The hosting providers a request on this `Host` may answer a customer domain for: the provider
    that `autoconfig.<name>` or `autodiscover.<name>` names (one of its domains, or the name of its MX
    hosts), or every hosting provider on the service's own host (`own_host`: public_url's, or loopback
    for a trial). Never on `<customer domain>` or `autoconfig.<customer domain>`."""
    hosting = settings.hosting_providers
    if not hosting or own_host:
        return hosting
    host = host_from_header(host_header)
    if host is None:
        return ()
    label, _, parent = host.partition(".")
    if label not in _SERVICE_LABELS:
        return ()
    provider = settings.provider_for(parent) or settings.hoster_named(parent)
    return (provider,) if provider is not None and provider.hosting is not None else ()


def derive_login(rule: LoginRule, local: str, domain: str) -> str:
    """The login for an address by the provider's rule, or by its fallback when the rule does not apply."""
    derived = rule.derive(local, domain)
    return derived if derived is not None else fill_placeholders(rule.fallback, local, domain)


def fill_placeholders(form: str, local: str, domain: str) -> str:
    """Replace the mail clients' placeholders by an address's parts, in one pass (a local part may
    itself look like a placeholder)."""
    values = {"%EMAILADDRESS%": f"{local}@{domain}", "%EMAILLOCALPART%": local, "%EMAILDOMAIN%": domain}
    return _PLACEHOLDER.sub(lambda m: values[m.group(0)], form)


def guess_display_name(local: str) -> str | None:
    """`jean-pierre.dupont2` -> `Jean-Pierre Dupont`; None when the local part does not look like a name.

    An address writes a space as a dot or a hyphen, so a particle or article at the start of a last
    name stands alone: `charles.de-gaulle` -> `Charles de Gaulle`, `jean.le-bihan` -> `Jean Le Bihan`.
    """
    return _display_name(local.rstrip("0123456789"))


# Homonyms share a stem (jean.dupont, jean.dupont2…). A pure function of the stem: right for any version.
@memoize("display_names")
def _display_name(stem: str) -> str | None:
    parts = [p for p in re.split(r"[._]", stem) if p]
    if len(parts) < 2 or not all(_NAME_PART.match(p) for p in parts):
        return None
    words = [parts[0].lower()]
    for part in parts[1:]:
        pieces = part.lower().split("-")
        while len(pieces) > 1 and len(pieces[0]) > 1 and pieces[0] in _PARTICLES | _ARTICLES:
            words.append(pieces.pop(0))
        words.append("-".join(pieces))
    last = len(words) - 1
    return " ".join(
        word if 0 < index < last and word in _PARTICLES else _capitalise(word)
        for index, word in enumerate(words)
    )


def _capitalise(word: str) -> str:
    # Each piece between hyphens and apostrophes gets a capital, but an elided particle stays small:
    # d'alembert -> d'Alembert, o'neil -> O'Neil, l'hote -> L'Hote, jean-pierre -> Jean-Pierre.
    pieces = re.split(r"(['-])", word)
    out = []
    for i, piece in enumerate(pieces):
        elided = i + 1 < len(pieces) and pieces[i + 1] == "'" and piece == "d"
        out.append(piece if elided or piece in "'-" else piece[:1].upper() + piece[1:])
    return "".join(out)
