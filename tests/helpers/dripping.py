"""A loopback web server that answers slowly on purpose, over HTTP or HTTPS: after the request's head it
sends its answer one byte at a time, either from the status line on (`head`) or after a complete head
(`body`, the body then announced far longer than it will ever be in time). And a DNS server on loopback
that never answers a question, only sends, now and then, replies that match none.

Each connection has its own thread, TLS handshake included, so a client that stalls holds no other."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

LOOPBACK = "127.0.0.1"
INTERVAL = 0.5  # seconds between two bytes
Drip = Literal["head", "body"]
BODY = b"<?xml version='1.0'?>" + b"x" * 400  # 400 bytes and more: 200 s at one byte every 0.5 s


def _head(length: int) -> bytes:
    return (
        f"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: {length}\r\n"
        "Connection: close\r\nX-Padding: " + "p" * 200 + "\r\n\r\n"
    ).encode()


def _read_head(conn: socket.socket) -> None:
    seen = b""
    while b"\r\n\r\n" not in seen:
        chunk = conn.recv(4096)
        if not chunk:
            return
        seen += chunk


def _answer(conn: socket.socket, drip: Drip, stop: threading.Event, interval: float) -> None:
    _read_head(conn)
    head = _head(len(BODY))
    if drip == "body":
        conn.sendall(head)
    for byte in head + BODY if drip == "head" else BODY:
        if stop.wait(interval):
            return
        conn.sendall(bytes([byte]))


def _serve(
    raw: socket.socket, drip: Drip, context: ssl.SSLContext | None, stop: threading.Event, interval: float
) -> None:
    conn = raw
    try:
        if context is not None:
            raw.settimeout(10)
            conn = context.wrap_socket(raw, server_side=True)
            conn.settimeout(None)
        _answer(conn, drip, stop, interval)
    except OSError:  # the client gave up (the point of the tests), or a handshake failed
        pass
    finally:
        conn.close()


@contextmanager
def dripping(
    drip: Drip, *, tls: tuple[Path, Path] | None = None, interval: float = INTERVAL
) -> Iterator[int]:
    """A server on LOOPBACK that drips its answers (over TLS with `tls`, a fullchain and its key); its
    port."""
    context: ssl.SSLContext | None = None
    if tls is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*tls)
    stop = threading.Event()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((LOOPBACK, 0))
        listener.listen(64)
        listener.settimeout(0.1)

        def accept() -> None:
            while not stop.is_set():
                try:
                    raw, _ = listener.accept()
                except TimeoutError:
                    continue
                except OSError:
                    return
                raw.settimeout(None)
                threading.Thread(
                    target=_serve, args=(raw, drip, context, stop, interval), daemon=True
                ).start()

        acceptor = threading.Thread(target=accept, daemon=True)
        acceptor.start()
        try:
            yield listener.getsockname()[1]
        finally:
            stop.set()
            acceptor.join(5)


@contextmanager
def mute_dns(interval: float = 0.2) -> Iterator[int]:
    """A UDP DNS server on LOOPBACK that never answers: to every question it sends, every `interval`,
    a packet with another id (a client must not take it for its answer, nor wait more for it). Its port."""
    stop = threading.Event()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as server:
        server.bind((LOOPBACK, 0))
        server.settimeout(0.05)
        clients: list[tuple[str, int]] = []

        def run() -> None:
            sent = time.monotonic()
            while not stop.is_set():
                try:
                    _, client = server.recvfrom(4096)
                    clients.append(client)
                except TimeoutError:
                    pass
                if time.monotonic() - sent >= interval:
                    sent = time.monotonic()
                    for client in clients:
                        server.sendto(b"\x00\x00" + b"\x81\x80" + b"\x00" * 8, client)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        try:
            yield server.getsockname()[1]
        finally:
            stop.set()
            thread.join(5)
