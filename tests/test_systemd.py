"""deploy/systemd/: the unit, its install script and the certbot hook, exercised as far as a machine
without PID 1 systemd allows.

- The unit: `systemd-analyze security --offline=yes` rates it (the threshold is the issue's, 2.0), and
  what the service needs is still allowed (its sockets, its pipes, its folders, its reload).
- The install: install.sh runs in a copy of a debootstrapped Debian bookworm with systemd (not running:
  a chroot), from nothing; then the user, the folders, the enabled unit, `systemd-analyze verify` on the
  installed tree (it checks that ExecStart and ExecReload exist there), and the unit's exact ExecStart
  and ExecReload lines run as its User with its Environment, answering Thunderbird; then an upgrade, a
  refused switch and a rollback.
- The installed root booted with a real systemd as PID 1 of a container (systemd-nspawn, loopback only):
  the enabled unit starts at boot and answers, its processes run under the unit's sandbox (seccomp, no
  capabilities, read-only system, hidden /proc, private /dev, /tmp and IPC), `systemctl reload` swaps a
  signing certificate in, a worker killed is replaced, and `systemctl stop` ends it without SIGKILL.
- The certbot hook against a live `autoconfig serve`, with a Let's Encrypt-like live/ and archive/
  renewed as certbot renews them.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import httpx2
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from tests.helpers.certs import Chain, cms_certificates, cms_verify, key_pem, make_chain, pem
from tests.helpers.debian import debian_root
from tests.helpers.live import free_port, serving, stop, wait_for
from tests.helpers.nspawn import Container, booted
from tests.helpers.paths import ROOT
from tests.helpers.settings import settings_data, write_settings
from tests.helpers.systemd import INSTALL_TIMEOUT, Machine, Unit, machine

DEPLOY = ROOT / "deploy" / "systemd"
UNIT_FILE = DEPLOY / "autoconfig.service"
INSTALL = "/usr/src/autoconfig/deploy/systemd/install.sh"
HOOK = DEPLOY / "certbot-deploy-hook"
DOCS = ROOT / "docs" / "systemd.md"
MAX_EXPOSURE = 2.0
JEAN = "jean.dupont@ac-paris.fr"
THUNDERBIRD = f"/mail/config-v1.1.xml?emailaddress={JEAN}"
UNIT = Unit.read(UNIT_FILE)


def systemd_analyze(*args: str) -> subprocess.CompletedProcess[str]:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is missing (tests/run installs systemd)")
    return subprocess.run(["systemd-analyze", *args], capture_output=True, text=True, timeout=60, check=False)


def exposure(unit: Path) -> float:
    result = systemd_analyze("security", "--offline=yes", "--no-pager", str(unit))
    found = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
    assert found, result.stdout + result.stderr
    return float(found.group(1))


# --- the unit ------------------------------------------------------------------------------------------


def test_the_unit_is_rated_2_or_lower() -> None:
    assert exposure(UNIT_FILE) <= MAX_EXPOSURE


def test_the_rating_sees_a_weaker_unit(tmp_path: Path) -> None:
    # The parse reads the real verdict: the docs' sketch of the unit rated 8.5.
    weak = tmp_path / "autoconfig.service"
    kept = ("Type=", "User=", "ExecStart=", "ExecReload=", "[")
    weak.write_text("".join(line for line in UNIT_FILE.read_text().splitlines(True) if line.startswith(kept)))
    assert exposure(weak) > 8


def test_the_docs_give_the_rating_the_unit_has() -> None:
    found = re.search(r"rates it \*\*(\d+\.\d+)", DOCS.read_text(encoding="utf-8"))
    assert found, "docs/systemd.md: the rating"
    assert float(found.group(1)) == exposure(UNIT_FILE)


def test_the_hardening_leaves_what_the_service_needs() -> None:
    families = set(" ".join(UNIT.values("RestrictAddressFamilies")).split())
    # The supervisor's pipes to its workers are AF_UNIX socket pairs; the port and LDAP are IP.
    assert {"AF_UNIX", "AF_INET", "AF_INET6"} <= families
    assert UNIT.value("PrivateTmp") == "yes"  # the workers' metrics folder: private, but writable
    assert UNIT.value("StateDirectory") == "autoconfig"
    assert UNIT.environment()["AUTOCONFIG_STATE_DIR"] == "/var/lib/autoconfig"
    assert UNIT.value("ExecReload") == "/bin/kill -HUP $MAINPID"
    assert "network-online.target" in UNIT.value("Wants", "Unit")
    assert "network-online.target" in UNIT.value("After", "Unit")
    assert int(UNIT.value("LimitNOFILE")) >= 2 * 4096  # two workers of service.max_connections
    # A list setting without `~` allows only what it names: the service must not lose its network.
    assert "PrivateNetwork" not in UNIT.sections["Service"]
    filters = UNIT.values("SystemCallFilter")
    assert filters[0] == "@system-service"
    denied = {group for line in filters[1:] for group in line.lstrip("~").split()}
    # Workers are spawned (fork, exec), talk over sockets and signals: none of it may be denied.
    assert not denied & {"@process", "@network-io", "@signal", "@ipc", "@basic-io", "@file-system"}
    # SIGTERM to every process: mixed would SIGKILL the resource tracker at each stop (the test below).
    assert UNIT.value("KillMode") == "control-group"


PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN = 65, 1  # linux/prctl.h, Linux 6.3+


# MemoryDenyWriteExecute= by the kernel's own switch, inherited through fork and exec: what systemd 252
# does with seccomp, for a command started here without PID 1 systemd (a wrapper, not a preexec_fn:
# pytest may run threads).
DENY_WRITE_EXECUTE = [
    sys.executable,
    "-c",
    "import ctypes, os, sys\n"
    "libc = ctypes.CDLL(None, use_errno=True)\n"
    f"if libc.prctl({PR_SET_MDWE}, {PR_MDWE_REFUSE_EXEC_GAIN}, 0, 0, 0) != 0:\n"
    "    sys.exit('prctl(PR_SET_MDWE): ' + os.strerror(ctypes.get_errno()))\n"
    "os.execv(sys.argv[1], sys.argv[1:])",
]

WRITABLE_CODE = "import mmap; mmap.mmap(-1, 4096, prot=mmap.PROT_WRITE | mmap.PROT_EXEC)"


def test_the_service_signs_and_serves_with_memory_deny_write_execute(tmp_path: Path) -> None:
    assert UNIT.value("MemoryDenyWriteExecute") == "yes"
    probe = subprocess.run(
        [*DENY_WRITE_EXECUTE, sys.executable, "-c", WRITABLE_CODE],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if "prctl(PR_SET_MDWE)" in probe.stderr:
        pytest.skip("this kernel has no PR_SET_MDWE (Linux 6.3+)")
    assert "PermissionError" in probe.stderr  # the switch is on: writable code is refused
    files = make_chain().write(tmp_path / "tls")
    settings = write_settings(tmp_path, settings_data(signing=files.signing_data()))
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*DENY_WRITE_EXECUTE, sys.executable, "-m", "autoconfig", "serve", "--port", str(port),
             "--workers", "2", "--settings", str(settings)],
            cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"

        def profile() -> bytes | None:
            assert process.poll() is None, log.read_text()
            try:
                answer = httpx2.get(f"{base}/profile.mobileconfig?email=jean.dupont@example.org", timeout=5)
            except httpx2.TransportError:
                return None
            return answer.content if answer.status_code == 200 else None

        # Spawned workers, uvloop and httptools, the signature (cryptography), the XML (lxml).
        signed = wait_for(profile, timeout=20, what="a signed profile")
        assert x509.load_pem_x509_certificate(files.leaf.read_bytes()) in cms_certificates(signed)
        assert "<username>" in httpx2.get(f"{base}/mail/config-v1.1.xml?emailaddress=a.b@example.org").text
        assert "uvloop" in str(httpx2.get(f"{base}/healthz").json()["server"])
    finally:
        stop(process)
    assert process.returncode == 0, log.read_text()


# --- the install, in a Debian root ----------------------------------------------------------------------


def _copy_checkout(target: Path) -> None:
    """The checkout's files as a clone has them (tracked, and new ones not ignored), without .git."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, check=True, timeout=60,
    ).stdout.decode()  # fmt: skip
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


class Installed:
    def __init__(self, found: Machine, output: str, seconds: float) -> None:
        self.machine = found
        self.output = output
        self.seconds = seconds

    @property
    def root(self) -> Path:
        return self.machine.root

    def install(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.machine.run(INSTALL, *args, timeout=INSTALL_TIMEOUT, check=check)

    def link(self, name: str) -> str:
        return os.readlink(self.root / "opt" / "autoconfig" / name)

    def version(self) -> str:
        return self.machine.run("/opt/autoconfig/current/bin/autoconfig", "--version").stdout.strip()


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    image = debian_root(("systemd",))
    folder = tmp_path_factory.mktemp("debian")
    with machine(image, folder) as found:
        _copy_checkout(found.root / "usr" / "src" / "autoconfig")
        started = time.monotonic()
        result = found.run(INSTALL, timeout=INSTALL_TIMEOUT)
        yield Installed(found, result.stderr, time.monotonic() - started)


def _owner(path: Path) -> tuple[str, str, int]:
    """Owner and group names as the root's own files name them, and the permission bits."""
    info = path.lstat()
    root = next(p for p in path.parents if (p / "etc" / "passwd").exists() and (p / "usr").is_dir())
    users = {
        int(f[2]): f[0] for f in (line.split(":") for line in (root / "etc/passwd").read_text().splitlines())
    }
    groups = {
        int(f[2]): f[0] for f in (line.split(":") for line in (root / "etc/group").read_text().splitlines())
    }
    return users[info.st_uid], groups[info.st_gid], stat.S_IMODE(info.st_mode)


def test_install_makes_the_user_and_the_folders(installed: Installed) -> None:
    passwd = installed.machine.run("getent", "passwd", "autoconfig").stdout.strip().split(":")
    assert passwd[5:] == ["/var/lib/autoconfig", "/usr/sbin/nologin"]
    assert int(passwd[2]) < 1000  # a system user
    root = installed.root
    assert _owner(root / "etc/autoconfig") == ("root", "autoconfig", 0o750)
    assert _owner(root / "etc/autoconfig/settings.toml") == ("root", "autoconfig", 0o640)
    assert _owner(root / "var/lib/autoconfig") == ("autoconfig", "autoconfig", 0o700)
    # The bundled default, copied because there was none.
    bundled = (ROOT / "profiles" / "ac-paris.toml").read_bytes()
    assert (root / "etc/autoconfig/settings.toml").read_bytes() == bundled
    # The service reads the code, never writes it.
    assert _owner(root / "opt/autoconfig/releases") == ("root", "root", 0o755)
    assert installed.link("current").startswith("releases/0.1.0-")


def test_install_enables_the_unit_and_says_systemd_is_not_running(installed: Installed) -> None:
    wants = installed.root / "etc/systemd/system/multi-user.target.wants/autoconfig.service"
    assert wants.is_symlink()
    assert os.readlink(wants) == "/etc/systemd/system/autoconfig.service"
    assert (installed.root / "etc/systemd/system/autoconfig.service").read_bytes() == UNIT_FILE.read_bytes()
    assert "systemd is not running here" in installed.output
    assert "not started" in installed.output


def test_the_installed_unit_verifies(installed: Installed) -> None:
    # Offline, --root checks the unit against the installed tree: ExecStart and ExecReload must exist
    # there (the release's autoconfig; /bin/kill, which a minimal Debian lacks until install.sh adds it).
    result = systemd_analyze("verify", f"--root={installed.root}", "autoconfig.service")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


def test_the_units_exec_start_serves_and_exec_reload_reloads(installed: Installed, tmp_path: Path) -> None:
    user = UNIT.value("User")
    # What systemd gives a service with User=: its Environment= lines and the user's own variables.
    environment = {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin",
        "HOME": "/var/lib/autoconfig",
        "USER": user,
        "LOGNAME": user,
        "SHELL": "/usr/sbin/nologin",
        **UNIT.environment(),
    }
    log = tmp_path / "journal.log"
    process = installed.machine.start(UNIT.command("ExecStart"), user=user, env=environment, log=log)
    answer = wait_for(
        lambda: (
            installed.machine.fetch(process, f"http://127.0.0.1:8080{THUNDERBIRD}")
            if process.poll() is None
            else pytest.fail(f"ExecStart exited {process.returncode}:\n{log.read_text()}")
        ),
        timeout=30,
        what="the service answering on 127.0.0.1:8080",
    )
    assert "<username>jdupont</username>" in answer
    assert "<port>143</port>" in answer
    # The unit's user runs it, with the state folder the unit names.
    status = Path(f"/proc/{process.pid}/status").read_text()
    uid = int(re.search(r"^Uid:\s+(\d+)", status, re.M).group(1))  # type: ignore[union-attr]
    assert uid == (installed.root / "var/lib/autoconfig").stat().st_uid
    reload = UNIT.command("ExecReload", MAINPID=str(process.pid))
    installed.machine.run(*reload, user=user)  # systemd runs ExecReload as the unit's User too
    wait_for(
        lambda: True if "settings reloaded (SIGHUP)" in log.read_text() else None,
        timeout=15,
        what="the reload in the log",
    )
    assert process.poll() is None
    installed.machine.stop(process)
    assert process.returncode == 0, log.read_text()


def test_an_upgrade_then_a_rollback(installed: Installed) -> None:
    first = installed.link("current")
    settings = installed.root / "etc/autoconfig/settings.toml"
    before = hashlib.sha256(settings.read_bytes()).hexdigest()
    # A new version of the code: the checkout's copy, with another version number.
    project = installed.root / "usr/src/autoconfig/autoconfig/__init__.py"
    project.write_text(project.read_text().replace('__version__ = "0.1.0"', '__version__ = "0.1.1.dev0"', 1))
    other = installed.root / "root" / "other.toml"
    other.write_text(settings.read_text().replace("Académie de Paris", "Someone else"))
    started = time.monotonic()
    result = installed.install("--settings", "/root/other.toml")
    upgrade_seconds = time.monotonic() - started
    assert installed.link("current").startswith("releases/0.1.1.dev0-")
    assert installed.link("previous") == first
    assert installed.version() == "autoconfig, version 0.1.1.dev0"
    # The settings in place are never replaced.
    assert hashlib.sha256(settings.read_bytes()).hexdigest() == before
    assert "exists: kept as it is" in result.stderr
    upgraded = installed.link("current")

    rolled = installed.install("rollback")
    assert installed.link("current") == first
    assert installed.link("previous") == upgraded
    assert installed.version() == "autoconfig, version 0.1.0"
    assert "checking /etc/autoconfig/settings.toml" in rolled.stderr
    status = installed.install("status").stdout
    assert f"{Path(first).name} (current)" in status
    assert f"{Path(upgraded).name} (previous)" in status
    print(f"install: {installed.seconds:.0f} s from nothing, {upgrade_seconds:.0f} s for an upgrade")


def test_a_release_that_fails_the_check_is_not_served(installed: Installed) -> None:
    settings = installed.root / "etc/autoconfig/settings.toml"
    kept = settings.read_bytes()
    served = installed.link("current")
    # Another release when the upgrade ran; the served one otherwise (it is checked all the same).
    other = sorted(
        (p.name for p in (installed.root / "opt/autoconfig/releases").iterdir()),
        key=lambda name: name == Path(served).name,
    )[0]
    try:
        settings.write_bytes(kept.replace(b"port = 143", b"port = 143000", 1))
        result = installed.install("switch", other, check=False)
    finally:
        settings.write_bytes(kept)
    assert result.returncode == 1
    assert "nothing switched" in result.stderr
    assert "port" in result.stderr  # check's own report
    assert installed.link("current") == served


# --- the installed unit under a real systemd -------------------------------------------------------------

PROFILE = "/profile.mobileconfig?email=jean.dupont@ac-paris.fr"


@pytest.fixture(scope="module")
def container(installed: Installed, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Container]:
    """The installed root booted (after the install tests: the release served is the first one again), with
    the service answering."""
    log = tmp_path_factory.mktemp("nspawn") / "console.log"
    with booted(installed.root, f"autoconfig-test-{os.getpid()}", log) as found:
        # Enabled by install.sh, it starts at boot: this only waits for the start job.
        found.systemctl("start", "autoconfig.service")
        wait_for(
            lambda: found.get(f"http://127.0.0.1:8080{THUNDERBIRD}"),
            timeout=30,
            what="the service answering inside the container",
        )
        print(f"systemd-nspawn: booted in {found.boot_seconds:.1f} s")
        yield found


def _processes(container: Container) -> dict[int, str]:
    """The service's processes (the container's numbers) and their command lines."""
    group = container.show("autoconfig.service", "ControlGroup")
    for hierarchy in ("/sys/fs/cgroup/unified", "/sys/fs/cgroup/systemd", "/sys/fs/cgroup"):
        found = container.run("cat", f"{hierarchy}{group}/cgroup.procs", check=False)
        if found.returncode == 0 and found.stdout.split():
            pids = [int(pid) for pid in found.stdout.split()]
            break
    else:
        pytest.fail(f"no processes in the cgroup {group}")
    lines = {pid: container.run("cat", f"/proc/{pid}/cmdline", check=False).stdout for pid in pids}
    return {pid: line.replace("\0", " ") for pid, line in lines.items() if line}


def _workers(container: Container) -> set[int]:
    return {pid for pid, line in _processes(container).items() if "spawn_main" in line}


def _status(container: Container, pid: int) -> dict[str, str]:
    lines = container.read(f"/proc/{pid}/status").splitlines()
    return {key: value.strip() for key, _, value in (line.partition(":") for line in lines)}


class Mount(NamedTuple):
    source: str  # the folder of its file system that is mounted (a bind mount's source)
    options: str
    kind: str
    super_options: str


def _mounts(container: Container, pid: int) -> dict[str, Mount]:
    """Mount point -> its mount, as `pid` sees them (proc(5), /proc/PID/mountinfo)."""
    found: dict[str, Mount] = {}
    for line in container.read(f"/proc/{pid}/mountinfo").splitlines():
        before, _, after = line.partition(" - ")
        fields, (kind, _, options) = before.split(), after.split(" ", 2)
        found[fields[4]] = Mount(fields[3], fields[5], kind, options)  # the last one on a point is seen
    return found


def test_the_unit_starts_at_boot_and_answers(container: Container) -> None:
    assert container.show("autoconfig.service", "ActiveState") == "active"
    assert container.show("autoconfig.service", "UnitFileState") == "enabled"
    answer = container.get(f"http://127.0.0.1:8080{THUNDERBIRD}")
    assert answer is not None
    assert b"<username>jdupont</username>" in answer
    assert b"<port>143</port>" in answer
    # uvloop and httptools load under the seccomp filter and MemoryDenyWriteExecute.
    health = container.get("http://127.0.0.1:8080/healthz")
    assert health is not None
    assert b'"uvloop"' in health
    assert b'"httptools"' in health
    journal = container.journal("autoconfig.service")
    assert "supervisor [" in journal
    assert "2 workers on 127.0.0.1:8080" in journal
    assert "Traceback" not in journal


def test_the_service_runs_under_the_units_hardening(container: Container) -> None:
    main = int(container.show("autoconfig.service", "MainPID"))
    processes = _processes(container)
    assert main in processes
    assert len(_workers(container)) == 2, processes
    uid = container.run("id", "-u", "autoconfig").stdout.strip()
    for pid in processes:  # the supervisor, its workers, the resource tracker: all sandboxed alike
        status = _status(container, pid)
        assert status["Uid"].split() == [uid] * 4, (pid, processes[pid])
        assert status["NoNewPrivs"] == "1"
        assert status["Seccomp"] == "2"  # SystemCallFilter=, MemoryDenyWriteExecute=, …: a filter
        assert status["CapEff"] == status["CapPrm"] == status["CapBnd"] == "0000000000000000"
        assert status["Umask"] == UNIT.value("UMask")
    mounts = _mounts(container, main)
    assert mounts["/"].options.startswith("ro,")  # ProtectSystem=strict
    assert mounts["/var/lib/autoconfig"].options.startswith("rw,")  # StateDirectory=
    assert mounts["/proc"].kind == "proc"
    # ProtectProc=invisible, ProcSubset=pid
    assert {"hidepid=invisible", "subset=pid"} <= set(mounts["/proc"].super_options.split(","))
    assert "/home" in mounts  # ProtectHome: an empty, inaccessible /home over the real one
    # PrivateDevices: a /dev of its own, with the pseudo-devices and /dev/shm but no disk.
    assert mounts["/dev"].kind == "tmpfs"
    devices = container.run("ls", f"/proc/{main}/root/dev").stdout.split()
    assert {"null", "urandom", "shm"} <= set(devices)
    assert not [name for name in devices if name.startswith(("vd", "sd", "nvme", "loop"))], devices
    # PrivateTmp: a /tmp of its own (where the workers keep their metrics files).
    tmp = mounts["/tmp"].source  # noqa: S108 - the service's mount point, not a file made here
    assert "/systemd-private-" in tmp
    assert "-autoconfig.service-" in tmp
    # PrivateIPC: an IPC namespace of its own.
    ipc = container.run("readlink", f"/proc/{main}/ns/ipc", "/proc/1/ns/ipc").stdout.split()
    assert ipc[0] != ipc[1]


def test_systemctl_reload_swaps_a_signing_certificate_in(
    container: Container, installed: Installed, tmp_path: Path
) -> None:
    profile = container.get(f"http://127.0.0.1:8080{PROFILE}")
    assert profile is not None
    assert profile.startswith(b"<?xml")
    settings = installed.root / "etc/autoconfig/settings.toml"
    kept = settings.read_bytes()
    chain = make_chain(name="Systemd")
    files = chain.write(installed.root / "etc/autoconfig/tls")
    # The service reads the key through its group, as the docs' recipe for Let's Encrypt keys.
    gid = (installed.root / "etc/autoconfig").stat().st_gid
    for path in (files.folder, *files.folder.iterdir()):
        os.chown(path, 0, gid)
    files.key.chmod(0o640)
    files.folder.chmod(0o750)
    inside = "/etc/autoconfig/tls"
    try:
        settings.write_bytes(
            kept
            + f'\n[signing]\ncertificate = "{inside}/fullchain.pem"\nkey = "{inside}/privkey.pem"\n'.encode()
        )
        before = len(container.journal("autoconfig.service"))
        container.systemctl("reload", "autoconfig.service")
        wait_for(
            lambda: (
                True
                if "settings reloaded (SIGHUP)" in container.journal("autoconfig.service")[before:]
                else None
            ),
            timeout=15,
            what="the reload in the journal",
        )
        signed = container.get(f"http://127.0.0.1:8080{PROFILE}")
    finally:
        settings.write_bytes(kept)
    assert signed is not None
    verified = cms_verify(signed, files.root, tmp_path)
    assert verified.returncode == 0, verified.stderr.decode()
    assert verified.stdout.startswith(b"<?xml")
    assert b"jean.dupont@ac-paris.fr" in verified.stdout
    assert chain.leaf in cms_certificates(signed)
    assert container.show("autoconfig.service", "NRestarts") == "0"  # reloaded, not restarted


def test_a_worker_killed_is_replaced(container: Container) -> None:
    main = container.show("autoconfig.service", "MainPID")
    before = _workers(container)
    victim = min(before)
    offset = len(container.journal("autoconfig.service"))
    container.run("kill", "-KILL", str(victim))
    after = wait_for(
        lambda: found if len(found := _workers(container)) == 2 and victim not in found else None,
        timeout=20,
        what="a new worker",
    )
    assert after - before  # a new process, not the old one
    assert f"worker [{victim}] was killed by SIGKILL" in container.journal("autoconfig.service")[offset:]
    assert container.show("autoconfig.service", "MainPID") == main  # the service itself did not restart
    assert container.show("autoconfig.service", "ActiveState") == "active"
    for _ in range(4):  # both workers answer (the kernel spreads connections over the listeners)
        answer = container.get(f"http://127.0.0.1:8080{THUNDERBIRD}")
        assert answer is not None
        assert b"<username>jdupont</username>" in answer


def test_systemctl_stop_stops_it_cleanly(container: Container) -> None:
    offset = len(container.journal("autoconfig.service"))
    started = time.monotonic()
    container.systemctl("stop", "autoconfig.service")
    seconds = time.monotonic() - started
    assert seconds < int(UNIT.value("TimeoutStopSec"))
    assert container.show("autoconfig.service", "ActiveState") == "inactive"
    assert container.show("autoconfig.service", "Result") == "success"
    assert container.show("autoconfig.service", "ExecMainStatus") == "0"
    journal = container.journal("autoconfig.service")[offset:]
    assert "supervisor: SIGTERM, stopping the workers" in journal
    # Every process ended by itself: systemd had nothing left to kill.
    assert "SIGKILL" not in journal, journal
    assert "Killing process" not in journal, journal
    assert container.get(f"http://127.0.0.1:8080{THUNDERBIRD}") is None
    print(f"systemctl stop: {seconds:.1f} s")


# --- signing with a Let's Encrypt certificate: the certbot hook -----------------------------------------


class Lineage:
    """/etc/letsencrypt/{live,archive}/<name> as certbot keeps them: numbered files in archive/, and
    live/ links to the newest."""

    KINDS = ("cert", "chain", "fullchain", "privkey")

    def __init__(self, base: Path, name: str) -> None:
        self.live = base / "live" / name
        self.archive = base / "archive" / name
        self.version = 0

    def files(self, chain: Chain) -> dict[str, bytes]:
        return {
            "cert": pem(chain.leaf),
            "chain": pem(chain.intermediate),
            "fullchain": pem(chain.leaf, chain.intermediate),
            "privkey": key_pem(chain.leaf_key),
        }

    def issue(self, chain: Chain) -> None:
        """The first certificate (certbot certonly), or a renewal (certbot renew)."""
        self.version += 1
        self.archive.mkdir(parents=True, exist_ok=True)
        self.live.mkdir(parents=True, exist_ok=True)
        previous_key = self.archive / f"privkey{self.version - 1}.pem"
        for kind, content in self.files(chain).items():
            path = self.archive / f"{kind}{self.version}.pem"
            path.write_bytes(content)
            if kind == "privkey":
                # certbot's save_successor: 0600, plus the previous key's group bits and its group.
                mode = 0o600
                if previous_key.exists():
                    old = previous_key.stat()
                    mode |= stat.S_IMODE(old.st_mode) & (stat.S_IRWXG | stat.S_IROTH)
                    os.chown(path, -1, old.st_gid)
                path.chmod(mode)
        for kind in self.KINDS:
            link = self.live / f"{kind}.pem"
            link.unlink(missing_ok=True)
            link.symlink_to(Path("..", "..", "archive", self.archive.name, f"{kind}{self.version}.pem"))


def _systemctl_stand_in(folder: Path, pid: int) -> Path:
    """A `systemctl` first on PATH: no PID 1 systemd here to run `systemctl reload`, so the stand-in runs
    what systemd would, the unit's exact ExecReload with $MAINPID, and records how it was called."""
    calls = folder / "calls"
    reload = " ".join(UNIT.command("ExecReload", MAINPID=str(pid)))
    script = folder / "systemctl"
    script.write_text(
        "#!/bin/sh\n"
        f"printf '%s\\n' \"$*\" >> {calls}\n"
        '[ "$*" = "reload autoconfig.service" ] || exit 2\n'
        f"exec {reload}\n"
    )
    script.chmod(0o755)
    return calls


def _run_hook(lineage: Path, settings: Path, stand_in: Path) -> subprocess.CompletedProcess[str]:
    # The venv's python3 (3.11, with tomllib) reads the settings, as the release's would on a server.
    path = f"{stand_in}:{Path(sys.executable).parent}:/usr/bin:/bin"
    return subprocess.run(
        [str(HOOK)],
        env={"PATH": path, "RENEWED_LINEAGE": str(lineage), "AUTOCONFIG_SETTINGS": str(settings)},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def _fingerprints(certificates: list[x509.Certificate]) -> set[bytes]:
    return {c.fingerprint(hashes.SHA256()) for c in certificates}


def test_the_certbot_hook_reloads_the_renewed_certificate(tmp_path: Path) -> None:
    lineage = Lineage(tmp_path / "letsencrypt", "autoconfig.example.org")
    first, renewed = make_chain(name="First"), make_chain(name="Renewed")
    lineage.issue(first)
    # Relative to the settings' folder, as an admin may write them: the hook resolves them the same way.
    settings = write_settings(
        tmp_path / "etc",
        settings_data(
            signing={
                "certificate": "../letsencrypt/live/autoconfig.example.org/fullchain.pem",
                "key": "../letsencrypt/live/autoconfig.example.org/privkey.pem",
            }
        ),
    )
    profile = "/profile.mobileconfig?email=jean.dupont@example.org"
    with serving(tmp_path / "logs", settings=settings) as server:
        before = cms_certificates(server.get(profile).content)
        assert first.leaf in before
        stand_in = tmp_path / "bin"
        stand_in.mkdir()
        calls = _systemctl_stand_in(stand_in, server.process.pid)

        lineage.issue(renewed)
        offset = len(server.error_log())
        result = _run_hook(lineage.live, settings, stand_in)
        assert result.returncode == 0, result.stderr
        assert calls.read_text() == "reload autoconfig.service\n"
        server.wait_for_log("settings reloaded (SIGHUP)", after=offset)
        after = cms_certificates(server.get(profile).content)
    assert renewed.leaf in after
    assert first.leaf not in after
    assert _fingerprints(after) >= _fingerprints([renewed.leaf, renewed.intermediate])


def test_the_certbot_hook_leaves_other_certificates_alone(tmp_path: Path) -> None:
    ours = Lineage(tmp_path / "letsencrypt", "autoconfig.example.org")
    theirs = Lineage(tmp_path / "letsencrypt", "www.example.org")
    ours.issue(make_chain())
    theirs.issue(make_chain())
    settings = write_settings(
        tmp_path / "etc",
        settings_data(
            signing={"certificate": str(ours.live / "fullchain.pem"), "key": str(ours.live / "privkey.pem")}
        ),
    )
    stand_in = tmp_path / "bin"
    stand_in.mkdir()
    calls = _systemctl_stand_in(stand_in, pid=0)
    result = _run_hook(theirs.live, settings, stand_in)
    assert result.returncode == 0, result.stderr
    assert "does not sign with" in result.stderr
    assert not calls.exists()
    # A settings file it cannot read is a failed hook (certbot reports it), not a silent skip.
    result = _run_hook(ours.live, tmp_path / "missing.toml", stand_in)
    assert result.returncode == 1
    assert not calls.exists()


# --- the docs -------------------------------------------------------------------------------------------


def test_the_docs_quote_the_unit_as_shipped() -> None:
    page = DOCS.read_text(encoding="utf-8")
    blocks = re.findall(r"^```ini\n(.*?)^```", page, flags=re.S | re.M)
    shipped = UNIT_FILE.read_text(encoding="utf-8")
    quoted = [block for block in blocks if "ExecStart=" in block]
    assert quoted, "docs/systemd.md quotes the unit"
    for block in quoted:
        assert block == shipped


def test_the_docs_quote_the_hook_and_the_install_as_shipped() -> None:
    page = DOCS.read_text(encoding="utf-8")
    assert "deploy/systemd/install.sh" in page
    assert "/etc/letsencrypt/renewal-hooks/deploy/" in page
    for option in re.findall(r"install\.sh (?:install )?(--\w+)", page):
        assert option in (DEPLOY / "install.sh").read_text()
    for command in re.findall(r"install\.sh (rollback|switch|status)", page):
        assert f"{command})" in (DEPLOY / "install.sh").read_text()
