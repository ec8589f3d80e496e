"""The Starlette application serving a version of the settings: its middleware, error handlers and routes;
and the one way a new version is put in service."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import Scope

from autoconfig.errors import RequestError
from autoconfig.formats.signing import Signer, signer_for
from autoconfig.paths import MULTIPROCESS_ENV
from autoconfig.settings import Settings
from autoconfig.version import Version

from .accesslog import AccessLog, Format, Mode, use_hash_key, use_listed_domains
from .funnel import Funnel
from .metrics import RequestMetrics, publish
from .middleware import SECURITY_HEADERS, Edge, Observer, ServiceMiddleware
from .routes import TableRouter, classify
from .served import Served, serving_scope

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
    return serving_scope(scope).edge


def _log_style(scope: Scope) -> tuple[Mode, Format]:
    service = serving_scope(scope).settings.service
    return service.log_addresses, service.log_format


@asynccontextmanager
async def _publish_metrics_at_shutdown(app: Starlette) -> AsyncIterator[None]:
    # The counts of the last second go out before the worker does (metrics.py publishes on a timer).
    yield
    publish()


class Unset:
    """No value given (None, for a signer, means: profiles unsigned)."""


UNSET = Unset()


def create_app(
    settings: Settings,
    *,
    signer: Signer | Unset | None = UNSET,
    notes: tuple[str, ...] = (),
) -> Starlette:
    """The ASGI application for these settings, with the signer they name unless one is given. Raises
    SettingsError when the signing files cannot be used."""
    chosen = signer_for(settings) if isinstance(signer, Unset) else signer
    return app_for_version(Version.build(settings, chosen, notes=notes))


def app_for_version(version: Version) -> Starlette:
    """The ASGI application serving a version of the settings (a worker's: `serve`'s supervisor made
    the version, and hands it new ones)."""
    funnel = Funnel(os.environ.get(MULTIPROCESS_ENV))
    observers: list[Observer] = [AccessLog(_log_style), RequestMetrics(classify, funnel)]
    middleware = [Middleware(ServiceMiddleware, edge_of=_edge, observers=observers)]
    app = Starlette(
        middleware=middleware,
        exception_handlers={RequestError: request_error, Exception: internal_error},
    )
    app.router = TableRouter(lifespan=_publish_metrics_at_shutdown)
    app.state.funnel = funnel
    serve_version(app, version)
    return app


def serve_version(app: Starlette, version: Version) -> None:
    """Serve this version from now on: one assignment, so that a request in flight finishes with the
    version it started with, and no connection is closed. The log-hash key goes with it."""
    fresh = Served.wrap(version)
    use_hash_key(version.log_hash_key)
    use_listed_domains(version.listed_domains)
    app.state.served = fresh
    app.state.stale = False


def refusal_logger(app: Starlette) -> Callable[[str, int], None]:
    """The access line of a request the HTTP parser refused before the application saw it."""
    access_log = AccessLog(_log_style)

    def log(client: str, status: int) -> None:
        scope = {"type": "http", "app": app, "client": (client, 0), "method": "-", "path": "-"}
        access_log(scope, status, 0.0)

    return log
