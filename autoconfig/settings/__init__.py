"""The settings file: TOML in, validated frozen models out. The only package that reads TOML.

types.py holds the value types; login.py, servers.py, provider.py and models.py the tables; loading.py
reads a file (and the files it names); report.py turns problems into what `check` prints; reference.py
lists every key.
Every key is declared once, with the description the error messages and the reference use.
"""

from .loading import load_settings, settings_from_dict
from .login import LoginRule
from .models import ServiceSettings, Settings, SigningSettings
from .provider import AddressForm, Documentation, Links, OAuth, Provider, Support
from .reference import iter_keys
from .report import settings_warnings
from .servers import DavServer, Directory, DirectoryLookup, IncomingServer, Listener, OutgoingServer, Server
from .types import (
    AUTH_METHODS,
    DEFAULT_PORTS,
    DOMAIN_PLACEHOLDER,
    PLACEHOLDERS,
    UI_LANGUAGES,
    Localized,
)

__all__ = [
    "AUTH_METHODS",
    "DEFAULT_PORTS",
    "DOMAIN_PLACEHOLDER",
    "PLACEHOLDERS",
    "UI_LANGUAGES",
    "AddressForm",
    "DavServer",
    "Directory",
    "DirectoryLookup",
    "Documentation",
    "IncomingServer",
    "Links",
    "Listener",
    "Localized",
    "LoginRule",
    "OAuth",
    "OutgoingServer",
    "Provider",
    "Server",
    "ServiceSettings",
    "Settings",
    "SigningSettings",
    "Support",
    "iter_keys",
    "load_settings",
    "settings_from_dict",
    "settings_warnings",
]
