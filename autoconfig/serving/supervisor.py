"""The supervisor: `autoconfig serve`'s own process. It validates the settings, keeps the snapshot of what
it validated, starts the workers and keeps them serving it.

- A worker that dies (OOM, a crash, `kill -9`) is replaced at once, with the snapshot: what the disk
  holds at that moment (a half-edited file, a deleted key) does not matter. Only a worker that dies
  before its server started (it cannot start) is retried with a growing pause, said once; one that
  served, however briefly, is replaced at once. The supervisor never stops because of a file.
- The workers' metrics folder is made again when something removes it (a cleaner of temporary files),
  and the workers write their values anew there.
- SIGHUP (and, with `service.watch_seconds`, a change of the files on disk, as a Kubernetes ConfigMap
  mounts them) reloads: the supervisor reads and checks the files, and either hands the new snapshot to
  every worker, which swap it in without closing a connection, or says once why not and keeps serving.
- SIGTERM and SIGINT stop the workers gracefully, and the supervisor exits 0; it exits 1 when it could not
  keep any worker serving for a minute, so that systemd or Kubernetes restarts the whole service.

Why not uvicorn's `--workers` or gunicorn: three things neither offers. A validated snapshot: the
supervisor checks the settings and the files they name once and hands workers that snapshot, not a path,
so a worker respawned after a crash serves what was validated whatever the disk holds then (a half-edited
file, a ConfigMap mid-update); their workers re-import the application and would read the disk again. An
in-place swap: on SIGHUP the new version is validated and sent to every worker, which swaps it in without
closing a connection, and files that fail the checks change nothing; gunicorn's HUP replaces every worker
and uvicorn's supervisor restarts them. One SO_REUSEPORT socket per worker, so that the kernel spreads
connections: with the one shared listening socket both use, a single worker took every keep-alive
connection while the others idled. The price: protocol.py and worker.py use uvicorn's private parts;
pyproject.toml bounds uvicorn, and tests/serving/test_uvicorn_guard.py says what a newer one lacks.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import multiprocessing
import os
import shutil
import signal
import socket
import stat
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

from autoconfig.errors import Note, SettingsError, counted
from autoconfig.paths import MULTIPROCESS_ENV
from autoconfig.settings.disk_state import DiskState, disk_state, paths_to_watch

from .snapshot import Snapshot
from .worker import GRACEFUL_SHUTDOWN_SECONDS, METRICS_FOLDER_RENEWED, WorkerPlan, rewrite_metrics, run_worker

logger = logging.getLogger("autoconfig")
POLL_SECONDS = 0.2
RESTART_PAUSES = (0.5, 1, 2, 5, 10, 30)  # seconds before the next try, for a worker that cannot start
REPEAT_SECONDS = 60.0  # a refused SIGHUP with the files as they were is said at most this often
METRICS_PREFIX = "autoconfig-metrics-"
FAILED = 1

# Validates what the disk holds and returns it as a snapshot, with the warnings to log.
Loader = Callable[[], tuple[Snapshot, list[Note]]]


@dataclass
class Worker:
    slot: int
    process: BaseProcess
    updates: Connection  # the supervisor's end of the pipe new snapshots go through
    ready: Event  # set by the worker once its server listens, after the application's startup

    @property
    def serving(self) -> bool:
        return self.ready.is_set() and self.process.is_alive()


class AddressInUseError(OSError):
    pass


class NoTemporaryFolderError(Exception):
    pass


def check_address(host: str, port: int) -> None:
    """Refuse to start when something already listens there: workers bind with SO_REUSEPORT, which would
    otherwise share the port silently with another service of the same user."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise AddressInUseError(exc.errno, f"{host}:{port} is already in use") from None
            raise


class Supervisor:
    def __init__(
        self,
        load: Loader,
        snapshot: Snapshot,
        *,
        host: str,
        port: int,
        workers: int,
        log_config: dict[str, Any],
        give_up_after: float,  # the default is `serve --give-up-after`'s
        watch_seconds: float = 0.0,
        notes: Iterable[Note] = (),
    ) -> None:
        self.load = load
        self.snapshot = snapshot
        self.host = host
        self.port = port
        self.count = workers
        self.log_config = log_config
        self.watch_seconds = watch_seconds
        self.give_up_after = give_up_after  # with no worker serving for this long, exit 1
        self.workers: list[Worker | None] = [None] * workers
        self.failures = [0] * workers  # starts that ended before the server started, in a row
        self.next_start = [0.0] * workers
        self.signals: list[int] = []
        self.stopping = False
        self.last_serving = time.monotonic()
        self.noted = set(notes)  # the warnings already logged: a reload repeats only new ones
        self.refused: DiskState | None = None  # the files as the last refused reload read them: said once
        self.repeats = 0  # SIGHUPs refused again since the last line that said so
        self.repeat_said = -REPEAT_SECONDS
        self.seen = disk_state(self._watched_paths())  # the files as the last load read them
        self.context = multiprocessing.get_context("spawn")
        self.metrics_dir = metrics_folder()
        self.metrics_inode = _inode(self.metrics_dir)

    def _watched_paths(self) -> tuple[Path, ...]:
        return paths_to_watch(self.snapshot.source, self.snapshot.files)

    # --- the loop --------------------------------------------------------------------------------------

    def run(self) -> int:
        """Serve until told to stop; the process's exit status."""
        os.environ[MULTIPROCESS_ENV] = self.metrics_dir
        from autoconfig.web.metrics import LAST_LOAD  # noqa: PLC0415 - after MULTIPROCESS_ENV

        LAST_LOAD.set_to_current_time()
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, lambda signum, frame: self.signals.append(signum))
        logger.info(
            "supervisor [%d]: %s on %s:%d", os.getpid(), counted(self.count, "worker"), self.host, self.port
        )
        next_watch = time.monotonic() + self.watch_seconds
        status = 0
        try:
            while not self.stopping:
                self._handle_signals()
                if self.stopping:
                    break
                self._keep_metrics_folder()
                self._keep_workers()
                if any(w is not None and w.serving for w in self.workers):
                    self.last_serving = time.monotonic()
                elif time.monotonic() - self.last_serving > self.give_up_after:
                    logger.error("no worker could serve for %.0f s: stopping", self.give_up_after)
                    status = FAILED
                    break
                if self.repeats and time.monotonic() - self.repeat_said >= REPEAT_SECONDS:
                    self._say_refused_again()
                if self.watch_seconds and time.monotonic() >= next_watch:
                    next_watch = time.monotonic() + self.watch_seconds
                    now = disk_state(self._watched_paths())
                    if now != self.seen:
                        self.reload(f"changed on disk: {', '.join(_changed(self.seen, now))}")
                time.sleep(POLL_SECONDS)
        finally:
            self._stop_all()
            shutil.rmtree(self.metrics_dir, ignore_errors=True)
        logger.info("supervisor [%d]: stopped", os.getpid())
        return status

    def _handle_signals(self) -> None:
        # Everything that arrived since the last turn at once: a stop goes first, and a storm of SIGHUPs
        # (a script in a loop) is one reload, not one per signal queued behind the others.
        pending = []
        while self.signals:  # pop: the handler may append meanwhile
            pending.append(self.signals.pop(0))
        for signum in pending:
            if signum != signal.SIGHUP:
                logger.info("supervisor: %s, stopping the workers", signal.Signals(signum).name)
                self.stopping = True
                return
        if pending:
            self.reload("SIGHUP", signals=len(pending))

    # --- workers ---------------------------------------------------------------------------------------

    def _keep_workers(self) -> None:
        now = time.monotonic()
        for slot, worker in enumerate(self.workers):
            if worker is not None and worker.process.is_alive():
                if worker.ready.is_set():
                    self.failures[slot] = 0  # this slot's workers can start: a later death is no failure
                continue
            if worker is not None:
                self._bury(worker)
                self.workers[slot] = None
            if now >= self.next_start[slot]:
                self.workers[slot] = self._start(slot)

    def _start(self, slot: int) -> Worker:
        self._keep_metrics_folder()  # a worker's first metric needs the folder
        ours, theirs = self.context.Pipe()
        ready = self.context.Event()
        plan = WorkerPlan(self.snapshot, self.host, self.port, self.log_config, self.metrics_dir)
        process = self.context.Process(
            target=run_worker, args=(plan, theirs, ready), name=f"autoconfig-worker-{slot}"
        )
        process.start()
        theirs.close()
        return Worker(slot, process, ours, ready)

    def _bury(self, worker: Worker) -> None:
        worker.process.join(timeout=1)
        worker.updates.close()
        _forget_metrics(worker.process.pid)
        code = worker.process.exitcode
        how = (
            f"was killed by {signal.Signals(-code).name}"
            if code is not None and code < 0
            else f"exited {code}"
        )
        # Only a worker that died before its server started counts as one that cannot start: one killed
        # while serving (out of memory, `kill -9`) is replaced at once, however young.
        if not worker.ready.is_set():
            self.failures[worker.slot] += 1
        else:
            self.failures[worker.slot] = 0
        failures = self.failures[worker.slot]
        pause = RESTART_PAUSES[min(failures, len(RESTART_PAUSES)) - 1] if failures else 0.0
        self.next_start[worker.slot] = time.monotonic() + pause
        if failures <= 1:
            logger.warning(
                "worker [%s] %s; starting another with the settings being served", worker.process.pid, how
            )
        elif self.failures[worker.slot] == 2:
            logger.error(
                "worker [%s] %s again soon after starting; retrying with a growing pause (said once)",
                worker.process.pid,
                how,
            )

    def _keep_metrics_folder(self) -> None:
        """Make the metrics folder again when something removed it (a cleaner of temporary files), and have
        every process write its values there: prometheus-client would go on writing in the removed files,
        and a new worker could not start without the folder."""
        inode = _inode(self.metrics_dir)
        if inode is not None and inode == self.metrics_inode:
            return
        if inode is None:
            try:
                os.mkdir(self.metrics_dir, 0o700)
            except OSError as exc:
                if self.metrics_inode is not None:  # said once per loss
                    self.metrics_inode = None
                    logger.error(
                        "the metrics folder %s was removed and cannot be made again (%s): /metrics shows "
                        "nothing until it can",
                        self.metrics_dir,
                        exc.strerror or exc,
                    )
                return
            inode = _inode(self.metrics_dir)
        self.metrics_inode = inode
        logger.warning(
            "the metrics folder %s was removed: made again; the workers write their counts there anew "
            "(those of workers that ended before are lost)",
            self.metrics_dir,
        )
        rewrite_metrics()  # the supervisor's own: reloads and the last load's time
        for worker in self.workers:
            if worker is not None and worker.process.is_alive():
                with contextlib.suppress(OSError):
                    worker.updates.send(METRICS_FOLDER_RENEWED)

    def _stop_all(self) -> None:
        alive = [w for w in self.workers if w is not None and w.process.is_alive()]
        for worker in alive:
            with contextlib.suppress(ProcessLookupError):
                os.kill(worker.process.pid or 0, signal.SIGTERM)
        deadline = time.monotonic() + GRACEFUL_SHUTDOWN_SECONDS + 5
        for worker in alive:
            worker.process.join(timeout=max(0.0, deadline - time.monotonic()))
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join(timeout=5)

    # --- reload ----------------------------------------------------------------------------------------

    def reload(self, why: str, *, signals: int = 1) -> bool:
        """Read and check the files; hand them to every worker, or keep serving and say why once.
        `signals`: how many SIGHUPs this reload answers."""
        from autoconfig.web.metrics import LAST_LOAD, RELOADS  # noqa: PLC0415 - after MULTIPROCESS_ENV

        # Read before loading: a change made while the files load is noticed at the next look.
        self.seen = disk_state(self._watched_paths())
        try:
            snapshot, notes = self.load()
        except SettingsError as exc:
            RELOADS.labels("failed").inc()
            # The problems are said once per version of the files; an operator's SIGHUP gets a line.
            if self.seen != self.refused:
                self.refused = self.seen
                self.repeats, self.repeat_said = 0, -REPEAT_SECONDS
                logger.error(
                    "reload (%s) refused; still serving the previous settings (%s)\n%s",
                    why,
                    self.snapshot.digest[:12],
                    exc.render(),
                )
            elif why == "SIGHUP":
                self._refused_again(signals)
            return False
        self.refused = None
        self.repeats = 0
        self.snapshot = snapshot
        for worker in self.workers:
            if worker is not None and worker.process.is_alive():
                with contextlib.suppress(OSError):
                    worker.updates.send(snapshot)
        RELOADS.labels("ok").inc()
        LAST_LOAD.set_to_current_time()
        logger.info("settings reloaded (%s) from %s (%s)", why, snapshot.source, snapshot.digest[:12])
        for note in notes:
            if note not in self.noted:
                logger.warning("%s", note.headline)
        self.noted = set(notes)
        return True

    def _refused_again(self, signals: int) -> None:
        # An operator's SIGHUP gets an answer; a storm of them (a script, a loop) one line a minute.
        self.repeats += signals
        if time.monotonic() - self.repeat_said >= REPEAT_SECONDS:
            self._say_refused_again()

    def _say_refused_again(self) -> None:
        times = f" ({self.repeats} times since the last such line)" if self.repeats > 1 else ""
        logger.error("reload (SIGHUP) refused again%s: the files are as they were, see above", times)
        self.repeats, self.repeat_said = 0, time.monotonic()


def _changed(before: DiskState, now: DiskState) -> list[str]:
    served = dict(before)
    return [path for path, digest in now if served.get(path) != digest]


def metrics_folder() -> str:
    """A private folder for the workers' metrics files (prometheus-client's multiprocess mode), named
    after this process; those of this user's supervisors that were killed before they could remove
    theirs go."""
    try:
        folder = tempfile.mkdtemp(prefix=f"{METRICS_PREFIX}{os.getpid()}-")
    except OSError as exc:
        raise NoTemporaryFolderError(
            f"no writable temporary folder for the workers' metrics ({exc.strerror or exc}): mount a "
            "writable /tmp (in Kubernetes, an emptyDir volume) or set TMPDIR to a writable folder"
        ) from None
    remove_orphan_folders(Path(folder))
    return folder


def remove_orphan_folders(ours: Path) -> None:
    """Remove the metrics folders beside `ours` whose supervisor is gone (killed with SIGKILL, say): only
    this user's, named after a process id that no longer runs, or after this process (a container that
    restarted keeps its pid and its /tmp volume). Folders named otherwise (older versions') stay."""
    for path in ours.parent.glob(f"{METRICS_PREFIX}*-*"):
        owner = path.name[len(METRICS_PREFIX) :].split("-", 1)[0]
        if path == ours or not owner.isdigit():
            continue
        with contextlib.suppress(OSError):
            found = path.lstat()
            if not stat.S_ISDIR(found.st_mode) or found.st_uid != os.getuid():
                continue
            if int(owner) != os.getpid() and _alive(int(owner)):
                continue
            shutil.rmtree(path)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _inode(folder: str) -> tuple[int, int] | None:
    try:
        found = os.stat(folder)
    except OSError:
        return None
    return (found.st_dev, found.st_ino) if stat.S_ISDIR(found.st_mode) else None


def _forget_metrics(pid: int | None) -> None:
    # A dead worker's live gauges would otherwise count for ever (prometheus-client's multiprocess mode).
    if pid is None:
        return
    with contextlib.suppress(Exception):
        from prometheus_client import multiprocess  # noqa: PLC0415

        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]
