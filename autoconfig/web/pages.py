"""The web pages: the Jinja2 environment (one per language, gettext catalogues), the device a browser
names, and the context of each page. Rendering is a pure function of settings, account and request facts.
"""

from __future__ import annotations

import dataclasses
import gettext
import json
import re
from collections.abc import Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlencode

import segno
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from autoconfig.accounts import Account, fill_placeholders, lacks_form
from autoconfig.caches import memoize
from autoconfig.domains import to_unicode_domain
from autoconfig.formats.thunderbird import generic_login
from autoconfig.formats.thunderbird_qr import android_export
from autoconfig.settings import DOMAIN_PLACEHOLDER, DavServer, Provider, Server, Settings
from autoconfig.web.compiled_gettext import CompiledGettext


def N_(message: str) -> str:
    """Marks a message for the catalogue; it is translated where it is shown."""
    return message


NO_SUCH_GUIDE = N_("There is no such guide.")
NO_ADDRESS = N_("Type your mail address.")
UNKNOWN_DOMAIN = N_("This service sets up addresses at %(domains)s only.")
UNKNOWN_DOMAIN_HOSTED = N_(
    "This service sets up addresses at %(domains)s, and at the domains whose mail %(hosters)s hosts; "
    "this domain is not one of them."
)
NO_DOMAIN = N_("Type your whole mail address, with @%(domain)s at the end: for example %(example)s.")
# The typed text is quoted as the login it looks like, never made into an address (jdupont@… is not one).
LOGIN_NOT_ADDRESS = N_(
    "“%(login)s” looks like a login, not an address: your address has the form %(form)s, "
    "for example %(example)s."
)
INVALID_ADDRESS = N_("This is not a valid mail address: check it and try again.")
PROFILE_NO_ADDRESS = N_("Add ?email= with your mail address.")
BUSY = N_("The service is busy; try again in a moment.")


# What people type instead of an address: a login or a first name, letters (hyphens and apostrophes
# inside) and perhaps a number after, no dot.
def unknown_domain_message(pages: Pages, settings: Settings, language: str) -> str:
    """What a person who typed an address at a domain the service does not set up is told: the domains
    it does, and, with a provider that hosts mail for others, that those domains are served too."""
    domains = ", ".join(to_unicode_domain(d) for p in settings.providers for d in p.domains)
    hosters = ", ".join(p.name for p in settings.hosting_providers)
    if hosters:
        return pages.gettext(language, UNKNOWN_DOMAIN_HOSTED, domains=domains, hosters=hosters)
    return pages.gettext(language, UNKNOWN_DOMAIN, domains=domains)


_LOGIN_LIKE = re.compile(r"[^\W\d_]+(?:['-][^\W\d_]+)*[0-9]*")
# A character no message holds: where the typed login goes in the script's copy of the hint.
_SLOT = "\x1f"

Device = Literal["ios", "android", "macos", "thunderbird", "outlook", "other"]
DEVICES: tuple[Device, ...] = ("ios", "android", "macos", "thunderbird", "outlook", "other")
CATALOGUE_DOMAIN = "messages"
# The names mail apps show. "none" is words, translated where it is shown; the others read the same
# in every language.
SECURITY_LABELS = {"starttls": "STARTTLS", "tls": "SSL/TLS", "none": N_("None (no encryption)")}
# The order matters: an iPad's Safari says "Macintosh"; Android browsers also say "Linux".
_DEVICE_PATTERNS: tuple[tuple[re.Pattern[str], Device], ...] = (
    (re.compile(r"iPhone|iPad|iPod", re.IGNORECASE), "ios"),
    (re.compile(r"Android", re.IGNORECASE), "android"),
    (re.compile(r"Macintosh|Mac OS X", re.IGNORECASE), "macos"),
    (re.compile(r"Windows", re.IGNORECASE), "outlook"),
    (re.compile(r"Linux|X11|CrOS", re.IGNORECASE), "thunderbird"),
)


def device_from_user_agent(user_agent: str | None) -> Device:
    """The guide to show first for a browser: iPhone/iPad, Android, macOS, Windows (Outlook),
    Linux (Thunderbird), anything else."""
    text = (user_agent or "")[:512]
    for pattern, device in _DEVICE_PATTERNS:
        if pattern.search(text):
            return device
    return "other"


@dataclass(frozen=True)
class ServerValues:
    """One server as a person types it into a mail app."""

    kind: str  # IMAP, POP3, SMTP
    host: str
    port: int
    security: str
    login: str


def server_values(server: Server, account: Account) -> ServerValues:
    login = account.login_for(server.username)
    return ServerValues(
        server.protocol_name.upper(),
        account.fill(server.host),
        server.effective_port,
        SECURITY_LABELS[server.security],
        login,
    )


# Repeats of a whole page are kept apart. A pure function of the URL: right for any version.
@memoize("qr_codes")
def qr_svg(url: str) -> Markup:
    """A page's address as an inline SVG QR code (segno escapes nothing: the URL is ours, its query
    percent-encoded).

    Mask 0, rather than the one segno would pick by scoring all eight: any mask is valid QR, phones
    read it alike, and scoring cost 7 ms of the 8 ms a guide page took. Cached: a person reloads.
    """
    code = segno.make(url, error="m", mask=0, micro=False)
    return Markup(code.svg_inline(scale=4, omitsize=True, border=4, title=url))  # noqa: S704 - segno's own SVG


@memoize("android_qr_codes")  # a pure function of the payload, which holds the version's values
def android_qr_svg(payload: str) -> Markup:
    """The account export as Thunderbird desktop draws it: byte mode, error correction L at least
    (raised when the symbol has room), a quiet zone of four modules."""
    code = segno.make(payload, error="l", mode="byte", boost_error=True, micro=False)
    return Markup(code.svg_inline(scale=4, omitsize=True, border=4))  # noqa: S704 - segno's own SVG


class Pages:
    """The templates and gettext catalogues, loaded once, in every language the settings offer."""

    def __init__(self, settings: Settings, templates: Path) -> None:
        self.settings = settings
        self.translations: dict[str, gettext.NullTranslations] = {
            language: gettext.translation(
                CATALOGUE_DOMAIN, localedir=templates / "locale", languages=[language], fallback=True
            )
            for language in settings.service.languages
        }
        self.environments = {
            language: self._environment(templates, translations)
            for language, translations in self.translations.items()
        }
        self._kept: dict[Hashable, bytes] = {}

    @staticmethod
    def _environment(templates: Path, translations: gettext.NullTranslations) -> Environment:
        env = Environment(
            loader=FileSystemLoader(templates),
            autoescape=select_autoescape(default=True, default_for_string=True),
            undefined=StrictUndefined,
            extensions=["jinja2.ext.i18n", CompiledGettext],
            trim_blocks=True,
            lstrip_blocks=True,
            auto_reload=False,  # the templates ship with the code; a stat per template and render otherwise
        )
        env.install_gettext_translations(translations, newstyle=True)  # type: ignore[attr-defined]
        env.extend(compiled_translations=translations)
        return env

    def gettext(self, language: str, message: str, **values: str) -> str:
        """A message translated for code outside the templates, with %(name)s values filled in."""
        translated = self.translations[language].gettext(message)
        return translated % values if values else translated

    def kept(self, key: Hashable) -> bytes | None:
        """A page rendered lately for exactly these facts (guides.guide says which)."""
        return self._kept.get(key)

    def keep(self, key: Hashable, html: str) -> bytes:
        """Remembers a page, the oldest forgotten first: a flood of addresses costs evictions, not memory.
        A reload makes new Pages, so a page never outlives the settings it shows."""
        page = html.encode()
        if len(self._kept) >= KEPT_PAGES:
            del self._kept[next(iter(self._kept))]
        self._kept[key] = page
        return page

    def render(self, template: str, language: str, **context: Any) -> str:
        env = self.environments[language]
        return env.get_template(template).render(
            language=language, languages=self.settings.service.languages, **context
        )


KEPT_PAGES = 128  # about 17 KB each: 2 MB a worker at most


def account_facts(account: Account) -> tuple[str | None, ...]:
    """What a page shows of an account, as a key: its provider stands for the provider's settings."""
    # Every field, so that one the page may show one day is never left out of the key.
    return tuple(
        account.provider.id if field.name == "provider" else getattr(account, field.name)
        for field in dataclasses.fields(account)
    )


def page_url(public_url: str, path: str, **query: str) -> str:
    """An absolute address on the service, for QR codes and links that leave the browser."""
    kept = {k: v for k, v in query.items() if v}
    return f"{public_url}{path}" + (f"?{urlencode(kept)}" if kept else "")


def phone_link(phone: str) -> str:
    """A tel: link as dialled: "+33 (0)1 44 62 40 40" -> tel:+33144624040 (the (0) is dialled only from
    inside the country, never after +33). A number written without its country code stays as written
    (`check` asks for the international form: from a foreign SIM, 01… reaches nobody)."""
    dialled = phone.replace("(0)", "") if phone.startswith("+") else phone
    return "tel:" + re.sub(r"[^0-9+]", "", dialled)


def help_context(provider: Provider | None, language: str, account: Account | None = None) -> dict[str, Any]:
    """Webmail, password reset and helpdesk of a provider, as the footer shows them.

    Links may name the person's domain (https://webmail.%EMAILDOMAIN%/): filled in for `account`,
    else with the provider's first domain.
    """
    if provider is None:
        return {"provider": None}

    def link(url: str | None) -> str | None:
        if url is None:
            return None
        if account is not None:
            return account.fill(url, in_url=True)
        return url.replace(DOMAIN_PLACEHOLDER, provider.domains[0])

    support = provider.support
    phone_uri = phone_link(support.phone) if support.phone is not None else None
    return {
        "provider": provider,
        "webmail": link(provider.links.webmail),
        "password_reset": link(provider.links.password_reset),
        "documentation": [(link(doc.url), doc.title.get(language)) for doc in provider.links.documentation],
        "phone": support.phone,
        "phone_uri": phone_uri,
        "support_email": support.email,
        "support_url": link(support.url),
        "postal_address": support.postal_address,
        "hours": support.hours.get(language) if support.hours is not None else None,
    }


def landing_context(provider: Provider | None, language: str, base_url: str) -> dict[str, Any]:
    """The landing page's help and its own address as a QR code."""
    here = page_url(base_url, "/", lang=language)
    return {**help_context(provider, language), "qr": qr_svg(here), "page_url": here}


@dataclass(frozen=True)
class AddressHints:
    """What the landing page says about the form of an address at one domain."""

    example: str  # jean.dupont@ac-paris.fr
    domain_hint: str  # the whole address, with @domain
    form: str | None  # prénom.nom@ac-paris.fr, when the provider states the form
    patterns: tuple[str, ...]  # the form's patterns, for the script (JavaScript syntax)


def address_hints(pages: Pages, provider: Provider, language: str) -> AddressHints:
    domain = to_unicode_domain(provider.domains[0])
    form = provider.address_form
    example = f"{form.example if form is not None else 'jean.dupont'}@{domain}"
    hint = pages.gettext(language, NO_DOMAIN, domain=domain, example=example)
    if form is None:
        return AddressHints(example, hint, None, ())
    patterns = tuple(_js_pattern(p) for p in (form.pattern, *form.also_valid))
    return AddressHints(example, hint, f"{form.description.get(language)}@{domain}", patterns)


def bare_input_message(pages: Pages, provider: Provider, language: str, typed: str) -> str:
    """What to say about an input without "@": the provider's form when it looks like a login that
    does not have the form (jdupont), else where the domain goes; the example is always the provider's."""
    hints = address_hints(pages, provider, language)
    form = provider.address_form
    if hints.form is not None and form is not None and looks_like_login(typed) and not form.fits(typed):
        return pages.gettext(language, LOGIN_NOT_ADDRESS, login=typed, form=hints.form, example=hints.example)
    return hints.domain_hint


def looks_like_login(typed: str) -> bool:
    return len(typed) <= 64 and _LOGIN_LIKE.fullmatch(typed) is not None


def login_hint_parts(pages: Pages, hints: AddressHints, language: str) -> tuple[str, str] | None:
    """The login hint around the place of the typed login, for the script to fill in as text."""
    if hints.form is None:
        return None
    text = pages.gettext(language, LOGIN_NOT_ADDRESS, login=_SLOT, form=hints.form, example=hints.example)
    before, _, after = text.partition(_SLOT)
    return before, after


def patterns_json(hints: AddressHints) -> str:
    return json.dumps(hints.patterns)


def _js_pattern(pattern: str) -> str:
    # Python's named groups in JavaScript's spelling; a pattern the script cannot compile is skipped there.
    return re.sub(r"\(\?P=(\w+)\)", r"\\k<\1>", pattern.replace("(?P<", "(?<"))


@dataclass(frozen=True)
class DavValues:
    """A calendar or address book as a person types it into an app."""

    url: str  # the person's own URL
    login: str


def dav_values(dav: DavServer | None, account: Account) -> DavValues | None:
    if dav is None:
        return None
    return DavValues(account.fill(dav.url, in_url=True), account.login_for(dav.username))


ProfileSigning = Literal["signed", "development", "unsigned"]


def guide_context(
    account: Account, device: Device, language: str, base_url: str, signing: ProfileSigning = "signed"
) -> dict[str, Any]:
    """Everything a guide shows: the person's values for each server, calendar, contacts and directory;
    the Apple profile and how it is signed; the account export for Thunderbird for Android and what that
    app proposes on its own; the address of the phone's own guide as a QR code."""
    provider = account.provider
    address = account.alias or account.address
    incoming = [server_values(s, account) for s in provider.incoming]
    outgoing = [server_values(s, account) for s in provider.outgoing]
    export = android_export(account)
    # The answer that names no person, as Thunderbird for Android finds it: its username, filled in.
    proposed = fill_placeholders(
        generic_login(provider, provider.incoming[0]), account.local_part, account.domain
    )
    # The phone opens its own guide (/guide picks it from the phone's browser), not this device's.
    phone_guide = page_url(base_url, "/guide", email=address, lang=language)
    return {
        **help_context(provider, language, account),
        "account": account,
        "address": address,
        "device": device,
        "devices": DEVICES,
        "directory": provider.directory,
        "calendar": dav_values(provider.calendar, account),
        "contacts": dav_values(provider.contacts, account),
        "incoming": incoming[0],
        "outgoing": outgoing[0],
        "other_incoming": incoming[1:],
        "other_outgoing": outgoing[1:],
        "profile_url": "/profile.mobileconfig?" + urlencode({"email": address, "lang": language}),
        "profile_signing": signing,
        "android_qr": android_qr_svg(export.payload) if export.payload is not None else None,
        "android_qr_reason": export.reason,
        "android_proposed_login": proposed,
        "device_links": {
            d: "/guide/" + d + "?" + urlencode({"email": address, "lang": language}) for d in DEVICES
        },
        "qr": qr_svg(phone_guide),
        "page_url": phone_guide,
        "off_form": _off_form(account, address, language),
    }


def _off_form(account: Account, address: str, language: str) -> str | None:
    """The form the address lacks, as the warning above the values names it (prénom.nom@ac-paris.fr)."""
    form = account.provider.address_form
    if form is None or not lacks_form(account):
        return None
    return f"{form.description.get(language)}@{to_unicode_domain(address.rpartition('@')[2])}"
