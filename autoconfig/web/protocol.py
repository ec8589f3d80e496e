"""uvicorn's HTTP protocol, with TCP_NODELAY on every connection.

asyncio sets TCP_NODELAY on accepted sockets only when the listening socket says IPPROTO_TCP. The
socket uvicorn hands to its worker processes (`--workers 2` and more) says protocol 0, so in every
worker small answers waited for the client's delayed ACK: about 40 ms each on keep-alive
connections, capping two workers at about 700 requests a second where one did 5,000. Setting the
option on each connection removes that wait whatever the number of workers.
"""

from __future__ import annotations

import asyncio
import socket

from uvicorn.protocols.http.h11_impl import H11Protocol


class NoDelayH11Protocol(H11Protocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)
