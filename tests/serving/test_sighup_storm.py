"""SIGHUPs with the same broken file against a real `autoconfig serve`: the refusal is said once, and a
storm of signals adds at most one line a minute, with how many (docs/operations.md). Bounded waits."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from autoconfig.paths import profiles_dir
from tests.helpers.live import serving

SIGNALS = 100


def test_a_storm_of_sighups_with_the_same_broken_file_adds_one_line(tmp_path: Path) -> None:
    settings = tmp_path / "settings.toml"
    shutil.copy(profiles_dir() / "ac-paris.toml", settings)
    with serving(tmp_path / "logs", settings=settings) as server:
        settings.write_text(settings.read_text(encoding="utf-8") + "\n[[providers\n", encoding="utf-8")
        server.hangup()
        server.wait_for_log("reload (SIGHUP) refused; still serving the previous settings")
        for _ in range(SIGNALS):
            server.hangup()
            time.sleep(0.01)  # apart, so that the kernel does not merge them
        server.wait_for_log("reload (SIGHUP) refused again")
        time.sleep(1)  # the rest of the storm handled
        log = server.error_log()
        assert log.count("reload (SIGHUP) refused; still serving") == 1
        assert log.count("refused again") == 1
        assert server.get("/healthz").json()["status"] == "degraded"
        assert server.process.poll() is None
