"""The way every request comes in and every answer goes out, in one pass: the real client behind the
reverse proxies the settings trust, a deadline, the security headers, and the access log and metrics.

X-Forwarded-For and X-Forwarded-Proto are believed only from trusted proxies. Absolute links never come
from these headers (they use `service.public_url`); what they change is the client address that logs
and the /metrics network check see, and the scheme.
"""

from __future__ import annotations

import asyncio
import ipaddress
import math
import re
import time
import weakref
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from starlette.datastructures import Headers
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

Networks = Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network]

# The pages load nothing from elsewhere: their stylesheet and script come from /static, the QR code is
# inline SVG, the only form posts to the service itself.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}
_SECURITY_RAW = tuple(
    (name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in SECURITY_HEADERS.items()
)
TIMEOUT_BODY = b"The request took too long; try again.\n"
# nginx's "client closed request": what the access log and the metrics say of a request whose client
# left before the body was read; no answer is sent, nobody would read it.
CLIENT_CLOSED = 499
BAD_REQUEST_BODY = b"Bad request: one Host header is needed.\n"


# A proxy may write a hop with its port: 192.0.2.1:5678 or [2001:db8::1]:5678.
_WITH_PORT = re.compile(r"^\[(?P<v6>[^\]]+)\](:[0-9]{1,5})?$|^(?P<v4>[0-9.]+):[0-9]{1,5}$")
UNKNOWN_CLIENT = "unknown"  # RFC 7239's word for a client no usable address names: in no network
MAX_HOPS = 16  # X-Forwarded-For hops read, from the right: a long header costs no more than this


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = text.strip()
    match = _WITH_PORT.match(text)
    if match is not None:
        text = match["v6"] or match["v4"]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    # A dual-stack socket (--host ::) shows IPv4 clients as ::ffff:a.b.c.d: they are IPv4 clients.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def in_networks(text: str | None, networks: Networks) -> bool:
    """Whether an address (as a socket or a header gives it) is in one of the networks."""
    address = _address(text) if text is not None else None
    return address is not None and any(address in network for network in networks)


def parse_networks(networks: Iterable[str]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """The settings' networks, parsed once at load."""
    return [ipaddress.ip_network(network) for network in networks]


def forwarded_client(peer: str, forwarded_for: str, networks: Networks) -> str:
    """The real client: from the right of X-Forwarded-For, the first hop no trusted proxy vouches for.

    Only a trusted peer's header is read at all. A hop that names no address (`unknown`, garbage, an
    obfuscated name) makes the client unknown, never the proxy itself, which the settings may trust to
    read /metrics: an unusable header fails closed. Only the last MAX_HOPS hops are read: when each of
    those is trusted and more were sent, whoever is behind them is past what was read, so the client is
    unknown too, never the farthest proxy read.
    """
    if not in_networks(peer, networks) or not forwarded_for.strip():
        return peer
    hops = forwarded_for.split(",")
    cut = len(hops) > MAX_HOPS
    hops = [hop.strip() for hop in hops[-MAX_HOPS:]]
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            return UNKNOWN_CLIENT
        if not in_networks(str(address), networks):
            return str(address)
    # Every hop read is trusted: the farthest is the client (a machine in a trusted network asking
    # through the proxies) only when it is the first of the whole chain.
    first = _address(hops[0])
    return str(first) if first is not None and not cut else UNKNOWN_CLIENT


def forwarded_scope(scope: Scope, networks: Networks) -> Scope:
    """The scope with the client (and scheme) a trusted proxy's X-Forwarded-* headers name."""
    if not networks or not scope.get("client"):
        return scope
    peer, port = scope["client"]
    if not in_networks(peer, networks):
        return scope
    headers = Headers(scope=scope)
    # A proxy may add its own header line after the client's instead of appending to it (HAProxy's
    # `option forwardfor`): every line counts, in order, the client's first.
    forwarded_for = ",".join(headers.getlist("x-forwarded-for"))
    scope = dict(scope, client=(forwarded_client(peer, forwarded_for, networks), port))
    protos = headers.getlist("x-forwarded-proto")
    proto = protos[-1].strip().lower() if protos else ""
    if proto in ("http", "https"):
        scope["scheme"] = proto
    return scope


@dataclass(frozen=True)
class Edge:
    """What the way in and out needs from the settings being served (a reload may change it)."""

    trusted_proxies: Networks
    request_timeout: float


# Called once a request is answered (or failed): its scope as the app saw it, the status sent, the
# seconds it took.
Observer = Callable[[Scope, int, float], None]


class _Deadlines:
    """The deadlines of one event loop's requests in flight, with one timer for them all, set for the
    earliest: a timer per request (asyncio.timeout(seconds)) cost a handle made and cancelled each time.
    An expired request's asyncio.Timeout is told to expire now, and does what asyncio.timeout does.

    No reference to the loop is kept here (it is the key of a weak mapping): a timer set for a time no
    longer the earliest (a reload shortened the deadline) fires and does nothing."""

    def __init__(self) -> None:
        self.running: dict[asyncio.Timeout, float] = {}
        self.at = math.inf  # when the timer that counts fires

    def add(self, loop: asyncio.AbstractEventLoop, timeout: asyncio.Timeout, seconds: float) -> None:
        deadline = loop.time() + seconds
        self.running[timeout] = deadline
        if deadline < self.at:
            self._arm(loop, deadline)

    def _arm(self, loop: asyncio.AbstractEventLoop, deadline: float) -> None:
        self.at = deadline
        loop.call_at(deadline, self._expire, loop, deadline)

    def _expire(self, loop: asyncio.AbstractEventLoop, armed_for: float) -> None:
        if armed_for != self.at:
            return
        self.at = math.inf
        now = loop.time() + 0.001  # a loop may run a timer a little early (asyncio: its clock's resolution)
        for timeout, deadline in list(self.running.items()):
            if deadline <= now:
                del self.running[timeout]
                timeout.reschedule(deadline)  # in the past: expires at the loop's next turn
        if self.running:
            self._arm(loop, min(self.running.values()))


class ServiceMiddleware:
    """The one middleware. A request that takes longer than the settings allow (a slow client's body, a
    stuck dependency) is answered 503 instead of holding a connection forever."""

    def __init__(self, app: ASGIApp, edge_of: Callable[[Scope], Edge], observers: Sequence[Observer]) -> None:
        self.app = app
        self.edge_of = edge_of  # read per request: a reload may change the proxies and the deadline
        self.observers = tuple(observers)
        # Per event loop (a worker has one; tests may run several): the last one's at hand.
        self._deadlines: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Deadlines] = (
            weakref.WeakKeyDictionary()
        )
        self._last: tuple[weakref.ref[asyncio.AbstractEventLoop] | None, _Deadlines] = (None, _Deadlines())

    def _deadlines_here(self, loop: asyncio.AbstractEventLoop) -> _Deadlines:
        last_loop, deadlines = self._last
        if last_loop is None or last_loop() is not loop:
            deadlines = self._deadlines.get(loop) or self._deadlines.setdefault(loop, _Deadlines())
            self._last = (weakref.ref(loop), deadlines)
        return deadlines

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        edge = self.edge_of(scope)
        scope = forwarded_scope(scope, edge.trusted_proxies)
        start = time.perf_counter()
        status = 500  # what the client gets if the application fails before answering
        started = False

        async def send_out(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                status, started = message["status"], True
                headers = [*message.get("headers", ()), *_SECURITY_RAW]
                state = scope.get("state")
                message["headers"] = _vary_host(headers) if state and state.get(_VARY_HOST) else headers
            await send(message)

        try:
            if not _one_host(scope):
                await _bad_request(send_out)
                return
            loop = asyncio.get_running_loop()
            deadlines = self._deadlines_here(loop)
            timeout = asyncio.Timeout(None)
            try:
                async with timeout:
                    deadlines.add(loop, timeout, edge.request_timeout)
                    try:
                        await self.app(scope, receive, send_out)
                    finally:
                        deadlines.running.pop(timeout, None)
            except ClientDisconnect:
                # The client's business, not the service's: no traceback, no 500, nothing logged but
                # the access line.
                status = CLIENT_CLOSED
            except TimeoutError:
                if not started:  # once the answer is under way, nothing else can be said on it
                    await _too_long(send_out)
        finally:
            elapsed = time.perf_counter() - start
            for observer in self.observers:
                observer(scope, status, elapsed)


_VARY_HOST = "autoconfig.vary_host"


def varies_with_host(scope: Scope) -> None:
    """Say that the answer is built from the Host header: it goes out with `Vary: Host`, so that a
    shared cache (a reverse proxy's may key on the path alone) keeps one copy per Host."""
    scope.setdefault("state", {})[_VARY_HOST] = True


def _vary_host(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    for index, (name, value) in enumerate(headers):
        if name.lower() == b"vary":
            headers[index] = (name, value + b", Host")
            return headers
    return [*headers, (b"vary", b"Host")]


def _one_host(scope: Scope) -> bool:
    """RFC 9112 3.2: a request with two Host lines, or an HTTP/1.1 request with none, must be refused (a
    proxy and the service could each read another). h11 refuses them itself; httptools does not."""
    hosts = 0
    for name, _ in scope.get("headers", ()):
        if name == b"host":
            hosts += 1
    return hosts == 1 or (hosts == 0 and scope.get("http_version") != "1.1")


async def _bad_request(send: Send) -> None:
    await _plain(send, 400, BAD_REQUEST_BODY)


async def _too_long(send: Send) -> None:
    # The body may still be on its way: the connection cannot carry another request, and keeping it
    # open would hold it for the keep-alive time more. uvicorn closes after an answer that says so.
    await _plain(send, 503, TIMEOUT_BODY, [(b"retry-after", b"1"), (b"connection", b"close")])


async def _plain(
    send: Send, status: int, body: bytes, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
        *(extra or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
