"""The supervisor: `autoconfig serve`'s own process. It validates the settings, keeps the snapshot of what
it validated, starts the workers and keeps them serving it.

- A worker that dies (OOM, a crash, `kill -9`) is replaced at once, with the snapshot: what the disk
  holds at that moment (a half-edited file, a deleted key) does not matter. A replacement that cannot
  start is retried with a growing pause, said once; the supervisor never stops because of a file.
- SIGHUP (and, with `service.watch_seconds`, a change of the files on disk, as a Kubernetes ConfigMap
  mounts them) reloads: the supervisor reads and checks the files, and either hands the new snapshot to
  every worker, which swap it in without closing a connection, or says once why not and keeps serving.
- SIGTERM and SIGINT stop the workers gracefully, and the supervisor exits 0; it exits 1 when it could not
  keep any worker serving for a minute, so that systemd or Kubernetes restarts the whole service.
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
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from autoconfig.errors import Note, SettingsError, counted
from autoconfig.paths import MULTIPROCESS_ENV
from autoconfig.settings.ondisk import DiskState, disk_state, paths_to_watch

from .snapshot import Snapshot
from .worker import GRACEFUL_SHUTDOWN_SECONDS, WorkerPlan, run_worker

logger = logging.getLogger("autoconfig")
POLL_SECONDS = 0.2
RESTART_PAUSES = (0.5, 1, 2, 5, 10, 30)  # seconds before the next try, for a worker that keeps failing
READY_SECONDS = 15.0  # a worker that lived this long counts as started: its failures start over
FAILED = 1

# Validates what the disk holds and returns it as a snapshot, with the warnings to log.
Loader = Callable[[], tuple[Snapshot, list[Note]]]


@dataclass
class Worker:
    slot: int
    process: BaseProcess
    updates: Connection  # the supervisor's end of the pipe new snapshots go through
    started: float = field(default_factory=time.monotonic)


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
        self.failures = [0] * workers  # starts that ended before READY_SECONDS, in a row
        self.next_start = [0.0] * workers
        self.signals: list[int] = []
        self.stopping = False
        self.last_serving = time.monotonic()
        self.noted = set(notes)  # the warnings already logged: a reload repeats only new ones
        self.refused: DiskState | None = None  # the files as the last refused reload read them: said once
        self.seen = disk_state(self._watched_paths())  # the files as the last load read them
        self.context = multiprocessing.get_context("spawn")
        self.metrics_dir = metrics_folder()

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
                self._keep_workers()
                if any(self._serving(w) for w in self.workers):
                    self.last_serving = time.monotonic()
                elif time.monotonic() - self.last_serving > self.give_up_after:
                    logger.error("no worker could serve for %.0f s: stopping", self.give_up_after)
                    status = FAILED
                    break
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
        while self.signals:
            signum = self.signals.pop(0)
            if signum == signal.SIGHUP:
                self.reload("SIGHUP")
            else:
                logger.info("supervisor: %s, stopping the workers", signal.Signals(signum).name)
                self.stopping = True

    # --- workers ---------------------------------------------------------------------------------------

    def _keep_workers(self) -> None:
        now = time.monotonic()
        for slot, worker in enumerate(self.workers):
            if worker is not None and worker.process.is_alive():
                if now - worker.started >= READY_SECONDS:
                    self.failures[slot] = 0
                continue
            if worker is not None:
                self._bury(worker)
                self.workers[slot] = None
            if now >= self.next_start[slot]:
                self.workers[slot] = self._start(slot)

    @staticmethod
    def _serving(worker: Worker | None) -> bool:
        # Alive for a while: a worker that crashes as it starts, again and again, serves nobody.
        return worker is not None and worker.process.is_alive() and time.monotonic() - worker.started > 2

    def _start(self, slot: int) -> Worker:
        ours, theirs = self.context.Pipe()
        plan = WorkerPlan(self.snapshot, self.host, self.port, self.log_config, self.metrics_dir)
        process = self.context.Process(
            target=run_worker, args=(plan, theirs), name=f"autoconfig-worker-{slot}"
        )
        process.start()
        theirs.close()
        return Worker(slot, process, ours)

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
        if time.monotonic() - worker.started < READY_SECONDS:
            self.failures[worker.slot] += 1
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

    def reload(self, why: str) -> bool:
        """Read and check the files; hand them to every worker, or keep serving and say why once."""
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
                logger.error(
                    "reload (%s) refused; still serving the previous settings (%s)\n%s",
                    why,
                    self.snapshot.digest[:12],
                    exc.render(),
                )
            elif why == "SIGHUP":
                logger.error("reload (SIGHUP) refused again: the files are as they were, see above")
            return False
        self.refused = None
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


def _changed(before: DiskState, now: DiskState) -> list[str]:
    served = dict(before)
    return [path for path, digest in now if served.get(path) != digest]


def metrics_folder() -> str:
    """A private folder for the workers' metrics files (prometheus-client's multiprocess mode)."""
    try:
        return tempfile.mkdtemp(prefix="autoconfig-metrics-")
    except OSError as exc:
        raise NoTemporaryFolderError(
            f"no writable temporary folder for the workers' metrics ({exc.strerror or exc}): mount a "
            "writable /tmp (in Kubernetes, an emptyDir volume) or set TMPDIR to a writable folder"
        ) from None


def _forget_metrics(pid: int | None) -> None:
    # A dead worker's live gauges would otherwise count for ever (prometheus-client's multiprocess mode).
    if pid is None:
        return
    with contextlib.suppress(Exception):
        from prometheus_client import multiprocess  # noqa: PLC0415

        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]
