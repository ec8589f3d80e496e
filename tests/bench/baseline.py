"""The benchmark's baselines: apps that answer each endpoint with the very bytes the service gave, as
constants, on the fastest uvicorn there is (uvloop and httptools), whatever the service itself runs on.

- `starlette`: a Starlette app, routing by path; what the issue's targets are a share of.
- `raw`: a bare ASGI callable, no framework: the ceiling of uvicorn on this machine.

Both read a POST's body before answering, as the service must. The answers come from the folder that
bench.py filled from the running service (`answers.json`: per method and path, the headers and the body
file), so the sizes and headers (content-type, cache-control, the security headers) are the service's.

One process serves on its own SO_REUSEPORT socket, as each of the service's workers does; bench.py
starts as many as the service has workers:

    .venv/bin/python -m tests.bench.baseline --app starlette --port 8081 --answers FOLDER
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from autoconfig.serving.worker import listening_socket

ANSWERS_FILE = "answers.json"
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


@dataclass(frozen=True)
class Answer:
    method: str
    path: str
    status: int
    headers: dict[str, str]  # without date and content-length, which the server writes
    body: bytes


def save_answers(folder: Path, answers: list[Answer]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    index = []
    for number, answer in enumerate(answers):
        name = f"{number}.body"
        (folder / name).write_bytes(answer.body)
        index.append({**answer.__dict__, "body": name})
    (folder / ANSWERS_FILE).write_text(json.dumps(index, indent=1), encoding="utf-8")


def load_answers(folder: Path) -> dict[tuple[str, str], Answer]:
    index = json.loads((folder / ANSWERS_FILE).read_text(encoding="utf-8"))
    answers = (Answer(**{**item, "body": (folder / item["body"]).read_bytes()}) for item in index)
    return {(a.method, a.path): a for a in answers}


def starlette_app(answers: dict[tuple[str, str], Answer]) -> Starlette:
    async def constant(request: Request) -> Response:
        if request.method == "POST":
            await request.body()
        answer = answers[(request.method, request.url.path)]
        return Response(answer.body, status_code=answer.status, headers=answer.headers)

    paths = sorted({path for _, path in answers})
    return Starlette(routes=[Route(path, constant, methods=["GET", "POST"]) for path in paths])


def raw_app(answers: dict[tuple[str, str], Answer]) -> Callable[[Message, Receive, Send], Awaitable[None]]:
    # Everything an answer needs is made once: a request costs a lookup and two messages.
    ready = {
        key: (
            {
                "type": "http.response.start",
                "status": a.status,
                "headers": [(k.lower().encode(), v.encode("latin-1")) for k, v in a.headers.items()]
                + [(b"content-length", str(len(a.body)).encode())],
            },
            {"type": "http.response.body", "body": a.body},
        )
        for key, a in answers.items()
    }
    missing = ({"type": "http.response.start", "status": 404, "headers": []}, {"type": "http.response.body"})

    async def app(scope: Message, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        if scope["method"] == "POST":
            while (await receive()).get("more_body", False):
                pass
        start, body = ready.get((scope["method"], scope["path"]), missing)
        await send(start)
        await send(body)

    return app


def serve(app: Any, host: str, port: int) -> None:
    config = uvicorn.Config(
        app,
        loop="uvloop",
        http="httptools",
        lifespan="off",
        access_log=False,
        server_header=False,  # the service sends none either: the same bytes on the wire
        proxy_headers=False,
        log_level="warning",
    )
    uvicorn.Server(config).run(sockets=[listening_socket(host, port)])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--app", choices=["starlette", "raw"], required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--answers", type=Path, required=True, help="the folder bench.py captured")
    args = parser.parse_args()
    answers = load_answers(args.answers)
    serve(starlette_app(answers) if args.app == "starlette" else raw_app(answers), args.host, args.port)


if __name__ == "__main__":
    main()
