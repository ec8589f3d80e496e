"""A whole deployment on loopback for `autoconfig probe`: Debian's Knot DNS serving zones made from
`autoconfig dns`, `autoconfig serve`, and Debian's nginx terminating TLS with a certificate from a test CA
for every name a client asks. Each part can be started again with one thing broken."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import signal
import socket
import subprocess
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import dns.exception
import dns.name
import dns.resolver
import httpx2
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.helpers.certs import Chain, ChainFiles, key_pem, make_chain, make_key, pem
from tests.helpers.commands import autoconfig
from tests.helpers.live import free_port, serving, wait_for
from tests.helpers.nginx import running as nginx_running
from tests.helpers.nginx import tail, write_config
from tests.helpers.settings import provider_data, settings_data, write_settings

KNOTD = shutil.which("knotd") or "/usr/sbin/knotd"
LOOPBACK = "127.0.0.1"
STOP_TIMEOUT = 10

# Two providers served by one service at autoconfig.example.org: example.org with STARTTLS (no PACC
# document), a calendar and contacts; example.net with implicit TLS, so with a PACC document.
PROVIDERS: list[Mapping[str, Any]] = [
    provider_data(
        login={"fallback": "%EMAILLOCALPART%"},
        calendar={"url": "https://dav.example.org/cal/"},
        contacts={"url": "https://dav.example.org/card/"},
    ),
    provider_data(
        id="example.net",
        name="Example Net",
        domains=["example.net"],
        incoming=[{"host": "imap.example.net", "port": 993, "security": "tls"}],
        outgoing=[{"host": "smtp.example.net", "port": 465, "security": "tls"}],
    ),
]
ZONES = ("example.org", "example.net")
# Every name a client asks over HTTPS for an address at either domain.
NAMES = (
    "example.org",
    "autoconfig.example.org",
    "autodiscover.example.org",
    "dav.example.org",
    "example.net",
    "autoconfig.example.net",
    "autodiscover.example.net",
    "ua-auto-config.example.net",
)
# What `autoconfig dns` leaves to the IT team, and what is not the service's: the addresses.
# Every web name has IPv6 too (nginx listens on both loopbacks), as a deployment should.
LOOPBACK6 = "::1"
ADDRESSES = {
    "example.org": [
        "example.org. 3600 IN A 127.0.0.1",
        "example.org. 3600 IN AAAA ::1",
        "ns.example.org. 3600 IN A 127.0.0.1",
        "autoconfig.example.org. 3600 IN A 127.0.0.1",
        "autoconfig.example.org. 3600 IN AAAA ::1",
        "dav.example.org. 3600 IN A 127.0.0.1",
        "dav.example.org. 3600 IN AAAA ::1",
    ],
    "example.net": ["example.net. 3600 IN A 127.0.0.1", "example.net. 3600 IN AAAA ::1"],
}


def probe_settings(signing: dict[str, Any] | None = None) -> dict[str, Any]:
    return settings_data(providers=PROVIDERS, **({"signing": signing} if signing else {}))


def issue_server_certificate(
    chain: Chain, names: tuple[str, ...], folder: Path, *, not_after: dt.datetime | None = None
) -> tuple[Path, Path]:
    """A web server's certificate for `names` from the chain's intermediate CA: (fullchain.pem, key)."""
    now = dt.datetime.now(dt.UTC)
    key = make_key("ec")
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(chain.intermediate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(not_after or now + dt.timedelta(days=90))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(chain.intermediate_key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    fullchain, key_file = folder / "fullchain.pem", folder / "privkey.pem"
    fullchain.write_bytes(pem(certificate, chain.intermediate))
    key_file.write_bytes(key_pem(key))
    return fullchain, key_file


# --- DNS ------------------------------------------------------------------------------------------------


def published_records(settings: Path) -> list[str]:
    """The record lines `autoconfig dns` prints for these settings (its comments left out)."""
    result = autoconfig("dns", "--settings", str(settings))
    assert result.returncode == 0, result.stderr
    return [line for line in result.stdout.splitlines() if line.strip() and not line.startswith(";")]


def zone_files(records: list[str], edit: Edit | None = None) -> dict[str, str]:
    """One zone per test domain: its SOA and NS, the records for names in it, and its addresses; `edit`
    changes the records and addresses of each."""
    zones = {}
    for zone in ZONES:
        data = [*ADDRESSES[zone], *(line for line in records if line.split()[0].endswith(f".{zone}."))]
        lines = [
            f"{zone}. 3600 IN SOA ns.example.org. hostmaster.example.org. 1 3600 600 86400 60",
            f"{zone}. 3600 IN NS ns.example.org.",
            *(edit(data) if edit else data),
        ]
        zones[zone] = "\n".join(lines) + "\n"
    return zones


@contextmanager
def knot(folder: Path, zones: dict[str, str]) -> Iterator[str]:
    """Knot DNS, authoritative for the zones on a free loopback port; yields `IP:PORT`."""
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    for zone, text in zones.items():
        (folder / f"{zone}.zone").write_text(text, encoding="utf-8")
    config = folder / "knot.conf"
    config.write_text(
        f"""\
server:
    rundir: "{folder}"
    listen: {LOOPBACK}@{port}
log:
  - target: stderr
    any: warning
database:
    storage: "{folder}/db"
template:
  - id: default
    storage: "{folder}"
    file: "%s.zone"
    zonefile-sync: -1
    journal-content: none
zone:
{"".join(f"  - domain: {zone}{chr(10)}" for zone in zones)}""",
        encoding="utf-8",
    )
    log = folder / "knot.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [KNOTD, "-c", str(config)], stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        wait_for(lambda: _answers(port, next(iter(zones))), 10, f"knotd answering:\n{tail(log)}")
        yield f"{LOOPBACK}:{port}"
    finally:
        _stop(process, signal.SIGTERM)


def _answers(port: int, zone: str) -> bool | None:
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers, resolver.port, resolver.lifetime = [LOOPBACK], port, 0.5
    try:
        resolver.resolve(dns.name.from_text(zone), "SOA")
    except dns.exception.DNSException:
        return None
    return True


# --- nginx ----------------------------------------------------------------------------------------------


def _proxy(upstream: int) -> str:
    return f"""proxy_pass http://{LOOPBACK}:{upstream};
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-Proto https;"""


def _listen(port: int, *, ipv6: bool = True, default: bool = True) -> str:
    flags = "ssl default_server" if default else "ssl"
    return f"listen {LOOPBACK}:{port} {flags};" + (f" listen [{LOOPBACK6}]:{port} {flags};" if ipv6 else "")


def _service_server(port: int, upstream: int, certificate: Path, key: Path, *, ipv6: bool = True) -> str:
    """TLS for every name on `port`, in front of the service."""
    return f"""    server {{
        {_listen(port, ipv6=ipv6)}
        server_name _;
        ssl_certificate {certificate};
        ssl_certificate_key {key};
        location / {{
            {_proxy(upstream)}
        }}
    }}"""


@contextmanager
def nginx(folder: Path, upstream: int, certificate: Path, key: Path) -> Iterator[tuple[int, int]]:
    """nginx on loopback, IPv4 and IPv6: TLS for every name in front of the service, and plain http that
    redirects to https as a reverse proxy usually does; yields (https port, http port)."""
    folder.mkdir(parents=True, exist_ok=True)
    https_port, http_port = free_port(), free_port()
    servers = f"""{_service_server(https_port, upstream, certificate, key)}
    server {{
        listen {LOOPBACK}:{http_port} default_server; listen [{LOOPBACK6}]:{http_port} default_server;
        server_name _;
        return 301 https://$host$request_uri;
    }}"""
    with nginx_running(write_config(folder, servers), lambda: _redirects(http_port)):
        yield https_port, http_port


@dataclass(frozen=True)
class FieldFaults:
    """What the field gets wrong, each on its own https port of one nginx (one process for them all)."""

    certificate: tuple[Path, Path]  # the lab's, for every name
    other_certificate: tuple[Path, Path]  # another server's, naming none of the lab's names
    silent_port: int  # accepts connections and never answers


# The faults, by the https port's name: the server blocks besides the service's own.
FIELD_FAULTS = ("ipv6-down", "ipv6-other", "main-401", "main-hangs", "main-case", "main-passes")
MAIN_SITE_PATHS = r"^/(\.well-known/(autoconfig/|caldav$|carddav$)|autodiscover/)"


def _main_site(port: int, certificate: tuple[Path, Path], inside: str) -> str:
    return f"""    server {{
        {_listen(port, default=False)}
        server_name example.org;
        ssl_certificate {certificate[0]};
        ssl_certificate_key {certificate[1]};
{inside}
    }}"""


def _fault(fault: str, port: int, upstream: int, faults: FieldFaults) -> str:
    cert = faults.certificate
    own_page = 'location / { default_type text/html; return 200 "<h1>Example, the main site</h1>"; }'
    if fault == "ipv6-down":  # AAAA records, and nothing listening on IPv6
        return _service_server(port, upstream, *cert, ipv6=False)
    service = _service_server(port, upstream, *cert)
    if fault == "ipv6-other":  # autodiscover.'s AAAA leads to another server (its own certificate, 404)
        other = faults.other_certificate
        return f"""{service}
    server {{
        listen [{LOOPBACK6}]:{port} ssl;
        server_name autodiscover.example.org;
        ssl_certificate {other[0]};
        ssl_certificate_key {other[1]};
        return 404;
    }}"""
    if fault == "main-401":  # the main site asks for a password on Thunderbird's path
        inside = f"""        location ~* ^/autodiscover/ {{
            add_header WWW-Authenticate 'Basic realm="Intranet"' always;
            return 401;
        }}
        location / {{ {_proxy(upstream)} }}"""
    elif fault == "main-hangs":  # ... passes it to an application that never answers
        inside = f"""        location ~* ^/autodiscover/ {{
            proxy_pass http://{LOOPBACK}:{faults.silent_port};
            proxy_read_timeout 120s;
        }}
        location / {{ {_proxy(upstream)} }}"""
    elif fault == "main-case":  # passes the clients' paths to the service, case-sensitively
        inside = f"""        location ~ {MAIN_SITE_PATHS} {{ {_proxy(upstream)} }}
        {own_page}"""
    else:  # main-passes: ... case-insensitively, as docs/deployment.md says
        inside = f"""        location ~* {MAIN_SITE_PATHS} {{ {_proxy(upstream)} }}
        {own_page}"""
    return f"{service}\n{_main_site(port, cert, inside)}"


@contextmanager
def field_nginx(folder: Path, upstream: int, faults: FieldFaults) -> Iterator[dict[str, int]]:
    """One nginx for every fault of FIELD_FAULTS, each on its https port; yields the ports by fault."""
    folder.mkdir(parents=True, exist_ok=True)
    ports = {fault: free_port() for fault in FIELD_FAULTS}
    servers = "\n".join(_fault(fault, port, upstream, faults) for fault, port in ports.items())
    last = ports[FIELD_FAULTS[-1]]
    with nginx_running(write_config(folder, servers), lambda: _tls_answers(last)):
        yield ports


def _tls_answers(port: int) -> bool | None:
    try:
        with socket.create_connection((LOOPBACK, port), timeout=1):
            return True
    except OSError:
        return None


def _redirects(port: int) -> bool | None:
    try:
        return True if httpx2.get(f"http://{LOOPBACK}:{port}/", timeout=1).status_code == 301 else None
    except httpx2.TransportError:
        return None


def _stop(process: subprocess.Popen[bytes], how: signal.Signals) -> None:
    if process.poll() is None:
        process.send_signal(how)
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT)


# --- the probe ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Deployment:
    """Where the probe finds one deployment."""

    settings: Path
    resolver: str
    https_port: int
    http_port: int
    ca_file: Path

    def options(self) -> list[str]:
        return [
            "--settings", str(self.settings),
            "--resolver", self.resolver,
            "--https-port", str(self.https_port),
            "--http-port", str(self.http_port),
            "--ca-file", str(self.ca_file),
        ]  # fmt: skip

    def probe(self, address: str, *options: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
        """`autoconfig probe ADDRESS` against this deployment, as the real command."""
        result = autoconfig("probe", address, *self.options(), *options, timeout=timeout)
        assert "Traceback" not in result.stderr, result.stderr
        return result

    def results(self, address: str, *options: str) -> list[dict[str, Any]]:
        result = self.probe(address, "--json", *options)
        assert result.returncode in (0, 1), result.stderr
        found: list[dict[str, Any]] = json.loads(result.stdout)
        return found


def lines(output: str, status: str) -> list[str]:
    """The result lines of one status (`pass`, `WARN`, `FAIL`) of a text run."""
    return [line for line in output.splitlines() if line.startswith(f"{status}  ")]


Edit = Callable[[list[str]], list[str]]


def by_step(results: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    """The results of a `--json` run by (client, step)."""
    return {(r["client"], r["step"]): r for r in results}


# --- the lab, as tests/probe/conftest.py starts it ----------------------------------------------------


@dataclass(frozen=True)
class Lab:
    folder: Path
    chain: Chain  # the test CA: it issues the web server's certificate, and the leaf signs profiles
    healthy: Deployment
    records: list[str]  # what `autoconfig dns` prints for the lab's settings
    service_port: int  # `autoconfig serve`, behind nginx
    certificate: tuple[Path, Path]  # the web server's fullchain and key, for every name

    @contextmanager
    def with_zone(self, name: str, edit: Edit) -> Iterator[Deployment]:
        """The deployment with its DNS records (those `autoconfig dns` prints, and the addresses) edited."""
        with knot(self.folder / name, zone_files(self.records, edit)) as resolver:
            yield replace(self.healthy, resolver=resolver)

    @contextmanager
    def with_certificate(self, name: str, names: tuple[str, ...]) -> Iterator[Deployment]:
        """The deployment behind a web server whose certificate (same CA) names only `names`."""
        certificate, key = issue_server_certificate(self.chain, names, self.folder / name)
        with nginx(self.folder / name / "nginx", self.service_port, certificate, key) as (https, http):
            yield replace(self.healthy, https_port=https, http_port=http)

    @contextmanager
    def with_signing(self, name: str, signing: ChainFiles) -> Iterator[Deployment]:
        """The deployment with profiles signed by another certificate: its own settings and service."""
        folder = self.folder / name
        settings = write_settings(folder, probe_settings(signing.signing_data()))
        with ExitStack() as stack:
            server = stack.enter_context(serving(folder / "serve", settings=settings))
            https, http = stack.enter_context(nginx(folder / "nginx", server.port, *self.certificate))
            yield replace(self.healthy, settings=settings, https_port=https, http_port=http)


@dataclass(frozen=True)
class Field:
    """The lab's deployment as the field gets it wrong: one nginx, one https port per fault."""

    ports: dict[str, int]
    healthy: Deployment

    def at(self, fault: str) -> Deployment:
        return replace(self.healthy, https_port=self.ports[fault])


# --- a hoster (profiles/hoster.toml) and its customers' domains ----------------------------------------

HOSTER_NAMES = (
    "autoconfig.hoster.example",
    "autodiscover.hoster.example",
    "ua-auto-config.hoster.example",
    "autoconfig.mail.hoster.example",
)
HOSTER_SRV = "_autodiscover._tcp.@ 3600 IN SRV 0 0 443 autoconfig.hoster.example."
# Customer zones by what they publish: the MX at the hoster and the SRV record for Outlook; the MX
# elsewhere; the MX at the hoster without the SRV record.
CUSTOMER_ZONES = {
    "customer.example": [
        "@ 300 IN MX 10 mx1.mail.hoster.example.",
        "@ 300 IN MX 20 mx2.mail.hoster.example.",
    ],
    "elsewhere.example": ["@ 300 IN MX 10 mx.elsewhere.example."],
    "nosrv.example": ["@ 300 IN MX 10 mx1.mail.hoster.example."],
}


def _zone(zone: str, lines: list[str]) -> str:
    head = [
        f"$ORIGIN {zone}.",
        f"@ 3600 IN SOA ns.{zone}. hostmaster.{zone}. 1 3600 600 86400 60",
        f"@ 3600 IN NS ns.{zone}.",
        f"ns 3600 IN A {LOOPBACK}",
    ]
    return "\n".join([*head, *lines, ""])


def hoster_zones(records: list[str]) -> dict[str, str]:
    """hoster.example with what `autoconfig dns` prints for it and the service's own addresses; each
    customer zone with its MX (and the SRV record, but for nosrv.example)."""
    own = [line for line in records if line.split()[0].endswith("hoster.example.")]
    zones = {
        "hoster.example": _zone(
            "hoster.example",
            [f"autoconfig 3600 IN A {LOOPBACK}", f"autoconfig 3600 IN AAAA {LOOPBACK6}", *own],
        )
    }
    for zone, lines in CUSTOMER_ZONES.items():
        srv = [] if zone == "nosrv.example" else [HOSTER_SRV.replace("@", f"{zone}.")]
        zones[zone] = _zone(zone, [*lines, *srv])
    return zones


@contextmanager
def hoster_lab(folder: Path, settings_data: dict[str, Any]) -> Iterator[Deployment]:
    """The hoster's deployment on loopback: Knot for its zone and its customers' (the service asks it
    for MX records too), `autoconfig serve`, and nginx with a certificate for the hoster's names.
    `settings_data`: profiles/hoster.toml as data; its resolver is set to the lab's Knot."""
    chain = make_chain("ec", name="Hoster")
    files = chain.write(folder / "ca")
    certificate = issue_server_certificate(chain, HOSTER_NAMES, folder / "tls")
    first = write_settings(folder / "plain", settings_data)
    records = published_records(first)
    with ExitStack() as stack:
        resolver = stack.enter_context(knot(folder / "knot", hoster_zones(records)))
        data = {**settings_data, "service": {**settings_data["service"]}}
        data["service"]["resolver"] = {**data["service"].get("resolver", {}), "servers": [resolver]}
        settings = write_settings(folder, data)
        server = stack.enter_context(serving(folder / "serve", settings=settings))
        https, http = stack.enter_context(nginx(folder / "nginx", server.port, *certificate))
        yield Deployment(settings, resolver, https, http, files.root)
