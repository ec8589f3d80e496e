"""Running the `autoconfig` command as people do.

A command spends nearly all of its half-second importing the package, and the suite runs a few hundred.
So `autoconfig` and `run_autoconfig` fork each command from one process that has imported the command
line once (`Preforked`): the child is a real process with its own folder, environment, standard streams
and exit status, and imports anything else it needs itself. `serve`, and an environment that changes how
the interpreter starts (PYTHON*, the locale), still start a new interpreter, as do all the servers of
tests/helpers/live.py: the interpreter's own start is tested there.
"""

from __future__ import annotations

import atexit
import json
import locale
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from contextlib import suppress
from pathlib import Path

from autoconfig.paths import SETTINGS_ENV
from tests.helpers.paths import ROOT

# Run by the preforked process: imports the command line, then for each request (a JSON line on its
# standard input) forks a child that becomes `python -m autoconfig ARGS` in the request's folder and
# environment, with its standard streams on the request's files; it answers with the child's id, then
# its exit status, one line each.
PREFORK = r"""
import atexit, json, os, runpy, sys
import autoconfig.cli  # what every command imports first: the half-second each one would spend


def child(request):
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    for fd, path, flags in (
        (0, os.devnull, os.O_RDONLY),
        (1, request["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
        (2, request["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
    ):
        opened = os.open(path, flags, 0o600)
        os.dup2(opened, fd)
        os.close(opened)
    sys.path[0] = os.getcwd()  # as `python -m` from that folder
    sys.argv = ["-m", *request["args"]]
    code = 0
    try:
        runpy.run_module("autoconfig", run_name="__main__", alter_sys=True)
    except SystemExit as exit:
        if exit.code is None:
            code = 0
        elif isinstance(exit.code, int):
            code = exit.code
        else:
            print(exit.code, file=sys.stderr)
            code = 1
    except BaseException:
        import traceback
        traceback.print_exc()
        code = 1
    atexit._run_exitfuncs()
    try:
        sys.stdout.flush()
    except Exception:
        code = code or 120
    try:
        sys.stderr.flush()
    except Exception:
        pass
    return code


answers = os.fdopen(int(sys.argv[1]), "w", buffering=1)
for line in sys.stdin:
    request = json.loads(line)
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        # The child never returns to this loop, whatever fails: it would read the requests too.
        code = 70
        try:
            answers.close()
            code = child(request)
        finally:
            os._exit(code)
    answers.write(f"{pid}\n")
    _, status = os.waitpid(pid, 0)
    answers.write(f"{os.waitstatus_to_exitcode(status)}\n")
"""
# A variable that changes how the interpreter itself starts cannot be given to a forked child.
INTERPRETER_ENV = ("PYTHON", "LC_", "LANG")


class Preforked:
    """One process that has imported the command line, forking a child per command: what
    `python -m autoconfig ARGS` answers, for a fraction of the cost. One command at a time."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.interpreter_env = _interpreter_env(os.environ)
        self.folder = Path(tempfile.mkdtemp(prefix="autoconfig-prefork-"))
        read, write = os.pipe()
        # A session of its own: a signal a test sends to its own process group never reaches it; and its
        # own error file: a pipe of the test runner's that nobody reads never holds it up.
        with (self.folder / "prefork.log").open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-c", PREFORK, str(write)],
                cwd=ROOT,
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=log,
                pass_fds=(write,),
                text=True,
                start_new_session=True,
            )
        os.close(write)
        self.answers = read
        self.pending = b""  # what was read of the answers beyond the last line taken
        self.count = 0

    def run(
        self, args: list[str], *, cwd: Path, env: dict[str, str], timeout: float
    ) -> subprocess.CompletedProcess[bytes]:
        assert self.process.stdin is not None
        with self.lock:
            self.count += 1
            stdout, stderr = self.folder / f"{self.count}.out", self.folder / f"{self.count}.err"
            request = {
                "args": args,
                "cwd": str(cwd),
                "env": env,
                "stdout": str(stdout),
                "stderr": str(stderr),
            }
            self.process.stdin.write(json.dumps(request) + "\n")
            self.process.stdin.flush()
            pid = int(self.answer(timeout))
            try:
                status = int(self.answer(timeout))
            except subprocess.TimeoutExpired:
                with suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                self.answer(10)
                raise subprocess.TimeoutExpired(["autoconfig", *args], timeout) from None
            completed = subprocess.CompletedProcess(
                ["autoconfig", *args], status, stdout.read_bytes(), stderr.read_bytes()
            )
            stdout.unlink()
            stderr.unlink()
            return completed

    def answer(self, timeout: float) -> str:
        """The next line of the answers. Read from the descriptor itself: a buffered reader may take
        the child's id and its status in one read, and a wait on the descriptor would then never see
        the status it already holds (a command that ended at once then "timed out")."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self.pending:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.answers], [], [], left)[0]:
                raise subprocess.TimeoutExpired("autoconfig", timeout)
            chunk = os.read(self.answers, 4096)
            if not chunk:
                raise RuntimeError(f"the preforked process ended ({self.process.poll()})")
            self.pending += chunk
        line, _, self.pending = self.pending.partition(b"\n")
        return line.decode()

    def discard(self) -> None:
        """Stop the process now (a command that timed out or an answer out of step): the next command
        starts a new one."""
        with suppress(OSError):
            self.process.kill()
        with suppress(OSError, subprocess.TimeoutExpired):
            self.process.wait(timeout=10)
        with suppress(OSError):
            os.close(self.answers)
        shutil.rmtree(self.folder, ignore_errors=True)

    def close(self) -> None:
        if self.process.stdin is not None and not self.process.stdin.closed:
            self.process.stdin.close()
            self.process.wait(timeout=10)
            os.close(self.answers)
            shutil.rmtree(self.folder, ignore_errors=True)


_PREFORKED: dict[int, Preforked] = {}  # by the id of the process that started it
_PREFORKED_LOCK = threading.Lock()


def preforked() -> Preforked:
    """This process's one `Preforked`, started at the first use."""
    with _PREFORKED_LOCK:
        found = _PREFORKED.get(os.getpid())
        if found is None or found.process.poll() is not None:
            found = _PREFORKED[os.getpid()] = Preforked()
            atexit.register(found.close)
        return found


def run_autoconfig(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[bytes]:
    """`python -m autoconfig ARGS` in `cwd` with the environment `env` (default this process's), its
    output as bytes: forked from the preloaded process (`serve`, and an environment that changes how
    Python starts, from a new interpreter)."""
    environment = dict(os.environ if env is None else env)
    if not args or args[0] != "serve":
        found = preforked()
        if _interpreter_env(environment) == found.interpreter_env:
            try:
                return found.run(list(args), cwd=cwd, env=environment, timeout=timeout)
            except subprocess.TimeoutExpired:
                found.discard()
                raise
            except (OSError, ValueError, RuntimeError) as exc:
                # The preforked process is out of step or gone (killed by a test's cleanup, say): a new
                # one serves the next command, and this one runs in a new interpreter.
                found.discard()
                print(f"tests/helpers/commands.py: the preforked process failed ({exc!r})", file=sys.stderr)
    return subprocess.run(
        [sys.executable, "-m", "autoconfig", *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        timeout=timeout,
        check=False,
    )


def _interpreter_env(environment: Mapping[str, str]) -> dict[str, str]:
    return {name: value for name, value in environment.items() if name.startswith(INTERPRETER_ENV)}


def autoconfig(
    *args: str, env: dict[str, str] | None = None, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    """Run `python -m autoconfig ARGS` without any settings from the environment (unless `env`, added to
    the environment, names some); its output as text, as `subprocess.run(text=True)` gives it."""
    environment = {k: v for k, v in os.environ.items() if k != SETTINGS_ENV}
    environment.update(env or {})
    done = run_autoconfig(*args, cwd=Path.cwd(), env=environment, timeout=timeout)
    return subprocess.CompletedProcess(done.args, done.returncode, _text(done.stdout), _text(done.stderr))


def _text(output: bytes) -> str:
    return output.decode(locale.getpreferredencoding(False)).replace("\r\n", "\n").replace("\r", "\n")


def assert_no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stdout
    assert "Traceback" not in result.stderr
