"""paths.py's one private atomic write: mode 0600, whole or not at all, and the first one in place kept
when asked (the log-hash key several workers may make at once)."""

from __future__ import annotations

import stat
from pathlib import Path

from autoconfig.paths import write_private


def test_a_private_write_is_for_its_owner_only_and_replaces(tmp_path: Path) -> None:
    path = tmp_path / "key"
    assert write_private(path, b"first")
    assert write_private(path, b"second")
    assert path.read_bytes() == b"second"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["key"]  # no temporary file left behind


def test_without_replace_the_file_in_place_stays(tmp_path: Path) -> None:
    path = tmp_path / "key"
    assert write_private(path, b"first", replace=False)
    assert not write_private(path, b"second", replace=False)
    assert path.read_bytes() == b"first"
    assert [p.name for p in tmp_path.iterdir()] == ["key"]
