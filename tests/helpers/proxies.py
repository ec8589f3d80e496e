"""The shipped reverse-proxy samples (deploy/nginx, deploy/caddy, deploy/apache) run for real on loopback:
each sample rewritten only for ports, file locations and the service's port (every rewrite must find
what it replaces, and nothing of the production values may remain), a certificate from a test CA for the
Académie's names, and a small HTTP client that connects to a loopback address while it names the host
(SNI and Host) a mail client would.
"""

from __future__ import annotations

import datetime as dt
import http.client
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.helpers import nginx
from tests.helpers.certs import key_pem, make_chain, make_key, pem
from tests.helpers.live import wait_for
from tests.helpers.paths import ROOT

DEPLOY = ROOT / "deploy"
DOMAIN = "ac-paris.fr"
AUTOCONFIG = f"autoconfig.{DOMAIN}"
AUTODISCOVER = f"autodiscover.{DOMAIN}"
NAMES = (AUTOCONFIG, AUTODISCOVER, DOMAIN)
SERVICE_PORT = 8080  # where the samples send requests
TIMEOUT = 10.0
CADDY = shutil.which("caddy") or "/usr/bin/caddy"
APACHE = shutil.which("apache2") or "/usr/sbin/apache2"
APACHE_MODULES = Path("/usr/lib/apache2/modules")
# What the Debian package's apache2.conf defines and the samples rely on (the main site's own log).
APACHE_COMBINED = r'LogFormat "%h %l %u %t \"%r\" %>s %O \"%{Referer}i\" \"%{User-Agent}i\"" combined'


# --- certificates ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SiteCertificate:
    """One certificate for the service's names and the main site, as Let's Encrypt's folder holds it."""

    folder: Path
    ca: Path  # the test root, for the clients
    fullchain: Path
    key: Path

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca))


def site_certificate(folder: Path) -> SiteCertificate:
    """A leaf for NAMES issued by the intermediate of a fresh test chain (tests/helpers/certs.py)."""
    chain = make_chain()
    key = make_key("ec")
    now = dt.datetime.now(dt.UTC)
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, AUTOCONFIG)]))
        .issuer_name(chain.intermediate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in NAMES]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(chain.intermediate_key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    files = SiteCertificate(folder, folder / "root.pem", folder / "fullchain.pem", folder / "privkey.pem")
    files.ca.write_bytes(pem(chain.root))
    files.fullchain.write_bytes(pem(leaf, chain.intermediate))
    files.key.write_bytes(key_pem(key))
    files.key.chmod(0o600)
    return files


# --- the rewrite -----------------------------------------------------------------------------------------

# What a rewritten sample may no longer hold outside its comments: production ports and file locations.
_PRODUCTION = re.compile(r"/etc/|/var/|:8080\b|\b443\b|[ :]80\b")


def rewrite(text: str, replacements: Mapping[str, str]) -> str:
    """`text` with each key replaced by its value; each key must be found, and no production port or
    path may remain outside comments (so a sample that gains one fails here, not silently in the test)."""
    for old, new in replacements.items():
        assert old in text, f"the sample no longer holds {old!r}: update the test's rewrite"
        text = text.replace(old, new)
    for line in text.splitlines():
        code = line.split("#", 1)[0]
        assert not _PRODUCTION.search(code), f"a production value is left in: {line.strip()}"
    return text


def sample(*parts: str) -> str:
    return DEPLOY.joinpath(*parts).read_text(encoding="utf-8")


@dataclass(frozen=True)
class Ports:
    https: int
    http: int
    service: int


def free_ports(count: int) -> list[int]:
    """Ports free on both 127.0.0.1 and ::1 (the proxies listen on both)."""
    found: list[int] = []
    while len(found) < count:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port: int = sock.getsockname()[1]
        try:
            with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock6:
                sock6.bind(("::1", port))
        except OSError:
            continue
        if port not in found:
            found.append(port)
    return found


# --- the client ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]  # names in lower case
    body: bytes


def request(
    port: int,
    host: str,
    path: str,
    *,
    tls: ssl.SSLContext | None,
    method: str = "GET",
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    address: str = "127.0.0.1",
    source: str | None = None,
) -> Answer:
    """One request to `address`:`port` as a client that looked `host` up: SNI and Host name it, with no
    port in Host (what the client sends to 443 and 80). `source` picks the client's own address."""
    sock = socket.create_connection(
        (address, port), timeout=TIMEOUT, source_address=(source, 0) if source else None
    )
    connection = http.client.HTTPConnection(host, port, timeout=TIMEOUT)
    try:
        connection.sock = tls.wrap_socket(sock, server_hostname=host) if tls else sock
        connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        connection.putheader("Host", host)
        for name, value in (headers or {}).items():
            connection.putheader(name, value)
        if body is not None:
            connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        response = connection.getresponse()
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    finally:
        connection.close()


def answers(port: int, host: str, tls: ssl.SSLContext | None) -> Callable[[], bool | None]:
    """For wait_for: True once the proxy answers anything on `port`."""

    def check() -> bool | None:
        try:
            request(port, host, "/", tls=tls)
        except OSError:
            return None
        return True

    return check


# --- the servers -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Proxy:
    """A sample running: its name, its ports, the folder that holds its configuration and every log."""

    name: str
    ports: Ports
    folder: Path

    def logs(self) -> str:
        """Everything the proxy wrote: access and error logs, its own output."""
        return "".join(
            path.read_text(errors="replace") for path in sorted(self.folder.glob("*.log")) if path.is_file()
        )


def nginx_config(folder: Path, ports: Ports, cert: SiteCertificate) -> Path:
    """Both nginx samples (the service's names and the main site) in one nginx, as on one host."""
    (folder / "www").mkdir(parents=True, exist_ok=True)
    (folder / "www" / "index.html").write_text("the organisation's site\n", encoding="utf-8")
    replacements = {
        "listen 443 ssl;": f"listen 127.0.0.1:{ports.https} ssl;",
        "listen [::]:443 ssl;": f"listen [::1]:{ports.https} ssl;",
        "listen 80;": f"listen 127.0.0.1:{ports.http};",
        "listen [::]:80;": f"listen [::1]:{ports.http};",
        "http://127.0.0.1:8080": f"http://127.0.0.1:{ports.service}",
        "/var/log/nginx/": f"{folder}/",
    }
    own = rewrite(
        sample("nginx", "autoconfig.conf"),
        {**replacements, f"/etc/letsencrypt/live/{AUTOCONFIG}/": f"{cert.folder}/"},
    )
    main = rewrite(
        sample("nginx", "main-site.conf"),
        {
            **replacements,
            f"/etc/letsencrypt/live/{DOMAIN}/": f"{cert.folder}/",
            f"/var/www/{DOMAIN}": f"{folder}/www",
        },
    )
    return nginx.write_config(folder, own + main)


def nginx_test(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [nginx.NGINX, "-t", "-e", str(config.parent / "test.log"), "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def caddy_global(folder: Path, ports: Ports) -> str:
    """The test's global options: its ports on loopback, no admin endpoint, nothing outside `folder`."""
    return f"""{{
	admin off
	http_port {ports.http}
	https_port {ports.https}
	default_bind 127.0.0.1 [::1]
	skip_install_trust
	storage file_system {folder}/data
}}

"""


def caddy_config(folder: Path, ports: Ports, cert: SiteCertificate) -> Path:
    """Both Caddy samples in one Caddyfile; the certificate is given (`tls`) where Caddy would ask ACME."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "www").mkdir(exist_ok=True)
    (folder / "www" / "index.html").write_text("the organisation's site\n", encoding="utf-8")
    tls = f"\ttls {cert.fullchain} {cert.key}"
    own = rewrite(
        sample("caddy", "Caddyfile"),
        {
            "127.0.0.1:8080": f"127.0.0.1:{ports.service}",
            f"\n{AUTOCONFIG}, {AUTODISCOVER} {{\n": f"\n{AUTOCONFIG}, {AUTODISCOVER} {{\n{tls}\n",
        },
    )
    main = rewrite(
        sample("caddy", "main-site.Caddyfile"),
        {
            "127.0.0.1:8080": f"127.0.0.1:{ports.service}",
            f"\n{DOMAIN} {{\n": f"\n{DOMAIN} {{\n{tls}\n",
            f"/var/www/{DOMAIN}": f"{folder}/www",
        },
    )
    config = folder / "Caddyfile"
    config.write_text(caddy_global(folder, ports) + own + "\n" + main, encoding="utf-8")
    return config


def caddy_environment(folder: Path) -> dict[str, str]:
    """Caddy keeps its data and autosaved configuration under HOME and XDG folders: the test's own."""
    return {
        **os.environ,
        "HOME": str(folder),
        "XDG_DATA_HOME": str(folder / "data"),
        "XDG_CONFIG_HOME": str(folder / "config"),
    }


def caddy(*args: str, folder: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CADDY, *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env=caddy_environment(folder),
    )


APACHE_MODULE_NAMES = (
    "mpm_event", "authz_core", "mime", "headers", "proxy", "proxy_http", "rewrite", "setenvif",
    "socache_shmcb", "ssl",
)  # fmt: skip


def apache_config(folder: Path, ports: Ports, cert: SiteCertificate) -> Path:
    """Debian's layout in small: the modules the samples' comments enable, Listen lines as ports.conf
    has them, APACHE_LOG_DIR as envvars defines it, and both samples as sites."""
    sites = folder / "sites"
    sites.mkdir(parents=True, exist_ok=True)
    (folder / "www").mkdir(exist_ok=True)
    replacements = {
        "<VirtualHost *:443>": f"<VirtualHost *:{ports.https}>",
        "<VirtualHost *:80>": f"<VirtualHost *:{ports.http}>",
        "http://127.0.0.1:8080": f"http://127.0.0.1:{ports.service}",
    }
    (sites / "autoconfig.conf").write_text(
        rewrite(
            sample("apache", "autoconfig.conf"),
            {**replacements, f"/etc/letsencrypt/live/{AUTOCONFIG}/": f"{cert.folder}/"},
        ),
        encoding="utf-8",
    )
    (sites / "main-site.conf").write_text(
        rewrite(
            sample("apache", "main-site.conf"),
            {
                **replacements,
                f"/etc/letsencrypt/live/{DOMAIN}/": f"{cert.folder}/",
                f"/var/www/{DOMAIN}": f"{folder}/www",
            },
        ),
        encoding="utf-8",
    )
    modules = "\n".join(
        f"LoadModule {name}_module {APACHE_MODULES}/mod_{name}.so" for name in APACHE_MODULE_NAMES
    )
    listen = "\n".join(
        f"Listen {address}:{port}" for port in (ports.http, ports.https) for address in ("127.0.0.1", "[::1]")
    )
    config = folder / "apache2.conf"
    config.write_text(
        f"""
Define APACHE_LOG_DIR {folder}
ServerName localhost
DefaultRuntimeDir {folder}
PidFile {folder}/apache2.pid
ErrorLog {folder}/error.log
LogLevel warn
User www-data
Group www-data
{modules}
TypesConfig /etc/mime.types
{APACHE_COMBINED}
{listen}
IncludeOptional {sites}/*.conf
""",
        encoding="utf-8",
    )
    return config


def apache(*args: str, config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [APACHE, "-f", str(config), *args], capture_output=True, text=True, timeout=TIMEOUT, check=False
    )


@contextmanager
def running_process(
    command: list[str],
    folder: Path,
    ready: Callable[[], bool | None],
    stop: signal.Signals,
    env: dict[str, str] | None = None,
) -> Iterator[None]:
    """A server in the foreground, its output in `folder`/process.log, stopped by `stop` (bounded)."""
    with (folder / "process.log").open("wb") as output:
        process = subprocess.Popen(
            command,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
        )
    try:
        wait_for(
            lambda: ready() if process.poll() is None else False,
            TIMEOUT,
            f"{command[0]} answering:\n{nginx.tail(folder / 'process.log')}",
        )
        assert process.poll() is None, nginx.tail(folder / "process.log")
        yield
    finally:
        if process.poll() is None:
            process.send_signal(stop)
            try:
                process.wait(timeout=nginx.STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=nginx.STOP_TIMEOUT)


@contextmanager
def running(name: str, folder: Path, ports: Ports, cert: SiteCertificate) -> Iterator[Proxy]:
    """The named server running both of its samples in front of the service on `ports.service`."""
    folder.mkdir(parents=True, exist_ok=True)
    ready = answers(ports.https, AUTOCONFIG, cert.client_context())
    if name == "nginx":
        with nginx.running(nginx_config(folder, ports, cert), ready):
            yield Proxy(name, ports, folder)
    elif name == "caddy":
        config = caddy_config(folder, ports, cert)
        command = [CADDY, "run", "--config", str(config), "--adapter", "caddyfile"]
        with running_process(command, folder, ready, signal.SIGTERM, env=caddy_environment(folder)):
            yield Proxy(name, ports, folder)
    elif name == "apache":
        config = apache_config(folder, ports, cert)
        # -X would be one process only; the real parent-and-children model is what runs in production.
        command = [APACHE, "-f", str(config), "-D", "FOREGROUND"]
        # SIGWINCH: apache2's graceful stop.
        with running_process(command, folder, ready, signal.SIGWINCH):
            yield Proxy(name, ports, folder)
    else:
        raise ValueError(name)
