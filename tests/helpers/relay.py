"""A TCP relay on loopback that keeps every byte it passes on: put between a reverse proxy and the
service, it shows what the proxy really sends upstream (the service logs no header)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress

BUFFER = 65536


class Relay:
    """Listens on `port` and passes each connection on to `upstream`, both on 127.0.0.1."""

    def __init__(self, upstream: int) -> None:
        self.upstream = upstream
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._sent = bytearray()  # what reached the upstream, every connection in turn
        self._sockets: list[socket.socket] = []
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    def sent(self) -> bytes:
        """Everything passed on to the upstream so far. A request's bytes are kept before they are passed
        on, so once its answer has come back they are here."""
        with self._lock:
            return bytes(self._sent)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            thread = threading.Thread(target=self._connection, args=(client,), daemon=True)
            with self._lock:
                self._threads.append(thread)
            thread.start()

    def _connection(self, client: socket.socket) -> None:
        server = socket.create_connection(("127.0.0.1", self.upstream))
        with self._lock:
            self._sockets += [client, server]
        back = threading.Thread(target=self._pump, args=(server, client, False), daemon=True)
        back.start()
        self._pump(client, server, True)
        back.join()
        with self._lock:
            self._sockets = [s for s in self._sockets if s not in (client, server)]
        client.close()
        server.close()

    def _pump(self, source: socket.socket, sink: socket.socket, kept: bool) -> None:
        with suppress(OSError):
            while chunk := source.recv(BUFFER):
                if kept:
                    with self._lock:
                        self._sent += chunk
                sink.sendall(chunk)
        with suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        with suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread
        self._listener.close()
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout=5)


@contextmanager
def relaying(upstream: int) -> Iterator[Relay]:
    relay = Relay(upstream)
    try:
        yield relay
    finally:
        relay.close()
