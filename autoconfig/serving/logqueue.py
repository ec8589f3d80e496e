"""Log lines written by a thread of their own, so that a slow reader of standard output (a full pipe, a
stalled journald or log shipper) never blocks a worker's event loop: requests go on being answered.

The queue is bounded: when the reader is so slow that it fills, lines are dropped and counted rather than
kept in memory without end, and the count is logged once lines go through again.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from collections.abc import Iterable
from typing import TextIO

QUEUE_SIZE = 50_000  # lines: a few seconds of a busy worker, some tens of MB at most
_STOP = None

Item = tuple[tuple[logging.Handler, ...], logging.LogRecord] | str | None


class Offloaded(logging.Handler):
    """Stands for a logger's handlers: hands each record, formatted later, to the writing thread."""

    def __init__(
        self, handlers: tuple[logging.Handler, ...], lines: queue.Queue[Item], dropped: list[int]
    ) -> None:
        super().__init__()
        self.handlers = handlers
        self.lines = lines
        self.dropped = dropped  # shared by every logger's handler: one count

    def emit(self, record: logging.LogRecord) -> None:
        # Arguments are merged now: a mutable argument could change before the thread formats it.
        record.msg, record.args = record.getMessage(), None
        try:
            if self.dropped[0]:
                self.lines.put_nowait((self.handlers, _dropped_note(self.dropped[0])))
                self.dropped[0] = 0
            self.lines.put_nowait((self.handlers, record))
        except queue.Full:
            self.dropped[0] += 1


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
        self.lines: queue.Queue[Item] = queue.Queue(QUEUE_SIZE)
        self.dropped = [0]
        self.stream = stream  # where access lines go (standard output)
        for name in logger_names:
            logger = logging.getLogger(name)
            if logger.handlers:
                logger.handlers = [Offloaded(tuple(logger.handlers), self.lines, self.dropped)]
        self.thread = threading.Thread(target=self._write, name="autoconfig-log", daemon=True)
        self.thread.start()

    def write_line(self, line: str) -> None:
        """An access line, formatted: no log record to build, the cheapest way out of a request."""
        try:
            self.lines.put_nowait(line)
        except queue.Full:
            self.dropped[0] += 1

    def stop(self) -> None:
        """Write what is queued, then end the thread."""
        self.lines.put(_STOP)
        self.thread.join(timeout=5)

    def _write(self) -> None:
        lines = self.lines
        while True:
            item = lines.get()
            while True:
                if item is _STOP:
                    self._flush()
                    return
                if isinstance(item, str):
                    self.stream.write(item + "\n")
                else:
                    handlers, record = item
                    for handler in handlers:
                        if record.levelno >= handler.level:
                            handler.handle(record)
                try:  # what has piled up goes out before one flush
                    item = lines.get_nowait()
                except queue.Empty:
                    break
            self._flush()

    def _flush(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.stream.flush()
