"""The wheel carries the templates and profiles, and the package finds them there."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.helpers.paths import build_wheel


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_wheel(tmp_path_factory.mktemp("dist"))


def test_the_wheel_holds_the_profiles_and_templates(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "autoconfig/_data/profiles/ac-paris.toml" in names
    assert "autoconfig/_data/profiles/ile-de-france.toml" in names
    assert "autoconfig/_data/profiles/hoster.toml" in names
    assert any(n.startswith("autoconfig/_data/templates/") for n in names)
    assert not any(n.startswith("tests/") for n in names)


def test_an_unpacked_wheel_finds_its_own_profiles(wheel: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    # Run from an empty folder with only the unpacked wheel first on the path: no checkout to fall back on.
    env = {**os.environ, "PYTHONPATH": str(site)}
    env.pop("AUTOCONFIG_SETTINGS", None)
    found = subprocess.run(
        [sys.executable, "-c", "from autoconfig.paths import default_settings_path as p; print(p())"],
        cwd=tmp_path,
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert Path(found.stdout.strip()) == site / "autoconfig" / "_data" / "profiles" / "ac-paris.toml"
    checked = subprocess.run(
        [sys.executable, "-m", "autoconfig", "check"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert checked.returncode == 0, checked.stderr
    assert "valid: 1 provider, 1 domain, 2 servers" in checked.stdout
