"""The workers' metrics folder against a real `autoconfig serve`: removed under the service (a cleaner of
temporary files), it is made again, /metrics keeps answering and counting, /healthz says degraded while it
is gone, and a replacement worker starts; left behind by a supervisor killed with SIGKILL, it is removed
by the next start. Every wait is bounded."""

from __future__ import annotations

import os
import re
import shutil
import signal
import stat
from pathlib import Path
from typing import Any

from tests.helpers.live import Server, serving, wait_for

CONFIG = "/mail/config-v1.1.xml?emailaddress=jean.dupont@ac-paris.fr"


def folder_of(temporary: Path, *besides: Path) -> Path:
    """The one metrics folder in the service's own temporary folder, but for `besides`."""
    (folder,) = set(temporary.glob("autoconfig-metrics-*")) - set(besides)
    return folder


def config_answers(server: Server) -> float:
    """What /metrics counts of the Thunderbird answers, summed over the workers."""
    response = server.get("/metrics")
    assert response.status_code == 200, response.text
    counted = r'^autoconfig_requests_total\{endpoint="clientconfig"[^}]*\} (\S+)$'
    found = re.findall(counted, response.text, re.MULTILINE)
    return sum(float(value) for value in found)


def health(server: Server) -> dict[str, Any]:
    response = server.get("/healthz")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_a_removed_metrics_folder_is_made_again_and_nothing_stops(tmp_path: Path) -> None:
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    with serving(tmp_path / "logs", env={"TMPDIR": str(temporary)}) as server:
        folder = folder_of(temporary)
        for _ in range(3):
            assert server.get(CONFIG).status_code == 200
        wait_for(lambda: True if config_answers(server) == 3 else None, 5, "3 answers counted")
        # Removed, and something in its place for a while: the supervisor cannot make it again yet.
        shutil.rmtree(folder)
        folder.write_text("in the way\n", encoding="utf-8")
        assert server.get("/metrics").status_code == 200
        body = health(server)
        assert body["status"] == "degraded"
        assert any(f"the metrics folder {folder} was removed" in reason for reason in body["reasons"])
        server.wait_for_log(f"the metrics folder {folder} was removed and cannot be made again")
        assert server.get(CONFIG).status_code == 200  # the worker survives and answers
        folder.unlink()
        server.wait_for_log(f"the metrics folder {folder} was removed: made again")
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        wait_for(lambda: True if health(server)["status"] == "ok" else None, 5, "/healthz ok again")
        # The worker wrote its counts anew, the answer given while the folder was gone included.
        wait_for(lambda: True if config_answers(server) == 4 else None, 5, "4 answers counted")
        (worker,) = server.workers()
        os.kill(worker, signal.SIGKILL)
        server.wait_for_workers(1, besides=(worker,))
        wait_for(lambda: True if server.get(CONFIG).status_code == 200 else None, 10, "a replacement")
        assert config_answers(server) >= 5
        assert "Traceback" not in server.error_log()


def test_a_metrics_folder_removed_under_two_workers_costs_no_worker(tmp_path: Path) -> None:
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    with serving(tmp_path / "logs", workers=2, env={"TMPDIR": str(temporary)}) as server:
        folder = folder_of(temporary)
        first = server.wait_for_workers(2)
        shutil.rmtree(folder)
        assert server.get("/metrics").status_code == 200
        server.wait_for_log(f"the metrics folder {folder} was removed: made again")
        assert folder.is_dir()
        for _ in range(4):
            assert server.get(CONFIG).status_code == 200
        wait_for(lambda: True if config_answers(server) >= 4 else None, 5, "the answers counted")
        assert sorted(server.workers()) == sorted(first)  # no worker died of it
        os.kill(first[0], signal.SIGKILL)
        server.wait_for_workers(2, besides=(first[0],))
        wait_for(lambda: True if health(server)["status"] == "ok" else None, 5, "/healthz ok")
        assert "Traceback" not in server.error_log()


def test_the_folder_of_a_supervisor_killed_with_sigkill_goes_at_the_next_start(tmp_path: Path) -> None:
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    environment = {"TMPDIR": str(temporary)}
    with serving(tmp_path / "first", env=environment) as killed:
        left = folder_of(temporary)
        workers = killed.workers()
        killed.process.send_signal(signal.SIGKILL)
        killed.process.wait(timeout=5)
    # Its workers stop on their own when the supervisor's pipe closes.
    wait_for(lambda: True if not any(Path(f"/proc/{pid}").exists() for pid in workers) else None, 15, "exit")
    assert left.is_dir()
    older = temporary / "autoconfig-metrics-k0esm0r5"  # an older version's name says no owner: it stays
    older.mkdir()
    alive = temporary / f"autoconfig-metrics-{os.getpid()}-abcdefgh"  # a running process's: it stays
    alive.mkdir()
    others = temporary / f"autoconfig-metrics-{killed.process.pid}-otheruser"  # another user's: it stays
    others.mkdir()
    if os.geteuid() == 0:
        os.chown(others, 65534, 65534)
    with serving(tmp_path / "second", env=environment) as server:
        assert not left.exists()
        assert older.is_dir()
        assert alive.is_dir()
        assert others.is_dir() is (os.geteuid() == 0)
        assert folder_of(temporary, older, alive, others).is_dir()
        assert health(server)["status"] == "ok"
