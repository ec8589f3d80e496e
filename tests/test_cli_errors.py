"""cli.py (and probe's command): every command, run as people run it, on what goes wrong around it (a file
that is missing, a folder it cannot create, a port with nothing or something else behind it, a full disk,
a command line it cannot take) says so in one line with the fix, with its exit status, never a traceback.

A settings file with mistakes in it is not here: its report lists every problem (tests/test_cli.py).
"""

from __future__ import annotations

import http.server
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from autoconfig.errors import counted
from autoconfig.paths import SETTINGS_ENV
from tests.helpers.live import free_port


@dataclass(frozen=True)
class Fault:
    """A command line, what it must say (`{tmp}` and `{port}` filled in), and its exit status."""

    args: tuple[str, ...]
    says: str
    status: int = 1
    stdout: str | None = None  # a file standard output goes to, instead of a pipe
    needs: str = ""  # what the case sets up: "file", "listening", "silent", "other-service"
    or_else: str = ""  # the line said instead where the machine's resolver cannot answer at all


FAULTS = {
    # serve
    "serve missing settings": Fault(
        ("serve", "--settings", "{tmp}/absent.toml", "--port", "0"),
        "{tmp}/absent.toml: cannot read the file: No such file or directory; fix: check the path given to "
        "--settings",
    ),
    "serve settings is a folder": Fault(
        ("serve", "--settings", "{tmp}"),
        "autoconfig serve: Invalid value for '--settings': File '{tmp}' is a directory. "
        "See autoconfig serve --help.",
        status=2,
    ),
    "serve port in use": Fault(
        ("serve", "--port", "{port}"),
        "127.0.0.1:{port} is already in use: stop what listens there, or choose another --port",
        needs="listening",
    ),
    "serve address not here": Fault(
        ("serve", "--host", "192.0.2.1", "--port", "0"),
        "cannot listen on 192.0.2.1:0: Cannot assign requested address; give --host an address of this "
        "machine (127.0.0.1, or 0.0.0.0 for every one)",
    ),
    # check
    "check missing settings": Fault(
        ("check", "--settings", "{tmp}/absent.toml"),
        "{tmp}/absent.toml: cannot read the file: No such file or directory; fix: check the path given to "
        "--settings",
    ),
    "check not TOML": Fault(
        ("check", "--settings", "{tmp}/file"),
        "{tmp}/file: not valid TOML: Expected '=' after a key in a key/value pair (at line 1, column 5); "
        "fix: correct the syntax there: text in quotes, tables as [name], lists of tables as [[name]]",
        needs="file",
    ),
    "check unknown option": Fault(
        ("check", "--setings", "x.toml"),
        "autoconfig check: No such option '--setings'. Did you mean '--settings'? "
        "See autoconfig check --help.",
        status=2,
    ),
    # import
    "import missing file": Fault(
        ("import", "{tmp}/absent.xml"),
        "{tmp}/absent.xml: cannot read the file: No such file or directory; give the path of a "
        "config-v1.1.xml file",
    ),
    "import a folder": Fault(
        ("import", "{tmp}"),
        "autoconfig import: Invalid value for 'XML_FILE': File '{tmp}' is a directory. "
        "See autoconfig import --help.",
        status=2,
    ),
    "import to a full disk": Fault(
        ("import", str(Path(__file__).parent / "data/ispdb-corpus/mit.edu.xml")),
        "autoconfig import: cannot write the output: No space left on device",
        stdout="/dev/full",
    ),
    # dns
    "dns missing previous": Fault(
        ("dns", "--previous", "{tmp}/absent.toml"),
        "{tmp}/absent.toml: cannot read the file: No such file or directory; fix: check the path given to "
        "--previous",
    ),
    "dns unknown format": Fault(
        ("dns", "--format", "bind"),
        "autoconfig dns: Invalid value for '--format': 'bind' is not one of 'zone', 'json'. "
        "See autoconfig dns --help.",
        status=2,
    ),
    "dns to a full disk": Fault(
        ("dns",), "autoconfig dns: cannot write the output: No space left on device", stdout="/dev/full"
    ),
    # render
    "render into a folder it cannot create": Fault(
        ("render", "--out", "/proc/autoconfig-render"),
        "/proc/autoconfig-render: cannot create the folder: No such file or directory; give --out a folder "
        "this user can create and write",
    ),
    "render under a file": Fault(
        ("render", "--out", "{tmp}/file/www"),
        "{tmp}/file/www: cannot create {tmp}/file/www/ac-paris.fr/mail: Not a directory; give --out a "
        "folder this user can create and write",
        needs="file",
    ),
    "render into a file": Fault(
        ("render", "--out", "{tmp}/file"),
        "autoconfig render: Invalid value for '--out': Directory '{tmp}/file' is a file. "
        "See autoconfig render --help.",
        status=2,
        needs="file",
    ),
    "render without out": Fault(
        ("render",), "autoconfig render: Missing option '--out'. See autoconfig render --help.", status=2
    ),
    # healthcheck
    "healthcheck dead port": Fault(
        ("healthcheck", "--port", "{port}"),
        "http://127.0.0.1:{port}/healthz: no answer: nothing listens on 127.0.0.1:{port} (connection "
        "refused): start autoconfig serve, or give its --host and --port",
    ),
    "healthcheck unknown host": Fault(
        ("healthcheck", "--host", "autoconfig.invalid"),
        "http://autoconfig.invalid:8080/healthz: no answer: the name autoconfig.invalid is not known: give "
        "the service's address with --host",
        or_else="http://autoconfig.invalid:8080/healthz: no answer: the name autoconfig.invalid could not be "
        "looked up (Temporary failure in name resolution): give the service's IP address",
    ),
    "healthcheck silent service": Fault(
        ("healthcheck", "--port", "{port}", "--timeout", "0.5"),
        "http://127.0.0.1:{port}/healthz: no answer: no answer within 0.5 s: the service is overloaded or "
        "stuck (see its log), or a firewall drops the connection; a longer --timeout waits more",
        needs="silent",
    ),
    "healthcheck another service": Fault(
        ("healthcheck", "--port", "{port}"),
        "http://127.0.0.1:{port}/healthz: answered 404, but not as autoconfig's /healthz does: is another "
        "service on that port? Give the service's --host and --port",
        needs="other-service",
    ),
    "healthcheck bad timeout": Fault(
        ("healthcheck", "--timeout", "0"),
        "autoconfig healthcheck: Invalid value for '--timeout': 0.0 is not in the range 0.1<=x<=600. "
        "See autoconfig healthcheck --help.",
        status=2,
    ),
    # probe
    "probe missing settings": Fault(
        ("probe", "jean.dupont@ac-paris.fr", "--settings", "{tmp}/absent.toml"),
        "autoconfig probe: {tmp}/absent.toml: cannot read the file: No such file or directory; fix: check "
        "the path given to --settings",
        status=2,
    ),
    "probe missing CA file": Fault(
        ("probe", "jean.dupont@ac-paris.fr", "--ca-file", "{tmp}/absent.pem"),
        "autoconfig probe: Invalid value for '--ca-file': File '{tmp}/absent.pem' does not exist. "
        "See autoconfig probe --help.",
        status=2,
    ),
    "probe dead resolver": Fault(
        ("probe", "jean.dupont@ac-paris.fr", "--resolver", "127.0.0.1:{port}", "--timeout", "0.3"),
        "autoconfig probe: the resolver 127.0.0.1:{port} did not answer within 0.3 s",
        status=2,
    ),
    "probe without address": Fault(
        ("probe",), "autoconfig probe: Missing argument 'ADDRESS'. See autoconfig probe --help.", status=2
    ),
    # reference, and the command itself
    "reference unknown topic": Fault(
        ("reference", "keys"),
        "autoconfig reference: Invalid value for '{{settings|endpoints}}': 'keys' is not one of 'settings', "
        "'endpoints'. See autoconfig reference --help.",
        status=2,
    ),
    "reference to a full disk": Fault(
        ("reference", "settings"),
        "autoconfig reference: cannot write the output: No space left on device",
        stdout="/dev/full",
    ),
    "unknown command": Fault(
        ("serv",),
        "autoconfig: No such command 'serv'. Did you mean 'serve'? See autoconfig --help.",
        status=2,
    ),
}


class NotFound(http.server.BaseHTTPRequestHandler):
    """Another web service on the port: a page of HTML that says 404."""

    def do_GET(self) -> None:
        self.send_error(404)

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def listening(*, answer: bool) -> Iterator[int]:
    """A port something holds: a socket that accepts and never answers, or another web service (404)."""
    if answer:
        server = http.server.HTTPServer(("127.0.0.1", 0), NotFound)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield server.server_address[1]
        finally:
            server.shutdown()
            server.server_close()
        return
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        yield held.getsockname()[1]


@contextmanager
def prepared(fault: Fault, tmp: Path) -> Iterator[int]:
    """What the case needs around it; the port it names."""
    if fault.needs == "file":
        (tmp / "file").write_text("not a folder, nor settings\n", encoding="utf-8")
    if fault.needs in ("listening", "silent"):
        with listening(answer=False) as port:
            yield port
    elif fault.needs == "other-service":
        with listening(answer=True) as port:
            yield port
    else:
        yield free_port()


def run(args: list[str], stdout: str | None) -> subprocess.CompletedProcess[str]:
    """`python -m autoconfig ARGS` as people run it, without settings from the environment."""
    environment = {k: v for k, v in os.environ.items() if k != SETTINGS_ENV}
    with open(stdout or os.devnull, "w", encoding="utf-8") as sink:
        return subprocess.run(
            [sys.executable, "-m", "autoconfig", *args],
            stdout=sink if stdout else subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            env=environment,
            check=False,
        )


@pytest.mark.parametrize("case", list(FAULTS))
def test_each_fault_is_one_line_with_the_fix(case: str, tmp_path: Path) -> None:
    fault = FAULTS[case]
    with prepared(fault, tmp_path) as port:

        def fill(text: str) -> str:
            return text.format(tmp=tmp_path, port=port)

        result = run([fill(arg) for arg in fault.args], fault.stdout)
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert lines == [fill(fault.says)] or (fault.or_else and lines == [fill(fault.or_else)]), result.stderr
    assert result.returncode == fault.status
    assert not result.stdout  # nothing half-said on standard output


def test_every_command_is_driven() -> None:
    commands = {fault.args[0] for fault in FAULTS.values()}
    assert commands >= {"serve", "check", "import", "dns", "render", "healthcheck", "probe", "reference"}


def test_render_into_a_folder_without_write_permission() -> None:
    # Root writes into any folder: as root (CI), the command runs as another user, in a folder that user
    # can reach (pytest's own are root's alone).
    top = Path(tempfile.mkdtemp(prefix="autoconfig-locked-"))
    try:
        top.chmod(0o755)
        locked = top / "locked"
        locked.mkdir(mode=0o555)
        as_user = ["setpriv", "--reuid=10001", "--regid=10001", "--clear-groups"] if os.geteuid() == 0 else []
        environment = {k: v for k, v in os.environ.items() if k != SETTINGS_ENV}
        result = subprocess.run(
            [*as_user, sys.executable, "-m", "autoconfig", "render", "--out", str(locked / "www")],
            capture_output=True,
            text=True,
            timeout=60,
            env=environment,
            check=False,
        )
    finally:
        shutil.rmtree(top, ignore_errors=True)
    assert result.stderr.splitlines() == [
        f"{locked}/www: cannot create the folder: Permission denied; give --out a folder this user can "
        "create and write"
    ]
    assert result.returncode == 1


# --- plurals ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("domains", [1, 2])
def test_render_counts_files_and_domains_in_the_right_number(
    domains: int, tmp_path: Path, settings_file: Callable[..., Path]
) -> None:
    aliases = [f"alias{i}.example.org" for i in range(domains - 1)]
    path = settings_file(provider={"aliases": aliases}) if aliases else settings_file()
    out = tmp_path / "www"
    result = run(["render", "--settings", str(path), "--out", str(out)], None)
    assert result.returncode == 0, result.stderr
    said = "2 files for 1 domain" if domains == 1 else "4 files for 2 domains"
    assert result.stdout == f"{out}: {said}\n"


def test_counted_is_singular_for_one_only() -> None:

    assert [counted(n, "file") for n in (0, 1, 2)] == ["0 files", "1 file", "2 files"]


def test_a_one_byte_log_hash_key_is_one_byte(tmp_path: Path, settings_file: Callable[..., Path]) -> None:
    key = tmp_path / "hash.key"
    key.write_bytes(b"k")
    path = settings_file(service={"log_hash_key_file": str(key)})
    result = run(["check", "--settings", str(path)], None)
    assert result.returncode == 1
    assert "the key is 1 byte long; at least 16 are needed" in result.stderr
