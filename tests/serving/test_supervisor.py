"""The supervisor against a real `autoconfig serve`: workers killed while the files on disk are broken, a
deleted development key, an unwritable state folder, a crash loop, and reloads under keep-alive load.
Every wait is bounded."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import pkcs7

from autoconfig.paths import profiles_dir
from tests.helpers.certs import Chain, key_pem, make_chain, pem
from tests.helpers.kubelet import publish
from tests.helpers.live import Server, free_port, serving, wait_for
from tests.helpers.paths import ROOT

JEAN = "jean.dupont@ac-paris.fr"
CONFIG = f"/mail/config-v1.1.xml?emailaddress={JEAN}"
PROFILE = f"/profile.mobileconfig?email={JEAN}"
OLD_HOST = "imap.ac-paris.fr"


@pytest.fixture
def settings_copy(tmp_path: Path) -> Path:
    """A copy of the bundled ac-paris.toml that the test may break."""
    path = tmp_path / "settings.toml"
    shutil.copy(profiles_dir() / "ac-paris.toml", path)
    return path


def imap_host(server: Server) -> str:
    response = server.get(CONFIG)
    assert response.status_code == 200, response.text
    start = response.text.index("<hostname>") + len("<hostname>")
    return response.text[start : response.text.index("</hostname>", start)]


def signer_of(profile: bytes) -> x509.Certificate:
    """The signing certificate: the one that is not a CA among those the signature carries."""
    (certificate,) = [
        c
        for c in pkcs7.load_der_pkcs7_certificates(profile)
        if not c.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    ]
    return certificate


def kill_workers(server: Server, pids: list[int]) -> None:
    for pid in pids:
        os.kill(pid, signal.SIGKILL)


def stop_gracefully(server: Server) -> int:
    server.process.send_signal(signal.SIGTERM)
    return server.process.wait(timeout=30)


@pytest.mark.parametrize("workers", [1, 2], ids=["one-worker", "two-workers"])
def test_a_worker_killed_while_the_file_is_broken_comes_back_with_what_was_served(
    tmp_path: Path, settings_copy: Path, workers: int
) -> None:
    with serving(tmp_path / "logs", settings=settings_copy, workers=workers) as server:
        first = server.wait_for_workers(workers)
        # Half-edited at the worst moment: the next worker must not read it.
        settings_copy.write_text(
            settings_copy.read_text(encoding="utf-8") + "\n[[providers\n", encoding="utf-8"
        )
        offset = len(server.error_log())
        kill_workers(server, first[:1])
        server.wait_for_log(
            "was killed by SIGKILL; starting another with the settings being served", after=offset
        )
        server.wait_for_workers(workers, besides=tuple(first[:1]))
        assert {imap_host(server) for _ in range(6)} == {OLD_HOST}
        health = server.get("/healthz")
        assert (health.status_code, health.json()["status"]) == (200, "degraded")
        assert server.process.poll() is None
        assert "Traceback" not in server.error_log()
        assert stop_gracefully(server) == 0


def test_a_deleted_development_key_changes_no_signature(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with serving(tmp_path / "logs", workers=2, env={"AUTOCONFIG_STATE_DIR": str(state)}) as server:
        before = signer_of(server.get(PROFILE).content)
        shutil.rmtree(state / "dev-signing")
        first = server.wait_for_workers(2)
        kill_workers(server, first)
        server.wait_for_workers(2, besides=tuple(first))
        # Every worker, old or new, signs with the certificate the supervisor made at start.
        assert {signer_of(server.get(PROFILE).content) for _ in range(6)} == {before}
        assert not (state / "dev-signing").exists()  # and no worker made another


def test_an_unwritable_state_folder_is_said_once_and_nothing_stops(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder\n", encoding="utf-8")
    state = blocker / "state"  # under a file: nothing can be written there, not even by root
    with serving(tmp_path / "logs", workers=2, env={"AUTOCONFIG_STATE_DIR": str(state)}) as server:
        log = server.error_log()
        assert log.count(f"the state folder {state} cannot be written") == 1
        assert "Traceback" not in log
        health = server.get("/healthz").json()
        assert health["status"] == "degraded"
        assert any(f"the state folder {state} cannot be written" in reason for reason in health["reasons"])
        signed = signer_of(server.get(PROFILE).content)
        # A worker dies: its replacement starts (no crash loop), with the same certificate kept in memory.
        first = server.wait_for_workers(2)
        offset = len(server.error_log())
        kill_workers(server, first[:1])
        server.wait_for_workers(2, besides=tuple(first[:1]))
        assert {signer_of(server.get(PROFILE).content) for _ in range(4)} == {signed}
        later = server.error_log()[offset:]
        assert later.count("starting another with the settings being served") == 1
        assert "cannot be written" not in later
        assert "again soon after starting" not in later


def test_a_service_that_cannot_keep_a_worker_stops_with_status_1(tmp_path: Path) -> None:
    with serving(tmp_path / "logs", "--give-up-after", "5") as server:
        # Every worker dies as soon as it appears: a crash loop the supervisor cannot end.
        deadline = time.monotonic() + 20
        while server.process.poll() is None and time.monotonic() < deadline:
            kill_workers(server, server.workers())
            time.sleep(0.05)
        assert server.process.wait(timeout=5) == 1
        assert "no worker could serve for 5 s: stopping" in server.error_log()
        assert "again soon after starting; retrying with a growing pause (said once)" in server.error_log()


def test_reloads_under_keep_alive_load_lose_no_request(tmp_path: Path, settings_copy: Path) -> None:
    original = settings_copy.read_text(encoding="utf-8")
    variants = [original, original.replace(f'host = "{OLD_HOST}"', 'host = "imap.reloaded.ac-paris.fr"')]
    with serving(tmp_path / "logs", settings=settings_copy, workers=2) as server:
        stop = threading.Event()
        failures: list[str] = []
        answered = [0]

        def client() -> None:
            with httpx2.Client(base_url=server.base_url, timeout=10) as http:  # one keep-alive connection
                while not stop.is_set():
                    try:
                        response = http.get(CONFIG)
                    except httpx2.TransportError as exc:
                        failures.append(repr(exc))
                        continue
                    if response.status_code != 200:
                        failures.append(str(response.status_code))
                    answered[0] += 1

        threads = [threading.Thread(target=client) for _ in range(8)]
        for thread in threads:
            thread.start()
        try:
            for round_ in range(6):
                settings_copy.write_text(variants[(round_ + 1) % 2], encoding="utf-8")
                offset = len(server.error_log())
                server.hangup()
                server.wait_for_log("settings reloaded (SIGHUP)", after=offset)
                time.sleep(0.2)
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=15)
        assert failures == []
        assert answered[0] > 100
        # No worker was replaced by the reloads.
        assert server.error_log().count("Started server process") == 2


def watch(settings: Path, extra: str = "") -> None:
    """Have the service look at its files twice a second; add `extra` to the file."""
    text = settings.read_text(encoding="utf-8")
    text = text.replace("[service]\n", "[service]\nwatch_seconds = 0.5\n", 1)
    settings.write_text(text + extra, encoding="utf-8")


@pytest.fixture
def watched(tmp_path: Path, settings_copy: Path) -> Iterator[Server]:
    watch(settings_copy)
    with serving(tmp_path / "logs", settings=settings_copy, workers=2) as server:
        yield server


def test_a_file_changed_under_the_service_is_reloaded_when_watched(
    watched: Server, settings_copy: Path
) -> None:
    # As a Kubernetes ConfigMap does: a new file swapped in through a symbolic link.
    folder = settings_copy.parent
    real = folder / "..data-1" / "settings.toml"
    real.parent.mkdir()
    real.write_text(settings_copy.read_text(encoding="utf-8").replace(OLD_HOST, "imap.watched.ac-paris.fr"))
    link = folder / "settings.tmp-link"
    link.symlink_to(real)
    os.replace(link, settings_copy)
    wait_for(
        lambda: True if imap_host(watched) == "imap.watched.ac-paris.fr" else None, 10, "the change served"
    )
    assert f"settings reloaded (changed on disk: {settings_copy})" in watched.error_log()
    # A broken change is refused once, whatever the number of checks, and the previous settings serve.
    offset = len(watched.error_log())
    real.write_text("[[providers\n", encoding="utf-8")
    watched.wait_for_log("refused; still serving the previous settings", after=offset)
    time.sleep(2)
    assert watched.error_log()[offset:].count("refused; still serving the previous settings") == 1
    assert imap_host(watched) == "imap.watched.ac-paris.fr"


def secret(chain: Chain, *, key: bytes | None = None) -> dict[str, bytes]:
    """A `kubernetes.io/tls` Secret's two files."""
    return {"tls.crt": pem(chain.leaf, chain.intermediate), "tls.key": key or key_pem(chain.leaf_key)}


def test_a_secret_rolled_through_a_refused_version_is_picked_up(tmp_path: Path, settings_copy: Path) -> None:
    # As Kubernetes mounts a Secret: tls.crt and tls.key lead through `..data` to a folder that the next
    # update deletes. A broken update is refused; the corrected one after it must be served.
    folder = settings_copy.parent
    first, second, third = make_chain(name="First"), make_chain(name="Second"), make_chain(name="Third")
    publish(folder / "tls", secret(first))
    watch(settings_copy, '\n[signing]\ncertificate = "tls/tls.crt"\nkey = "tls/tls.key"\n')

    def signer_served() -> x509.Certificate:
        return signer_of(server.get(PROFILE).content)

    def health() -> dict[str, Any]:
        body: dict[str, Any] = server.get("/healthz").json()
        return body

    with serving(tmp_path / "logs", settings=settings_copy, workers=2) as server:
        assert signer_served() == first.leaf
        assert health()["settings"]["changed_on_disk"] is False
        offset = len(server.error_log())
        publish(folder / "tls", secret(second, key=key_pem(third.leaf_key)))  # a key of another certificate
        server.wait_for_log("refused; still serving the previous settings", after=offset)
        assert "this key does not belong to the certificate" in server.error_log()[offset:]
        assert {signer_served() for _ in range(4)} == {first.leaf}
        body = health()
        assert (body["status"], body["settings"]["changed_on_disk"]) == ("degraded", True)
        publish(folder / "tls", secret(third))
        wait_for(lambda: True if signer_served() == third.leaf else None, 10, "the corrected Secret served")
        assert "tls/tls.crt" in server.error_log()[offset:].split("settings reloaded", 1)[1].splitlines()[0]
        wait_for(
            lambda: True if {signer_served() for _ in range(4)} == {third.leaf} else None, 5, "both workers"
        )
        body = health()
        assert (body["status"], body["settings"]["changed_on_disk"], body["reasons"]) == ("ok", False, [])
        assert server.error_log()[offset:].count("refused; still serving") == 1


def test_no_writable_temporary_folder_is_a_report_not_a_traceback(tmp_path: Path) -> None:
    # A read-only root with no /tmp mounted (a container that forgot its emptyDir): in a mount
    # namespace of its own, /tmp, /var/tmp and the working folder are read-only file systems.
    if shutil.which("unshare") is None or os.geteuid() != 0:
        pytest.skip("needs unshare and root for a mount namespace")
    masked = (Path("/tmp"), Path("/var/tmp"))  # noqa: S108 - the folders this test hides, not used
    if any(place in (*ROOT.resolve().parents, *Path(sys.executable).absolute().parents) for place in masked):
        pytest.skip("the checkout or its Python is under /tmp or /var/tmp, which this test hides")
    script = (
        "mount -t tmpfs -o ro tmpfs /tmp && mount -t tmpfs -o ro tmpfs /var/tmp && cd /tmp && "
        f"exec {sys.executable} -m autoconfig serve --port {free_port()}"
    )
    environment = {k: v for k, v in os.environ.items() if k not in ("AUTOCONFIG_SETTINGS", "TMPDIR")}
    environment["PYTHONPATH"] = str(ROOT)
    result = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    assert "no writable temporary folder for the workers' metrics" in result.stderr
    assert "mount a writable /tmp (in Kubernetes, an emptyDir volume) or set TMPDIR" in result.stderr
    assert "Traceback" not in result.stderr
