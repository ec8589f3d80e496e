"""logqueue.py against a real `autoconfig serve` whose standard output nobody reads: a full pipe (a
stalled journald or log shipper) must not stop the answers, and no line is lost once it is read again."""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx2
import pytest

from autoconfig.serving import logqueue
from tests.helpers.live import free_port, stop, wait_for
from tests.helpers.paths import ROOT

MARKER = "log-pipe-marker"
REQUESTS = 3000  # about 400 kB of access lines: six times what a pipe holds


def test_a_stalled_log_reader_does_not_stop_the_answers(tmp_path: Path) -> None:
    port = free_port()
    environment = {k: v for k, v in os.environ.items() if k != "AUTOCONFIG_SETTINGS"}
    with (tmp_path / "error.log").open("wb") as errors:
        process = subprocess.Popen(
            [sys.executable, "-m", "autoconfig", "serve", "--port", str(port), "--workers", "1"],
            cwd=ROOT,
            env=environment,
            stdout=subprocess.PIPE,  # read by nobody until the end
            stderr=errors,
            start_new_session=True,
        )
    try:
        base = f"http://127.0.0.1:{port}"

        def answers() -> bool | None:
            try:
                return httpx2.get(f"{base}/healthz", timeout=1).status_code == 200 or None
            except httpx2.TransportError:
                return None

        wait_for(answers, 20, "the service answering")
        with httpx2.Client(base_url=base, timeout=10) as client:
            statuses = [
                client.get(
                    f"/mail/config-v1.1.xml?emailaddress=jean.dupont@ac-paris.fr&{MARKER}={i}"
                ).status_code
                for i in range(REQUESTS)
            ]
        assert statuses == [200] * REQUESTS
        # The reader comes back, and the service stops: every line is there, in order.
        pipe = process.stdout
        assert pipe is not None
        read: list[bytes] = []
        reader = threading.Thread(target=lambda: read.append(pipe.read()), daemon=True)
        reader.start()
        stop(process)
        reader.join(timeout=10)
        pipe.close()
        lines = [line for line in b"".join(read).decode().splitlines() if MARKER in line]
        assert len(lines) == REQUESTS
        numbers = [int(line.split(f"{MARKER}=")[1].split()[0].rstrip('"')) for line in lines]
        assert numbers == list(range(REQUESTS))
        assert "Traceback" not in (tmp_path / "error.log").read_text(errors="replace")
    finally:
        stop(process)
        if process.stdout is not None:
            process.stdout.close()


def test_lines_past_the_bound_are_dropped_counted_and_said(monkeypatch: pytest.MonkeyPatch) -> None:
    """A reader that stops: the writing thread blocks on the full pipe, requests go on appending until the
    bound, the rest are dropped, and once lines go through again one warning says how many."""
    monkeypatch.setattr(logqueue, "QUEUE_SIZE", 100)
    read_end, write_end = os.pipe()
    stream = io.TextIOWrapper(os.fdopen(write_end, "wb"), encoding="utf-8")
    notes = io.StringIO()
    logger = logging.getLogger("autoconfig.test-offload")
    logger.handlers = [logging.StreamHandler(notes)]
    logger.propagate = False
    offload = logqueue.Offload([logger.name], stream)
    chunks: list[bytes] = []
    reader = threading.Thread(target=lambda: chunks.append(_read_all(read_end)), daemon=True)
    try:
        filler = "x" * 1000
        deadline = time.monotonic() + 10
        # Past what the pipe holds the thread blocks writing, and the deque fills up to its bound.
        while len(offload.lines) < 100 and time.monotonic() < deadline:
            offload.write_line(filler)
            time.sleep(0.001)
        assert (len(offload.lines), offload.dropped) == (100, 0)
        for _ in range(50):
            offload.write_line("dropped")
        assert offload.dropped == 50
        dropped = offload.dropped
        reader.start()
        wait_for(lambda: True if not offload.lines else None, 5, "the queue drained")
        offload.write_line("after")  # the next line through says how many were dropped before it
        wait_for(lambda: True if "lines dropped" in notes.getvalue() else None, 5, "the note")
        assert f"{dropped} log lines dropped" in notes.getvalue()
    finally:
        offload.stop()
        stream.close()
        if reader.is_alive():
            reader.join(timeout=5)
    assert b"dropped\n" not in b"".join(chunks)
    assert b"".join(chunks).endswith(b"after\n")


def _read_all(fd: int) -> bytes:
    out = []
    while chunk := os.read(fd, 65536):
        out.append(chunk)
    os.close(fd)
    return b"".join(out)
