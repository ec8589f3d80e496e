"""Several replicas behind a real load balancer (Debian's nginx, on loopback): identical bytes from every
replica, and no failed request while one replica is killed with SIGKILL and another reloaded."""

from __future__ import annotations

import base64
import functools
import hashlib
import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx2
import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.serialization import pkcs7

from autoconfig.cli import main
from autoconfig.formats.pacc import WELL_KNOWN_PATH
from tests.helpers.certs import make_chain
from tests.helpers.live import Server, free_port, serving, wait_for
from tests.helpers.nginx import running as nginx_running
from tests.helpers.nginx import write_config
from tests.helpers.outlook import outlook_request
from tests.helpers.settings import incoming, outgoing, settings_data, write_settings

JEAN = "jean.dupont@example.org"
HOST = {"Host": "autoconfig.example.org"}
# What a load of mail clients asks: Thunderbird with and without an address, Outlook (a POST), Apple.
REQUESTS: list[tuple[str, str, bytes | None]] = [
    ("GET", f"/mail/config-v1.1.xml?emailaddress={JEAN}", None),
    ("GET", "/mail/config-v1.1.xml", None),
    ("POST", "/autodiscover/autodiscover.xml", outlook_request(JEAN)),
    ("GET", f"/autodiscover/autodiscover.json?Email={JEAN}&Protocol=AutodiscoverV1", None),
    ("GET", f"/profile.mobileconfig?email={JEAN}", None),
    ("GET", f"/guide/android?email={JEAN}&lang=fr", None),
    ("GET", f"{WELL_KNOWN_PATH}?domain=example.org", None),  # PACC: its TXT record is a digest of it
]


@dataclass
class Balancer:
    port: int
    replicas: list[Server]
    settings: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def nginx_config(folder: Path, port: int, upstreams: list[int]) -> Path:
    servers = "\n".join(f"        server 127.0.0.1:{p} max_fails=1 fail_timeout=5s;" for p in upstreams)
    return write_config(
        folder,
        f"""    upstream autoconfig {{
{servers}
        keepalive 16;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://autoconfig;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            # A replica that refuses or drops the connection: the other answers, POSTs included.
            proxy_next_upstream error timeout http_502 http_503 non_idempotent;
            proxy_connect_timeout 1s;
        }}
    }}""",
        connections=256,
    )


@pytest.fixture
def balancer(tmp_path: Path) -> Iterator[Balancer]:
    # One settings file and one signing key for every replica: what a Secret and a ConfigMap give pods.
    files = make_chain("ec").write(tmp_path / "tls")
    (tmp_path / "log-hash.key").write_bytes(os.urandom(32))
    service = {"log_addresses": "hash", "log_format": "json", "log_hash_key_file": "log-hash.key"}
    # Implicit TLS on the standard ports: a provider PACC can describe.
    servers = {"incoming": incoming(port=993, security="tls"), "outgoing": outgoing(port=465, security="tls")}
    data = settings_data(service=service, signing=files.signing_data(), provider=servers)
    settings = write_settings(tmp_path, data)
    with ExitStack() as stack:
        replicas = [
            stack.enter_context(
                serving(
                    tmp_path / f"replica-{i}",
                    settings=settings,
                    workers=2,
                    env={"AUTOCONFIG_STATE_DIR": str(tmp_path / f"state-{i}")},
                )
            )
            for i in range(2)
        ]
        folder = tmp_path / "nginx"
        folder.mkdir()
        port = free_port()
        config = nginx_config(folder, port, [r.port for r in replicas])
        with nginx_running(config, lambda: _answers(f"http://127.0.0.1:{port}/healthz")):
            yield Balancer(port, replicas, settings)


def _answers(url: str) -> bool | None:
    try:
        return True if httpx2.get(url, timeout=1).status_code == 200 else None
    except httpx2.TransportError:
        return None


def fetch(base_url: str, method: str, path: str, body: bytes | None) -> httpx2.Response:
    headers = {**HOST, "Content-Type": "text/xml"} if body else HOST
    return httpx2.request(method, f"{base_url}{path}", headers=headers, content=body, timeout=10)


def signed_content(profile: bytes) -> tuple[list[bytes], bytes]:
    """A profile's certificates and, signatures aside, what it says: ECDSA signs differently every time."""
    certificates = [c.tbs_certificate_bytes for c in pkcs7.load_der_pkcs7_certificates(profile)]
    start = profile.index(b"<?xml")
    end = profile.index(b"</plist>") + len(b"</plist>")
    return certificates, profile[start:end]


def test_every_replica_answers_the_same_bytes(balancer: Balancer) -> None:
    first, second = balancer.replicas
    for method, path, body in REQUESTS:
        answers = [fetch(r.base_url, method, path, body) for r in (first, second)]
        assert [a.status_code for a in answers] == [200, 200], path
        if path.startswith("/profile"):
            assert signed_content(answers[0].content) == signed_content(answers[1].content)
        else:
            assert answers[0].content == answers[1].content, path
    # The PACC document's bytes, the same in every replica, are those `autoconfig dns` publishes a digest of.
    document = fetch(first.base_url, "GET", f"{WELL_KNOWN_PATH}?domain=example.org", None).content
    zone = CliRunner().invoke(main, ["dns", "--settings", str(balancer.settings)]).output
    digest = base64.b64encode(hashlib.sha256(document).digest()).decode()
    assert f'_ua-auto-config.example.org.             3600 IN TXT   "v=UAAC1; a=sha256; d={digest}"' in zone
    # One key for every replica: an address is hashed alike in every replica's log.
    hashed = [
        wait_for(functools.partial(_hashed, replica), 5, "a hashed address") for replica in (first, second)
    ]
    assert hashed[0] == hashed[1]


def _hashed(replica: Server) -> set[str] | None:
    lines = [line for line in replica.access_log().splitlines() if "emailaddress=h:" in line]
    return {line.split("emailaddress=", 1)[1].split("@", 1)[0] for line in lines} or None


def test_no_request_fails_while_a_replica_is_killed_and_another_reloaded(balancer: Balancer) -> None:
    killed, reloaded = balancer.replicas
    stop = threading.Event()
    failures: list[str] = []
    answered = [0]

    def load(offset: int) -> None:
        index = offset
        with httpx2.Client(base_url=balancer.base_url, timeout=10) as client:
            while not stop.is_set():
                method, path, body = REQUESTS[index % len(REQUESTS)]
                index += 1
                headers = {**HOST, "Content-Type": "text/xml"} if body else HOST
                try:
                    response = client.request(method, path, headers=headers, content=body)
                except httpx2.TransportError as exc:
                    failures.append(f"{path}: {exc!r}")
                    continue
                if response.status_code != 200:
                    failures.append(f"{path}: {response.status_code}")
                answered[0] += 1

    threads = [threading.Thread(target=load, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(1.5)
        os.killpg(killed.process.pid, signal.SIGKILL)  # the supervisor and its workers, at once
        time.sleep(1.5)
        offset = len(reloaded.error_log())
        reloaded.hangup()
        reloaded.wait_for_log("settings reloaded (SIGHUP)", after=offset)
        time.sleep(1.5)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=20)
    assert failures == []
    assert answered[0] > 200
