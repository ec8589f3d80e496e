"""A worker process: the application on uvicorn, serving the supervisor's snapshot on a socket of its own.

Each worker listens on its own socket with SO_REUSEPORT, so that the kernel spreads new connections over
the workers evenly (one shared socket let a single worker take every keep-alive connection while the
others idled). The supervisor sends a new snapshot through the pipe after a reload: the worker swaps it in
without closing a connection. The worker sets its `ready` event once its server listens: the supervisor
tells a worker that cannot start from one that served and was killed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import logging.config
import os
import resource
import socket
import sys
import threading
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event
from typing import Any

from autoconfig.paths import MULTIPROCESS_ENV

from .logqueue import Offload
from .snapshot import Snapshot

logger = logging.getLogger("autoconfig")
GRACEFUL_SHUTDOWN_SECONDS = 10
BACKLOG = 2048
METRICS_FOLDER_RENEWED = "metrics-folder-renewed"  # through the pipe: write the metrics anew


@dataclass(frozen=True)
class WorkerPlan:
    """What a worker needs to start, pickled into the new process."""

    snapshot: Snapshot
    host: str
    port: int
    log_config: dict[str, Any]
    metrics_dir: str


def listening_socket(host: str, port: int) -> socket.socket:
    """This worker's own listening socket on the shared address (SO_REUSEPORT)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(BACKLOG)
    sock.setblocking(False)
    return sock


def run_worker(plan: WorkerPlan, updates: Connection, ready: Event) -> None:
    """The body of a worker process (spawned: it imports everything afresh)."""
    # Before any metric exists: each process writes its values where /metrics adds them up. The first
    # metric opens its file there: without the folder (removed under the service), the import would fail.
    os.environ[MULTIPROCESS_ENV] = plan.metrics_dir
    with contextlib.suppress(OSError):
        os.makedirs(plan.metrics_dir, mode=0o700, exist_ok=True)
    logging.config.dictConfig(plan.log_config)
    logs = Offload(("autoconfig.access", "autoconfig", "uvicorn"), sys.stdout)
    import uvicorn  # noqa: PLC0415 - after the environment above
    from uvicorn._compat import asyncio_run  # noqa: PLC0415

    from autoconfig.web.accesslog import ACCESS_LOGGER, use_line_writer  # noqa: PLC0415
    from autoconfig.web.app import app_for_version, refusal_logger  # noqa: PLC0415

    from . import protocol  # noqa: PLC0415

    if logging.getLogger(ACCESS_LOGGER).isEnabledFor(logging.INFO):
        use_line_writer(logs.write_line)
    version = plan.snapshot.version()
    app = app_for_version(version)
    app.state.http = protocol.HTTP_IMPLEMENTATION  # /healthz says which stack serves
    protocol.configure(version.limits)
    _raise_descriptor_limit()
    protocol.refusal_observer = refusal_logger(app)
    protocol.quiet_uvicorn()
    config = uvicorn.Config(
        app,
        http=protocol.PROTOCOL,
        loop=protocol.LOOP,
        lifespan="on",
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        access_log=False,  # the application writes its own access lines, addresses hidden
        proxy_headers=False,  # trusted proxies are the application's business (middleware.py)
        server_header=False,
        log_config=None,
    )
    server = uvicorn.Server(config)
    sock = listening_socket(plan.host, plan.port)

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(_quiet_exceptions)
        threading.Thread(target=_follow, args=(updates, loop, app, server), daemon=True).start()
        announcing = asyncio.ensure_future(_announce(server, ready))
        await server.serve(sockets=[sock])
        announcing.cancel()

    try:
        asyncio_run(serve(), loop_factory=config.get_loop_factory())
    finally:
        logs.stop()


async def _announce(server: Any, ready: Event) -> None:
    # uvicorn sets `started` once the application's startup completed and the socket serves.
    while not server.started:
        await asyncio.sleep(0.02)
    ready.set()


def _follow(updates: Connection, loop: asyncio.AbstractEventLoop, app: Any, server: Any) -> None:
    """Wait for the supervisor's new snapshots and swap each in on the event loop. When the supervisor is
    gone (even killed), the pipe closes and the worker stops gracefully: no orphan keeps the port."""
    while True:
        try:
            message = updates.recv()
        except (EOFError, OSError):
            loop.call_soon_threadsafe(setattr, server, "should_exit", True)
            return
        if message == METRICS_FOLDER_RENEWED:
            loop.call_soon_threadsafe(rewrite_metrics)
        else:
            loop.call_soon_threadsafe(apply_snapshot, app, message)


def apply_snapshot(app: Any, snapshot: Snapshot) -> None:
    """Serve the supervisor's new version, in one call: the settings, the protocol's limits and the
    log-hash key together (a key set only at start made two workers hash one address two ways)."""
    from autoconfig.web.app import serve_version  # noqa: PLC0415

    from . import protocol  # noqa: PLC0415

    try:
        version = snapshot.version()
    except Exception:  # whatever it is, the current version keeps serving; /healthz says failing
        logger.exception("this worker could not apply the new settings; it keeps serving the previous ones")
        app.state.stale = True
        return
    serve_version(app, version)
    protocol.configure(version.limits)


def rewrite_metrics() -> None:
    """Write this process's metric values anew in the metrics folder, after it was removed and made again.

    prometheus-client opens one file per kind of metric at the first use, keeps it open and would go on
    writing in the removed one, where /metrics no longer looks. It has no public way to reopen: this
    resets each value as a new process would, writes back what it held, and keeps the old files when
    that fails (the folder gone again: the supervisor makes it and asks again).
    """
    from prometheus_client import values  # noqa: PLC0415 - after MULTIPROCESS_ENV

    kind: Any = values.ValueClass
    try:
        shared = {
            name: cell.cell_contents
            for function in (kind.__init__, kind._MmapedValue__reset)
            for name, cell in zip(function.__code__.co_freevars, function.__closure__ or (), strict=True)
        }
        files, every = shared["files"], shared["values"]
    except (AttributeError, KeyError, ValueError):  # single-process mode, or another prometheus-client
        return
    with shared["lock"]:
        before, held = dict(files), [(v, v._file, v._value, v._timestamp) for v in every]
        files.clear()
        try:
            for value, _, number, timestamp in held:
                value._MmapedValue__reset()  # opens the new file and reads nothing from it
                value._value, value._timestamp = number, timestamp
                value._file.write_value(value._key, number, timestamp)
        except (OSError, ValueError):
            unused = dict(files)
            files.clear()
            files.update(before)
            for value, old, number, timestamp in held:
                value._file, value._value, value._timestamp = old, number, timestamp
        else:
            unused = before
        for opened in unused.values():
            opened.close()


def _raise_descriptor_limit() -> None:
    """Use every file descriptor the system lets this process have: the soft limit is often 1,024, the
    hard one much higher (systemd: LimitNOFILE)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return
    # Raised only: with no hard limit, to 65,536 unless the soft one is already above.
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
    if target > soft:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def _quiet_exceptions(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """One line per condition, not a traceback per socket (out of file descriptors, for instance)."""
    from .protocol import notices  # noqa: PLC0415

    exception = context.get("exception")
    reason = f": {type(exception).__name__}: {exception}" if exception is not None else ""
    notices(f"{context.get('message', 'event loop error')}{reason}")
