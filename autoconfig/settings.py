"""The settings file: TOML in, validated frozen models out. The only module that reads TOML.

Every key is declared once here, with a description that serves the error messages and the README
(a test checks that the README documents exactly these keys).
"""

from __future__ import annotations

import csv
import hashlib
import ipaddress
import re
import string
import tomllib
import types
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from difflib import get_close_matches
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    model_validator,
)

from .addresses import address_key, parse_address
from .domains import DomainNameError, to_ascii_domain, to_ascii_host
from .errors import Problem, RequestError, SettingsError
from .resources import default_settings_path, is_bundled_default

PLACEHOLDERS = ("%EMAILADDRESS%", "%EMAILLOCALPART%", "%EMAILDOMAIN%")
DOMAIN_PLACEHOLDER = "%EMAILDOMAIN%"
UI_LANGUAGES: tuple[Literal["fr", "en"], ...] = ("fr", "en")
# Ports whose security is fixed by convention: implicit TLS (RFC 8314) or a plain start with STARTTLS.
IMPLICIT_TLS_PORTS = {993: "IMAP", 995: "POP3", 465: "SMTP submission", 636: "LDAP"}
STARTTLS_PORTS = {143: "IMAP", 110: "POP3", 587: "SMTP submission", 389: "LDAP"}
DEFAULT_PORTS = {
    ("imap", "tls"): 993,
    ("imap", "starttls"): 143,
    ("imap", "none"): 143,
    ("pop3", "tls"): 995,
    ("pop3", "starttls"): 110,
    ("pop3", "none"): 110,
    ("smtp", "tls"): 465,
    ("smtp", "starttls"): 587,
    ("smtp", "none"): 587,
    ("ldap", "tls"): 636,
    ("ldap", "starttls"): 389,
    ("ldap", "none"): 389,
}
_LANGUAGE_TAG = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
_PLACEHOLDER_LIKE = re.compile(r"%[A-Za-z]*%?")
# Control characters, line separators, and what XML 1.0 cannot carry (surrogates, U+FFFE, U+FFFF).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff\ufffe\uffff]")
_PHONE = re.compile(r"^\+?[0-9][0-9 .()\-]{2,30}$")
_DN_PART = re.compile(r"^\s*[A-Za-z][A-Za-z0-9-]*\s*=.+$")
TEMPLATE_BUILTINS = ("localpart", "domain", "address")


_NOT_GIVEN: Any = object()


class _Invalid(ValueError):
    """A value refused by a validator: why, how to fix it, and for a table's own checks which key is wrong.

    A ValueError rather than pydantic's PydanticCustomError, whose message is a template filled from its
    context: a message quoting the person's text (a login template such as "{fix}") would be mangled.
    """

    def __init__(self, code: str, message: str, fix: str, key: str | None, found: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.fix = fix
        self.key = key
        self.found = found


def _problem(
    code: str, message: str, fix: str, *, key: str | None = None, found: Any = _NOT_GIVEN
) -> _Invalid:
    # A check on a whole table names the key at fault (`key`) and its value (`found`), so that the report
    # points at providers[0].incoming[0].security rather than at the table.
    return _Invalid(code, message, fix, key, found)


# --- value types -------------------------------------------------------------------------------------


def _text(value: str) -> str:
    if not value.strip():
        raise _problem("empty_text", "the text is empty", "write the text, or remove the key")
    if _CONTROL.search(value):
        raise _problem(
            "control_characters", "the text holds control characters or line breaks", "write it on one line"
        )
    return value


Text = Annotated[str, AfterValidator(_text)]


def _domain(value: str) -> str:
    try:
        return to_ascii_domain(value)
    except DomainNameError as exc:
        raise _problem(
            "bad_domain", f"this is not a mail domain: {exc}", "write a domain such as ac-paris.fr"
        ) from None


def _host(value: str) -> str:
    # A host may name the person's own domain, as in mail.%EMAILDOMAIN%: clients fill it in.
    generic = value.strip().lower().replace(DOMAIN_PLACEHOLDER.lower(), DOMAIN_PLACEHOLDER)
    try:
        if DOMAIN_PLACEHOLDER in generic:
            to_ascii_domain(generic.replace(DOMAIN_PLACEHOLDER, "example.org"))
            return generic
        return to_ascii_host(value)
    except DomainNameError as exc:
        raise _problem(
            "bad_host",
            f"this is not a host name: {exc}",
            "write the server's DNS name, such as imap.example.org, without scheme or port",
        ) from None


def _url(value: str) -> str:
    fix = "write an absolute address such as https://webmail.example.org/"
    if _CONTROL.search(value) or any(c.isspace() for c in value):
        raise _problem("bad_url", "the address holds spaces or control characters", fix)
    parts = urlsplit(value.replace(DOMAIN_PLACEHOLDER, "example.org"))
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise _problem("bad_url", "this is not an absolute http(s) address", fix)
    try:
        to_ascii_host(parts.hostname)
        _ = parts.port
    except (DomainNameError, ValueError):
        raise _problem("bad_url", "the address's host or port is not valid", fix) from None
    return value


def _public_url(value: str) -> str:
    parts = urlsplit(_url(value))
    if parts.query or parts.fragment:
        raise _problem(
            "bad_url",
            "the public address must not have a query or fragment",
            "write only scheme, host and optional path, such as https://autoconfig.example.org",
        )
    return value.rstrip("/")


def _placeholder_template(value: str) -> str:
    if not value:
        raise _problem("empty_text", "the value is empty", "write a login form such as %EMAILADDRESS%")
    for found in _PLACEHOLDER_LIKE.findall(value):
        if found not in PLACEHOLDERS and found != "%":
            raise _problem(
                "bad_placeholder",
                f"{found!r} is not a placeholder mail clients know",
                "use %EMAILADDRESS%, %EMAILLOCALPART% or %EMAILDOMAIN%, spelt exactly",
            )
    if _CONTROL.search(value) or any(c.isspace() for c in value):
        raise _problem("bad_placeholder", "a login cannot hold spaces or control characters", "remove them")
    return value


def _language(value: str) -> str:
    if not _LANGUAGE_TAG.match(value):
        raise _problem("bad_language", "this is not a language tag", "write a tag such as fr, en or pt-BR")
    return value


def _settings_path(value: str, info: ValidationInfo) -> Path:
    base = (info.context or {}).get("base_dir", Path.cwd())
    path = (Path(base) / value).resolve()
    if not path.is_file():
        raise _problem(
            "missing_file",
            f"no readable file at {path}",
            "write a path to an existing file; relative paths start from the settings file's folder",
        )
    return path


def _secret_file(path: Path) -> Path:
    # Checked readable now, so that `check` and `serve` refuse it with the others; its content is read
    # where it is used (directory.py), and never kept here.
    try:
        readable = bool(path.read_text(encoding="utf-8").strip())
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "it is not UTF-8 text"
        raise _problem(
            "unreadable_secret",
            f"the file cannot be read: {reason}",
            "give a UTF-8 text file holding the password, readable by the service's user",
        ) from None
    if not readable:
        raise _problem("empty_secret", "the file is empty", "write the password in it, on one line")
    return path


def _network(value: str) -> str:
    try:
        return str(ipaddress.ip_network(value.strip(), strict=False))
    except ValueError:
        raise _problem(
            "bad_network",
            "this is not an IP address or network",
            'write an address or a network in CIDR form, such as "10.0.0.5" or "10.0.0.0/24"',
        ) from None


def _as_tuple(value: Any) -> Any:
    # Lets a single value stand for a list of one (auth = "password-cleartext").
    return (value,) if isinstance(value, str) else value


def _phone(value: str) -> str:
    if not _PHONE.match(value):
        raise _problem(
            "bad_phone",
            "this is not a phone number",
            "write digits with optional spaces, dots or dashes, such as 01 44 62 40 40 or +33 1 44 62 40 40",
        )
    return value


def _base_dn(value: str) -> str:
    if not all(_DN_PART.match(part) for part in value.split(",")):
        raise _problem(
            "bad_dn", "this is not an LDAP distinguished name", "write it as ou=people,dc=example,dc=org"
        )
    return value


Domain = Annotated[str, AfterValidator(_domain)]
Network = Annotated[str, AfterValidator(_network)]
Host = Annotated[str, AfterValidator(_host)]
Url = Annotated[str, AfterValidator(_url)]
PublicUrl = Annotated[str, AfterValidator(_public_url)]
LoginForm = Annotated[str, AfterValidator(_placeholder_template)]
SettingsPath = Annotated[Path, PlainValidator(lambda v, info: _settings_path(_str(v), info))]
Port = Annotated[int, Field(strict=True, ge=1, le=65535)]
Phone = Annotated[str, AfterValidator(_phone)]
DistinguishedName = Annotated[str, AfterValidator(_base_dn)]
Security = Literal["starttls", "tls", "none"]
AuthMethod = Literal[
    "password-cleartext",
    "password-encrypted",
    "OAuth2",
    "NTLM",
    "GSSAPI",
    "TLS-client-cert",
    "client-IP-address",
    "none",
]
UILanguage = Literal["fr", "en"]
AUTH_METHODS: tuple[str, ...] = typing.get_args(AuthMethod)


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise _problem("string_type", "this must be text", "write it in double quotes")
    return value


@dataclass(frozen=True)
class Localized:
    """Text in one or several languages; `None` as a language means "any language"."""

    texts: tuple[tuple[str | None, str], ...]

    def get(self, language: str) -> str:
        """The text for `language`, else its primary subtag, else for any language, else the first."""
        by_language = dict(self.texts)
        primary = language.split("-", 1)[0]
        for key in (language, primary, None):
            if key in by_language:
                return by_language[key]
        for key, text in self.texts:
            if key is not None and key.split("-", 1)[0] == primary:
                return text
        return self.texts[0][1]

    def items(self) -> tuple[tuple[str | None, str], ...]:
        return self.texts


def _localized(value: Any) -> Localized:
    fix = 'write "text", or a table of languages such as { fr = "…", en = "…" }'
    if isinstance(value, str):
        return Localized(((None, _text(value)),))
    if isinstance(value, Mapping) and value:
        pairs: list[tuple[str | None, str]] = []
        for key, text in value.items():
            if not isinstance(key, str) or not _LANGUAGE_TAG.match(key):
                raise _problem("bad_language", f"{key!r} is not a language tag", fix)
            if not isinstance(text, str):
                raise _problem("string_type", f"the text for {key!r} is not text", fix)
            pairs.append((key, _text(text)))
        return Localized(tuple(pairs))
    raise _problem("bad_localized", "this must be text or a table of texts by language", fix)


LocalizedText = Annotated[Localized, PlainValidator(_localized)]


# --- models ------------------------------------------------------------------------------------------


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=False)


class ServiceSettings(_Model):
    public_url: PublicUrl = Field(
        description="The service's public address, used for every absolute link it writes "
        "(autodiscover.json, QR codes); e.g. https://autoconfig.ac-paris.fr"
    )
    languages: tuple[UILanguage, ...] = Field(
        default=UI_LANGUAGES, min_length=1, description='Languages of the web pages, from "fr" and "en".'
    )
    default_language: UILanguage = Field(
        default="fr", description="Language used when the browser asks for none of `languages`."
    )
    log_addresses: Literal["redact", "hash", "full"] = Field(
        default="redact",
        description='How logs show mail addresses: "redact" (j***@ac-paris.fr), "hash" (a keyed hash), '
        'or "full" (only if your privacy rules allow it).',
    )
    cache_max_age: int = Field(
        default=3600,
        strict=True,
        ge=0,
        le=86400,
        description="Seconds clients and proxies may cache a configuration answer (Cache-Control max-age).",
    )
    request_timeout: float = Field(
        default=10.0,
        ge=0.5,
        le=300.0,
        description="Seconds a request may take before it is answered 503 (a slow client, a stuck server).",
    )
    log_format: Literal["plain", "json"] = Field(
        default="plain", description='Access log lines as "plain" text or "json" (one object a line).'
    )
    metrics: bool = Field(default=True, description="Serve Prometheus metrics at /metrics.")
    metrics_networks: tuple[Network, ...] = Field(
        default=("127.0.0.0/8", "::1/128"),
        description="Networks allowed to read /metrics (others get 404), e.g. your Prometheus server's.",
    )
    trusted_proxies: tuple[Network, ...] = Field(
        default=(),
        description="Reverse proxies whose X-Forwarded-For and X-Forwarded-Proto are believed, "
        'e.g. ["127.0.0.1/32"] for a proxy on the same host; others\' headers are ignored.',
    )

    @model_validator(mode="after")
    def _default_in_languages(self) -> ServiceSettings:
        if self.default_language not in self.languages:
            raise _problem(
                "bad_default_language",
                "default_language is not among languages = ["
                + ", ".join(f'"{language}"' for language in self.languages)
                + "]",
                "add it to languages, or choose one of them",
                key="default_language",
                found=self.default_language,
            )
        return self


class SigningSettings(_Model):
    certificate: SettingsPath = Field(
        description="PEM file of the signing certificate (a `fullchain.pem` may hold the chain after it)."
    )
    key: SettingsPath = Field(
        description="PEM file of the certificate's private key, readable by the service only."
    )
    chain: tuple[SettingsPath, ...] = Field(
        default=(), description="PEM files of intermediate certificates, leaf's issuer first."
    )


class LoginRule(_Model):
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
    overrides: SettingsPath | None = Field(
        default=None,
        description="CSV file with a header `address,login` and optionally `name`: exceptions to the rule.",
    )

    _regex: re.Pattern[str] | None = PrivateAttr(default=None)
    _table: dict[str, tuple[str, str | None]] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _compile(self) -> LoginRule:
        if (self.pattern is None) != (self.template is None):
            given, absent = ("pattern", "template") if self.template is None else ("template", "pattern")
            raise _problem(
                "incomplete_rule",
                f"{given} is set but {absent} is not; pattern and template go together",
                "give both pattern and template, or neither to always use fallback",
                key=absent,
            )
        if self.pattern is not None and self.template is not None:
            self._regex = _compile_pattern(self.pattern)
            _check_template(self.template, set(self._regex.groupindex))
        if self.overrides is not None:
            self._table = _read_overrides(self.overrides)
        return self

    @property
    def regex(self) -> re.Pattern[str] | None:
        return self._regex

    @property
    def table(self) -> Mapping[str, tuple[str, str | None]]:
        """Overrides: normalised address -> (login, display name or None)."""
        return self._table


def _compile_pattern(pattern: str) -> re.Pattern[str]:
    try:
        regex = re.compile(pattern)
    except re.error as exc:
        raise _problem(
            "bad_pattern",
            f"the regular expression does not compile: {exc}",
            "correct it; in TOML write it between single quotes so backslashes stay as they are",
            key="pattern",
            found=pattern,
        ) from None
    if not regex.groupindex:
        raise _problem(
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
        raise _problem("bad_template", f"the template is malformed: {exc}", fix, **where) from None
    if not any(name for _, name, _, _ in fields):
        raise _problem("bad_template", "the template uses no field", fix, **where)
    for _, name, spec, conversion in fields:
        if name is None:
            continue
        if name not in allowed or conversion or (spec and not re.fullmatch(r"\.[1-9][0-9]?", spec)):
            shown = "{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
            raise _problem("bad_template", f"{shown} is not a field the template can use", fix, **where)


def _read_overrides(path: Path) -> dict[str, tuple[str, str | None]]:
    fix = "write a CSV file whose first line is address,login (or address,login,name), one person a line"
    where = {"key": "overrides", "found": str(path)}
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise _problem("bad_overrides", f"cannot read {path}: {exc}", fix, **where) from None
    rows = csv.DictReader(text.splitlines())
    if rows.fieldnames is None or not {"address", "login"} <= set(rows.fieldnames):
        raise _problem("bad_overrides", f"{path.name} has no header with address and login", fix, **where)
    table: dict[str, tuple[str, str | None]] = {}
    bad: list[str] = []
    for row in rows:
        address = (row.get("address") or "").strip()
        login = (row.get("login") or "").strip()
        name = (row.get("name") or "").strip() or None
        if not login or _CONTROL.search(login + (name or "")):
            bad.append(str(rows.line_num))
            continue
        try:
            key = address_key(*parse_address(address))
        except RequestError:
            bad.append(str(rows.line_num))
            continue
        table[key] = (login, name)
    if bad:
        more = f" and {len(bad) - 10} more" if len(bad) > 10 else ""
        lines = f"line {bad[0]} has" if len(bad) == 1 else f"lines {', '.join(bad[:10])}{more} have"
        raise _problem(
            "bad_overrides",
            f"{path.name}: {lines} no address of the form name@domain, no login, or control characters",
            fix,
            **where,
        )
    return table


def _check_port_security(port: int, security: str) -> None:
    where = {"key": "security", "found": security}
    if port in IMPLICIT_TLS_PORTS and security != "tls":
        raise _problem(
            "port_security",
            f'port {port} is {IMPLICIT_TLS_PORTS[port]} over implicit TLS, but security is "{security}"',
            'write security = "tls", or use the port your server really offers with STARTTLS',
            **where,
        )
    if port in STARTTLS_PORTS and security == "tls":
        raise _problem(
            "port_security",
            f"port {port} is {STARTTLS_PORTS[port]} started in plain and upgraded with STARTTLS, "
            'but security is "tls"',
            'write security = "starttls", or the implicit-TLS port (993, 995, 465, 636)',
            **where,
        )


class Server(_Model):
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
    auth: Annotated[tuple[AuthMethod, ...], BeforeValidator(_as_tuple)] = Field(
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

    @property
    def protocol_name(self) -> str:
        raise NotImplementedError

    @property
    def effective_port(self) -> int:
        return self.port if self.port is not None else DEFAULT_PORTS[(self.protocol_name, self.security)]

    @model_validator(mode="after")
    def _port_matches_security(self) -> Server:
        _check_port_security(self.effective_port, self.security)
        return self


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


class Documentation(_Model):
    url: Url = Field(description="Address of a help page.")
    title: LocalizedText = Field(description='Its title: "text" or { fr = "…", en = "…" }.')


class Links(_Model):
    webmail: Url | None = Field(
        default=None, description="The webmail's address (%EMAILDOMAIN% allowed in its host)."
    )
    password_reset: Url | None = Field(default=None, description="The self-service password page.")
    documentation: tuple[Documentation, ...] = Field(
        default=(), description="Help pages, each { url = …, title = … }, in order."
    )


class Support(_Model):
    phone: Phone | None = Field(default=None, description="Helpdesk phone number as people dial it.")
    email: Text | None = Field(default=None, description="Helpdesk mail address.")
    url: Url | None = Field(default=None, description="Helpdesk web page or ticket form.")
    postal_address: Text | None = Field(default=None, description="Helpdesk postal address, on one line.")
    hours: LocalizedText | None = Field(default=None, description="Opening hours, per language.")


class DavService(_Model):
    url: Url = Field(description="The server's base URL (https), where /.well-known/… redirects.")
    username: LoginForm | None = Field(
        default=None,
        description="Its login if it differs from the provider's rule (placeholders as for servers).",
    )

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or ""


def _ldap_url(value: str) -> str:
    fix = "write ldap://host[:port] (upgraded with STARTTLS) or ldaps://host[:port]"
    parts = urlsplit(value)
    if parts.scheme not in ("ldap", "ldaps") or not parts.hostname or parts.path not in ("", "/"):
        raise _problem("bad_ldap_url", "this is not an LDAP server address", fix)
    try:
        to_ascii_host(parts.hostname)
        _ = parts.port
    except (DomainNameError, ValueError):
        raise _problem("bad_ldap_url", "the address's host or port is not valid", fix) from None
    return value.rstrip("/")


def _search_filter(value: str) -> str:
    fix = (
        "write an LDAP filter in parentheses using {address}, {localpart} or {domain}, e.g. (mail={address})"
    )
    fields = set(re.findall(r"\{([^{}]*)\}", value))
    if not value.startswith("(") or not value.endswith(")") or value.count("(") != value.count(")"):
        raise _problem("bad_filter", "this is not an LDAP filter", fix)
    if not fields or not fields <= {"address", "localpart", "domain"}:
        raise _problem(
            "bad_filter", "the filter must use {address}, {localpart} or {domain}, and nothing else", fix
        )
    return value


class DirectoryLookup(_Model):
    url: Annotated[str, AfterValidator(_ldap_url)] = Field(
        description="The directory to ask: ldap://host[:port] (with STARTTLS) or ldaps://host[:port]."
    )
    starttls: bool = Field(
        default=True,
        description="Upgrade ldap:// with STARTTLS; false only for a directory on the same host.",
    )
    bind_dn: DistinguishedName | None = Field(
        default=None, description="Who the service binds as; none: anonymous."
    )
    bind_password_file: Annotated[SettingsPath, AfterValidator(_secret_file)] | None = Field(
        default=None, description="File holding the bind password (never the password in the settings)."
    )
    filter: Annotated[str, AfterValidator(_search_filter)] = Field(
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
            raise _problem(
                "incomplete_bind",
                "bind_dn and bind_password_file go together",
                "give both, or neither to search anonymously",
                key="bind_password_file" if self.bind_password_file is None else "bind_dn",
            )
        return self


class Directory(_Model):
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
    def effective_port(self) -> int:
        return self.port if self.port is not None else DEFAULT_PORTS[("ldap", self.security)]

    @model_validator(mode="after")
    def _port_matches_security(self) -> Directory:
        _check_port_security(self.effective_port, self.security)
        return self


class Provider(_Model):
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
    calendar: DavService | None = Field(default=None, description="CalDAV server, if any.")
    contacts: DavService | None = Field(default=None, description="CardDAV server, if any.")
    directory: Directory | None = Field(default=None, description="LDAP staff directory, if any.")

    @property
    def display_short_name(self) -> str:
        return self.short_name or self.name


class Settings(_Model):
    service: ServiceSettings = Field(description="The service itself.")
    signing: SigningSettings | None = Field(
        default=None, description="Signing of Apple profiles; without it they are served unsigned."
    )
    providers: tuple[Provider, ...] = Field(min_length=1, description="Mail providers ([[providers]]).")

    _by_domain: dict[str, Provider] = PrivateAttr(default_factory=dict)
    _digest: str = PrivateAttr(default="")
    _source: Path = PrivateAttr(default=Path("settings.toml"))

    def model_post_init(self, context: Any, /) -> None:
        self._by_domain = {domain: p for p in self.providers for domain in (*p.domains, *p.aliases)}
        if isinstance(context, dict):
            self._digest = context.get("digest", "")

    def provider_for(self, ascii_domain: str) -> Provider | None:
        return self._by_domain.get(ascii_domain)

    def referenced_files(self) -> tuple[Path, ...]:
        """The files these settings name: signing certificate, key and chain, overrides, passwords."""
        paths: list[Path] = []
        if self.signing is not None:
            paths += [self.signing.certificate, self.signing.key, *self.signing.chain]
        for provider in self.providers:
            if provider.login.overrides is not None:
                paths.append(provider.login.overrides)
            lookup = provider.directory.lookup if provider.directory is not None else None
            if lookup is not None and lookup.bind_password_file is not None:
                paths.append(lookup.bind_password_file)
        return tuple(paths)

    @property
    def source(self) -> Path:
        """The settings file these settings were read from."""
        return self._source

    @property
    def digest(self) -> str:
        """SHA-256 of the settings file's bytes: which version is serving."""
        return self._digest

    def summary(self) -> str:
        domains = sum(len(p.domains) for p in self.providers)
        servers = sum(len(p.incoming) + len(p.outgoing) for p in self.providers)
        count = len(self.providers)
        return (
            f"{count} provider{'s' if count != 1 else ''}, {domains} domain{'s' if domains != 1 else ''}, "
            f"{servers} server{'s' if servers != 1 else ''}"
        )


# --- loading -----------------------------------------------------------------------------------------


def load_settings(path: Path | str | None = None) -> Settings:
    """Read and validate a settings file (the bundled default without a path).

    Raises SettingsError listing every problem found, each with key path, value, reason and fix.
    """
    source = Path(path) if path is not None else default_settings_path()
    try:
        raw = source.read_bytes()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise SettingsError(
            source,
            [Problem("", None, f"cannot read the file: {reason}", "check the path given to --settings")],
        ) from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        message = f"the file is not UTF-8 text: line {line} holds the byte 0x{raw[exc.start]:02x}"
        raise SettingsError(
            source, [Problem("", None, message, "save it as UTF-8 (in your editor: Save As, encoding UTF-8)")]
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(
            source,
            [
                Problem(
                    "",
                    None,
                    f"not valid TOML: {exc}",
                    "correct the syntax there: text in quotes, tables as [name], lists of tables as [[name]]",
                )
            ],
        ) from None
    return settings_from_dict(data, source=source, digest=hashlib.sha256(raw).hexdigest())


def settings_from_dict(data: dict[str, Any], *, source: Path, digest: str = "") -> Settings:
    context = {"base_dir": source.parent, "digest": digest}
    # Rules that span providers are checked on the raw data, so that they are reported with the rest.
    problems = list(_cross_checks(data))
    try:
        settings = Settings.model_validate(data, context=context)
    except ValidationError as exc:
        errors = exc.errors()
        # A list whose entries failed is also "too short" once they are dropped: say only the first.
        failed = {tuple(e["loc"][:i]) for e in errors for i in range(len(e["loc"]))}
        kept = [e for e in errors if not (e["type"] == "too_short" and tuple(e["loc"]) in failed)]
        raise SettingsError(source, [*(_problem_from(err) for err in kept), *problems]) from None
    if problems:
        raise SettingsError(source, problems)
    # model_post_init receives the validation context only through model_validate's own call path.
    settings._digest = digest
    settings._source = source
    return settings


def _normalised_domain(value: Any) -> str | None:
    # The A-label form of a domain as written, or None when it is not one (reported elsewhere).
    if not isinstance(value, str):
        return None
    try:
        return to_ascii_domain(value)
    except DomainNameError:
        return None


def _cross_checks(data: Mapping[str, Any]) -> Iterator[Problem]:
    """Rules that span providers: ids and domains given twice. Values invalid on their own are skipped."""
    providers = data.get("providers")
    if not isinstance(providers, list):
        return
    seen_ids: dict[str, int] = {}
    seen_domains: dict[str, int] = {}
    for i, provider in enumerate(providers):
        if not isinstance(provider, Mapping):
            continue
        provider_id = _normalised_domain(provider.get("id"))
        if provider_id is not None and provider_id in seen_ids:
            yield Problem(
                f"providers[{i}].id",
                _show(provider.get("id")),
                f"providers[{seen_ids[provider_id]}] has the same id",
                "give every provider its own id",
            )
        if provider_id is not None:
            seen_ids.setdefault(provider_id, i)
        # Domains and aliases share one space: an address's domain must lead to one provider, one way.
        for key in ("domains", "aliases"):
            listed = provider.get(key)
            for j, written in enumerate(listed if isinstance(listed, list) else []):
                domain = _normalised_domain(written)
                if domain is None:
                    continue
                if domain in seen_domains:
                    owner = seen_domains[domain]
                    where = "earlier in this provider" if owner == i else f"in providers[{owner}]"
                    yield Problem(
                        f"providers[{i}].{key}[{j}]",
                        _show(written),
                        f"this domain is listed {where} already; a domain belongs to one provider, "
                        "as a domain or as an alias",
                        "remove the repeated domain",
                    )
                seen_domains.setdefault(domain, i)


# --- error reports -----------------------------------------------------------------------------------

_FIXES = {
    "missing": "add this key",
    "int_type": "write a whole number without quotes",
    "int_parsing": "write a whole number without quotes",
    "int_from_float": "write a whole number without quotes",
    "string_type": "write it as text in double quotes",
    "bool_type": "write true or false",
    "tuple_type": 'write a list in brackets, such as ["a", "b"]',
    "list_type": 'write a list in brackets, such as ["a", "b"]',
    "model_type": "write a table: [name] or { key = value }",
    "model_attributes_type": "write a table: [name] or { key = value }",
    "dict_type": "write a table: [name] or { key = value }",
    "too_short": "add at least one entry",
    "less_than_equal": "use a smaller number",
    "greater_than_equal": "use a larger number",
}


def _problem_from(error: Any) -> Problem:
    loc: tuple[str | int, ...] = tuple(error["loc"])
    kind: str = error["type"]
    ctx = error.get("ctx") or {}
    found = None if kind == "missing" else _show(error.get("input"))
    message = _sentence(error["msg"])
    invalid = ctx.get("error")
    if isinstance(invalid, _Invalid):
        if invalid.key is not None:
            loc = (*loc, invalid.key)
        if invalid.found is not _NOT_GIVEN:
            found = _show(invalid.found)
        elif invalid.key is not None:
            found = None  # the key at fault is absent
        return Problem(_path(loc), found, invalid.message, invalid.fix)
    if kind == "extra_forbidden":
        known = _known_keys(loc[:-1])
        close = get_close_matches(str(loc[-1]), known, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        return Problem(_path(loc), None, "unknown key", f"{hint}remove it, or use one of: {', '.join(known)}")
    if kind == "missing":
        description = _description(loc)
        return Problem(
            _path(loc), None, "this key is required", f"add it: {description}" if description else "add it"
        )
    if kind == "too_short":
        return Problem(_path(loc), found, "this list is empty", "add at least one entry")
    if kind in ("tuple_type", "list_type"):
        item = _model_at(loc)
        if item is not None and loc and isinstance(loc[-1], str):
            table = _path(tuple(part for part in loc if isinstance(part, str)))
            fix = f"write each entry as its own [[{table}]] table (two brackets), even when there is one"
        elif isinstance(error.get("input"), str):
            fix = f"write it in brackets, as a list of one: [{found}]"
        else:
            fix = _FIXES[kind]
        return Problem(_path(loc), found, "this must be a list", fix)
    if kind == "literal_error":
        return Problem(
            _path(loc), found, "this value is not allowed", f"use one of {ctx.get('expected', '')}"
        )
    fix = _FIXES.get(kind) or _description(loc) or "correct the value"
    if kind == "value_error":
        message = _sentence(str(ctx.get("error", message)))
    return Problem(_path(loc), found, message, fix)


def _sentence(text: str) -> str:
    text = text.removeprefix("Value error, ")
    return text[:1].lower() + text[1:]


def _path(loc: tuple[str | int, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _show(value: Any) -> str:
    if isinstance(value, str):
        text = repr(value) if _CONTROL.search(value) else f'"{value}"'
    elif isinstance(value, dict):
        text = "a table"
    elif isinstance(value, list | tuple):
        text = "a list" if len(repr(value)) > 60 else repr(list(value))
    elif isinstance(value, bool):
        text = "true" if value else "false"
    else:
        text = repr(value)
    return text if len(text) <= 80 else text[:77] + "…"


def _model_at(loc: tuple[str | int, ...]) -> type[BaseModel] | None:
    model: type[BaseModel] | None = Settings
    for part in loc:
        if isinstance(part, int) or model is None:
            continue
        field = model.model_fields.get(part)
        model = _unwrap_model(field.annotation) if field else None
    return model


def _unwrap_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin in (tuple, typing.Union, types.UnionType, Annotated):
        for arg in typing.get_args(annotation):
            found = _unwrap_model(arg)
            if found is not None:
                return found
    return None


def _known_keys(loc: tuple[str | int, ...]) -> list[str]:
    model = _model_at(loc)
    return list(model.model_fields) if model else []


def _description(loc: tuple[str | int, ...]) -> str:
    model = _model_at(loc[:-1])
    if model is None or not isinstance(loc[-1], str) or loc[-1] not in model.model_fields:
        return ""
    return model.model_fields[loc[-1]].description or ""


def iter_keys(model: type[BaseModel] = Settings, prefix: str = "") -> Iterator[tuple[str, str]]:
    """Every settings key as a dotted path with its description (for the README and its test)."""
    for name, field in model.model_fields.items():
        path = f"{prefix}.{name}" if prefix else name
        yield path, field.description or ""
        sub = _unwrap_model(field.annotation)
        if sub is not None:
            yield from iter_keys(sub, path)


def settings_warnings(settings: Settings) -> list[str]:
    """What is allowed but worth a second look; `check` prints these, `serve` logs them."""
    notes: list[str] = []
    # The bundled default signs with a development certificate instead (see signing.py).
    if settings.signing is None and not is_bundled_default(settings.source):
        notes.append("no [signing]: Apple profiles will be served unsigned (iOS shows them as Not Verified)")
    for i, provider in enumerate(settings.providers):
        servers = [("incoming", s) for s in provider.incoming] + [("outgoing", s) for s in provider.outgoing]
        counters = {"incoming": 0, "outgoing": 0}
        for kind, server in servers:
            index = counters[kind]
            counters[kind] += 1
            if server.security == "none" and "password-cleartext" in server.auth:
                notes.append(
                    f"providers[{i}].{kind}[{index}]: passwords would cross the network unencrypted "
                    '(security = "none" with password-cleartext)'
                )
    return notes
