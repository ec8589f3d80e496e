"""create_app(settings) -> the Starlette application; its error handlers, the reload on SIGHUP, and the
factory uvicorn's worker processes call."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import Scope

from autoconfig.errors import RequestError, SettingsError
from autoconfig.paths import SETTINGS_ENV
from autoconfig.settings import Settings, load_settings, settings_warnings

from .accesslog import AccessLog, Format, Mode
from .loaded import Loaded
from .metrics import RELOADS, RequestMetrics
from .middleware import SECURITY_HEADERS, Edge, ServiceMiddleware
from .routes import classify, starlette_routes

logger = logging.getLogger("autoconfig")
STARTUP_FAILURE = 3  # uvicorn's exit status for a worker that could not start


async def request_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestError)  # noqa: S101 - registered for RequestError only
    return PlainTextResponse(
        exc.message + "\n", status_code=exc.status, headers={"Cache-Control": "no-store"}
    )


async def internal_error(request: Request, exc: Exception) -> Response:
    # Answered by Starlette's outermost middleware, outside ServiceMiddleware: the headers are set
    # here. The traceback goes to the server's log, never to the client.
    return PlainTextResponse(
        "The service could not answer; the error is in its log.\n",
        status_code=500,
        headers={"Cache-Control": "no-store", **SECURITY_HEADERS},
    )


def _loaded(scope: Scope) -> Loaded:
    served: Loaded = scope["app"].state.loaded
    return served


def _edge(scope: Scope) -> Edge:
    return _loaded(scope).edge


def _log_style(scope: Scope) -> tuple[Mode, Format]:
    service = _loaded(scope).settings.service
    return service.log_addresses, service.log_format


def create_app(settings: Settings) -> Starlette:
    """The ASGI application for these settings."""
    middleware = [
        Middleware(
            ServiceMiddleware, edge_of=_edge, observers=[AccessLog(_log_style), RequestMetrics(classify)]
        )
    ]
    app = Starlette(
        routes=starlette_routes(),
        middleware=middleware,
        exception_handlers={RequestError: request_error, Exception: internal_error},
        lifespan=_lifespan,
    )
    app.state.loaded = Loaded.build(settings)
    return app


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
        logger.warning("%s", note)
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


def app_from_environment() -> Starlette:
    """Factory for uvicorn workers: the settings named by AUTOCONFIG_SETTINGS, else the bundled default.

    A worker that cannot load them says why and exits without a traceback; when it replaces a worker
    after SIGHUP, uvicorn then keeps the old one serving.
    """
    path = os.environ.get(SETTINGS_ENV)
    try:
        return create_app(load_settings(Path(path) if path else None))
    except SettingsError as exc:
        logger.error("cannot start a worker; the settings have problems\n%s", exc.render())
        sys.exit(STARTUP_FAILURE)
