"""Where the bundled templates and profiles are: inside the installed package, or at the checkout's top."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
DEFAULT_PROFILE = "ac-paris.toml"
# Names the settings file for `autoconfig` commands and for uvicorn's worker processes.
SETTINGS_ENV = "AUTOCONFIG_SETTINGS"


def _data_dir(name: str) -> Path:
    # A wheel force-includes the top-level folders under autoconfig/_data (see pyproject.toml);
    # a checkout, editable install included, keeps them beside the package.
    for candidate in (_PACKAGE / "_data" / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"the bundled {name}/ folder is missing from this installation")


def profiles_dir() -> Path:
    return _data_dir("profiles")


def templates_dir() -> Path:
    return _data_dir("templates")


def default_settings_path() -> Path:
    return profiles_dir() / DEFAULT_PROFILE


def is_bundled_default(path: Path) -> bool:
    """Whether a settings file is the bundled default (which gets a development signing certificate)."""
    try:
        return path.resolve() == default_settings_path().resolve()
    except FileNotFoundError:
        return False
