"""uvicorn's HTTP protocols, guarded: TCP_NODELAY on every connection, a deadline for the request head, a
cap on open connections, and refusals that carry the security headers and write an access line.

- asyncio sets TCP_NODELAY on accepted sockets only when the listening socket says IPPROTO_TCP; a socket
  handed to worker processes says protocol 0, so small answers waited for the client's delayed ACK
  (about 40 ms each on keep-alive connections). Setting it on each connection removes that wait.
- uvicorn starts no timer before a request's head arrives, and cancels its keep-alive timer on the
  first byte: a connection that sends nothing, or a header a byte a second, was held for ever, and about
  a thousand of them stopped every answer. Here the head must be complete within HEAD_TIMEOUT seconds
  of the connection, or of the previous answer.
- Past MAX_CONNECTIONS open connections a worker closes new ones at once, rather than run out of file
  descriptors (and log a traceback for every failed accept()).
- A request the HTTP parser refuses (two Host headers, a huge target) is answered 400 by uvicorn before
  the application sees it: here that answer carries the same security headers as every other, and the
  access log hears of it.
- uvicorn writes a response's head and body in separate writes: a worker killed between them leaves a
  load balancer with half an answer it cannot retry elsewhere. Here what one step of the event loop
  writes goes out in one write (also one system call instead of three).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Callable
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

from autoconfig.web.middleware import SECURITY_HEADERS

# The worker sets these from the settings it serves (service.header_timeout, service.max_connections).
HEAD_TIMEOUT = 10.0
MAX_CONNECTIONS = 4096
logger = logging.getLogger("autoconfig")
_REFUSAL_HEADERS = b"".join(
    f"{name}: {value}\r\n".encode("latin-1")
    for name, value in {**SECURITY_HEADERS, "Cache-Control": "no-store"}.items()
)
# Told of each refusal by the parser: (client address, status). The worker points it at the access log.
refusal_observer: Callable[[str, int], None] | None = None


class Notices:
    """Says a condition once, then how many times it happened, at most once a minute: a flood of idle
    connections makes one line, not one per socket."""

    def __init__(self, interval: float = 60.0) -> None:
        self.interval = interval
        self._last: dict[str, float] = {}
        self._count: dict[str, int] = {}

    def __call__(self, condition: str) -> None:
        now = time.monotonic()
        self._count[condition] = self._count.get(condition, 0) + 1
        last = self._last.get(condition)
        if last is None or now - last >= self.interval:
            count = self._count.pop(condition)
            self._last[condition] = now
            suffix = "" if count == 1 else f" ({count} times since the last notice)"
            logger.warning("%s%s", condition, suffix)


notices = Notices()
_open = 0  # connections open in this worker


def configure(head_timeout: float, max_connections: int) -> None:
    """Follow the settings being served (called at a worker's start and after each reload)."""
    global HEAD_TIMEOUT, MAX_CONNECTIONS
    HEAD_TIMEOUT, MAX_CONNECTIONS = head_timeout, max_connections


class OneWrite:
    """A transport that sends what one step of the event loop writes as a single write."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []
        self._scheduled = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        self._pending.append(bytes(data))
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self.flush)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        self._scheduled = False
        if self._pending and not self._transport.is_closing():
            self._transport.write(b"".join(self._pending))
        self._pending.clear()

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        self._pending.clear()
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class Guarded:
    """The guards, for any uvicorn HTTP protocol class (mixed in before it)."""

    transport: asyncio.Transport
    loop: asyncio.AbstractEventLoop
    cycle: Any
    client: tuple[str, int] | None

    def connection_made(self, transport: asyncio.Transport) -> None:
        global _open  # noqa: PLW0603 - one count per worker process, which is what the cap is about
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        _open += 1
        self._counted = True
        self._head_timer: asyncio.TimerHandle | None = None
        super().connection_made(OneWrite(transport, self.loop))  # type: ignore[misc]
        if _open > MAX_CONNECTIONS:
            notices(f"more than {MAX_CONNECTIONS} connections open in one worker: closing new ones at once")
            transport.abort()
            return
        self._await_head()

    def connection_lost(self, exc: Exception | None) -> None:
        global _open  # noqa: PLW0603
        if getattr(self, "_counted", False):
            _open -= 1
            self._counted = False
        self._cancel_head_timer()
        super().connection_lost(exc)  # type: ignore[misc]

    def data_received(self, data: bytes) -> None:
        super().data_received(data)  # type: ignore[misc]
        if self.cycle is not getattr(self, "_waiting_for", self.cycle):
            self._cancel_head_timer()  # a request's head arrived: the application's deadline takes over

    def on_response_complete(self) -> None:
        super().on_response_complete()  # type: ignore[misc]
        if not self.transport.is_closing():
            self._await_head()

    def send_400_response(self, msg: str) -> None:
        body = msg.encode("ascii", "replace")
        self.transport.write(
            b"HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain; charset=utf-8\r\n"
            + f"content-length: {len(body)}\r\n".encode("ascii")
            + _REFUSAL_HEADERS
            + b"connection: close\r\n\r\n"
            + body
        )
        self.transport.close()
        if refusal_observer is not None:
            refusal_observer(self.client[0] if self.client else "-", 400)

    def _await_head(self) -> None:
        self._cancel_head_timer()
        self._waiting_for = self.cycle
        self._head_timer = self.loop.call_later(HEAD_TIMEOUT, self._head_too_slow)

    def _cancel_head_timer(self) -> None:
        timer = getattr(self, "_head_timer", None)
        if timer is not None:
            timer.cancel()
            self._head_timer = None

    def _head_too_slow(self) -> None:
        self._head_timer = None
        if not self.transport.is_closing():
            notices(f"closed connections that sent no complete request within {HEAD_TIMEOUT:.0f} s")
            self.transport.abort()


class GuardedH11Protocol(Guarded, H11Protocol):  # type: ignore[misc]
    """uvicorn's pure-Python HTTP/1.1 protocol, guarded."""


try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # httptools is not installed: h11 serves
    PROTOCOL: type[asyncio.Protocol] = GuardedH11Protocol
    HTTP_IMPLEMENTATION = "h11"
else:

    class GuardedHttpToolsProtocol(Guarded, HttpToolsProtocol):  # type: ignore[misc]
        """uvicorn's httptools (C parser) protocol, guarded: the fastest that keeps every guard."""

    PROTOCOL = GuardedHttpToolsProtocol
    HTTP_IMPLEMENTATION = "httptools"
