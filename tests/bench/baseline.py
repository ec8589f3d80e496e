"""The benchmark's baseline: a Starlette app that answers each endpoint with constant bytes.

It serves exactly the bodies and headers the real service gave for one request (captured by bench.py
into the folder AUTOCONFIG_BASELINE names), so the difference between the two is the cost of the
service's own work: parsing, resolving the account, rendering, signing.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

FOLDER_ENV = "AUTOCONFIG_BASELINE"


def create() -> Starlette:
    folder = Path(os.environ[FOLDER_ENV])
    answers: dict[tuple[str, str], tuple[bytes, dict[str, str]]] = {}
    for meta_file in folder.glob("*.json"):
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
        body = (folder / meta["body"]).read_bytes()
        answers[(meta["method"], meta["path"])] = (body, meta["headers"])

    async def constant(request: Request) -> Response:
        if request.method == "POST":
            await request.body()  # read it, as the service does
        body, headers = answers[(request.method, request.url.path)]
        return Response(body, headers=headers)

    paths = sorted({path for _, path in answers})
    return Starlette(routes=[Route(path, constant, methods=["GET", "POST"]) for path in paths])
