"""Fixtures shared by the tests: the bundled settings, a way to write settings files, the ISPDB corpus."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from autoconfig.paths import STATE_ENV
from autoconfig.settings import Provider, Settings, load_settings

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
# Copies of ../shared's real data, with their licence notices, so that a clone alone runs every test.
CORPUS = DATA / "ispdb-corpus"

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


@pytest.fixture(scope="session", autouse=True)
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Keep what the service makes for itself (the development signing certificate) out of $HOME.

    Set in the environment, so the servers the tests start inherit it too.
    """
    path = tmp_path_factory.mktemp("state")
    previous = os.environ.get(STATE_ENV)
    os.environ[STATE_ENV] = str(path)
    yield path
    if previous is None:
        os.environ.pop(STATE_ENV, None)
    else:
        os.environ[STATE_ENV] = previous


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


def build_wheel(out: Path) -> Path:
    """The project's wheel, built as the Dockerfile's first stage builds it (`pip wheel --no-deps`)."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(out),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
        timeout=180,
    )
    (built,) = out.glob("autoconfig-*.whl")
    return built
