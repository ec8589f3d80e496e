"""A worker process: the application on uvicorn, serving the supervisor's snapshot on a socket of its own.

Each worker listens on its own socket with SO_REUSEPORT, so that the kernel spreads new connections over
the workers evenly (one shared socket let a single worker take every keep-alive connection while the
others idled). The supervisor sends a new snapshot through the pipe after a reload: the worker swaps it in
without closing a connection.
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
from typing import Any

from autoconfig.paths import MULTIPROCESS_ENV

from .logqueue import Offload
from .snapshot import Snapshot

logger = logging.getLogger("autoconfig")
GRACEFUL_SHUTDOWN_SECONDS = 10
BACKLOG = 2048


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


def run_worker(plan: WorkerPlan, updates: Connection) -> None:
    """The body of a worker process (spawned: it imports everything afresh)."""
    # Before any metric exists: each process writes its values where /metrics adds them up.
    os.environ[MULTIPROCESS_ENV] = plan.metrics_dir
    logging.config.dictConfig(plan.log_config)
    logs = Offload(("autoconfig.access", "autoconfig", "uvicorn"), sys.stdout)
    import uvicorn  # noqa: PLC0415 - after the environment above
    from uvicorn._compat import asyncio_run  # noqa: PLC0415

    from autoconfig.web.accesslog import ACCESS_LOGGER, use_hash_key, use_line_writer  # noqa: PLC0415
    from autoconfig.web.app import app_for_snapshot, refusal_logger  # noqa: PLC0415

    from . import protocol  # noqa: PLC0415

    snapshot = plan.snapshot
    use_hash_key(snapshot.log_hash_key)
    if logging.getLogger(ACCESS_LOGGER).isEnabledFor(logging.INFO):
        use_line_writer(logs.write_line)
    app = app_for_snapshot(snapshot)
    app.state.http = protocol.HTTP_IMPLEMENTATION  # /healthz says which stack serves
    _follow_limits(app)
    _raise_descriptor_limit()
    protocol.refusal_observer = refusal_logger(app)
    config = uvicorn.Config(
        app,
        http=protocol.PROTOCOL,
        loop="auto",  # uvloop where it is installed
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
        await server.serve(sockets=[sock])

    try:
        asyncio_run(serve(), loop_factory=config.get_loop_factory())
    finally:
        logs.stop()


def _follow(updates: Connection, loop: asyncio.AbstractEventLoop, app: Any, server: Any) -> None:
    """Wait for the supervisor's new snapshots and swap each in on the event loop. When the supervisor is
    gone (even killed), the pipe closes and the worker stops gracefully: no orphan keeps the port."""
    while True:
        try:
            snapshot = updates.recv()
        except (EOFError, OSError):
            loop.call_soon_threadsafe(setattr, server, "should_exit", True)
            return
        loop.call_soon_threadsafe(_apply, app, snapshot)


def _apply(app: Any, snapshot: Snapshot) -> None:
    from autoconfig.web.app import apply_snapshot  # noqa: PLC0415

    apply_snapshot(app, snapshot)
    _follow_limits(app)


def _follow_limits(app: Any) -> None:
    from . import protocol  # noqa: PLC0415

    service = app.state.loaded.settings.service
    protocol.configure(service.header_timeout, service.max_connections)


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
