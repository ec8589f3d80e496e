"""What /healthz reports: the version, the settings served and the state of the file on disk, the
providers, the signing certificate's expiry; ok, degraded or failing."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
from pathlib import Path
from typing import Any

from autoconfig import __version__
from autoconfig.errors import SettingsError
from autoconfig.formats.signing import EXPIRY_WARNING_DAYS, Signer, signer_for
from autoconfig.settings import Settings, load_settings

Fingerprint = tuple[tuple[str, int, int], ...]


def fingerprint(paths: tuple[Path, ...]) -> Fingerprint:
    """Each file's path, modification time and size: enough to notice a replaced key or CSV."""
    marks = []
    for path in paths:
        try:
            status = path.stat()
            marks.append((str(path), status.st_mtime_ns, status.st_size))
        except OSError:
            marks.append((str(path), -1, -1))
    return tuple(marks)


def file_problems(source: Path, served_digest: str, served_files: Fingerprint = ()) -> str | None:
    """None when the settings file on disk (and the files it names: signing, overrides, password) are
    the ones served, or would load if reloaded; else why not.

    A file that would not load is the next restart's failure: it is reported before that happens,
    whatever the number of workers.
    """
    try:
        raw = source.read_bytes()
    except OSError as exc:
        return f"{source}: cannot read the file: {exc.strerror or exc}"
    digest = hashlib.sha256(raw).hexdigest()
    current = fingerprint(tuple(Path(path) for path, _, _ in served_files))
    if digest == served_digest and current == served_files:
        return None
    return _check(source, digest, current)


@functools.lru_cache(maxsize=8)
def _check(source: Path, digest: str, files: Fingerprint = ()) -> str | None:
    # Keyed by the files' state: a health probe every few seconds checks each new version once.
    try:
        signer_for(load_settings(source))
    except SettingsError as exc:
        return exc.render()
    except OSError as exc:  # the development certificate could not be made: the state folder
        return f"{source}: {exc.strerror or exc}"
    return None


def health_report(
    settings: Settings,
    signer: Signer | None,
    loaded_at: dt.datetime,
    *,
    now: dt.datetime | None = None,
    files: Fingerprint = (),
    notes: tuple[str, ...] = (),
    stale: bool = False,
) -> tuple[dict[str, Any], bool]:
    """The /healthz document, and whether it is healthy enough for a 200. `files`: the fingerprint of
    the files the settings name, as they were when loaded; `notes`: what the supervisor noticed (a state
    folder it cannot write); `stale`: this worker could not apply the supervisor's latest settings.

    "failing" (503) means this process cannot serve what it should: a load balancer may pull it. A file
    on disk that would not load, or a certificate near or past its end, is "degraded" (200): the
    previous settings, or unverified profiles, keep serving, and the reasons say what to do.
    """
    problems = file_problems(settings.source, settings.digest, files)
    days = signer.days_left(now) if signer is not None else None
    reasons: list[str] = []
    if stale:
        reasons.append("this worker could not apply the latest settings (see the log)")
    if problems is not None:
        reasons.append("the settings on disk would not load: the previous ones keep serving (file_problems)")
    if signer is not None and days is not None and days < 0:
        reasons.append(
            f"the signing certificate expired on {signer.not_after:%Y-%m-%d}: profiles show as Not Verified"
        )
    elif signer is not None and days is not None and days < EXPIRY_WARNING_DAYS:
        reasons.append(
            f"the signing certificate expires on {signer.not_after:%Y-%m-%d}: renew it, then reload"
        )
    reasons += notes
    status = "failing" if stale else "degraded" if reasons else "ok"
    body: dict[str, Any] = {
        "status": status,
        "reasons": reasons,
        "version": __version__,
        "settings": {
            "file": str(settings.source),
            "sha256": settings.digest,
            "loaded": loaded_at.isoformat(timespec="seconds"),
            "file_problems": problems,
        },
        "providers": [{"id": p.id, "domains": list(p.domains)} for p in settings.providers],
        "signing": None,
    }
    if signer is not None:
        body["signing"] = {
            "subject": signer.subject,
            "not_after": signer.not_after.isoformat(timespec="seconds"),
            "days_left": days,
            "development": signer.development,
        }
    return body, status != "failing"
