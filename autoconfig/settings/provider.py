"""A mail provider's tables: its login rule, servers, links, helpdesk, calendar, contacts and directory."""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, PrivateAttr, ValidationInfo, model_validator

from .types import (
    DEFAULT_PORTS,
    IMPLICIT_TLS_PORTS,
    STARTTLS_PORTS,
    TEMPLATE_BUILTINS,
    AuthMethods,
    DistinguishedName,
    Domain,
    FileReads,
    Host,
    InvalidValue,
    LdapUrl,
    LocalizedText,
    LoginForm,
    Model,
    Overrides,
    OverridesPath,
    Phone,
    Port,
    SearchFilter,
    SecretPath,
    Security,
    Text,
    Url,
    problem,
)


class LoginRule(Model):
    pattern: str | None = Field(
        default=None,
        description="Regular expression matched against the whole local part, lower-cased and with accents "
        "folded; its named groups feed `template`.",
    )
    template: str | None = Field(
        default=None,
        description="The login built from the pattern's groups and localpart, domain, address: "
        "{name} or {name:.N} (its first N characters); e.g. {first:.1}{last}{n}.",
    )
    remove: str = Field(
        default="",
        description='Characters deleted from a login built by the template, e.g. "-\'." to drop hyphens, '
        "apostrophes and dots.",
    )
    fallback: LoginForm = Field(
        default="%EMAILADDRESS%",
        description="The login when there is no address (sent as is) or the pattern does not match "
        "(placeholders filled in): %EMAILADDRESS%, %EMAILLOCALPART%, %EMAILDOMAIN% and literal text.",
    )
    overrides: OverridesPath | None = Field(
        default=None,
        description="CSV file with a header `address,login` and optionally `name`: exceptions to the rule.",
    )

    _regex: re.Pattern[str] | None = PrivateAttr(default=None)
    _table: Overrides = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _compile(self, info: ValidationInfo) -> LoginRule:
        if (self.pattern is None) != (self.template is None):
            given, absent = ("pattern", "template") if self.template is None else ("template", "pattern")
            raise problem(
                "incomplete_rule",
                f"{given} is set but {absent} is not; pattern and template go together",
                "give both pattern and template, or neither to always use fallback",
                key=absent,
            )
        if self.pattern is not None and self.template is not None:
            self._regex = _compile_pattern(self.pattern)
            _check_template(self.template, set(self._regex.groupindex))
        if self.overrides is not None:
            self._table = _overrides_read(self.overrides, info)
        return self

    @property
    def regex(self) -> re.Pattern[str] | None:
        return self._regex

    @property
    def table(self) -> Mapping[str, tuple[str, str | None]]:
        """Overrides: normalised address -> (login, display name or None)."""
        return self._table


def _overrides_read(path: Path, info: ValidationInfo) -> Overrides:
    # The loader read and parsed the file (loading.py); a problem in it is reported here, at this key.
    reads = (info.context or {}).get("files")
    if not isinstance(reads, FileReads):
        return {}
    read = reads.overrides.get(path, {})
    if isinstance(read, InvalidValue):
        raise problem(read.code, read.message, read.fix, key="overrides", found=str(path))
    return read


def _compile_pattern(pattern: str) -> re.Pattern[str]:
    try:
        regex = re.compile(pattern)
    except re.error as exc:
        raise problem(
            "bad_pattern",
            f"the regular expression does not compile: {exc}",
            "correct it; in TOML write it between single quotes so backslashes stay as they are",
            key="pattern",
            found=pattern,
        ) from None
    if not regex.groupindex:
        raise problem(
            "bad_pattern",
            "the regular expression has no named group",
            "name the parts the template uses, such as (?P<first>[a-z]+)",
            key="pattern",
            found=pattern,
        )
    return regex


def _check_template(template: str, groups: set[str]) -> None:
    allowed = groups | set(TEMPLATE_BUILTINS)
    fix = f"use only {{name}} or {{name:.N}} with a name from: {', '.join(sorted(allowed))}"
    where = {"key": "template", "found": template}
    try:
        fields = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise problem("bad_template", f"the template is malformed: {exc}", fix, **where) from None
    if not any(name for _, name, _, _ in fields):
        raise problem("bad_template", "the template uses no field", fix, **where)
    for _, name, spec, conversion in fields:
        if name is None:
            continue
        if name not in allowed or conversion or (spec and not re.fullmatch(r"\.[1-9][0-9]?", spec)):
            shown = "{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
            raise problem("bad_template", f"{shown} is not a field the template can use", fix, **where)


class Listener(Model):
    """A server clients connect to: its host, and a port that agrees with its security."""

    host: Host = Field(
        description="The server's DNS name (IDN allowed; stored in A-label form); "
        "%EMAILDOMAIN% stands for the person's domain, as in mail.%EMAILDOMAIN%."
    )
    port: Port | None = Field(
        default=None,
        description="TCP port; by default 143/993 (IMAP), 110/995 (POP3), 587/465 (SMTP), for starttls/tls.",
    )
    security: Security = Field(
        description='"starttls" (plain connection upgraded, ports 143/110/587), "tls" (implicit TLS, '
        'ports 993/995/465), or "none" (no encryption: avoid).'
    )

    @property
    def protocol_name(self) -> str:
        raise NotImplementedError

    @property
    def effective_port(self) -> int:
        return self.port if self.port is not None else DEFAULT_PORTS[(self.protocol_name, self.security)]

    @model_validator(mode="after")
    def _port_matches_security(self) -> Listener:
        port, security = self.effective_port, self.security
        where = {"key": "security", "found": security}
        if port in IMPLICIT_TLS_PORTS and security != "tls":
            raise problem(
                "port_security",
                f'port {port} is {IMPLICIT_TLS_PORTS[port]} over implicit TLS, but security is "{security}"',
                'write security = "tls", or use the port your server really offers with STARTTLS',
                **where,
            )
        if port in STARTTLS_PORTS and security == "tls":
            raise problem(
                "port_security",
                f"port {port} is {STARTTLS_PORTS[port]} started in plain and upgraded with STARTTLS, "
                'but security is "tls"',
                'write security = "starttls", or the implicit-TLS port (993, 995, 465, 636)',
                **where,
            )
        return self


class Server(Listener):
    """A mail server: incoming (IMAP, POP3) or outgoing (SMTP submission)."""

    auth: AuthMethods = Field(
        default=("password-cleartext",),
        min_length=1,
        description="Authentication methods in Thunderbird's words, one or a list: password-cleartext, "
        "password-encrypted, OAuth2, NTLM, GSSAPI, TLS-client-cert, client-IP-address, none.",
    )
    username: LoginForm | None = Field(
        default=None,
        description="This server's login if it differs from the provider's rule: "
        "%EMAILADDRESS%, %EMAILLOCALPART%, %EMAILDOMAIN% and literal text.",
    )


class IncomingServer(Server):
    protocol: Literal["imap", "pop3"] = Field(default="imap", description='"imap" or "pop3".')

    @property
    def protocol_name(self) -> str:
        return self.protocol


class OutgoingServer(Server):
    protocol: Literal["smtp"] = Field(default="smtp", description='Always "smtp" (submission).')

    @property
    def protocol_name(self) -> str:
        return self.protocol


class Documentation(Model):
    url: Url = Field(description="Address of a help page.")
    title: LocalizedText = Field(description='Its title: "text" or { fr = "…", en = "…" }.')


class Links(Model):
    webmail: Url | None = Field(
        default=None, description="The webmail's address (%EMAILDOMAIN% allowed in its host)."
    )
    password_reset: Url | None = Field(default=None, description="The self-service password page.")
    documentation: tuple[Documentation, ...] = Field(
        default=(), description="Help pages, each { url = …, title = … }, in order."
    )


class Support(Model):
    phone: Phone | None = Field(default=None, description="Helpdesk phone number as people dial it.")
    email: Text | None = Field(default=None, description="Helpdesk mail address.")
    url: Url | None = Field(default=None, description="Helpdesk web page or ticket form.")
    postal_address: Text | None = Field(default=None, description="Helpdesk postal address, on one line.")
    hours: LocalizedText | None = Field(default=None, description="Opening hours, per language.")


class DavServer(Model):
    """A CalDAV or CardDAV server."""

    url: Url = Field(description="The server's base URL (https), where /.well-known/… redirects.")
    username: LoginForm | None = Field(
        default=None,
        description="Its login if it differs from the provider's rule (placeholders as for servers).",
    )

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or ""


class DirectoryLookup(Model):
    url: LdapUrl = Field(
        description="The directory to ask: ldap://host[:port] (with STARTTLS) or ldaps://host[:port]."
    )
    starttls: bool = Field(
        default=True,
        description="Upgrade ldap:// with STARTTLS; false only for a directory on the same host.",
    )
    bind_dn: DistinguishedName | None = Field(
        default=None, description="Who the service binds as; none: anonymous."
    )
    bind_password_file: SecretPath | None = Field(
        default=None, description="File holding the bind password (never the password in the settings)."
    )
    filter: SearchFilter = Field(
        default="(mail={address})",
        description="Search filter; {address}, {localpart}, {domain} are filled in, escaped (RFC 4515).",
    )
    login_attribute: Text = Field(default="uid", description="The attribute holding the login.")
    name_attribute: Text = Field(default="displayName", description="The attribute holding the display name.")
    timeout: float = Field(
        default=1.0, ge=0.1, le=10.0, description="Seconds to wait for the directory before using the rule."
    )
    cache_ttl: int = Field(
        default=300, ge=0, le=86400, description="Seconds an answer (found or not found) is kept."
    )
    cache_size: int = Field(default=10000, ge=0, le=1000000, description="Answers kept at most, per worker.")

    @model_validator(mode="after")
    def _bind_pair(self) -> DirectoryLookup:
        if (self.bind_dn is None) != (self.bind_password_file is None):
            raise problem(
                "incomplete_bind",
                "bind_dn and bind_password_file go together",
                "give both, or neither to search anonymously",
                key="bind_password_file" if self.bind_password_file is None else "bind_dn",
            )
        return self


class Directory(Listener):
    """The LDAP staff directory, as devices reach it; `lookup` is how the service itself asks it."""

    host: Host = Field(description="The LDAP server's DNS name.")
    port: Port | None = Field(
        default=None, description="TCP port; by default 389 (starttls, none) or 636 (tls)."
    )
    security: Security = Field(default="starttls", description='"starttls", "tls" (ldaps) or "none".')
    base_dn: DistinguishedName = Field(description="Search base, e.g. ou=people,dc=ac-paris,dc=fr.")
    lookup: DirectoryLookup | None = Field(
        default=None,
        description="Ask the directory for each person's login and name before the login rule.",
    )

    @property
    def protocol_name(self) -> str:
        return "ldap"


class Provider(Model):
    id: Domain = Field(
        description="Stable identifier, hostname-like (usually the main domain); never change it."
    )
    name: Text = Field(description="The organisation's name, e.g. Académie de Paris.")
    short_name: Text | None = Field(
        default=None, description="A short name for small screens; default: name."
    )
    domains: tuple[Domain, ...] = Field(min_length=1, description="Mail domains this provider serves.")
    aliases: tuple[Domain, ...] = Field(
        default=(),
        description="Alias domains: an address there is the same mailbox at the first of `domains` "
        "(Outlook is redirected to it; other clients get its settings).",
    )
    login: LoginRule = Field(default_factory=LoginRule, description="How a login is derived from an address.")
    incoming: tuple[IncomingServer, ...] = Field(
        min_length=1, description="Incoming servers ([[providers.incoming]]), preferred first."
    )
    outgoing: tuple[OutgoingServer, ...] = Field(
        min_length=1, description="Outgoing SMTP servers ([[providers.outgoing]]), preferred first."
    )
    links: Links = Field(default_factory=Links, description="Webmail, password reset and help pages.")
    support: Support = Field(default_factory=Support, description="How people reach the helpdesk.")
    calendar: DavServer | None = Field(default=None, description="CalDAV server, if any.")
    contacts: DavServer | None = Field(default=None, description="CardDAV server, if any.")
    directory: Directory | None = Field(default=None, description="LDAP staff directory, if any.")

    @property
    def display_short_name(self) -> str:
        return self.short_name or self.name
