"""Running the `autoconfig` command as people do."""

from __future__ import annotations

import os
import subprocess
import sys

from autoconfig.paths import SETTINGS_ENV


def autoconfig(
    *args: str, env: dict[str, str] | None = None, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    """Run `python -m autoconfig ARGS` without any settings from the environment (unless `env`, added to
    the environment, names some)."""
    environment = {k: v for k, v in os.environ.items() if k != SETTINGS_ENV}
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "autoconfig", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=environment,
        check=False,
    )


def assert_no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stdout
    assert "Traceback" not in result.stderr
