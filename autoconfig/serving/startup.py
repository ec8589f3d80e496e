"""What `serve` does before it serves, and `check` does in its place: the settings validated with every
file they name, the state the workers need, what to warn about; the first line the service logs; and
the logging both the supervisor and its workers use."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from autoconfig import __version__
from autoconfig.errors import Note, Problem, SettingsError, counted
from autoconfig.formats.signing import new_development_signer, signer_for
from autoconfig.formats.thunderbird import generic_answer_notes
from autoconfig.paths import is_bundled_default, state_dir
from autoconfig.settings import Settings, load_settings, settings_warnings
from autoconfig.version import Version
from autoconfig.web.accesslog import stored_hash_key

from .snapshot import Snapshot

MIN_HASH_KEY_BYTES = 16


def log_config(level: str = "INFO") -> dict[str, Any]:
    """Logging for uvicorn and the app: access lines on stdout, everything else on stderr."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
            "access": {"format": "%(message)s"},  # the line holds its own time (JSON: one object a line)
        },
        "handlers": {
            "stderr": {"class": "logging.StreamHandler", "formatter": "plain", "stream": "ext://sys.stderr"},
            "access": {"class": "logging.StreamHandler", "formatter": "access", "stream": "ext://sys.stdout"},
        },
        "loggers": {
            "uvicorn": {"handlers": ["stderr"], "level": level, "propagate": False},
            "autoconfig": {"handlers": ["stderr"], "level": level, "propagate": False},
            "autoconfig.access": {"handlers": ["access"], "level": level, "propagate": False},
        },
    }


def settings_notes(settings: Settings) -> list[Note]:
    """What `check` and `serve` warn about. A provider without a PACC document is not among them: most
    offer STARTTLS, which PACC cannot describe, and that is a choice, not a fault (`dns` says it)."""
    return settings_warnings(settings) + generic_answer_notes(settings)


def descriptor_notes(settings: Settings) -> list[Note]:
    """Said when the file-descriptor limit caps connections below `service.max_connections`."""
    # Here, not at the top: the protocols import uvicorn, which `check` and the other commands need not.
    from .protocol import DESCRIPTOR_MARGIN, connection_cap, descriptor_limit  # noqa: PLC0415

    wanted = settings.service.max_connections
    cap = connection_cap(wanted)
    if cap >= wanted:
        return []
    return [
        Note(
            f"each worker keeps at most {cap} connections, not service.max_connections ({wanted}): the "
            f"file-descriptor limit is {descriptor_limit()}",
            f"a worker needs about {DESCRIPTOR_MARGIN} descriptors besides its connections; raise the limit "
            "(LimitNOFILE in systemd, ulimit -n, the container runtime's nofile) or lower "
            "service.max_connections to silence this",
        )
    ]


def serving_line(settings: Settings, host: str, port: int) -> str:
    """The first line a service logs: what it serves, and where to look."""
    shown = f"[{host}]" if ":" in host else host
    where = f"http://{shown}:{port}/"
    if is_bundled_default(settings.source):
        names = ", ".join(provider.name for provider in settings.providers)
        return (
            f"autoconfig {__version__}: serving the bundled example settings ({names}) at {where}: open it "
            "in a browser; serve your own with --settings FILE"
        )
    return f"autoconfig {__version__}: serving {settings.source} ({settings.summary()}) at {where}"


def serving_snapshot(path: Path | None) -> tuple[Snapshot, list[Note]]:
    """serving_version, as the supervisor hands it to its workers."""
    version, notes = serving_version(path)
    return Snapshot.take(version), notes


def serving_version(path: Path | None) -> tuple[Version, list[Note]]:
    """Every check `serve` makes before it serves, and so every check `check` makes: the settings with
    their files and signing chain, the log-hash key, the state folder; then the version the workers
    serve (with the development certificate, the log-hash key) and what to warn about. Raises
    SettingsError.

    The state folder holds the development certificate and the log-hash key: when it cannot be written
    they live in memory only, which is said (and /healthz says it too); the service still starts.
    """
    settings = load_settings(path)
    notes = settings_notes(settings)
    state_notes: list[Note] = []
    try:
        signer = signer_for(settings)
    except OSError as exc:
        signer = new_development_signer()
        state_notes.append(
            Note(
                f"the state folder {state_dir()} cannot be written ({exc.strerror or exc}): the development "
                "signing certificate changes at each restart",
                "it lives in memory only; make the folder writable, set AUTOCONFIG_STATE_DIR, or configure "
                "[signing]",
            )
        )
    hash_key: bytes | None = None
    if settings.service.log_hash_key_file is not None:
        content = settings.file_bytes(settings.service.log_hash_key_file)
        if len(content) < MIN_HASH_KEY_BYTES:
            raise SettingsError(
                settings.source,
                [
                    Problem(
                        "service.log_hash_key_file",
                        str(settings.service.log_hash_key_file),
                        f"the key is {counted(len(content), 'byte')} long; at least {MIN_HASH_KEY_BYTES} "
                        "are needed",
                        "write random bytes in it, e.g. head -c 32 /dev/urandom > FILE",
                    )
                ],
            )
        hash_key = hashlib.sha256(content).digest()
    elif settings.service.log_addresses == "hash":
        hash_key, warning = stored_hash_key()
        state_notes += [warning] if warning else []
    version = Version.build(settings, signer, hash_key, tuple(str(note) for note in state_notes))
    return version, notes + state_notes + descriptor_notes(settings) + (signer.warnings() if signer else [])
