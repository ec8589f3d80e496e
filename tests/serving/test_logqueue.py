"""logqueue.py against a real `autoconfig serve` whose standard output nobody reads: a full pipe (a
stalled journald or log shipper) must not stop the answers, and no line is lost once it is read again."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import httpx2

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
