"""What /healthz reports: the version, the settings served and the state of the file on disk, the
providers, the signing certificate's expiry; ok, degraded or failing, and the warnings that change no
status (profiles unsigned or signed with the development certificate: a choice, not a fault)."""

from __future__ import annotations

import datetime as dt
import os
import time
from pathlib import Path
from typing import Any

from autoconfig import __version__
from autoconfig.caches import LRU, memoize
from autoconfig.errors import SettingsError
from autoconfig.formats.signing import EXPIRY_WARNING_DAYS, Signer, signer_for
from autoconfig.paths import MULTIPROCESS_ENV
from autoconfig.settings import Settings, load_settings
from autoconfig.settings.disk_state import DiskState, disk_state, paths_to_watch, validated_state


def file_problems(settings: Settings) -> tuple[bool, str | None]:
    """file_problems_now, kept for a second while the files' metadata stay the same: a probe or a crowd
    asking /healthz costs a stat per file, not a read and a hash (20 ms with 2,000 providers); an edit
    is seen at once, and one that keeps size and time to the nanosecond within a second later."""
    now = time.monotonic()
    paths = [settings.source, *settings.files]
    key = (settings.digest, tuple(_metadata(path) for path in paths))
    kept = _compared.get(key)
    if kept is not None and now - kept[0] < COMPARE_EVERY:
        return kept[1]
    outcome = file_problems_now(settings)
    _compared.put(key, (now, outcome))
    return outcome


COMPARE_EVERY = 1.0  # seconds
# One entry: one settings version is served at a time, and its digest is in the key.
_compared: LRU[tuple[str, tuple[tuple[int, ...], ...]], tuple[float, tuple[bool, str | None]]] = LRU(
    "disk_states"
)


def _metadata(path: Path) -> tuple[int, ...]:
    try:
        found = path.stat()  # through links: a Kubernetes swap of `..data` changes the inode
    except OSError:
        return ()
    return (found.st_dev, found.st_ino, found.st_size, found.st_mtime_ns, found.st_ctime_ns)


def file_problems_now(settings: Settings) -> tuple[bool, str | None]:
    """Whether the disk holds other files than those served (the settings file, or one it names: signing,
    overrides, password), and if so, why they would not load (None: they would, at the next reload).

    Compared by content, at the paths as written (see settings/disk_state.py): a file that would not load is
    the next restart's failure, reported before that happens, whatever the number of workers.
    """
    served = validated_state(settings.source, settings.raw, settings.files)
    if disk_state(Path(path) for path, _ in served) == served:
        return False, None
    return True, _check(settings.source, disk_state(paths_to_watch(settings.source, settings.files)))


@memoize("disk_checks")
def _check(source: Path, state: DiskState) -> str | None:
    # Keyed by what the disk holds, not by the version served: a health probe every few seconds checks
    # each new file once.
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
    notes: tuple[str, ...] = (),
    stale: bool = False,
    clients: dict[str, Any] | None = None,
    server: dict[str, str | None] | None = None,
    caches: dict[str, dict[str, int]] | None = None,
) -> tuple[dict[str, Any], bool]:
    """The /healthz document, and whether it is healthy enough for a 200. `notes`: what the supervisor
    noticed (a state folder it cannot write); `stale`: this worker could not apply the supervisor's
    latest settings; `clients`: the setup funnel's summary (funnel.py); `server`: loop and HTTP stack;
    `caches`: this worker's caches, entries and maximum by name (caches.report).

    "failing" (503) means this process cannot serve what it should: a load balancer may pull it. A file
    on disk that would not load, or a certificate near or past its end, is "degraded" (200): the
    previous settings, or unverified profiles, keep serving, and the reasons say what to do.

    `warnings` are what the settings chose and the IT team should still hear (see signing_warnings):
    they leave the status as it is, so that an alert on "degraded" fires for what changed and needs
    acting on, not for ever on a deliberate choice.
    """
    changed, problems = file_problems(settings)
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
    metrics_problem = metrics_folder_problem()
    if metrics_problem is not None:
        reasons.append(metrics_problem)
    status = "failing" if stale else "degraded" if reasons else "ok"
    body: dict[str, Any] = {
        "status": status,
        "reasons": reasons,
        "warnings": signing_warnings(signer),
        "version": __version__,
        "server": server,
        "settings": {
            "file": str(settings.source),
            "sha256": settings.digest,
            "loaded": loaded_at.isoformat(timespec="seconds"),
            "changed_on_disk": changed,
            "file_problems": problems,
        },
        "providers": [{"id": p.id, "domains": list(p.domains)} for p in settings.providers],
        "signing": None,
        "clients": clients,
        "caches": caches,
    }
    if signer is not None:
        body["signing"] = {
            "subject": signer.subject,
            "not_after": signer.not_after.isoformat(timespec="seconds"),
            "days_left": days,
            "development": signer.development,
        }
    return body, status != "failing"


def metrics_folder_problem() -> str | None:
    """Why /metrics cannot count, if it cannot: the workers' metrics folder is gone (a cleaner of
    temporary files removed it). The supervisor makes it again within a second when it can."""
    folder = os.environ.get(MULTIPROCESS_ENV)
    if not folder or os.path.isdir(folder):
        return None
    return (
        f"the metrics folder {folder} was removed: /metrics counts nothing until the supervisor makes it "
        "again (see the log if this lasts)"
    )


def signing_warnings(signer: Signer | None) -> list[str]:
    """What the profiles' signing says to the IT team while it is not a fault: none when they are signed
    with a certificate of the settings' [signing] (its expiry is a reason, above)."""
    if signer is None:
        return [
            "Apple profiles are served unsigned (no [signing]): iPhones and Macs show them as Not Verified; "
            "configure [signing] with a publicly trusted certificate to sign them"
        ]
    if signer.development:
        return [
            "Apple profiles are signed with the development certificate: iPhones and Macs show them as Not "
            "Verified; configure [signing] with a publicly trusted certificate, such as the web server's"
        ]
    return []
