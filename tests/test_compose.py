"""deploy/compose: the Compose file's structure, the files it mounts, `autoconfig check` on the layout the
container sees (rebuilt in a temporary folder with the permissions the docs prescribe, applied by the
docs' own commands), and its Caddyfile. `docker compose` cannot run here: the image test runs the image."""

from __future__ import annotations

import ipaddress
import os
import re
import stat
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.commands import assert_no_traceback, autoconfig
from tests.helpers.compose import COMPOSE, admin_folder, binds, compose, container_view, service
from tests.helpers.markdown import code_blocks, section
from tests.helpers.paths import ROOT
from tests.helpers.proxies import caddy

DEPLOYMENT = ROOT / "docs" / "deployment.md"
IMAGE_UID = 10001  # the Dockerfile's user and group
# What the admin brings, named in the docs; everything else mounted ships in deploy/compose.
ADMINS = {"./tls"}


def compose_section() -> str:
    return section(DEPLOYMENT.read_text(encoding="utf-8"), "## Docker Compose")


def settings() -> dict[str, Any]:
    return tomllib.loads((COMPOSE / "settings.toml").read_text(encoding="utf-8"))


# --- the structure -----------------------------------------------------------------------------------


def test_the_service_is_built_from_the_repository_and_hardened() -> None:
    autoconfig_service = service("autoconfig")
    build = autoconfig_service["build"]
    assert (COMPOSE / build["context"] / "Dockerfile").resolve() == ROOT / "Dockerfile"
    assert "ARG BASE_IMAGE=" in (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert set(build.get("args", {})) <= {"BASE_IMAGE"}
    assert autoconfig_service["read_only"] is True
    assert autoconfig_service["tmpfs"] == ["/tmp"]  # noqa: S108 - the container's, in memory
    assert autoconfig_service["cap_drop"] == ["ALL"]
    assert "cap_add" not in autoconfig_service
    assert "no-new-privileges:true" in autoconfig_service["security_opt"]
    assert autoconfig_service["restart"] in {"unless-stopped", "always"}
    assert "ports" not in autoconfig_service, "only Caddy is reached from outside"
    assert autoconfig_service["healthcheck"]["test"][:3] == ["CMD", "autoconfig", "healthcheck"]
    assert "user" not in autoconfig_service, "the image's user (10001) runs it"


def test_settings_and_key_are_mounted_read_only_and_state_is_a_named_volume() -> None:
    autoconfig_service = service("autoconfig")
    mounts = {target: (source, options) for source, target, options in binds("autoconfig")}
    settings_path = autoconfig_service["environment"]["AUTOCONFIG_SETTINGS"]
    assert mounts[settings_path] == ("./settings.toml", "ro")
    signing = settings()["signing"]
    folder = Path(settings_path).parent
    for named in (signing["certificate"], signing["key"]):
        target = folder / named
        assert any(target.is_relative_to(mount) for mount in mounts), named
    assert all(options == "ro" for _, options in mounts.values())
    state = [v for v in autoconfig_service["volumes"] if v.endswith(":/var/lib/autoconfig")]
    assert len(state) == 1
    assert state[0].split(":")[0] in compose()["volumes"]


def test_every_mounted_file_ships_or_is_documented_as_the_admins() -> None:
    documented = compose_section()
    for name in ("autoconfig", "caddy"):
        for source, _, _ in binds(name):
            if source in ADMINS:
                assert not (COMPOSE / source).exists(), f"{source} is the admin's: ship none"
                assert f"`deploy/compose/{source[2:]}/`" in documented, source
            else:
                assert (COMPOSE / source).is_file(), source


def test_caddy_fronts_the_service_and_the_service_trusts_only_the_compose_network() -> None:
    caddy_service = service("caddy")
    assert {"80:80", "443:443"} <= set(caddy_service["ports"])
    assert caddy_service["depends_on"]["autoconfig"]["condition"] == "service_healthy"
    assert caddy_service["cap_drop"] == ["ALL"]
    assert caddy_service["cap_add"] == ["NET_BIND_SERVICE"]
    network = service("autoconfig")["networks"][0]
    assert caddy_service["networks"] == [network]
    (subnet,) = [c["subnet"] for c in compose()["networks"][network]["ipam"]["config"]]
    assert settings()["service"]["trusted_proxies"] == [subnet]
    assert ipaddress.ip_network(subnet).is_private


def test_the_caddyfile_has_the_samples_routes() -> None:
    shipped = (COMPOSE / "Caddyfile").read_text(encoding="utf-8")
    sample = (ROOT / "deploy" / "caddy" / "Caddyfile").read_text(encoding="utf-8")
    start = "(autoconfig_upstream)"
    assert shipped[shipped.index(start) :] == sample[sample.index(start) :].replace(
        "127.0.0.1:8080", "autoconfig:8080"
    )
    assert "autoconfig:8080" in shipped


def test_the_caddyfile_validates(tmp_path: Path) -> None:
    path = COMPOSE / "Caddyfile"
    adapted = caddy("adapt", "--config", str(path), "--adapter", "caddyfile", folder=tmp_path)
    assert adapted.returncode == 0, adapted.stderr
    assert '"level":"warn"' not in adapted.stderr, adapted.stderr
    assert '"dial":"autoconfig:8080"' in adapted.stdout
    validated = caddy("validate", "--config", str(path), "--adapter", "caddyfile", folder=tmp_path)
    assert validated.returncode == 0, validated.stderr
    formatted = caddy("fmt", str(path), folder=tmp_path)
    assert formatted.stdout == path.read_text(encoding="utf-8")


# --- the layout the container sees -----------------------------------------------------------------------


def apply_documented_permissions(checkout: Path) -> None:
    """The docs' permission commands, run as written (without sudo) from the top of `checkout`."""
    steps = re.sub(r"^   ", "", compose_section(), flags=re.M)  # the blocks sit in a numbered list
    (block,) = [b for b in code_blocks(steps, "sh") if "chmod" in b]
    script = block.replace("sudo ", "")
    subprocess.run(["sh", "-eu", "-c", script], cwd=checkout, check=True, timeout=30, capture_output=True)


def owner_group_mode(path: Path) -> tuple[int, int, int]:
    info = path.stat()
    return info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)


@pytest.mark.skipif(os.geteuid() != 0, reason="the documented owner is root (tests/run runs as root)")
def test_check_passes_on_the_layout_compose_mounts(tmp_path: Path) -> None:
    folder = admin_folder(tmp_path)
    apply_documented_permissions(tmp_path)
    assert owner_group_mode(folder / "settings.toml") == (0, IMAGE_UID, 0o644)
    assert owner_group_mode(folder / "tls") == (0, IMAGE_UID, 0o750)
    assert owner_group_mode(folder / "tls" / "privkey.pem") == (0, IMAGE_UID, 0o640)
    assert owner_group_mode(folder / "tls" / "fullchain.pem") == (0, IMAGE_UID, 0o644)
    settings_path = container_view(folder, tmp_path / "container")
    assert owner_group_mode(settings_path.parent / "tls" / "privkey.pem") == (0, IMAGE_UID, 0o640)
    result = autoconfig("check", "--settings", str(settings_path))
    assert_no_traceback(result)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "valid" in result.stdout


def test_check_refuses_the_layout_without_the_admins_key(tmp_path: Path) -> None:
    # The shipped folder alone (no tls/): `check` says what is missing, as the container would.
    settings_path = container_view(COMPOSE, tmp_path / "container")
    result = autoconfig("check", "--settings", str(settings_path))
    assert_no_traceback(result)
    assert result.returncode == 1
    assert "fullchain.pem" in result.stdout + result.stderr
