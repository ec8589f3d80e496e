"""Log lines written by a thread of their own, so that a slow reader of standard output (a full pipe, a
stalled journald or log shipper) never blocks a worker's event loop: requests go on being answered.

The queue is bounded: when the reader is so slow that it fills, lines are dropped and counted rather than
kept in memory without end, and the count is logged once lines go through again.

A request only appends to a deque (atomic under the GIL: no lock, no wake-up); the thread wakes every
WRITE_EVERY seconds and writes what piled up in one go. Waking it for each line, through a
`queue.Queue`, cost more than the rest of the access line: a lock, a notify, and the GIL passed back
and forth thousands of times a second.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import threading
from collections.abc import Iterable
from typing import TextIO

QUEUE_SIZE = 50_000  # lines: a few seconds of a busy worker, some tens of MB at most
WRITE_EVERY = 0.05  # seconds: lines reach standard output this late at most, when the reader keeps up

Item = tuple[tuple[logging.Handler, ...], logging.LogRecord] | str


class Offloaded(logging.Handler):
    """Stands for a logger's handlers: hands each record, formatted later, to the writing thread."""

    def __init__(self, handlers: tuple[logging.Handler, ...], offload: Offload) -> None:
        super().__init__()
        self.handlers = handlers
        self.offload = offload

    def emit(self, record: logging.LogRecord) -> None:
        # Arguments are merged now: a mutable argument could change before the thread formats it.
        record.msg, record.args = record.getMessage(), None
        self.offload.put((self.handlers, record))


def _dropped_note(count: int) -> logging.LogRecord:
    return logging.makeLogRecord(
        {
            "name": "autoconfig",
            "levelno": logging.WARNING,
            "levelname": "WARNING",
            "msg": f"{count} log lines dropped: their reader (standard output or error) was too slow",
        }
    )


class Offload:
    """The writing thread, and the ways in: loggers' records, and access lines as they are."""

    def __init__(self, logger_names: Iterable[str], stream: TextIO) -> None:
        self.lines: collections.deque[Item] = collections.deque()
        self.dropped = 0  # lines dropped since the last that went through
        self.stream = stream  # where access lines go (standard output)
        self._stopping = threading.Event()
        self._notes_to: tuple[logging.Handler, ...] = ()  # where "lines dropped" goes: autoconfig's
        for name in logger_names:
            logger = logging.getLogger(name)
            if logger.handlers:
                handlers = tuple(logger.handlers)
                if name == "autoconfig" or not self._notes_to:
                    self._notes_to = handlers
                logger.handlers = [Offloaded(handlers, self)]
        self.thread = threading.Thread(target=self._write, name="autoconfig-log", daemon=True)
        self.thread.start()

    def put(self, item: Item) -> None:
        if len(self.lines) >= QUEUE_SIZE:
            self.dropped += 1
            return
        if self.dropped:
            self.lines.append((self._notes_to, _dropped_note(self.dropped)))
            self.dropped = 0
        self.lines.append(item)

    def write_line(self, line: str) -> None:
        """An access line, formatted: no log record to build, the cheapest way out of a request."""
        self.put(line)

    def stop(self) -> None:
        """Write what is queued, then end the thread."""
        self._stopping.set()
        self.thread.join(timeout=5)

    def _write(self) -> None:
        while not self._stopping.wait(WRITE_EVERY):
            self._drain()
        self._drain()

    def _drain(self) -> None:
        lines = self.lines
        if not lines:
            return
        while lines:
            item = lines.popleft()
            if isinstance(item, str):
                self.stream.write(item + "\n")
            else:
                handlers, record = item
                for handler in handlers:
                    if record.levelno >= handler.level:
                        handler.handle(record)
        with contextlib.suppress(OSError, ValueError):
            self.stream.flush()
