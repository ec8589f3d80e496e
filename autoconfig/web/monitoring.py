"""What the IT team reads over HTTP: /healthz and /metrics."""

from __future__ import annotations

import asyncio
import json

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from autoconfig import caches

from .health import health_report
from .metrics import MEDIA_TYPE as METRICS_MEDIA_TYPE
from .metrics import exposition
from .middleware import in_networks
from .served import serving


async def healthz(request: Request) -> Response:
    """Liveness for the IT team and the container: ok (200), degraded (200), failing (503)."""
    served = serving(request)
    client = request.client.host if request.client else None
    details = in_networks(client, served.metrics_networks)
    body, healthy = health_report(
        served.settings,
        served.signer,
        served.loaded_at,
        notes=served.notes,
        stale=getattr(request.app.state, "stale", False),
        clients=request.app.state.funnel.summary() if details else None,
        server=_stack(request) if details else None,
        caches=caches.report() if details else None,
    )
    if not details:
        # The details (file paths, certificate, problems of a broken file) are for the IT team's
        # networks, like /metrics; anyone else learns the state only.
        body = {"status": body["status"]}
    return Response(
        json.dumps(body, indent=2, ensure_ascii=False) + "\n",
        status_code=200 if healthy else 503,
        media_type="application/json",
    )


def _stack(request: Request) -> dict[str, str | None]:
    """The event loop and HTTP implementation this worker runs (None: not under `autoconfig serve`)."""
    loop = type(asyncio.get_running_loop()).__module__.partition(".")[0]
    return {"loop": loop, "http": getattr(request.app.state, "http", None)}


async def metrics(request: Request) -> Response:
    """Prometheus metrics, for the networks the settings allow; 404 for everyone else."""
    served = serving(request)
    client = request.client.host if request.client else None
    if not served.settings.service.metrics or not in_networks(client, served.metrics_networks):
        return PlainTextResponse("Not Found", status_code=404)
    return Response(exposition(), media_type=METRICS_MEDIA_TYPE)
