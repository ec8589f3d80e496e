"""A new log-hash key, given by a reload, is used by every worker at once: the workers that were running
and those started after. (It used to be set once at a worker's start: two workers then hashed one
address two ways, and a person's requests could no longer be followed.)"""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path

from tests.helpers.live import Server, serving, wait_for
from tests.helpers.settings import settings_data, write_settings

TARGET = "/guide?email=ana.lopez%40example.org&lang=en"
HASHED = re.compile(r"email=(h:[0-9a-f]{12})@example\.org")


def hashes(server: Server, marker: str) -> set[str]:
    """The hashes of the address in the access lines of the requests marked `marker`."""
    return {
        found[1]
        for line in server.access_log().splitlines()
        if marker in line and (found := HASHED.search(line)) is not None
    }


def ask(server: Server, marker: str, times: int = 20) -> set[str]:
    # Each request on a new connection: the kernel spreads them over both workers.
    for _ in range(times):
        assert server.get(f"{TARGET}&{marker}=1").status_code == 200
    return wait_for(lambda: found if len(found := hashes(server, marker)) >= 1 else None, 5, "access lines")


def test_a_new_key_is_used_by_old_and_new_workers_alike(tmp_path: Path) -> None:
    key = tmp_path / "hash.key"
    key.write_bytes(b"a" * 32)
    data = settings_data(service={"log_addresses": "hash", "log_hash_key_file": str(key)})
    with serving(tmp_path / "logs", settings=write_settings(tmp_path, data), workers=2) as server:
        (before,) = ask(server, "before")
        key.write_bytes(b"b" * 32)
        offset = len(server.error_log())
        server.hangup()
        server.wait_for_log("settings reloaded (SIGHUP)", after=offset)
        # Both workers that were running, then one of them replaced by a new one.
        after = ask(server, "after")
        kept, killed = server.workers()
        os.kill(killed, signal.SIGKILL)
        wait_for(lambda: True if killed not in server.workers() else None, 10, "the killed worker gone")
        server.wait_for_workers(1, besides=(kept,))
        respawned = ask(server, "respawned")
    assert len(after) == 1, f"the workers hash one address {len(after)} ways after the reload: {after}"
    assert after == respawned
    assert after != {before}
