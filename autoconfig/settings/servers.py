"""What clients connect to: mail servers, the calendar and contacts servers, the staff directory."""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, model_validator

from .types import (
    DEFAULT_PORTS,
    IMPLICIT_TLS_PORTS,
    STARTTLS_PORTS,
    AuthMethods,
    DistinguishedName,
    Host,
    LdapUrl,
    LoginForm,
    Model,
    Port,
    SearchFilter,
    SecretPath,
    Security,
    Text,
    Url,
    problem,
)


class Listener(Model):
    """A server clients connect to: its host, and a port that agrees with its security."""

    host: Host = Field(
        description=(
            "The server's DNS name (IDN allowed; stored in A-label form); `%EMAILDOMAIN%` stands for the "
            "person's domain, as in `mail.%EMAILDOMAIN%`."
        )
    )
    port: Port | None = Field(
        default=None,
        description="TCP port; by default the protocol's port for its security.",
    )
    security: Security = Field(
        description=(
            '`"starttls"` (plain connection upgraded to TLS), `"tls"` (implicit TLS) or `"none"` (no '
            'encryption: avoid). Must agree with a well-known port: 993, 995, 465 are `"tls"`; 143, 110, '
            "587 are not."
        )
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
        description=(
            "Authentication methods in Thunderbird's words, one or a list: `password-cleartext` (the "
            "password, inside TLS), `password-encrypted` (CRAM-MD5), `OAuth2`, `NTLM`, `GSSAPI`, "
            "`TLS-client-cert`, `client-IP-address`, `none`."
        ),
    )
    username: LoginForm | None = Field(
        default=None,
        description=(
            "This server's login if it differs from the provider's rule: placeholders and literal text, "
            "as `fallback`."
        ),
        json_schema_extra={"shown_default": "the provider's login"},
    )


def _default_ports(*protocols: str) -> str:
    """What the reference shows as a port's default, from DEFAULT_PORTS."""
    return "; ".join(
        f"{DEFAULT_PORTS[(p, 'starttls')]} (starttls) or {DEFAULT_PORTS[(p, 'tls')]} (tls) for {p.upper()}"
        for p in protocols
    )


class IncomingServer(Server):
    port: Port | None = Field(
        default=None,
        description="TCP port; by default the protocol's port for its security.",
        json_schema_extra={"shown_default": _default_ports("imap", "pop3")},
    )
    protocol: Literal["imap", "pop3"] = Field(default="imap", description='`"imap"` or `"pop3"`.')

    @property
    def protocol_name(self) -> str:
        return self.protocol


class OutgoingServer(Server):
    port: Port | None = Field(
        default=None,
        description="TCP port; by default the protocol's port for its security.",
        json_schema_extra={"shown_default": _default_ports("smtp")},
    )
    protocol: Literal["smtp"] = Field(default="smtp", description='Always `"smtp"` (submission).')

    @property
    def protocol_name(self) -> str:
        return self.protocol


class DavServer(Model):
    """A CalDAV or CardDAV server."""

    url: Url = Field(
        description=(
            "The server's base URL (https), where `/.well-known/caldav` or `/.well-known/carddav` redirects."
        )
    )
    username: LoginForm | None = Field(
        default=None,
        description="Its login if it differs from the provider's rule (placeholders as for servers).",
        json_schema_extra={"shown_default": "the provider's login"},
    )

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or ""


class DirectoryLookup(Model):
    url: LdapUrl = Field(
        description=(
            "The directory the service asks (may be an internal one): `ldap://host[:port]` (upgraded with "
            "STARTTLS) or `ldaps://host[:port]`."
        )
    )
    starttls: bool = Field(
        default=True,
        description="Upgrade `ldap://` with STARTTLS; `false` only for a directory on the same host.",
    )
    bind_dn: DistinguishedName | None = Field(
        default=None, description="Who the service binds as; without it, it searches anonymously."
    )
    bind_password_file: SecretPath | None = Field(
        default=None,
        description=(
            "File holding the bind password (read at start; the password is never in the settings). Goes "
            "with `bind_dn`."
        ),
    )
    filter: SearchFilter = Field(
        default="(mail={address})",
        description=(
            "Search filter; `{address}`, `{localpart}` and `{domain}` are filled in, escaped as RFC 4515 "
            "says."
        ),
    )
    login_attribute: Text = Field(default="uid", description="The attribute holding the login.")
    name_attribute: Text = Field(
        default="displayName", description="The attribute holding the display name (`cn` or `displayName`)."
    )
    timeout: float = Field(
        default=1.0, ge=0.1, le=10.0, description="Seconds to wait for the directory before using the rule."
    )
    cache_ttl: int = Field(
        default=300, ge=0, le=86400, description="Seconds an answer, found or not, is kept."
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

    host: Host = Field(description="The LDAP server's DNS name, as devices reach it.")
    port: Port | None = Field(
        default=None,
        description="TCP port; by default the LDAP port for its security.",
        json_schema_extra={"shown_default": _default_ports("ldap")},
    )
    security: Security = Field(default="starttls", description='`"starttls"`, `"tls"` (ldaps) or `"none"`.')
    base_dn: DistinguishedName = Field(description="Search base, e.g. `ou=people,dc=ac-paris,dc=fr`.")
    lookup: DirectoryLookup | None = Field(
        default=None,
        description=(
            "Ask the directory for each person's login and name, after the overrides file and before the "
            "login rule (see the staff directory in the settings guide)."
        ),
    )

    @property
    def protocol_name(self) -> str:
        return "ldap"
