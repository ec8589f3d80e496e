"""`check` says what `serve` will say, on every layout the project ships and on broken variants of each.

An IT team runs `autoconfig check` first; a layout that passes it and then fails in `serve` gives pods
that never become ready, or a unit that restarts in a loop. Both commands run the same validation
(`serving_snapshot`); these tests hold them to it from the outside: for each layout, `check` and a real
`autoconfig serve` give the same verdict, the same problems word for word, and the same warnings.

The files have the permissions the deployment docs prescribe (owned by root, group 10001, folders 0750,
files 0640). Both commands run as the test's user: the interpreter of a checkout's venv may lie where the
service's user cannot reach (pyenv under /root), so what another user can read is tested where the
service's user really runs, in the image (tests/test_image.py) and the systemd install
(tests/test_systemd.py).
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx2
import pytest

from autoconfig.paths import SETTINGS_ENV, STATE_ENV
from tests.helpers.certs import make_chain
from tests.helpers.compose import COMPOSE, admin_folder, container_view
from tests.helpers.kubernetes import pod_files, real_secrets
from tests.helpers.live import free_port, stop
from tests.helpers.paths import ROOT
from tests.helpers.systemd import Unit

SERVICE_UID = 10001
START_TIMEOUT = 20.0
UNIT = ROOT / "deploy" / "systemd" / "autoconfig.service"


@dataclass(frozen=True)
class Layout:
    """Files below `root` as a deployment lays them out, and the environment the service gets."""

    root: Path
    settings: Path | None  # None: the bundled default, as the image and the first command run it
    env: dict[str, str]


@dataclass(frozen=True)
class Verdict:
    valid: bool
    report: str  # the problems, as printed (empty when valid)
    warnings: list[str]  # the warnings' headlines


# --- running both commands as the service would be run ---------------------------------------------------


def _environment(layout: Layout) -> dict[str, str]:
    environment = {k: v for k, v in os.environ.items() if k not in (SETTINGS_ENV, STATE_ENV)}
    environment.update(layout.env)
    if layout.settings is not None:
        environment[SETTINGS_ENV] = str(layout.settings)
    return environment


def check_verdict(layout: Layout) -> Verdict:
    result = subprocess.run(
        [sys.executable, "-m", "autoconfig", "check"],
        capture_output=True,
        text=True,
        env=_environment(layout),
        timeout=60,
        check=False,
    )
    assert "Traceback" not in result.stderr, result.stderr
    if result.returncode != 0:
        assert result.returncode == 1
        return Verdict(False, result.stderr.strip(), [])
    headlines = [line.removeprefix("warning: ") for line in result.stderr.splitlines() if line[:1] != " "]
    return Verdict(True, "", headlines)


def serve_verdict(layout: Layout) -> Verdict:
    """A real `autoconfig serve`: refused (its report), or answering /healthz (its warnings)."""
    port = free_port()
    log = layout.root / f"serve-{port}.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "autoconfig", "serve", "--port", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=sink,
            env=_environment(layout),
            start_new_session=True,
        )
    try:
        serving = _answers_or_exits(process, port)
    finally:
        stop(process)  # and its workers, should the supervisor not stop them
    text = log.read_text(encoding="utf-8", errors="replace")
    assert "Traceback" not in text, text
    if not serving:
        assert process.returncode == 1, text
        return Verdict(False, text.strip(), [])
    marker = " WARNING autoconfig: "
    return Verdict(True, "", [line.split(marker, 1)[1] for line in text.splitlines() if marker in line])


def _answers_or_exits(process: subprocess.Popen[bytes], port: int) -> bool:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            if httpx2.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return True
        except httpx2.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail(f"autoconfig serve neither answered nor stopped within {START_TIMEOUT:.0f} s")


def assert_agree(layout: Layout, *, valid: bool) -> Verdict:
    checked = check_verdict(layout)
    served = serve_verdict(layout)
    assert checked.valid is served.valid is valid, (checked, served)
    if valid:
        assert checked.warnings == served.warnings
    else:
        # `serve` prints the very report `check` prints, after its own log lines (none before a refusal).
        assert served.report.endswith(checked.report), (checked.report, served.report)
        assert checked.report
    return checked


# --- the layouts ----------------------------------------------------------------------------------------


@pytest.fixture
def root() -> Iterator[Path]:
    """A folder the service's user can reach (pytest's own temporary folders are root's alone)."""
    folder = Path(tempfile.mkdtemp(prefix="autoconfig-layout-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def prescribed_permissions(folder: Path) -> None:
    """What the deployment docs prescribe for mounted settings: root's, readable by the service's group."""
    for path in [folder, *folder.rglob("*")]:
        if os.geteuid() == 0:
            os.chown(path, 0, SERVICE_UID, follow_symlinks=False)
        if not path.is_symlink():
            path.chmod(0o750 if path.is_dir() else 0o640)


def state_folder(root: Path) -> Path:
    """The state folder: the service's own, writable (StateDirectory=, the image's volume)."""
    state = root / "var" / "lib" / "autoconfig"
    state.mkdir(parents=True)
    if os.geteuid() == 0:
        os.chown(state, SERVICE_UID, SERVICE_UID)
    state.chmod(0o700)
    return state


def bundled(root: Path) -> Layout:
    """The first command of the README, and the image without settings of its own."""
    return Layout(root, None, {STATE_ENV: str(state_folder(root))})


def profile(name: str) -> Callable[[Path], Layout]:
    def layout(root: Path) -> Layout:
        etc = root / "etc" / "autoconfig"
        etc.mkdir(parents=True)
        shutil.copyfile(ROOT / "profiles" / name, etc / "settings.toml")
        prescribed_permissions(etc)
        return Layout(root, etc / "settings.toml", {STATE_ENV: str(state_folder(root))})

    return layout


def kubernetes(root: Path, secrets: dict[str, dict[str, bytes]] | None = None) -> Layout:
    """deploy/kubernetes as the pod sees it: the ConfigMap and the Secrets at their mounts."""
    settings = pod_files(root / "pod", secrets)
    prescribed_permissions(root / "pod")
    return Layout(root, settings, {STATE_ENV: str(state_folder(root))})


def systemd(root: Path) -> Layout:
    """deploy/systemd as install.sh leaves a server: the bundled settings copied to /etc/autoconfig, the
    unit's environment, with its paths below `root`."""
    environment = {
        name: str(root / value.lstrip("/")) if value.startswith("/") else value
        for name, value in Unit.read(UNIT).environment().items()
    }
    settings = Path(environment.pop(SETTINGS_ENV))
    settings.parent.mkdir(parents=True)
    shutil.copyfile(ROOT / "profiles" / "ac-paris.toml", settings)
    prescribed_permissions(settings.parent)
    state = state_folder(root)
    assert Path(environment[STATE_ENV]) == state
    return Layout(root, settings, environment)


def compose_layout(root: Path) -> Layout:
    """deploy/compose as an admin fills it (a real certificate in tls/), as the container sees it."""
    folder = admin_folder(root / "admin")
    prescribed_permissions(folder)
    return Layout(root, container_view(folder, root / "container"), {STATE_ENV: str(state_folder(root))})


SHIPPED: dict[str, Callable[[Path], Layout]] = {
    "bundled default, as the first command and the image run it": bundled,
    "profiles/ac-paris.toml": profile("ac-paris.toml"),
    "profiles/ile-de-france.toml": profile("ile-de-france.toml"),
    "deploy/kubernetes with its secrets": lambda root: kubernetes(root, real_secrets(root / "made")),
    "deploy/systemd": systemd,
    "deploy/compose": compose_layout,
}


@pytest.mark.parametrize("name", list(SHIPPED))
def test_a_shipped_layout_passes_both(root: Path, name: str) -> None:
    assert_agree(SHIPPED[name](root), valid=True)


# --- broken variants ------------------------------------------------------------------------------------


def test_the_kubernetes_placeholders_fail_both(root: Path) -> None:
    checked = assert_agree(kubernetes(root), valid=False)
    assert "signing.certificate" in checked.report


def test_a_log_hash_key_left_as_its_placeholder_fails_both(root: Path) -> None:
    # The case: a real certificate, the log-hash key left as CHANGE-ME (9 bytes).
    secrets = real_secrets(root / "made")
    secrets["autoconfig-secrets"]["log-hash-key"] = b"CHANGE-ME"
    checked = assert_agree(kubernetes(root, secrets), valid=False)
    assert "service.log_hash_key_file" in checked.report
    assert "at least 16" in checked.report


def test_a_key_of_another_certificate_fails_both(root: Path) -> None:
    secrets = real_secrets(root / "made")
    other = make_chain(name="Other").write(root / "other")
    secrets["autoconfig-signing"]["tls.key"] = other.key.read_bytes()
    checked = assert_agree(kubernetes(root, secrets), valid=False)
    assert "does not belong to the certificate" in checked.report


def test_a_misspelt_key_fails_both(root: Path) -> None:
    layout = profile("ac-paris.toml")(root)
    assert layout.settings is not None
    text = layout.settings.read_text(encoding="utf-8")
    layout.settings.write_text(text.replace("public_url", "public_ulr", 1), encoding="utf-8")
    checked = assert_agree(layout, valid=False)
    assert "public_ulr" in checked.report


def test_a_settings_file_that_is_not_there_fails_both(root: Path) -> None:
    layout = profile("ac-paris.toml")(root)
    assert layout.settings is not None
    layout.settings.unlink()
    checked = assert_agree(layout, valid=False)
    assert "settings.toml" in checked.report


def test_a_state_folder_that_cannot_be_written_is_the_same_warning_in_both(root: Path) -> None:
    # Not a refusal: the development certificate then lives in memory; both say so. A path below a
    # file cannot be made even by root.
    blocker = root / "not-a-folder"
    blocker.write_text("", encoding="utf-8")
    layout = Layout(root, None, {STATE_ENV: str(blocker / "state")})
    checked = assert_agree(layout, valid=True)
    assert any("cannot be written" in warning for warning in checked.warnings)


def test_a_hashed_log_with_a_short_key_file_fails_both(root: Path) -> None:
    layout = kubernetes(root, real_secrets(root / "made"))
    assert layout.settings is not None
    key = layout.settings.parent / "secrets" / "log-hash-key"
    key.write_bytes(base64.b64encode(b"short")[:8])
    checked = assert_agree(layout, valid=False)
    assert "8 bytes long" in checked.report


def test_compose_without_the_admins_certificate_fails_both(root: Path) -> None:
    # The shipped folder alone: its settings name tls/fullchain.pem and tls/privkey.pem, the admin's.
    layout = Layout(root, container_view(COMPOSE, root / "container"), {STATE_ENV: str(state_folder(root))})
    checked = assert_agree(layout, valid=False)
    assert "fullchain.pem" in checked.report


def test_systemd_signing_with_a_certificate_not_yet_issued_fails_both(root: Path) -> None:
    # docs/systemd.md's recipe names the Let's Encrypt lineage; before certbot has run it is not there.
    layout = systemd(root)
    assert layout.settings is not None
    live = root / "etc" / "letsencrypt" / "live" / "autoconfig.ac-paris.fr"
    text = layout.settings.read_text(encoding="utf-8")
    signing = f'\n[signing]\ncertificate = "{live}/fullchain.pem"\nkey = "{live}/privkey.pem"\n'
    layout.settings.write_text(
        text.replace("\n[[providers]]", signing + "\n[[providers]]", 1), encoding="utf-8"
    )
    checked = assert_agree(layout, valid=False)
    assert "signing.certificate" in checked.report
    assert "signing.key" in checked.report
