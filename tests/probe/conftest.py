"""The probe's lab, started once for tests/probe: a healthy deployment on loopback, and ways to start it
again with one part broken."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from tests.helpers.certs import Chain, ChainFiles, make_chain
from tests.helpers.live import serving
from tests.helpers.settings import write_settings
from tests.probe.lab import (
    LOOPBACK,
    NAMES,
    Deployment,
    Edit,
    FieldFaults,
    field_nginx,
    issue_server_certificate,
    knot,
    nginx,
    probe_settings,
    published_records,
    zone_files,
)


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


@pytest.fixture(scope="package")
def lab(tmp_path_factory: pytest.TempPathFactory, state_dir: Path) -> Iterator[Lab]:
    folder = tmp_path_factory.mktemp("probe-lab")
    chain = make_chain("ec", name="Probe")
    files = chain.write(folder / "signing")
    settings = write_settings(folder, probe_settings(files.signing_data()))
    certificate = issue_server_certificate(chain, NAMES, folder / "tls")
    records = published_records(settings)
    with ExitStack() as stack:
        resolver = stack.enter_context(knot(folder / "knot", zone_files(records)))
        server = stack.enter_context(serving(folder / "serve", settings=settings))
        https, http = stack.enter_context(nginx(folder / "nginx", server.port, *certificate))
        healthy = Deployment(settings, resolver, https, http, files.root)
        yield Lab(folder, chain, healthy, records, server.port, certificate)


@dataclass(frozen=True)
class Field:
    """The lab's deployment as the field gets it wrong: one nginx, one https port per fault."""

    ports: dict[str, int]
    healthy: Deployment

    def at(self, fault: str) -> Deployment:
        return replace(self.healthy, https_port=self.ports[fault])


@pytest.fixture(scope="package")
def field(lab: Lab) -> Iterator[Field]:
    # Another server of the organisation's, with a certificate from the same CA for its own name.
    other_certificate = issue_server_certificate(
        lab.chain, ("old.example.org",), lab.folder / "field" / "other"
    )
    # The kernel accepts connections to a listening socket; nobody ever reads them.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as silent:
        silent.bind((LOOPBACK, 0))
        silent.listen(64)
        faults = FieldFaults(lab.certificate, other_certificate, silent.getsockname()[1])
        with field_nginx(lab.folder / "field" / "nginx", lab.service_port, faults) as ports:
            yield Field(ports, lab.healthy)
