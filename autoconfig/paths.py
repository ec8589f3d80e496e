"""Where files are: the bundled templates and profiles (inside the installed package, or at the checkout's
top), and the state folder the service writes its own files in."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
DEFAULT_PROFILE = "ac-paris.toml"
STATE_ENV = "AUTOCONFIG_STATE_DIR"
# Names the settings file for `autoconfig` commands and for uvicorn's worker processes.
SETTINGS_ENV = "AUTOCONFIG_SETTINGS"
# Where the processes of one service write their metrics for /metrics to add up (prometheus-client reads
# it when a metric is made: set before autoconfig.web.metrics is imported).
MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"


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


def state_dir() -> Path:
    """Where the service keeps what it makes for itself, outside the repository: the development signing
    certificate, the log-hash key, metrics of several workers."""
    configured = os.environ.get(STATE_ENV)
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "autoconfig"


def write_private(path: Path, data: bytes, *, replace: bool = True) -> bool:
    """Write a file only its owner can read, whole: a reader never sees half of it. Several processes may
    write at once: each writes a temporary file of its own and puts it in place. With replace=False a
    file already there stays (the first one put in place wins). Whether this call's data went in place.
    Raises OSError (a full or read-only folder)."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        try:
            os.fchmod(handle, 0o600)
            os.write(handle, data)
        finally:
            os.close(handle)
        if replace:
            os.replace(temporary, path)
            return True
        try:
            os.link(temporary, path)  # fails when the file exists, where a rename would replace it
        except FileExistsError:
            return False
        return True
    finally:
        Path(temporary).unlink(missing_ok=True)
