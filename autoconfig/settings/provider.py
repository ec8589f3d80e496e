"""A mail provider's table: its domains, login rule, servers, links, helpdesk, calendar, contacts and
directory."""

from __future__ import annotations

import re

from pydantic import Field, PrivateAttr, ValidationInfo, field_validator, model_validator

from .hosting import Hosting
from .login import LoginRule, compile_regex, fold
from .servers import DavServer, Directory, IncomingServer, OutgoingServer
from .types import (
    Domain,
    IssuerUrl,
    LocalizedText,
    Model,
    Phone,
    Text,
    Url,
    problem,
)


class Documentation(Model):
    url: Url = Field(description="Address of a help page.")
    title: LocalizedText = Field(
        description='Its title: `"text"` for every language, or `{ fr = "…", en = "…" }`.'
    )


class Links(Model):
    webmail: Url | None = Field(
        default=None, description="The webmail's address (`%EMAILDOMAIN%` allowed in its host)."
    )
    password_reset: Url | None = Field(default=None, description="The self-service password page.")
    documentation: tuple[Documentation, ...] = Field(
        default=(), description='Help pages, in order, each `{ url = "…", title = … }`.'
    )


class Support(Model):
    phone: Phone | None = Field(
        default=None, description="Helpdesk phone number as people dial it, e.g. `01 44 62 40 40`."
    )
    email: Text | None = Field(default=None, description="Helpdesk mail address.")
    url: Url | None = Field(default=None, description="Helpdesk web page or ticket form.")
    postal_address: Text | None = Field(default=None, description="Helpdesk postal address, on one line.")
    hours: LocalizedText | None = Field(default=None, description='Opening hours, `"text"` or per language.')


class OAuth(Model):
    """An OAuth 2.0 authorization server the mail servers accept tokens of."""

    issuer: IssuerUrl = Field(
        description=(
            "The authorization server's issuer identifier (RFC 8414), an https address such as "
            "`https://auth.ac-paris.fr`, written exactly as the server's metadata gives it (a trailing "
            "slash included: clients compare the two character for character): PACC advertises it, "
            "and Thunderbird's document lists OAuth2 before the password."
        )
    )
    scopes: tuple[Text, ...] = Field(
        default=(), description='The scopes a mail client asks for, e.g. `["openid", "email"]`.'
    )
    authorization_url: Url | None = Field(
        default=None, description="The authorization endpoint, for Thunderbird's `<oAuth2>` element."
    )
    token_url: Url | None = Field(
        default=None, description="The token endpoint, for Thunderbird's `<oAuth2>` element."
    )


class AddressForm(Model):
    """The form of people's addresses: the pages show it, and warn about an address that lacks it."""

    pattern: str = Field(
        description=(
            "Regular expression that people's local parts fit, matched like the login rule's pattern "
            "(whole local part, lower-cased, accents folded), e.g. "
            "`'^[a-z]+(?:-[a-z]+)*\\.[a-z]+(?:[-.][a-z]+)*[0-9]*$'` for prenom.nom. Write it between "
            "single quotes."
        )
    )
    example: Text = Field(
        description=(
            "A local part of this form, the example the pages show: `jean.dupont` gives "
            "`jean.dupont@ac-paris.fr`. It must fit `pattern`, and the login rule's pattern when there "
            "is one."
        )
    )
    description: LocalizedText = Field(
        description=(
            'The form in words, as the pages write it before `@domain`: `{ fr = "prénom.nom", en = '
            '"firstname.lastname" }`.'
        )
    )
    also_valid: tuple[str, ...] = Field(
        default=(),
        description=(
            "Regular expressions of other local parts that are right though they are not a person's, such "
            "as service mailboxes (`'^ce\\.[0-9]{7}[a-z]$'` for `ce.0751234a`): no warning for them."
        ),
    )

    _regexes: tuple[re.Pattern[str], ...] = PrivateAttr(default=())

    @field_validator("pattern")
    @classmethod
    def _pattern_compiles(cls, pattern: str) -> str:
        compile_regex(pattern)
        return pattern

    @field_validator("also_valid")
    @classmethod
    def _others_compile(cls, patterns: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in patterns:
            compile_regex(pattern)
        return patterns

    @model_validator(mode="after")
    def _example_fits(self) -> AddressForm:
        self._regexes = tuple(re.compile(p) for p in (self.pattern, *self.also_valid))
        if self._regexes[0].fullmatch(fold(self.example)) is None:
            raise problem(
                "example_off_form",
                "the example does not fit the form's pattern",
                "write an example of the form your addresses have (such as jean.dupont), or correct pattern",
                key="example",
                found=self.example,
            )
        return self

    def fits(self, local: str) -> bool:
        """Whether a local part has the form, or one of the other forms that are right."""
        folded = fold(local)
        return any(regex.fullmatch(folded) is not None for regex in self._regexes)


class Provider(Model):
    id: Domain = Field(
        description=(
            "Stable identifier, hostname-like (usually the main domain). Clients and profiles key on it: "
            "never change it."
        )
    )
    name: Text = Field(description="The organisation's name, e.g. `Académie de Paris`.")
    short_name: Text | None = Field(
        default=None,
        description="A short name for small screens.",
        json_schema_extra={"shown_default": "`name`"},
    )
    domains: tuple[Domain, ...] = Field(
        min_length=1,
        description="Mail domains this provider serves (IDN allowed); a domain belongs to one provider only.",
    )
    aliases: tuple[Domain, ...] = Field(
        default=(),
        description=(
            "Alias domains: an address there is the same mailbox at the first of `domains`. Outlook is "
            "redirected to that address (`redirectAddr`); other clients get its settings. An alias "
            "belongs to one provider, like a domain."
        ),
    )
    login: LoginRule = Field(
        default_factory=LoginRule,
        description=(
            "How a login is derived from an address: `[providers.login]` (see the login rule in the "
            "settings guide)."
        ),
        json_schema_extra={"shown_default": "the full address (`fallback`)"},
    )
    address_form: AddressForm | None = Field(
        default=None,
        description=(
            "The form of people's addresses, if they share one: `[providers.address_form]`. The pages show "
            "it to whoever types a login instead of an address, and warn above the values of a guide for "
            "an address that lacks it (see the address form in the settings guide)."
        ),
    )
    incoming: tuple[IncomingServer, ...] = Field(
        min_length=1,
        description="Incoming servers, one `[[providers.incoming]]` table each, preferred first.",
    )
    outgoing: tuple[OutgoingServer, ...] = Field(
        min_length=1,
        description=(
            "Outgoing SMTP submission servers, one `[[providers.outgoing]]` table each, preferred first."
        ),
    )
    links: Links = Field(
        default_factory=Links,
        description="Webmail, password reset and help pages: `[providers.links]`.",
        json_schema_extra={"shown_default": "none"},
    )
    support: Support = Field(
        default_factory=Support,
        description="How people reach the helpdesk: `[providers.support]`.",
        json_schema_extra={"shown_default": "none"},
    )
    calendar: DavServer | None = Field(
        default=None,
        description=(
            "CalDAV server, if any: `[providers.calendar]`. In Apple profiles, and where "
            "`/.well-known/caldav` redirects."
        ),
    )
    contacts: DavServer | None = Field(
        default=None,
        description=(
            "CardDAV server, if any: `[providers.contacts]`. In Apple profiles, and where "
            "`/.well-known/carddav` redirects."
        ),
    )
    directory: Directory | None = Field(
        default=None,
        description=(
            "LDAP staff directory, if any: `[providers.directory]`. In Apple profiles and the Thunderbird "
            "guide, so that people can search colleagues."
        ),
    )
    oauth: OAuth | None = Field(
        default=None,
        description=(
            "OAuth 2.0, if the mail servers accept its tokens: `[providers.oauth]`. Advertised in PACC and "
            "in Thunderbird's document (see which clients use it in the clients guide)."
        ),
    )
    hosting: Hosting | None = Field(
        default=None,
        description=(
            "Mail hosted for customer domains not listed here, found through their MX: "
            "`[providers.hosting]` (see hosting mail for other domains)."
        ),
    )

    # Here rather than in the form's own validator: the form is checked against the login rule, a key
    # beside it; declared after `login`, the rule is in info.data when it was valid.
    @field_validator("address_form")
    @classmethod
    def _rule_reads_the_form(cls, form: AddressForm | None, info: ValidationInfo) -> AddressForm | None:
        rule = info.data.get("login")
        if form is None or not isinstance(rule, LoginRule) or rule.regex is None:
            return form
        domains = info.data.get("domains") or ("example.org",)
        if rule.derive(form.example, domains[0]) is None:
            raise problem(
                "form_unreadable",
                "the login rule cannot read this form: its pattern does not match the example, so the "
                "people whose addresses have this form would get the fallback login",
                "make login.pattern match addresses of this form, or correct address_form.pattern and "
                "example to the form your addresses have",
                key="example",
                found=form.example,
            )
        return form

    @property
    def display_short_name(self) -> str:
        return self.short_name or self.name
