"""A new version of the settings put in service in a test's app, as a worker of `autoconfig serve` does
when its supervisor hands it one after a reload: the files read again, the version made and swapped in."""

from __future__ import annotations

from starlette.applications import Starlette

from autoconfig.formats.signing import signer_for
from autoconfig.settings import load_settings
from autoconfig.version import Version
from autoconfig.web.app import serve_version


def serve_again(app: Starlette) -> Version:
    """Read the settings file the app serves again and serve what it now holds (raises SettingsError)."""
    settings = load_settings(app.state.served.settings.source)
    version = Version.build(settings, signer_for(settings))
    serve_version(app, version)
    return version
