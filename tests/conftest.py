"""Fixtures shared by the tests: the bundled settings, a way to write settings files, the ISPDB corpus."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from autoconfig.settings import Provider, Settings, load_settings

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
CORPUS = SHARED / "ispdb-corpus"
DATA = Path(__file__).resolve().parent / "data"

# The smallest valid settings file; tests add to it or break it.
MINIMAL = """
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


@pytest.fixture(scope="session")
def settings() -> Settings:
    """The bundled default: profiles/ac-paris.toml."""
    return load_settings()


@pytest.fixture(scope="session")
def paris(settings: Settings) -> Provider:
    return settings.providers[0]


@pytest.fixture
def write_settings(tmp_path: Path) -> Callable[[str], Path]:
    """Write TOML text (dedented) to a settings file in a fresh folder and return its path."""

    def write(text: str, name: str = "settings.toml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return write
