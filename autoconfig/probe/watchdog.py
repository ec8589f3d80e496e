"""An overall deadline for one network operation: when it passes, the socket is shut down, which ends
any read or write blocked on it at once, plain or TLS.

A socket's timeout alone does not bound an operation: it restarts at every byte received, and
`http.client` reads a head line by line and a body until it has the size it asked for, so a server that
sends one byte every half second holds such a read for as long as it likes. The watchdog runs beside
the operation (a timer thread) and does not rely on the reader's loop at all.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from types import TracebackType


class Watchdog:
    """Shuts down the socket it watches at `deadline` (time.monotonic()), unless disarmed before.

    Use it as a context manager around the operation, and ask `fired` afterwards: after a shutdown
    the reads in progress may end as if the server had closed (an empty read, a truncated answer),
    so only `fired` tells a cut answer from a complete one."""

    def __init__(self, deadline: float) -> None:
        self._lock = threading.Lock()
        self._socket: socket.socket | None = None
        self._done = False
        self.fired = False
        self._timer = threading.Timer(max(deadline - time.monotonic(), 0), self._fire)
        self._timer.daemon = True

    def watch(self, sock: socket.socket) -> None:
        """Watch this socket from now on (a TLS socket in place of the plain one it wraps)."""
        with self._lock:
            self._socket = sock
            if self.fired:  # the deadline passed before the socket was given
                _shut(sock)

    def _fire(self) -> None:
        with self._lock:
            if self._done:
                return
            self.fired = True
            if self._socket is not None:
                _shut(self._socket)

    def __enter__(self) -> Watchdog:
        self._timer.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        # From here on `fired` no longer changes: an answer complete by now is not reported cut.
        with self._lock:
            self._done = True
        self._timer.cancel()


def _shut(sock: socket.socket) -> None:
    # The descriptor's shutdown, not SSLSocket.shutdown: that one also drops the TLS state, which the
    # thread blocked in a read is still using.
    with contextlib.suppress(OSError):  # already closed, or never connected: nothing left to end
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
