"""The probe's lab, started once for tests/probe: a healthy deployment on loopback, and ways to start it
again with one part broken."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.helpers.certs import make_chain
from tests.helpers.live import serving
from tests.helpers.probe_lab import (
    LOOPBACK,
    NAMES,
    Deployment,
    Field,
    FieldFaults,
    Lab,
    field_nginx,
    issue_server_certificate,
    knot,
    nginx,
    probe_settings,
    published_records,
    zone_files,
)
from tests.helpers.settings import write_settings


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
