"""Where the tests find the project and their data."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
DATA = ROOT / "tests" / "data"
# Copies of ../shared's real data, with their licence notices, so that a clone alone runs every test.
CORPUS = DATA / "ispdb-corpus"


def build_wheel(out: Path) -> Path:
    """The project's wheel, built as the Dockerfile's first stage builds it (`pip wheel --no-deps`)."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(out),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
        timeout=180,
    )
    (built,) = out.glob("autoconfig-*.whl")
    return built
