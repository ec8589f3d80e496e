"""deploy/compose as data, and the folder the container sees: read by the Compose tests and by the test
that `check` and `serve` agree on every shipped layout."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]  # kubernetes-validate's own YAML reader

from tests.helpers.certs import make_chain
from tests.helpers.paths import ROOT

COMPOSE = ROOT / "deploy" / "compose"


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((COMPOSE / "compose.yaml").read_text(encoding="utf-8"))
    return loaded


def service(name: str) -> dict[str, Any]:
    found: dict[str, Any] = compose()["services"][name]
    return found


def binds(name: str) -> list[tuple[str, str, str]]:
    """The service's bind mounts as (source, target, options); named volumes are left out."""
    found = []
    for volume in service(name)["volumes"]:
        source, target, *options = volume.split(":")
        if source.startswith("."):
            found.append((source, target, options[0] if options else ""))
    return found


def admin_folder(tmp_path: Path) -> Path:
    """deploy/compose as an admin fills it: the shipped files, and a real certificate and key in tls/."""
    folder = tmp_path / COMPOSE.relative_to(ROOT)
    shutil.copytree(COMPOSE, folder)
    make_chain().write(folder / "tls")
    return folder


def container_view(folder: Path, root: Path) -> Path:
    """What the container sees: each bind mount's source copied to its target under `root`, with its
    owner and mode. The settings file the container is told to read."""
    for source, target, _ in binds("autoconfig"):
        origin, inside = folder / source, root / target.lstrip("/")
        inside.parent.mkdir(parents=True, exist_ok=True)
        if not origin.exists():
            inside.mkdir()  # Docker makes a missing source an empty folder
            continue
        if origin.is_dir():
            shutil.copytree(origin, inside, copy_function=shutil.copy2)
        else:
            shutil.copy2(origin, inside)
        for path in (inside, *inside.rglob("*")):
            original = origin / path.relative_to(inside) if path != inside else origin
            os.chown(path, original.stat().st_uid, original.stat().st_gid)
    settings_path: str = service("autoconfig")["environment"]["AUTOCONFIG_SETTINGS"]
    return root / settings_path.lstrip("/")
