"""A mail provider's table: its domains, login rule, servers, links, helpdesk, calendar, contacts and
directory."""

from __future__ import annotations

from pydantic import Field, model_validator

from .login import LoginRule
from .servers import DavServer, Directory, IncomingServer, OutgoingServer
from .types import (
    Domain,
    LocalizedText,
    Model,
    Phone,
    PublicUrl,
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

    issuer: PublicUrl = Field(
        description=(
            "The authorization server's issuer identifier (RFC 8414), an https address such as "
            "`https://auth.ac-paris.fr`: PACC advertises it, and Thunderbird's document lists OAuth2 "
            "before the password."
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

    @model_validator(mode="after")
    def _https(self) -> OAuth:
        if not self.issuer.startswith("https://"):
            raise problem(
                "bad_issuer",
                "an OAuth issuer is an https address",
                "write the issuer identifier as the authorization server publishes it, https://…",
                key="issuer",
                found=self.issuer,
            )
        return self


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

    @property
    def display_short_name(self) -> str:
        return self.short_name or self.name
