"""The Docker image, built for real and run as its user.

The project's Dockerfile is built with podman from a clean copy of the checkout, on a local Debian
bookworm base (python3 3.11) given through the BASE_IMAGE build argument. Its root filesystem then runs
as `docker run --read-only` runs it (see tests/helpers/image.py): the bundled settings, the image's own
HEALTHCHECK, no write outside the state folder and /tmp, and settings mounted from outside with the
permissions the docs prescribe. About a minute: the base is bootstrapped once per machine, the project
image is built again on every run (pip fetches the dependencies, as `docker build` does).
"""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import tomllib
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2
import pytest
import tomli_w
from lxml import etree

from tests.helpers.certs import ChainFiles, cms_verify, make_chain, openssl
from tests.helpers.debian import debian_root
from tests.helpers.image import (
    IMAGE_REPOSITORY,
    Container,
    Image,
    Sandbox,
    base_image,
    build_context,
    build_image,
    mounted_container,
    new_sandbox,
    remove_image,
    require_tools,
    with_port,
)
from tests.helpers.live import free_port, stop, wait_for
from tests.helpers.paths import ROOT

pytestmark = pytest.mark.slow

UID = GID = 10001
ADDRESS = "jean.dupont@ac-paris.fr"
SETTINGS_INSIDE = "/etc/autoconfig"
STARTUP_TIMEOUT = 60.0  # two workers importing everything from a cold page cache, on a shared machine
RUN_TIMEOUT = 60


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Image]:
    require_tools()
    base = base_image(debian_root())
    folder = tmp_path_factory.mktemp("image")
    context = build_context(ROOT, folder / "context")
    built = build_image(context, base, f"{IMAGE_REPOSITORY}:{uuid.uuid4().hex[:12]}", folder / "build.log")
    print(f"image: built in {built.build_seconds:.1f} s on {base}")
    try:
        yield built
    finally:
        remove_image(built.reference)


@pytest.fixture(scope="module")
def container(image: Image) -> Iterator[Container]:
    with mounted_container(image) as mounted:
        yield mounted


@contextmanager
def serving(
    sandbox: Sandbox, port: int, log: Path, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """The image's exact ENTRYPOINT and CMD, then `--host 127.0.0.1 --port PORT` (the last given wins):
    chroot shares the machine's network, where a container has its own, so 0.0.0.0:8080 would open a
    port on every interface of a shared machine, and 8080 may be taken."""
    argv = [*sandbox.image.entrypoint, *sandbox.image.cmd, "--host", "127.0.0.1", "--port", str(port)]
    with log.open("wb") as out:
        process = subprocess.Popen(
            sandbox.command(argv, env), stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:

        def answered() -> bool | None:
            assert process.poll() is None, log.read_text(errors="replace")
            try:
                httpx2.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
            except httpx2.TransportError:
                return None
            return True

        wait_for(answered, STARTUP_TIMEOUT, "the image's service answering")
        yield process
    finally:
        stop(process)  # unshare, sh, env and chroot exec: this is the supervisor itself


def healthcheck(sandbox: Sandbox, port: int) -> subprocess.CompletedProcess[str]:
    """The image's HEALTHCHECK command, its port replaced, as the image's user, within its own timeout
    (plus the time to set up the namespace)."""
    check = sandbox.image.healthcheck
    assert check is not None
    return subprocess.run(
        sandbox.command(with_port(check.command, port)),
        capture_output=True,
        text=True,
        timeout=check.timeout + 5,
        check=False,
    )


def uids(pid: int) -> set[str]:
    """Real, effective, saved and filesystem uids of a process."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return set(line.split()[1:])
    raise AssertionError(f"no Uid line for {pid}")


def thunderbird_imap(port: int) -> dict[str, str]:
    answer = httpx2.get(
        f"http://127.0.0.1:{port}/mail/config-v1.1.xml", params={"emailaddress": ADDRESS}, timeout=10
    )
    assert answer.status_code == 200, answer.text
    server = etree.fromstring(answer.content).find("emailProvider/incomingServer")
    assert server is not None
    assert server.get("type") == "imap"
    return {child.tag: child.text or "" for child in server}


def signed_profile(port: int) -> bytes:
    url = f"http://127.0.0.1:{port}/profile.mobileconfig"
    answer = httpx2.get(url, params={"email": ADDRESS}, timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/x-apple-aspen-config")
    return answer.content


def files(folder: Path) -> dict[str, tuple[int, int, int, str]]:
    """Every entry under a folder: mode, owner, group and content digest, to compare before and after."""
    found = {}
    for path in sorted([folder, *folder.rglob("*")]):
        info = path.lstat()
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else ""
        found[str(path.relative_to(folder))] = (info.st_mode, info.st_uid, info.st_gid, digest)
    return found


# --- the image as built -------------------------------------------------------------------------------


def names(table: Path) -> dict[int, str]:
    """Number -> name in an /etc/passwd or /etc/group file."""
    rows = (line.split(":") for line in table.read_text().splitlines())
    return {int(fields[2]): fields[0] for fields in rows}


def test_the_built_image_runs_as_10001_on_8080_and_keeps_its_healthcheck(
    image: Image, container: Container
) -> None:
    assert image.user == f"{UID}:{GID}"
    # One name for the user and for the group the settings are shared with, as admins see them in `ls -l`.
    assert names(container.root / "etc" / "passwd")[UID] == "autoconfig"
    assert names(container.root / "etc" / "group")[GID] == "autoconfig"
    assert image.exposed == ["8080/tcp"]
    assert image.entrypoint[:2] == ["autoconfig", "serve"]
    assert image.env["AUTOCONFIG_STATE_DIR"] == "/var/lib/autoconfig"
    # Dropped by an OCI-format build: the image would never be marked unhealthy.
    assert image.healthcheck is not None
    assert image.healthcheck.command[:2] == ["autoconfig", "healthcheck"]
    assert 0 < image.healthcheck.timeout < image.healthcheck.interval


# What the image's user meets when it writes: the errno's name, or "written".
PROBE_WRITES = """
import errno, sys
for folder in sys.argv[1:]:
    try:
        with open(f"{folder}/probe", "w"):
            pass
        print(folder, "written")
    except OSError as exc:
        print(folder, errno.errorcode[exc.errno])
"""


def test_the_view_is_read_only_but_for_the_state_folder_and_tmp(
    image: Image, container: Container, tmp_path: Path
) -> None:
    """The premise of the tests below: a write the service makes elsewhere fails, even where the image's
    permissions would let it (/var/tmp is world-writable, and Python's second choice for temporary files)."""
    etc = tmp_path / "etc"
    etc.mkdir(mode=0o777)
    sandbox = new_sandbox(image, container, tmp_path / "run", {SETTINGS_INSIDE: etc})
    # /dev/shm is writable too: Docker mounts one even with --read-only.
    writable = ["/tmp", "/var/lib/autoconfig", "/dev/shm"]  # noqa: S108
    read_only = ["/var/tmp", "/", SETTINGS_INSIDE]  # noqa: S108
    result = subprocess.run(
        sandbox.command(["python3", "-c", PROBE_WRITES, *writable, *read_only]),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    outcomes = dict(line.split() for line in result.stdout.splitlines())
    assert outcomes == dict.fromkeys(writable, "written") | dict.fromkeys(read_only, "EROFS")
    assert (sandbox.tmp / "probe").is_file()
    assert (sandbox.state / "probe").stat().st_uid == UID
    assert list(etc.iterdir()) == []


# --- the bundled settings, read-only ------------------------------------------------------------------


def test_it_serves_the_bundled_settings_read_only_and_passes_its_healthcheck(
    image: Image, container: Container, tmp_path: Path
) -> None:
    sandbox = new_sandbox(image, container, tmp_path)
    port = free_port()
    log = tmp_path / "serve.log"
    with serving(sandbox, port, log) as process:
        assert uids(process.pid) == {str(UID)}
        assert thunderbird_imap(port) | {"authentication": ""} == {
            "hostname": "imap.ac-paris.fr", "port": "143", "socketType": "STARTTLS",
            "username": "jdupont", "authentication": "",
        }  # fmt: skip
        health = httpx2.get(f"http://127.0.0.1:{port}/healthz", timeout=10).json()
        # The settings inside the installed wheel, signed with a development certificate.
        bundled = Path(health["settings"]["file"])
        assert bundled.parts[-4:] == ("autoconfig", "_data", "profiles", "ac-paris.toml")
        assert bundled.parts[-5] in ("site-packages", "dist-packages")  # Debian's python3 uses the latter
        assert health["signing"]["development"] is True
        profile = signed_profile(port)
        verified = openssl("cms", "-verify", "-noverify", "-binary", "-inform", "DER", data=profile)
        assert verified.returncode == 0, verified.stderr.decode()
        assert b"<string>jdupont</string>" in verified.stdout
        check = healthcheck(sandbox, port)
        assert check.returncode == 0, check.stdout + check.stderr
        # ok, with the bundled default's one warning: its profiles are signed with a development certificate.
        first, *warnings = check.stdout.strip().splitlines()
        assert first.endswith(": ok")
        assert [line.strip().split(":")[0] for line in warnings] == ["warning"]
    # The same command tells a stopped service apart.
    assert healthcheck(sandbox, port).returncode != 0

    logs = log.read_text(errors="replace")
    assert "Traceback" not in logs
    assert "Read-only file system" not in logs
    # What it wrote: its development certificate in the state folder, as its user; /tmp left empty (the
    # metrics of several workers are removed on the way out); the image's files untouched.
    state = {str(path.relative_to(sandbox.state)): path.stat() for path in sandbox.state.rglob("*")}
    assert "dev-signing/certificate.pem" in state
    assert {(info.st_uid, info.st_gid) for info in state.values()} == {(UID, GID)}
    assert stat.S_IMODE(state["dev-signing/key.pem"].st_mode) == 0o600
    assert list(sandbox.tmp.iterdir()) == []
    assert container.changes() == []


# --- settings mounted from outside --------------------------------------------------------------------


def mounted_settings(folder: Path, *, key_mode: int = 0o640, key_group: int = GID) -> ChainFiles:
    """A folder for /etc/autoconfig as the docs prescribe: everything owned by root, readable by the
    service's group only where it must be (folders 0750, settings and certificate 0644, key 0640)."""
    chain = make_chain().write(folder / "tls")
    for path in folder.glob("tls/*.pem"):
        if path not in (chain.fullchain, chain.key):
            path.rename(folder / path.name)  # the CAs stay outside the mount: the test's trust anchor
    data = tomllib.loads((ROOT / "profiles" / "ac-paris.toml").read_text(encoding="utf-8"))
    data["signing"] = chain.signing_data(
        Path(SETTINGS_INSIDE, "tls", chain.fullchain.name), Path(SETTINGS_INSIDE, "tls", chain.key.name)
    )
    settings = folder / "settings.toml"
    settings.write_text(tomli_w.dumps(data), encoding="utf-8")
    for path, mode, group in (
        (folder, 0o750, GID),
        (chain.fullchain.parent, 0o750, GID),
        (settings, 0o644, GID),
        (chain.fullchain, 0o644, GID),
        (chain.key, key_mode, key_group),
    ):
        os.chown(path, 0, group)
        path.chmod(mode)
    return chain


def test_it_reads_settings_and_a_signing_key_mounted_from_outside(
    image: Image, container: Container, tmp_path: Path
) -> None:
    etc = tmp_path / "etc-autoconfig"
    etc.mkdir()
    chain = mounted_settings(etc)
    before = files(etc)
    sandbox = new_sandbox(image, container, tmp_path / "run", {SETTINGS_INSIDE: etc})
    port = free_port()
    log = tmp_path / "serve.log"
    with serving(sandbox, port, log, {"AUTOCONFIG_SETTINGS": f"{SETTINGS_INSIDE}/settings.toml"}):
        health = httpx2.get(f"http://127.0.0.1:{port}/healthz", timeout=10).json()
        assert health["settings"]["file"] == f"{SETTINGS_INSIDE}/settings.toml"
        assert health["signing"]["development"] is False
        assert thunderbird_imap(port)["username"] == "jdupont"
        # Signed with the mounted key: the chain verifies up to the test's root CA.
        verified = cms_verify(signed_profile(port), etc / "root.pem", tmp_path)
        assert verified.returncode == 0, verified.stderr.decode()
        check = healthcheck(sandbox, port)
        assert check.returncode == 0, check.stdout + check.stderr
    assert "Traceback" not in log.read_text(errors="replace")
    assert files(etc) == before
    # No development certificate: the configured one signs.
    assert not (sandbox.state / "dev-signing").exists()
    assert container.changes() == []
    assert chain.key.stat().st_uid == 0


def test_it_refuses_a_key_it_cannot_read_with_a_plain_message(
    image: Image, container: Container, tmp_path: Path
) -> None:
    etc = tmp_path / "etc-autoconfig"
    etc.mkdir()
    mounted_settings(etc, key_mode=0o600, key_group=0)  # as certbot leaves privkey.pem: root's alone
    sandbox = new_sandbox(image, container, tmp_path / "run", {SETTINGS_INSIDE: etc})
    argv = [*image.entrypoint, *image.cmd, "--host", "127.0.0.1", "--port", str(free_port())]
    result = subprocess.run(
        sandbox.command(argv, {"AUTOCONFIG_SETTINGS": f"{SETTINGS_INSIDE}/settings.toml"}),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "Traceback" not in output
    assert "signing.key" in output
    assert f"{SETTINGS_INSIDE}/tls/privkey.pem" in output
    assert "permission" in output.lower()
