"""create_app(settings) -> the Starlette application; its error handlers, the reload on SIGHUP, and the
factory uvicorn's worker processes call."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import Scope

from autoconfig.errors import RequestError, SettingsError
from autoconfig.formats.signing import Signer, signer_for
from autoconfig.paths import MULTIPROCESS_ENV
from autoconfig.serving.snapshot import Snapshot
from autoconfig.settings import Settings, load_settings, settings_warnings

from .accesslog import AccessLog, Format, Mode
from .funnel import Funnel
from .loaded import UNSET, Loaded, Unset, pinned
from .metrics import RELOADS, RequestMetrics
from .middleware import SECURITY_HEADERS, Edge, Observer, ServiceMiddleware
from .routes import classify, starlette_routes

logger = logging.getLogger("autoconfig")


async def request_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestError)  # noqa: S101 - registered for RequestError only
    return PlainTextResponse(
        exc.message + "\n", status_code=exc.status, headers={**exc.headers, "Cache-Control": "no-store"}
    )


async def internal_error(request: Request, exc: Exception) -> Response:
    # Answered by Starlette's outermost middleware, outside ServiceMiddleware: the headers are set
    # here. The traceback goes to the server's log, never to the client.
    return PlainTextResponse(
        "The service could not answer; the error is in its log.\n",
        status_code=500,
        headers={"Cache-Control": "no-store", **SECURITY_HEADERS},
    )


def _edge(scope: Scope) -> Edge:
    return pinned(scope).edge


def _log_style(scope: Scope) -> tuple[Mode, Format]:
    service = pinned(scope).settings.service
    return service.log_addresses, service.log_format


def create_app(
    settings: Settings,
    *,
    signer: Signer | Unset | None = UNSET,
    notes: tuple[str, ...] = (),
    reload_on_hangup: bool = True,
) -> Starlette:
    """The ASGI application for these settings. A worker of `autoconfig serve` passes the supervisor's
    development signer, and leaves SIGHUP to the supervisor (which hands it new settings instead)."""
    funnel = Funnel(os.environ.get(MULTIPROCESS_ENV))
    observers: list[Observer] = [AccessLog(_log_style), RequestMetrics(classify, funnel)]
    middleware = [Middleware(ServiceMiddleware, edge_of=_edge, observers=observers)]
    app = Starlette(
        routes=starlette_routes(),
        middleware=middleware,
        exception_handlers={RequestError: request_error, Exception: internal_error},
        lifespan=_lifespan if reload_on_hangup else None,
    )
    # A trailing slash is no route: Starlette's redirect to the slashless path would build its Location
    # from the Host header (in http, carrying the address). Links never come from request headers.
    app.router.redirect_slashes = False
    app.state.loaded = Loaded.build(settings, signer, notes)
    app.state.stale = False
    app.state.funnel = funnel
    return app


def apply_snapshot(app: Starlette, snapshot: Snapshot) -> None:
    """Serve the supervisor's new settings (in a worker, on its event loop): one assignment, so that a
    request in flight finishes with the settings it started with, and no connection is closed."""
    try:
        fresh = loaded_from_snapshot(snapshot)
    except Exception:  # whatever it is, the current settings keep serving; /healthz says failing
        logger.exception("this worker could not apply the new settings; it keeps serving the previous ones")
        app.state.stale = True
        return
    app.state.loaded = fresh
    app.state.stale = False


def loaded_from_snapshot(snapshot: Snapshot) -> Loaded:
    """The supervisor's settings, compiled: its development signer when it made one (so that every
    worker signs with the same), else the signer the settings name."""
    settings = snapshot.settings()
    return Loaded.build(settings, _snapshot_signer(snapshot, settings), snapshot.notes)


def _snapshot_signer(snapshot: Snapshot, settings: Settings) -> Signer | None:
    # The supervisor judged the certificate's dates when it checked: a worker serves what it accepted,
    # even once the certificate has expired since (the next reload or restart refuses it).
    return snapshot.signer_override() or signer_for(settings, dates=False)


def app_for_snapshot(snapshot: Snapshot) -> Starlette:
    """A worker's application: SIGHUP is the supervisor's, which hands new snapshots instead."""
    settings = snapshot.settings()
    return create_app(
        settings, signer=_snapshot_signer(snapshot, settings), notes=snapshot.notes, reload_on_hangup=False
    )


def refusal_logger(app: Starlette) -> Callable[[str, int], None]:
    """The access line of a request the HTTP parser refused before the application saw it."""
    access_log = AccessLog(_log_style)

    def log(client: str, status: int) -> None:
        scope = {"type": "http", "app": app, "client": (client, 0), "method": "-", "path": "-"}
        access_log(scope, status, 0.0)

    return log


def reload_settings(app: Starlette) -> bool:
    """Read the settings and signing files again and serve them, or keep the current ones and say why.

    The swap is one assignment: a request in flight finishes with the settings it started with.
    """
    current: Loaded = app.state.loaded
    source = current.settings.source
    try:
        fresh = Loaded.build(load_settings(source))
    except Exception as exc:  # whatever the new files hold, the current settings keep serving
        RELOADS.labels("failed").inc()
        problems = exc.render() if isinstance(exc, SettingsError) else f"{type(exc).__name__}: {exc}"
        logger.error(
            "reload failed; still serving the previous settings (%s)\n%s",
            current.settings.digest[:12],
            problems,
        )
        return False
    app.state.loaded = fresh
    RELOADS.labels("ok").inc()
    logger.info(
        "settings reloaded from %s (%s): %s", source, fresh.settings.digest[:12], fresh.settings.summary()
    )
    for note in settings_warnings(fresh.settings) + (fresh.signer.warnings() if fresh.signer else []):
        logger.warning("%s", note.headline)
    return True


@asynccontextmanager
async def _lifespan(app: Starlette) -> AsyncIterator[None]:
    """SIGHUP reloads the settings (`kill -HUP`); only the main thread of a server process can listen."""
    loop = asyncio.get_running_loop()
    try:
        loop.add_signal_handler(signal.SIGHUP, reload_settings, app)
    except (RuntimeError, ValueError, NotImplementedError):
        yield  # in a test client's thread, or on a platform without SIGHUP
        return
    try:
        yield
    finally:
        loop.remove_signal_handler(signal.SIGHUP)
