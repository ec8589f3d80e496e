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
- A request's head may hold at most MAX_HEAD_BYTES: the httptools parser has no limit of its own, and one
  connection sending an endless header took a worker from 79 to 217 MB in 10 s. Past the cap the answer
  is 431 and the connection closes. (h11 has a limit, set to the same.)
- A connection may have at most PIPELINE_LIMIT requests read ahead of the one being answered: httptools
  parses all that one read brings, and 40 clients pipelining without reading their answers left each
  worker at 390 MB. Past the limit the worker keeps the bytes unparsed (a few kilobytes) and stops
  reading until answers go out.
- A request the HTTP parser refuses (two Host headers, a huge target) is answered 400 by uvicorn before
  the application sees it: here that answer carries the same security headers as every other, the
  access log hears of it, and uvicorn's warning for each is said once a minute at most.
- uvicorn writes a response's head and body in separate writes: a worker killed between them leaves a
  load balancer with half an answer it cannot retry elsewhere. Here what one step of the event loop
  writes goes out in one write (also one system call instead of three).
"""

from __future__ import annotations

import asyncio
import logging
import os
import resource
import socket
import time
from collections.abc import Callable
from typing import Any, ClassVar

import h11
from uvicorn.protocols.http.flow_control import FlowControl
from uvicorn.protocols.http.h11_impl import H11Protocol

from autoconfig.version import Limits
from autoconfig.web.middleware import SECURITY_HEADERS

# The worker sets these from the version it serves (its Limits: service.header_timeout, max_connections,
# max_head_bytes).
HEAD_TIMEOUT = 10.0
MAX_CONNECTIONS = 4096
MAX_HEAD_BYTES = 16384
PIPELINE_LIMIT = 8  # requests parsed ahead of the one being answered, per connection
_SLICE = 4096  # bytes handed to the parser at a time while requests wait: it parses all it is given
_ONE_READ = 262144  # the most an event loop reads from a socket at once (uvloop: 256 KiB)
# Descriptors a worker needs besides its connections: the listening socket, the pipe, logs, metrics files.
DESCRIPTOR_MARGIN = 64
# Choose the pure-Python stack (h11 on asyncio) where a parser problem is suspected; "auto" is the fastest.
STACK_ENV = "AUTOCONFIG_HTTP"
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


def configure(limits: Limits) -> None:
    """Follow the version being served (called at a worker's start and with each new version)."""
    global HEAD_TIMEOUT, MAX_CONNECTIONS, MAX_HEAD_BYTES  # noqa: PLW0603 - one set per worker process
    HEAD_TIMEOUT, MAX_HEAD_BYTES = limits.head_timeout, limits.max_head_bytes
    MAX_CONNECTIONS = connection_cap(limits.max_connections)


def descriptor_limit() -> int | None:
    """The file descriptors a worker may open, once it has raised its soft limit as far as it may (see
    worker._raise_descriptor_limit); None for no limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY:
        return hard
    return None if soft == resource.RLIM_INFINITY else max(soft, 65536)


def connection_cap(max_connections: int) -> int:
    """The connections a worker keeps at most: the setting, or fewer when the descriptors would run out
    first (a container runtime's hard limit of 1,024): past them every accept() fails, and every client
    with it."""
    limit = descriptor_limit()
    if limit is None:
        return max_connections
    return max(1, min(max_connections, limit - DESCRIPTOR_MARGIN))


class _QuietParser(logging.Filter):
    """uvicorn warns once per request its parser refuses; a flood of them makes one line a minute here."""

    PER_REQUEST: ClassVar[dict[str, str]] = {
        "Invalid HTTP request received.": "requests the HTTP parser refused (answered 400)",
        "Unsupported upgrade request.": "WebSocket upgrade requests (none is served; answered as plain HTTP)",
        "Exceeded concurrency limit.": "requests over the concurrency limit (answered 503)",
        # A client that stops reading its answers until the request's deadline; the connection is closed.
        "ASGI callable returned without completing response.": "answers cut short by the request timeout",
    }

    silenced = 0  # parser warnings that follow a refusal already said (a head too long)

    def filter(self, record: logging.LogRecord) -> bool:
        condition = self.PER_REQUEST.get(str(record.msg))
        if condition is None:
            return not str(record.msg).startswith("No supported WebSocket library")
        if _QuietParser.silenced and record.msg == "Invalid HTTP request received.":
            _QuietParser.silenced -= 1
        else:
            notices(condition)
        return False


def _silence_next_parser_warning() -> None:
    if any(isinstance(f, _QuietParser) for f in logging.getLogger("uvicorn.error").filters):
        _QuietParser.silenced += 1


class HeadTooLongError(Exception):
    """Raised in the parser's callback to stop it: the head was answered 431."""


def quiet_uvicorn() -> None:
    """Route uvicorn's per-request warnings through the notices (called once in each worker)."""
    uvicorn_log = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _QuietParser) for f in uvicorn_log.filters):
        uvicorn_log.addFilter(_QuietParser())


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
        self._waiting_for = self.cycle  # no request yet: the next head is awaited
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
        if self.cycle is not self._waiting_for:
            self._cancel_head_timer()  # a request's head arrived: the application's deadline takes over

    def on_response_complete(self) -> None:
        super().on_response_complete()  # type: ignore[misc]
        if not self.transport.is_closing():
            self._await_head()

    def send_400_response(self, msg: str) -> None:
        if not self.transport.is_closing():  # not answered 431 already
            self._refuse(400, "Bad Request", msg)

    def _head_too_long(self) -> None:
        notices(f"refused request heads longer than {MAX_HEAD_BYTES} bytes (answered 431)")
        self._refuse(431, "Request Header Fields Too Large", "The request's head is too long.")

    def _refuse(self, status: int, phrase: str, msg: str) -> None:
        body = msg.encode("ascii", "replace")
        self.transport.write(
            f"HTTP/1.1 {status} {phrase}\r\ncontent-type: text/plain; charset=utf-8\r\n".encode("ascii")
            + f"content-length: {len(body)}\r\n".encode("ascii")
            + _REFUSAL_HEADERS
            + b"connection: close\r\n\r\n"
            + body
        )
        self.transport.close()
        if refusal_observer is not None:
            refusal_observer(self.client[0] if self.client else "-", status)

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


class GuardedH11Protocol(Guarded, H11Protocol):
    """uvicorn's pure-Python HTTP/1.1 protocol, guarded. h11 parses one request at a time and keeps the
    rest unparsed, so pipelining needs no guard here. Its own head limit (16 KiB) would answer 400 where
    the guard answers 431, and ignore the setting: it is moved above the guard's, by more than one read,
    and stays only as a backstop."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self.conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD_BYTES + _ONE_READ)
        self._head_bytes = 0  # received while no head was complete, since the last one
        super().connection_made(transport)

    def data_received(self, data: bytes) -> None:
        # h11 holds the head whole until it is complete; a head that arrives whole in one read is let
        # through up to that read's size (the httptools stack counts exactly).
        waiting = self.cycle is self._waiting_for
        super().data_received(data)
        if not waiting or self.cycle is not self._waiting_for:
            self._head_bytes = 0
        elif not self.transport.is_closing():
            self._head_bytes += len(data)
            if self._head_bytes > MAX_HEAD_BYTES:
                self._head_too_long()


class HeldFlow(FlowControl):
    """uvicorn's flow control, except that reading stays paused while bytes wait unparsed: uvicorn resumes
    reading whenever an answer completes or a body is asked for, which would let a client that never
    reads its answers push a read's worth of requests more each time."""

    def __init__(self, transport: asyncio.Transport, held: bytearray) -> None:
        super().__init__(transport)
        self.held = held

    def resume_reading(self) -> None:
        if not self.held:
            super().resume_reading()


def _stack() -> tuple[type[asyncio.Protocol], str]:
    if os.environ.get(STACK_ENV, "auto") == "h11":
        return GuardedH11Protocol, "h11"
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol  # noqa: PLC0415
    except ImportError:  # httptools is not installed: h11 serves
        return GuardedH11Protocol, "h11"

    class GuardedHttpToolsProtocol(Guarded, HttpToolsProtocol):
        """uvicorn's httptools (C parser) protocol, guarded: the fastest that keeps every guard. The
        parser takes at most _SLICE bytes at a time while PIPELINE_LIMIT requests wait for their answers;
        the rest waits unparsed, and reading stops until answers go out."""

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            self._held = bytearray()
            self._in_head = False
            self._head_bytes = 0  # parsed since the current head began (to a slice)
            super().connection_made(transport)
            self.flow = HeldFlow(self.transport, self._held)

        def data_received(self, data: bytes) -> None:
            if not self._held and len(data) <= _SLICE and len(self.pipeline) < PIPELINE_LIMIT:
                self._parse(data)  # the usual case: one request in one read
                return
            self._held += data
            self._feed()

        def _parse(self, piece: bytes) -> None:
            super().data_received(piece)
            if self._in_head and not self.transport.is_closing():
                # A head not yet complete: the parser keeps it whole (an endless header value too).
                self._head_bytes += len(piece)
                if self._head_bytes > MAX_HEAD_BYTES + _SLICE:
                    self._head_too_long()

        def on_message_begin(self) -> None:
            self._in_head, self._head_bytes = True, 0
            super().on_message_begin()

        def on_headers_complete(self) -> None:
            self._in_head = False
            size = len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)
            if size > MAX_HEAD_BYTES:
                self._head_too_long()
                _silence_next_parser_warning()
                raise HeadTooLongError  # stops the parser; uvicorn takes it for a parse error
            super().on_headers_complete()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if self._held:
                self._feed()

        def _feed(self) -> None:
            held = self._held
            while held and len(self.pipeline) < PIPELINE_LIMIT and not self.transport.is_closing():
                piece = bytes(held[:_SLICE])
                del held[:_SLICE]
                self._parse(piece)
            if self.transport.is_closing():
                held.clear()
            elif held:
                self.flow.pause_reading()
            else:
                self.flow.resume_reading()

    return GuardedHttpToolsProtocol, "httptools"


PROTOCOL, HTTP_IMPLEMENTATION = _stack()
LOOP = "asyncio" if HTTP_IMPLEMENTATION == "h11" else "auto"  # auto: uvloop where it is installed
