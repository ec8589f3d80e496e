"""What the supervisor validated, handed to its workers: the settings file's bytes, the bytes of the
files it names, the development signing certificate and the log-hash key.

A worker started later (to replace one that died, or after a reload) serves exactly this, whatever the
disk holds by then: a settings file half-edited at the moment a worker dies no longer stops the service,
and a deleted development key no longer gives workers two different certificates. The snapshot travels
through the pipe that starts the worker (pickled), never through a file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from autoconfig.formats.signing import Signer, signer_for, signer_from_pem
from autoconfig.settings import Settings
from autoconfig.settings.loading import settings_from_bytes
from autoconfig.version import Version


@dataclass(frozen=True)
class Snapshot:
    source: Path
    raw: bytes
    files: dict[Path, bytes]
    digest: str
    development_signer: tuple[bytes, bytes] | None  # certificate and key, PEM
    log_hash_key: bytes | None
    notes: tuple[str, ...] = ()  # what the supervisor noticed, for /healthz (a state folder it cannot write)

    @classmethod
    def take(cls, version: Version) -> Snapshot:
        settings, signer = version.settings, version.signer
        development = signer.to_pem() if signer is not None and signer.development else None
        return cls(
            settings.source,
            settings.raw,
            settings.files,
            settings.digest,
            development,
            version.log_hash_key,
            version.notes,
        )

    def version(self) -> Version:
        """The version the supervisor made, made again in this process from the same bytes (raises
        SettingsError, which would mean the worker runs other code than the supervisor). Its signer: the
        development one the supervisor made, so that every worker signs with the same, else the one the
        settings name, whose dates the supervisor judged: a worker serves what it accepted, even once
        the certificate has expired since (the next reload or restart refuses it)."""
        settings = self.settings()
        signer = self.signer_override() or signer_for(settings, dates=False)
        return Version.build(settings, signer, self.log_hash_key, self.notes)

    def settings(self) -> Settings:
        """The settings, validated again from the same bytes (raises SettingsError, which would mean the
        worker runs other code than the supervisor)."""
        return settings_from_bytes(self.raw, self.source, self.files)

    def signer_override(self) -> Signer | None:
        """The development signer the supervisor made, or None when the settings decide the signer."""
        if self.development_signer is None:
            return None
        return signer_from_pem(*self.development_signer, development=True)
