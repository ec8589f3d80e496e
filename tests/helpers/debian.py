"""A Debian bookworm root filesystem made with debootstrap, for the tests that run the project as it is
installed on a server: the image's base (the Dockerfile's build argument) and the systemd install.

Bookworm's python3 is 3.11, the oldest the project supports. A root is made once per machine and list
of packages, in a cache outside the checkout (so that a fresh clone on the same machine, CI's, finds
it), under a lock (two test processes never bootstrap the same root at once). Callers never change it:
they copy it, or import it into podman.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

SUITE = "bookworm"
# What both uses need: the interpreter, venv and pip (the Dockerfile's `pip wheel` and `pip install`,
# the install script's venv), and the CA bundle's package (its file is replaced by the host's below).
BASE_PACKAGES = ("python3", "python3-venv", "python3-pip", "ca-certificates")
CACHE = Path(os.environ.get("AUTOCONFIG_TEST_CACHE", "/var/cache/autoconfig-tests"))
DEFAULT_MIRROR = "http://deb.debian.org/debian"
BOOTSTRAP_TIMEOUT = 900
# The host's CA bundle: package registries may be reached through a proxy that the host trusts.
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")


def mirror() -> str:
    """The Debian mirror the host's apt uses (deb822 or one-line sources), or Debian's own."""
    for sources in (Path("/etc/apt/sources.list.d/debian.sources"), Path("/etc/apt/sources.list")):
        try:
            text = sources.read_text(encoding="utf-8")
        except OSError:
            continue
        found = re.search(r"^URIs:\s*(\S+/debian)/?\s*$", text, re.MULTILINE) or re.search(
            r"^deb\s+(?:\[[^]]*\]\s+)?(\S+/debian)/?\s+\S+", text, re.MULTILINE
        )
        if found:
            return found.group(1)
    return DEFAULT_MIRROR


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def debian_root(extra: tuple[str, ...] = ()) -> Path:
    """A bootstrapped root with BASE_PACKAGES and `extra`, made on first use (about two minutes).

    Skips the calling test where debootstrap is missing and the user cannot install it; tests/run
    installs it, so CI never skips.
    """
    if shutil.which("debootstrap") is None:
        pytest.skip("debootstrap is not installed (tests/run installs it)")
    if os.geteuid() != 0:
        pytest.skip("debootstrap and chroot need root (tests/run is run as root or with sudo)")
    packages = tuple(sorted({*BASE_PACKAGES, *extra}))
    key = hashlib.sha256(" ".join((SUITE, *packages)).encode()).hexdigest()[:12]
    root = CACHE / f"debian-{SUITE}-{key}"
    with _locked(CACHE / f"debian-{SUITE}-{key}.lock"):
        if (root / ".complete").exists():
            _refresh_ca_bundle(root)
            return root
        partial = root.with_name(root.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        shutil.rmtree(root, ignore_errors=True)
        subprocess.run(
            [
                "debootstrap",
                "--variant=minbase",
                f"--include={','.join(packages)}",
                SUITE,
                str(partial),
                mirror(),
            ],
            check=True,
            capture_output=True,
            timeout=BOOTSTRAP_TIMEOUT,
        )
        _finish(partial)
        partial.rename(root)
        (root / ".complete").write_text(" ".join(packages) + "\n", encoding="utf-8")
    return root


def _finish(root: Path) -> None:
    """What makes the root usable as a Python base image on this machine."""
    _refresh_ca_bundle(root)
    # PEP 668: as in python:3.11-slim, pip may install into the system interpreter of an image.
    for marker in (root / "usr" / "lib").glob("python3*/EXTERNALLY-MANAGED"):
        marker.unlink()
    # No downloaded package lists or archives: smaller, and what an image base holds.
    shutil.rmtree(root / "var" / "cache" / "apt" / "archives", ignore_errors=True)
    (root / "var" / "cache" / "apt" / "archives" / "partial").mkdir(parents=True, exist_ok=True)


def _refresh_ca_bundle(root: Path) -> None:
    """The host's CA bundle, so that pip inside reaches PyPI as the host does; copied again when the host's
    changes (a proxy's certificate renewed), atomically, since other tests may be reading the root."""
    inside = root / HOST_CA_BUNDLE.relative_to("/")
    wanted = HOST_CA_BUNDLE.read_bytes()
    if inside.is_file() and inside.read_bytes() == wanted:
        return
    fresh = inside.with_name(inside.name + ".new")
    fresh.write_bytes(wanted)
    fresh.chmod(0o644)
    os.replace(fresh, inside)


def root_digest(root: Path) -> str:
    """A short name for a root, from the packages it was made with and the CA bundle it holds (to tag an
    image built on it: a new bundle makes a new base image)."""
    digest = hashlib.sha256((root / ".complete").read_bytes())
    digest.update((root / HOST_CA_BUNDLE.relative_to("/")).read_bytes())
    return digest.hexdigest()[:12]
