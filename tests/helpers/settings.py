"""Settings for tests, built from Python data and written with tomli_w, as an IT team's file would be.

    settings_data(service={"cache_max_age": 0}, provider={"aliases": ["example.net"]})

is the minimal valid file with those changes; `write_settings` writes any such data to a file.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import tomli_w

# The smallest valid settings; tests change it through settings_data.
MINIMAL: dict[str, Any] = {
    "service": {"public_url": "https://autoconfig.example.org"},
    "providers": [
        {
            "id": "example.org",
            "name": "Example",
            "domains": ["example.org"],
            "incoming": [{"host": "imap.example.org", "port": 143, "security": "starttls"}],
            "outgoing": [{"host": "smtp.example.org", "port": 587, "security": "starttls"}],
        }
    ],
}
# The same as a person writes it, for the tests about the file's syntax itself.
MINIMAL_TOML = """\
[service]
public_url = "https://autoconfig.example.org"

[[providers]]
id = "example.org"
name = "Example"
domains = ["example.org"]

[[providers.incoming]]
host = "imap.example.org"
port = 143
security = "starttls"

[[providers.outgoing]]
host = "smtp.example.org"
port = 587
security = "starttls"
"""
REMOVE = None  # a change to None removes the key


def _merged(base: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(dict(base))
    for key, value in changes.items():
        if value is REMOVE:
            out.pop(key, None)
        else:
            out[key] = copy.deepcopy(value)
    return out


def provider_data(**changes: Any) -> dict[str, Any]:
    """The minimal provider (example.org) with these keys changed, added or (None) removed."""
    return _merged(MINIMAL["providers"][0], changes)


def incoming(**changes: Any) -> list[dict[str, Any]]:
    """The minimal provider's `incoming` list: its one server (imap.example.org, 143, starttls) with keys
    changed, added or (None) removed: `provider={"incoming": incoming(port=993, security="tls")}`."""
    return [_merged(MINIMAL["providers"][0]["incoming"][0], changes)]


def outgoing(**changes: Any) -> list[dict[str, Any]]:
    """The minimal provider's `outgoing` list: its one server (smtp.example.org, 587, starttls) with keys
    changed, added or (None) removed."""
    return [_merged(MINIMAL["providers"][0]["outgoing"][0], changes)]


def settings_data(
    *,
    service: Mapping[str, Any] | None = None,
    provider: Mapping[str, Any] | None = None,
    providers: list[Mapping[str, Any]] | None = None,
    **tables: Any,
) -> dict[str, Any]:
    """The minimal settings with changes: `service` keys merged into [service], `provider` keys merged
    into the one provider, or `providers` replacing the list; other keyword arguments are top-level
    tables ([signing], or an unknown one to see it refused)."""
    data: dict[str, Any] = {"service": _merged(MINIMAL["service"], service or {})}
    data.update({key: copy.deepcopy(value) for key, value in tables.items() if value is not REMOVE})
    if providers is not None:
        data["providers"] = [dict(p) for p in providers]
    else:
        data["providers"] = [provider_data(**(provider or {}))]
    return data


def write_settings(folder: Path, data: Mapping[str, Any], name: str = "settings.toml") -> Path:
    """Write settings data as a TOML file in `folder`; returns its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(tomli_w.dumps(dict(data)), encoding="utf-8")
    return path


# Two providers: example.org with calendar and contacts, example.net with neither.
# Two providers: example.org with a calendar and contacts, example.net (and example.com) with POP3.
TWO_PROVIDERS = settings_data(
    providers=[
        provider_data(
            incoming=[{"host": "imap.example.org", "security": "tls"}],
            outgoing=[{"host": "smtp.example.org", "security": "tls"}],
            calendar={"url": "https://dav.example.org/caldav/"},
            contacts={"url": "https://dav.example.org/carddav/"},
        ),
        provider_data(
            id="example.net",
            name="Example Net",
            domains=["example.net", "example.com"],
            incoming=[{"protocol": "pop3", "host": "pop.example.net", "security": "tls"}],
            outgoing=[{"host": "smtp.example.net", "security": "tls"}],
        ),
    ]
)
