"""A real OpenLDAP server for the directory tests: Debian's slapd in a temporary folder, on a free
loopback port, seeded with tests/data/staff.ldif; started and stopped (or frozen) by the tests.

When slapd is missing the tests are skipped, except in CI (`CI` set), where tests/run installs it.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.ci import missing
from tests.helpers.live import free_port
from tests.helpers.paths import DATA

SLAPD = shutil.which("slapd") or "/usr/sbin/slapd"
SLAPADD = shutil.which("slapadd") or "/usr/sbin/slapadd"
SCHEMAS = Path("/etc/ldap/schema")
MODULES = Path("/usr/lib/ldap")
SEED = DATA / "staff.ldif"
STARTUP_TIMEOUT = 10.0

SUFFIX = "dc=ac-paris,dc=fr"
PEOPLE = f"ou=people,{SUFFIX}"
SERVICE_DN = f"cn=autoconfig,ou=services,{SUFFIX}"
SERVICE_PASSWORD = "reader-Secret-42"  # noqa: S105 (a test server's, as in staff.ldif)

# Anyone may read people, except employeeType, which only the service account reads: a test looks that
# attribute up to prove the bind really happened. Passwords are for binding only.
CONFIG = """\
include {schemas}/core.schema
include {schemas}/cosine.schema
include {schemas}/inetorgperson.schema
include {schemas}/nis.schema
modulepath {modules}
moduleload back_mdb
pidfile {dir}/slapd.pid

access to attrs=userPassword
    by anonymous auth
    by * none
access to attrs=employeeType
    by dn.exact="{service}" read
    by * none
access to *
    by * read

database mdb
maxsize 10485760
suffix "{suffix}"
rootdn "cn=admin,{suffix}"
rootpw secret
directory {dir}/db
index mail eq
"""


def slapd_missing() -> str | None:
    """Why the directory tests cannot run here, or None."""
    for path in (SLAPD, SLAPADD):
        if not os.access(path, os.X_OK):
            return f"{Path(path).name} is not installed (Debian: apt-get install slapd ldap-utils)"
    if not (SCHEMAS / "inetorgperson.schema").is_file() or not (MODULES / "back_mdb.so").exists():
        return f"slapd's schemas ({SCHEMAS}) or modules ({MODULES}) are missing"
    return None


def require_slapd() -> None:
    reason = slapd_missing()
    if reason is None:
        return
    missing(reason, "run the directory tests")


class Slapd:
    """One seeded slapd, on 127.0.0.1:port; `stop`, `freeze`/`thaw` and `start` again for the outage tests."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.config = folder / "slapd.conf"
        self.log = folder / "slapd.log"
        self.process: subprocess.Popen[bytes] | None = None
        (folder / "db").mkdir(parents=True)
        self.config.write_text(
            CONFIG.format(schemas=SCHEMAS, modules=MODULES, dir=folder, suffix=SUFFIX, service=SERVICE_DN),
            encoding="utf-8",
        )
        subprocess.run(
            [SLAPADD, "-q", "-f", str(self.config), "-l", str(SEED)],
            check=True,
            capture_output=True,
            timeout=30,
        )

    @property
    def url(self) -> str:
        return f"ldap://127.0.0.1:{self.port}"

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [SLAPD, "-f", str(self.config), "-h", f"{self.url}/", "-d", "0"],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not self.answers():
            if self.process.poll() is not None:
                pytest.fail(
                    f"slapd exited with {self.process.returncode}:\n{self.log.read_text(errors='replace')}"
                )
            if time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"slapd did not listen on {self.url} within {STARTUP_TIMEOUT:.0f} s")
            time.sleep(0.05)

    def answers(self) -> bool:
        """Whether something accepts connections on the port."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return True
        except OSError:
            return False

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGCONT)  # in case a test froze it
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)

    def freeze(self) -> None:
        """Hang: the port still accepts connections, nothing replies."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)


def started_slapd(folder: Path) -> Iterator[Slapd]:
    require_slapd()
    server = Slapd(folder)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def slapd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Slapd]:
    """One slapd for a test module's read-only tests: never stop it."""
    yield from started_slapd(tmp_path_factory.mktemp("slapd"))


@pytest.fixture
def own_slapd(tmp_path: Path) -> Iterator[Slapd]:
    """A slapd of the test's own, which it may stop, freeze or restart."""
    yield from started_slapd(tmp_path / "slapd")
