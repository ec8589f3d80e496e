"""The settings' value types: what a host, a URL, a login form, a phone number or a file may be.

Each validator refuses a value with an InvalidValue that says why and how to fix it; report.py turns it
into the line `check` prints. Nothing here reads a file: the loader does (loading.py), and the file
types only look its findings up.
"""

from __future__ import annotations

import ipaddress
import os
import re
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
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
    ValidationInfo,
)

from autoconfig.domains import DomainNameError, to_ascii_domain, to_ascii_host
from autoconfig.errors import AutoconfigError

PLACEHOLDERS = ("%EMAILADDRESS%", "%EMAILLOCALPART%", "%EMAILDOMAIN%")
DOMAIN_PLACEHOLDER = "%EMAILDOMAIN%"
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
LANGUAGE_TAG = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
_PLACEHOLDER_LIKE = re.compile(r"%[A-Za-z]*%?")
# Control characters, line separators, and what XML 1.0 cannot carry (surrogates, U+FFFE, U+FFFF).
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff\ufffe\uffff]")
_PHONE = re.compile(r"^\+?[0-9][0-9 .()\-]{2,30}$")
_DN_PART = re.compile(r"^\s*[A-Za-z][A-Za-z0-9-]*\s*=.+$")
TEMPLATE_BUILTINS = ("localpart", "domain", "address")


NOT_GIVEN: Any = object()


class InvalidValue(AutoconfigError, ValueError):
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


def problem(
    code: str, message: str, fix: str, *, key: str | None = None, found: Any = NOT_GIVEN
) -> InvalidValue:
    """A value refused. A check on a whole table names the key at fault (`key`) and its value
    (`found`), so that the report points at providers[0].incoming[0].security rather than at the table."""
    return InvalidValue(code, message, fix, key, found)


@dataclass(frozen=True)
class Shown:
    """How the settings reference names a value type (pydantic ignores this marker)."""

    name: str


def _text(value: str) -> str:
    if not value.strip():
        raise problem("empty_text", "the text is empty", "write the text, or remove the key")
    if CONTROL.search(value):
        raise problem(
            "control_characters", "the text holds control characters or line breaks", "write it on one line"
        )
    return value


Text = Annotated[str, AfterValidator(_text), Shown("text on one line")]


def _domain(value: str) -> str:
    try:
        return to_ascii_domain(value)
    except DomainNameError as exc:
        raise problem(
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
        raise problem(
            "bad_host",
            f"this is not a host name: {exc}",
            "write the server's DNS name, such as imap.example.org, without scheme or port",
        ) from None


def _url(value: str) -> str:
    fix = "write an absolute address such as https://webmail.example.org/"
    if CONTROL.search(value) or any(c.isspace() for c in value):
        raise problem("bad_url", "the address holds spaces or control characters", fix)
    parts = urlsplit(value.replace(DOMAIN_PLACEHOLDER, "example.org"))
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise problem("bad_url", "this is not an absolute http(s) address", fix)
    try:
        to_ascii_host(parts.hostname)
        _ = parts.port
    except (DomainNameError, ValueError):
        raise problem("bad_url", "the address's host or port is not valid", fix) from None
    return value


def _public_url(value: str) -> str:
    parts = urlsplit(_url(value))
    if parts.query or parts.fragment:
        raise problem(
            "bad_url",
            "the public address must not have a query or fragment",
            "write only scheme, host and optional path, such as https://autoconfig.example.org",
        )
    return value.rstrip("/")


def _issuer(value: str) -> str:
    fix = (
        "write the issuer exactly as the authorization server publishes it (the `issuer` of its "
        "/.well-known/oauth-authorization-server), such as https://auth.example.org"
    )
    if CONTROL.search(value) or any(c.isspace() for c in value):
        raise problem("bad_issuer", "the issuer holds spaces or control characters", fix)
    parts = urlsplit(value)
    if parts.scheme != "https":
        raise problem("bad_issuer", "an OAuth issuer is an https address (RFC 8414)", fix)
    if "?" in value or "#" in value:
        raise problem("bad_issuer", "an OAuth issuer has no query or fragment, even empty (RFC 8414)", fix)
    try:
        to_ascii_host(parts.hostname or "")
        _ = parts.port
    except (DomainNameError, ValueError):
        raise problem("bad_issuer", "the issuer's host or port is not valid", fix) from None
    # Clients compare the issuer with the server's metadata character for character (RFC 8414, 3.3), so
    # the value is kept as written, a trailing slash included. Only the scheme, which RFC 3986 says is
    # case-insensitive and whose canonical form every server publishes is lower-case, is normalised.
    return "https" + value[len("https") :]


def _placeholder_template(value: str) -> str:
    if not value:
        raise problem("empty_text", "the value is empty", "write a login form such as %EMAILADDRESS%")
    for found in _PLACEHOLDER_LIKE.findall(value):
        if found not in PLACEHOLDERS and found != "%":
            raise problem(
                "bad_placeholder",
                f"{found!r} is not a placeholder mail clients know",
                "use %EMAILADDRESS%, %EMAILLOCALPART% or %EMAILDOMAIN%, spelt exactly",
            )
    if CONTROL.search(value) or any(c.isspace() for c in value):
        raise problem("bad_placeholder", "a login cannot hold spaces or control characters", "remove them")
    return value


def _language(value: str) -> str:
    if not LANGUAGE_TAG.match(value):
        raise problem("bad_language", "this is not a language tag", "write a tag such as fr, en or pt-BR")
    return value


FileKind = Literal["file", "secret", "overrides"]
Overrides = dict[str, tuple[str, str | None]]  # normalised address -> (login, display name or None)


@dataclass(frozen=True)
class FileRef:
    """Marks a value that names a file, and what the loader does with it: "file" must exist (the signer
    reads it later), "secret" is a password checked readable and not empty (the directory reads it),
    "overrides" is the CSV of login exceptions, read and parsed."""

    kind: FileKind


@dataclass
class FileReads:
    """What the loader found in the files the settings name, by kind and resolved path."""

    problems: dict[tuple[FileKind, Path], InvalidValue] = field(default_factory=dict)  # at the file's key
    overrides: dict[Path, Overrides | InvalidValue] = field(default_factory=dict)  # parsed, or why not
    # Every file's bytes as read (or why they could not be): what was validated is what is used later.
    contents: dict[Path, bytes | OSError] = field(default_factory=dict)


def resolve_path(value: str, base_dir: Path) -> Path:
    """A path as the settings write it: relative ones start from the settings file's folder. Symbolic
    links are kept, not followed: a Kubernetes Secret's `tls.crt` leads to the current certificate only
    through its links (see disk_state.py)."""
    return Path(os.path.abspath(base_dir / value))


def _settings_file(kind: FileKind, value: Any, info: ValidationInfo) -> Path:
    context = info.context or {}
    path = resolve_path(_str(value), Path(context.get("base_dir", Path.cwd())))
    reads = context.get("files")
    if isinstance(reads, FileReads) and (kind, path) in reads.problems:
        raise reads.problems[(kind, path)]
    return path


def _ldap_url(value: str) -> str:
    fix = "write ldap://host[:port] (upgraded with STARTTLS) or ldaps://host[:port]"
    parts = urlsplit(value)
    if parts.scheme not in ("ldap", "ldaps") or not parts.hostname or parts.path not in ("", "/"):
        raise problem("bad_ldap_url", "this is not an LDAP server address", fix)
    try:
        to_ascii_host(parts.hostname)
        _ = parts.port
    except (DomainNameError, ValueError):
        raise problem("bad_ldap_url", "the address's host or port is not valid", fix) from None
    return value.rstrip("/")


def _search_filter(value: str) -> str:
    fix = (
        "write an LDAP filter in parentheses using {address}, {localpart} or {domain}, e.g. (mail={address})"
    )
    fields = set(re.findall(r"\{([^{}]*)\}", value))
    if not value.startswith("(") or not value.endswith(")") or value.count("(") != value.count(")"):
        raise problem("bad_filter", "this is not an LDAP filter", fix)
    if not fields or not fields <= {"address", "localpart", "domain"}:
        raise problem(
            "bad_filter", "the filter must use {address}, {localpart} or {domain}, and nothing else", fix
        )
    return value


def _network(value: str) -> str:
    try:
        return str(ipaddress.ip_network(value.strip(), strict=False))
    except ValueError:
        raise problem(
            "bad_network",
            "this is not an IP address or network",
            'write an address or a network in CIDR form, such as "10.0.0.5" or "10.0.0.0/24"',
        ) from None


def _as_tuple(value: Any) -> Any:
    # Lets a single value stand for a list of one (auth = "password-cleartext").
    return (value,) if isinstance(value, str) else value


def _phone(value: str) -> str:
    if not _PHONE.match(value):
        raise problem(
            "bad_phone",
            "this is not a phone number",
            "write digits with optional spaces, dots or dashes, such as 01 44 62 40 40 or +33 1 44 62 40 40",
        )
    return value


def _base_dn(value: str) -> str:
    if not all(_DN_PART.match(part) for part in value.split(",")):
        raise problem(
            "bad_dn", "this is not an LDAP distinguished name", "write it as ou=people,dc=example,dc=org"
        )
    return value


Domain = Annotated[str, AfterValidator(_domain), Shown("domain name")]
Network = Annotated[str, AfterValidator(_network), Shown("IP address or network")]
Host = Annotated[str, AfterValidator(_host), Shown("host name")]
Url = Annotated[str, AfterValidator(_url), Shown("http(s) address")]
PublicUrl = Annotated[str, AfterValidator(_public_url), Shown("http(s) address")]
IssuerUrl = Annotated[str, AfterValidator(_issuer), Shown("https address, kept as written")]
LoginForm = Annotated[str, AfterValidator(_placeholder_template), Shown("login form")]
# A file the settings name. The loader reads it (loading.py) and leaves what it found in the validation
# context; the validator resolves the path and raises the loader's finding.
SettingsPath = Annotated[
    Path, FileRef("file"), Shown("file path"), PlainValidator(lambda v, info: _settings_file("file", v, info))
]
SecretPath = Annotated[
    Path,
    FileRef("secret"),
    Shown("file path"),
    PlainValidator(lambda v, info: _settings_file("secret", v, info)),
]
OverridesPath = Annotated[
    Path,
    FileRef("overrides"),
    Shown("file path (CSV)"),
    PlainValidator(lambda v, info: _settings_file("overrides", v, info)),
]
LdapUrl = Annotated[str, AfterValidator(_ldap_url), Shown("ldap:// or ldaps:// address")]
SearchFilter = Annotated[str, AfterValidator(_search_filter), Shown("LDAP filter")]
Port = Annotated[int, Field(strict=True, ge=1, le=65535)]
Phone = Annotated[str, AfterValidator(_phone), Shown("phone number")]
DistinguishedName = Annotated[str, AfterValidator(_base_dn), Shown("LDAP distinguished name")]
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
UI_LANGUAGES: tuple[UILanguage, ...] = typing.get_args(UILanguage)
AUTH_METHODS: tuple[str, ...] = typing.get_args(AuthMethod)
# One method or a list of them (auth = "password-cleartext").
AuthMethods = Annotated[tuple[AuthMethod, ...], BeforeValidator(_as_tuple), Shown("one method or a list")]


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise problem("string_type", "this must be text", "write it in double quotes")
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
            if not isinstance(key, str) or not LANGUAGE_TAG.match(key):
                raise problem("bad_language", f"{key!r} is not a language tag", fix)
            if not isinstance(text, str):
                raise problem("string_type", f"the text for {key!r} is not text", fix)
            pairs.append((key, _text(text)))
        return Localized(tuple(pairs))
    raise problem("bad_localized", "this must be text or a table of texts by language", fix)


LocalizedText = Annotated[
    Localized, PlainValidator(_localized), Shown("text, or a table of texts by language")
]


class Model(BaseModel):
    """Every settings table: frozen once loaded, unknown keys refused."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=False)
