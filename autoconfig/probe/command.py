"""`autoconfig probe ADDRESS`: the click command. Exit 0 when every check passes (warnings allowed), 1
on any failure, 2 when nothing could be probed (bad input, no resolver)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from autoconfig.errors import SettingsError
from autoconfig.paths import SETTINGS_ENV
from autoconfig.settings import load_settings
from autoconfig.version import Version

from .lookup import Lookup, make_resolver
from .network import Network, connect_address
from .report import EXIT_UNUSABLE, ProbeError, exit_status, render_json, render_text
from .run import probe as run_probe
from .run import target_for


class UnusableError(click.ClickException):
    """Nothing was probed: one line on standard error, exit 2."""

    exit_code = EXIT_UNUSABLE

    def show(self, file: Any = None) -> None:
        click.echo(f"autoconfig probe: {self.format_message()}", err=True)


@click.command()
@click.argument("address")
@click.option(
    "--settings",
    "settings_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    envvar=SETTINGS_ENV,
    help="What SHOULD be: the settings file (TOML); also read from AUTOCONFIG_SETTINGS. "
    "Default: the bundled ac-paris.toml.",
)
@click.option(
    "--resolver",
    metavar="IP[:PORT]",
    default=None,
    help="Ask this DNS server (port 53 unless given), for the checks and the addresses to connect to. "
    "Default: the system's (/etc/resolv.conf).",
)
@click.option(
    "--at",
    "at",
    metavar="IP",
    default=None,
    help="Connect to this address for every name, instead of the addresses DNS gives (a new server "
    "before the DNS points to it). TLS names and Host headers stay the clients'.",
)
@click.option(
    "--https-port",
    default=443,
    show_default=True,
    type=click.IntRange(1, 65535),
    help="Connect to this port where clients use 443: for testing a deployment on another port.",
)
@click.option(
    "--http-port",
    default=80,
    show_default=True,
    type=click.IntRange(1, 65535),
    help="Connect to this port where clients use 80: for testing a deployment on another port.",
)
@click.option(
    "--ca-file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="Trust this CA (PEM) too, besides the system's, for HTTPS and for the profile's signer: a "
    "private CA, as on devices that have it installed.",
)
@click.option(
    "--timeout",
    default=5.0,
    show_default=True,
    type=click.FloatRange(0.1, 60),
    help="Seconds each network operation may take (a DNS question, a connection, an answer).",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON document: a list of the results.")
def probe(
    *,
    address: str,
    settings_path: Path | None,
    resolver: str | None,
    at: str | None,
    https_port: int,
    http_port: int,
    ca_file: Path | None,
    timeout: float,
    as_json: bool,
) -> None:
    """Replay what each mail client does for ADDRESS against the live deployment, and compare what it
    ends up with to the settings.

    One line per client and step: pass, WARN or FAIL, each warning and failure with its fix. Exit 0
    when nothing fails (warnings allowed), 1 on a failure, 2 when nothing could be probed.
    """

    try:
        settings = load_settings(settings_path)
    except SettingsError as exc:
        raise UnusableError(exc.brief()) from None
    try:
        target = target_for(settings, address)
        dns_resolver, where = make_resolver(resolver, timeout)
        if at is not None:
            at = connect_address(at)
        network = Network(Lookup(dns_resolver, where), timeout, ca_file, at, https_port, http_port)
        # What the service answers for these settings (profiles are checked by their signature alone).
        results = run_probe(Version.build(settings, None), target, network)
    except ProbeError as exc:
        raise UnusableError(str(exc)) from None
    if as_json:
        click.echo(render_json(results), nl=False)
    else:
        heading = f"probe {address}: settings {settings.source}, {where}" + (
            f", connecting to {at}" if at else ""
        )
        click.echo(render_text(results, heading), nl=False)
    sys.exit(exit_status(results))
