"""A folder updated as the kubelet updates a mounted ConfigMap or Secret (its "atomic writer"): each
version in a new hidden folder, `..data` swapped to it by renaming a symbolic link, each file a link
through `..data`, and the previous version's folder deleted."""

from __future__ import annotations

import itertools
import os
import shutil
from pathlib import Path

_versions = itertools.count(1)


def publish(folder: Path, files: dict[str, bytes]) -> None:
    """Make `files` the folder's content, in one step for a reader."""
    folder.mkdir(parents=True, exist_ok=True)
    version = folder / f"..2026_11_30_00_00_00.{next(_versions)}"
    version.mkdir()
    for name, content in files.items():
        (version / name).write_bytes(content)
    data = folder / "..data"
    previous = os.readlink(data) if data.is_symlink() else None
    swap = folder / "..data_tmp"
    swap.symlink_to(version.name)
    os.replace(swap, data)
    for name in files:
        if not (folder / name).is_symlink():
            (folder / name).symlink_to(f"..data/{name}")
    if previous is not None:
        shutil.rmtree(folder / previous)
