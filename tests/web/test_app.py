"""Reloading, through SIGHUP to a live `autoconfig serve`: the supervisor reads and checks the files, and
every worker swaps the new settings in without a restart; a broken file is logged once with its
problems, the old settings keep serving, and /healthz says `degraded` (200) until the file is fixed.
Every wait is bounded.
"""

from __future__ import annotations

import functools
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from autoconfig.paths import profiles_dir
from tests.helpers.live import Server, serving, wait_for
from tests.helpers.prometheus import parse_metrics, value

JEAN = "jean.dupont@ac-paris.fr"
CONFIG = f"/mail/config-v1.1.xml?emailaddress={JEAN}"
OLD_HOST = "imap.ac-paris.fr"
NEW_HOST = "imap.reloaded.ac-paris.fr"
PROBLEM = "providers[0].incoming[0].port: found 99999"
RELOADS = "autoconfig_settings_reloads_total"


@pytest.fixture(params=[1, 2], ids=["one-worker", "two-workers"])
def live(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Server, Path, int]]:
    """A server on a copy of the bundled ac-paris.toml, the copy's path, and the number of workers."""
    workers: int = request.param
    settings = tmp_path / "settings.toml"
    shutil.copy(profiles_dir() / "ac-paris.toml", settings)
    with serving(tmp_path / "logs", settings=settings, workers=workers) as server:
        yield server, settings, workers


def imap_host(server: Server) -> str:
    response = server.get(CONFIG)
    assert response.status_code == 200, response.text
    start = response.text.index("<hostname>") + len("<hostname>")
    return response.text[start : response.text.index("</hostname>", start)]


def health(server: Server) -> tuple[int, dict[str, Any]]:
    response = server.get("/healthz")
    body: dict[str, Any] = response.json()
    return response.status_code, body


def test_sighup_reloads_and_a_broken_file_keeps_the_old_settings(live: tuple[Server, Path, int]) -> None:
    server, settings, _ = live
    assert imap_host(server) == OLD_HOST
    assert health(server)[0] == 200
    original = settings.read_text(encoding="utf-8")

    # 1. A good change: a new IMAP host, and the access log in JSON with hashed addresses.
    reloaded = original.replace(f'host = "{OLD_HOST}"', f'host = "{NEW_HOST}"').replace(
        'log_addresses = "redact"', 'log_addresses = "hash"\nlog_format = "json"'
    )
    assert reloaded != original
    settings.write_text(reloaded, encoding="utf-8")
    offset = len(server.error_log())
    server.hangup()
    server.wait_for_log(f"settings reloaded (SIGHUP) from {settings}", after=offset)
    wait_for(lambda: True if {imap_host(server) for _ in range(8)} == {NEW_HOST} else None, 10, "all new")
    # No worker was replaced: the same processes serve the new settings, no connection was closed.
    assert "Started server process" not in server.error_log()[offset:]
    marker = "marker-after-reload"
    assert server.get(f"/guide?email={JEAN}&{marker}=1").status_code == 200
    line = wait_for(
        lambda: next((x for x in server.access_log().splitlines() if marker in x), None), 5, "the access line"
    )
    entry = json.loads(line)  # one JSON object a line, its time inside
    assert entry["status"] == 200
    assert entry["target"].startswith("/guide?email=h:")
    assert "dupont" not in line

    # 2. A broken file: logged with its problem; the previous settings keep serving.
    settings.write_text(reloaded.replace("port = 143", "port = 99999"), encoding="utf-8")
    offset = len(server.error_log())
    server.hangup()
    log = server.wait_for_log(PROBLEM, after=offset)
    assert "reload (SIGHUP) refused; still serving the previous settings" in log[offset:]
    assert str(settings) in log[offset:]
    assert "Traceback" not in log
    # The same broken file again: said once, not at every signal.
    again = len(server.error_log())
    for count in (2, 3):  # one at a time: two signals sent at once may arrive as one (POSIX)
        server.hangup()
        wait_for(functools.partial(_counted, server, "failed", count), 10, f"{count} refused reloads")
    assert PROBLEM not in server.error_log()[again:]
    assert server.process.poll() is None
    assert {imap_host(server) for _ in range(8)} == {NEW_HOST}
    for _ in range(4):  # several connections: every worker says so, and stays in the load balancer
        status, body = health(server)
        assert status == 200
        assert body["status"] == "degraded"
        assert PROBLEM in body["settings"]["file_problems"]

    # 3. The file is fixed: healthy again, without a restart.
    settings.write_text(reloaded, encoding="utf-8")
    for _ in range(4):
        status, body = health(server)
        assert (status, body["status"]) == (200, "ok")
    assert {imap_host(server) for _ in range(4)} == {NEW_HOST}

    # The reloads counted by result, once each whatever the number of workers (the supervisor counts).
    assert (_reloads(server, "ok"), _reloads(server, "failed")) == (1, 3)


def _counted(server: Server, result: str, count: int) -> bool | None:
    return True if _reloads(server, result) == count else None


def _reloads(server: Server, result: str) -> float:
    return value(parse_metrics(server.get("/metrics").text), RELOADS, result=result)


def test_sighup_with_an_unchanged_file_serves_the_same(live: tuple[Server, Path, int]) -> None:
    server, settings, _ = live
    before = health(server)[1]["settings"]
    offset = len(server.error_log())
    server.hangup()
    server.wait_for_log("settings reloaded (SIGHUP)", after=offset)
    after = health(server)[1]["settings"]
    assert after["sha256"] == before["sha256"]
    assert after["file"] == str(settings)
    assert imap_host(server) == OLD_HOST
