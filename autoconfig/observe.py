"""One middleware that watches every answer go out and tells the observers (access log, metrics)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Called once a request is answered (or failed): its scope, the status sent, and the seconds it took.
Observer = Callable[[Scope, int, float], None]


class ObservingMiddleware:
    def __init__(self, app: ASGIApp, observers: Sequence[Observer]) -> None:
        self.app = app
        self.observers = tuple(observers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500  # what the client gets if the application fails before answering

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            elapsed = time.perf_counter() - start
            for observer in self.observers:
                observer(scope, status, elapsed)


def header(scope: Scope, name: bytes) -> str:
    """A request header's value from the ASGI scope, or "" (names are lower case in ASGI)."""
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return ""


def header_values(scope: Scope, name: bytes) -> list[str]:
    """Every value of a request header, in the order received: a header sent on several lines is one
    list (RFC 9110 §5.3), and the last line is the one the nearest proxy added."""
    return [str(value.decode("latin-1")) for key, value in scope.get("headers", []) if key == name]
