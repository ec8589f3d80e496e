"""What `check` prints: pydantic's errors turned into lines that name the key, the value, why and the
fix; and the warnings about what is allowed but worth a second look."""

from __future__ import annotations

import types
import typing
from difflib import get_close_matches
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel

from autoconfig.errors import Note, Problem
from autoconfig.paths import is_bundled_default

from .models import Settings
from .types import CONTROL, NOT_GIVEN, InvalidValue

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


def problem_from(error: Any) -> Problem:
    """One pydantic error as the report line `check` prints: key path, value found, why, and the fix."""
    loc: tuple[str | int, ...] = tuple(error["loc"])
    kind: str = error["type"]
    ctx = error.get("ctx") or {}
    found = None if kind == "missing" else show(error.get("input"))
    message = _sentence(error["msg"])
    invalid = ctx.get("error")
    if isinstance(invalid, InvalidValue):
        if invalid.key is not None:
            loc = (*loc, invalid.key)
        if invalid.found is not NOT_GIVEN:
            found = show(invalid.found)
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


def show(value: Any) -> str:
    if isinstance(value, str):
        text = repr(value) if CONTROL.search(value) else f'"{value}"'
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
        model = unwrap_model(field.annotation) if field else None
    return model


def unwrap_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin in (tuple, typing.Union, types.UnionType, Annotated):
        for arg in typing.get_args(annotation):
            found = unwrap_model(arg)
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


def settings_warnings(settings: Settings) -> list[Note]:
    """What is allowed but worth a second look; `check` prints these, `serve` logs their headlines."""
    notes: list[Note] = []
    # The bundled default signs with a development certificate instead (see signing.py).
    if settings.signing is None and not is_bundled_default(settings.source):
        notes.append(
            Note(
                "no [signing]: Apple profiles will be served unsigned (iOS shows them as Not Verified)",
                "configure [signing] with a publicly trusted certificate and its key: the web server's "
                "certificate will do",
            )
        )
    for i, provider in enumerate(settings.providers):
        phone = provider.support.phone
        if phone is not None and not phone.startswith("+"):
            notes.append(
                Note(
                    f"providers[{i}].support.phone: {phone!r} has no country code",
                    "its tel: link reaches nobody from a phone on a foreign network; write it in "
                    "international form, such as +33 1 44 62 40 40",
                )
            )
        servers = [("incoming", s) for s in provider.incoming] + [("outgoing", s) for s in provider.outgoing]
        counters = {"incoming": 0, "outgoing": 0}
        for kind, server in servers:
            index = counters[kind]
            counters[kind] += 1
            if server.security == "none" and "password-cleartext" in server.auth:
                notes.append(
                    Note(
                        f"providers[{i}].{kind}[{index}]: passwords would cross the network unencrypted",
                        'security = "none" with password-cleartext: offer starttls or tls',
                    )
                )
    return notes + hosting_notes(settings)


RESOLV_CONF = Path("/etc/resolv.conf")


def hosting_notes(settings: Settings, resolv_conf: Path = RESOLV_CONF) -> list[Note]:
    """For a provider that hosts mail for other domains: the records and certificate names the MX path
    needs (as `autoconfig dns` gives them), and a resolver that cannot work."""
    # Here, not at the top: the DNS records and dnspython are needed only by the hosting providers.
    from autoconfig.formats.dns import CNAME_TYPE, HOSTING, dns_records  # noqa: PLC0415

    if not settings.hosting_providers:
        return []
    notes: list[Note] = []
    records = [r for r in dns_records(settings) if r.part == HOSTING]
    names = [r.name.rstrip(".") for r in records if r.type == CNAME_TYPE]
    certificate = next((r.comment for r in records if r.comment.startswith("certificate: ")), "")
    providers = ", ".join(p.name for p in settings.hosting_providers)
    shown = f" --settings {settings.source}" if not is_bundled_default(settings.source) else ""
    notes.append(
        Note(
            f"{providers} answers customer domains through their MX: that needs DNS records and "
            "certificate names of its own",
            (
                f"publish {' and '.join(names) or 'the records'} as `autoconfig dns{shown}` prints them "
                "(Thunderbird asks autoconfig.<the MX host less its first label>); "
                f"{certificate.removeprefix('certificate: ')}; "
                "customers publish their MX, and for Outlook the SRV record `autoconfig dns --customer "
                "DOMAIN` prints"
            ),
        )
    )
    if not settings.service.resolver.servers and not _system_resolver(resolv_conf):
        notes.append(
            Note(
                f"no resolver: service.resolver.servers is empty and {resolv_conf} names no name server, "
                "so every customer domain's MX lookup will fail (answered as an unknown domain)",
                f'name a resolver in service.resolver.servers (e.g. ["127.0.0.1"] for one on the host), '
                f"or give {resolv_conf} a nameserver line",
            )
        )
    return notes


def _system_resolver(resolv_conf: Path) -> bool:
    """Whether dnspython finds a name server in the file, as the service's MX lookups read it."""
    import dns.resolver  # noqa: PLC0415

    try:
        dns.resolver.Resolver(filename=str(resolv_conf))
    except (dns.resolver.NoResolverConfiguration, OSError):
        return False
    return True
