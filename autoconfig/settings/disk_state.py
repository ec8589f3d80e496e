"""What the disk holds now, compared with what was validated: the settings file and the files it names,
by content, at the paths the settings write.

By content, because Kubernetes updates a mounted ConfigMap or Secret by swapping a symbolic link to a new
folder (`..data` -> `..2026_11_30_…`): the old folder disappears, and times, sizes and inodes of the files
the link led to say nothing about the new ones. At the paths as written, never resolved, for the same
reason: `/etc/autoconfig/tls/tls.crt` always leads to the current certificate.
"""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path

from .loading import named_files

# (path, SHA-256 of its bytes, or why it cannot be read), one per file, settings file first.
DiskState = tuple[tuple[str, str], ...]


def _digest(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def disk_state(paths: Iterable[Path]) -> DiskState:
    """Each file as the disk holds it now."""
    state = []
    for path in paths:
        try:
            state.append((str(path), _digest(path.read_bytes())))
        except OSError as exc:
            state.append((str(path), f"unreadable: {exc.strerror or exc}"))
    return tuple(state)


def validated_state(source: Path, raw: bytes, files: Mapping[Path, bytes]) -> DiskState:
    """The same, for the bytes that were validated: equal to `disk_state` when the disk still holds them."""
    return ((str(source), _digest(raw)), *((str(path), _digest(content)) for path, content in files.items()))


def paths_to_watch(source: Path, files: Iterable[Path]) -> tuple[Path, ...]:
    """The settings file, the files the validated settings name, and those the file on disk names now
    (a refused version may name a key that is yet to be written: writing it is a change to notice)."""
    named: list[Path] = [source, *files]
    try:
        data = tomllib.loads(source.read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        data = {}
    named += (path for _, path in named_files(data, source.parent))
    return tuple(dict.fromkeys(named))
