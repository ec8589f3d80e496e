"""The `autoconfig` command: serve, check, import. The only place errors become exit codes."""

from __future__ import annotations

import hashlib
import json
import logging
import logging.config
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import click

from . import __version__
from .errors import Note, Problem, SettingsError
from .formats.dns import dns_records, render_json, render_zone
from .formats.importer import ImportFormatError, import_clientconfig
from .formats.signing import new_development_signer, signer_for
from .formats.thunderbird import build_clientconfig, generic_answer_notes
from .paths import SETTINGS_ENV, is_bundled_default, state_dir
from .serving.snapshot import Snapshot
from .settings import Settings, load_settings, settings_warnings
from .settings.reference import settings_reference
from .web.accesslog import stored_hash_key
from .web.funnel import summary_table

MIN_HASH_KEY_BYTES = 16

SETTINGS_OPTION = click.option(
    "--settings",
    "settings_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    envvar=SETTINGS_ENV,
    help="The settings file (TOML); also read from AUTOCONFIG_SETTINGS. Default: the bundled ac-paris.toml.",
)


def log_config(level: str = "INFO") -> dict[str, Any]:
    """Logging for uvicorn and the app: access lines on stdout, everything else on stderr."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
            "access": {"format": "%(message)s"},  # the line holds its own time (JSON: one object a line)
        },
        "handlers": {
            "stderr": {"class": "logging.StreamHandler", "formatter": "plain", "stream": "ext://sys.stderr"},
            "access": {"class": "logging.StreamHandler", "formatter": "access", "stream": "ext://sys.stdout"},
        },
        "loggers": {
            "uvicorn": {"handlers": ["stderr"], "level": level, "propagate": False},
            "autoconfig": {"handlers": ["stderr"], "level": level, "propagate": False},
            "autoconfig.access": {"handlers": ["access"], "level": level, "propagate": False},
        },
    }


class CommandError(click.ClickException):
    """A failure the command reports as it is, on standard error, exiting 1: a settings report, a file
    that cannot be read, a service that does not answer."""

    def show(self, file: Any = None) -> None:
        click.echo(self.format_message(), err=True)


def settings_notes(settings: Settings) -> list[Note]:
    """What `check` and `serve` warn about. A provider without a PACC document is not among them: most
    offer STARTTLS, which PACC cannot describe, and that is a choice, not a fault (`dns` says it)."""
    return settings_warnings(settings) + generic_answer_notes(settings)


def _settings(path: Path | None) -> Settings:
    """The settings alone, for commands that publish what they say (dns, render): these need no access
    to the signing key, and make no development certificate."""
    try:
        return load_settings(path)
    except SettingsError as exc:
        raise CommandError(exc.render()) from None


@click.group()
@click.version_option(__version__, prog_name="autoconfig")
def main() -> None:
    """Mail client autoconfiguration from one settings file."""


@main.command()
@SETTINGS_OPTION
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", default=8080, show_default=True, type=click.IntRange(0, 65535), help="Port to listen on."
)
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64), help="Worker processes.")
@click.option(
    "--log-level",
    default="info",
    show_default=True,
    type=click.Choice(["debug", "info", "warning", "error"]),
    help="Least severe log level shown.",
)
@click.option(
    "--give-up-after",
    default=60.0,
    show_default=True,
    type=click.FloatRange(5, 3600),
    help="Seconds without any worker serving before the service stops with status 1 (for its restart).",
)
def serve(
    *, settings_path: Path | None, host: str, port: int, workers: int, log_level: str, give_up_after: float
) -> None:
    """Serve the settings over HTTP (refuses to start on invalid settings).

    A supervisor process keeps WORKERS worker processes serving the settings it checked: it replaces a
    worker that dies, and reloads on SIGHUP (or when the files change, with service.watch_seconds).
    """
    from .serving.supervisor import (  # noqa: PLC0415
        AddressInUseError,
        NoTemporaryFolderError,
        Supervisor,
        check_address,
    )

    config = log_config(log_level.upper())
    logging.config.dictConfig(config)
    logger = logging.getLogger("autoconfig")
    try:
        snapshot, notes = serving_snapshot(settings_path)
    except SettingsError as exc:
        raise CommandError(exc.render()) from None
    settings = snapshot.settings()
    try:
        check_address(host, port)
    except AddressInUseError:
        raise CommandError(
            f"{host}:{port} is already in use: stop what listens there, or choose another --port"
        ) from None
    except OSError as exc:
        raise CommandError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    logger.info("%s", serving_line(settings, host, port))
    for note in notes:
        logger.warning("%s", note.headline)
    if any(note.detail for note in notes):
        shown = "" if settings_path is None else f" --settings {settings_path}"
        logger.info("the why and the fix of each warning: autoconfig check%s", shown)
    try:
        supervisor = Supervisor(
            lambda: serving_snapshot(settings_path),
            snapshot,
            host=host,
            port=port,
            workers=workers,
            log_config=config,
            watch_seconds=settings.service.watch_seconds,
            give_up_after=give_up_after,
            notes=notes,
        )
    except NoTemporaryFolderError as exc:
        raise CommandError(str(exc)) from None
    sys.exit(supervisor.run())


def serving_line(settings: Settings, host: str, port: int) -> str:
    """The first line a service logs: what it serves, and where to look."""
    shown = f"[{host}]" if ":" in host else host
    where = f"http://{shown}:{port}/"
    if is_bundled_default(settings.source):
        names = ", ".join(provider.name for provider in settings.providers)
        return (
            f"autoconfig {__version__}: serving the bundled example settings ({names}) at {where}: open it "
            "in a browser; serve your own with --settings FILE"
        )
    return f"autoconfig {__version__}: serving {settings.source} ({settings.summary()}) at {where}"


def serving_snapshot(path: Path | None) -> tuple[Snapshot, list[Note]]:
    """Every check `serve` makes before it serves, and so every check `check` makes: the settings with
    their files and signing chain, the log-hash key, the state folder; then what the workers need (the
    development certificate, the log-hash key) and what to warn about. Raises SettingsError.

    The state folder holds the development certificate and the log-hash key: when it cannot be written
    they live in memory only, which is said (and /healthz says it too); the service still starts.
    """
    settings = load_settings(path)
    notes = settings_notes(settings)
    state_notes: list[Note] = []
    try:
        signer = signer_for(settings)
    except OSError as exc:
        signer = new_development_signer()
        state_notes.append(
            Note(
                f"the state folder {state_dir()} cannot be written ({exc.strerror or exc}): the development "
                "signing certificate changes at each restart",
                "it lives in memory only; make the folder writable, set AUTOCONFIG_STATE_DIR, or configure "
                "[signing]",
            )
        )
    hash_key: bytes | None = None
    if settings.service.log_hash_key_file is not None:
        content = settings.file_bytes(settings.service.log_hash_key_file)
        if len(content) < MIN_HASH_KEY_BYTES:
            raise SettingsError(
                settings.source,
                [
                    Problem(
                        "service.log_hash_key_file",
                        str(settings.service.log_hash_key_file),
                        f"the key is {len(content)} bytes long; at least {MIN_HASH_KEY_BYTES} are needed",
                        "write random bytes in it, e.g. head -c 32 /dev/urandom > FILE",
                    )
                ],
            )
        hash_key = hashlib.sha256(content).digest()
    elif settings.service.log_addresses == "hash":
        hash_key, warning = stored_hash_key()
        state_notes += [warning] if warning else []
    snapshot = Snapshot.take(settings, signer, hash_key, tuple(str(note) for note in state_notes))
    return snapshot, notes + state_notes + (signer.warnings() if signer else [])


@main.command()
@click.option(
    "--port", default=8080, show_default=True, type=click.IntRange(1, 65535), help="The service's port."
)
@click.option("--host", default="127.0.0.1", show_default=True, help="The service's address.")
@click.option("--timeout", default=5.0, show_default=True, type=float, help="Seconds to wait for the answer.")
@click.option(
    "--clients",
    is_flag=True,
    help="Also print the setup funnel: each client family's requests over 24 hours.",
)
def healthcheck(port: int, host: str, timeout: float, clients: bool) -> None:
    """Ask a running service for /healthz: exit 0 when ok or degraded, 1 when failing or unreachable,
    and say why when it is not ok.

    The container's HEALTHCHECK (the slim image has no curl).
    """
    url = f"http://{host}:{port}/healthz"
    # Straight to the service: an HTTP_PROXY in the container's environment must not carry the probe.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=timeout) as answer:
            body = json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        try:
            body = json.loads(exc.read())
        except ValueError:
            body = {}
        reasons = "".join(f"\n  {reason}" for reason in body.get("reasons", []))
        raise CommandError(f"{url}: {exc.code} {body.get('status', '')}".rstrip() + reasons) from None
    except (OSError, ValueError) as exc:
        raise CommandError(f"{url}: no answer ({exc})") from None
    click.echo(f"{url}: {body.get('status', '?')}")
    for reason in body.get("reasons", []):
        click.echo(f"  {reason}")
    if clients:
        if body.get("clients") is None:
            raise CommandError(f"{url}: no client counts: ask from an address in service.metrics_networks")
        for line in summary_table(body["clients"]):
            click.echo(line)


@main.command()
@SETTINGS_OPTION
def check(settings_path: Path | None) -> None:
    """Validate a settings file as `serve` does before it serves: every problem, or a one-line summary and
    each warning with its why and fix (exit 0 when `serve` would start, 1 otherwise)."""
    try:
        snapshot, notes = serving_snapshot(settings_path)
    except SettingsError as exc:
        raise CommandError(exc.render()) from None
    shown = settings_path or "bundled ac-paris.toml"
    click.echo(f"{shown}: valid: {snapshot.settings().summary()}")
    for note in notes:
        click.echo(f"warning: {note.render()}", err=True)


@main.command("import")
@click.argument("xml_file", type=click.Path(dir_okay=False, path_type=Path))
def import_command(xml_file: Path) -> None:
    """Turn a config-v1.1.xml file into a settings file, written to standard output.

    What the settings cannot express is listed on standard error and in comments at the top.
    """
    try:
        document = xml_file.read_bytes()
    except OSError as exc:
        raise CommandError(f"{xml_file}: cannot read the file: {exc.strerror or exc}") from None
    try:
        imported = import_clientconfig(document)
    except ImportFormatError as exc:
        raise CommandError(f"{xml_file}: {exc}") from None
    for note in imported.dropped:
        click.echo(f"{xml_file}: left out: {note}", err=True)
    # The settings file is UTF-8 whatever the terminal's locale says.
    sys.stdout.buffer.write(imported.to_toml(xml_file.name).encode("utf-8"))
    sys.stdout.flush()


@main.command()
@SETTINGS_OPTION
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["zone", "json"]),
    default="zone",
    show_default=True,
    help="Zone-file lines to paste, or JSON for tools.",
)
@click.option(
    "--previous",
    "previous_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The settings being served, when --settings names new ones: a PACC digest that changes is "
    "given twice, with the steps of the change.",
)
def dns(settings_path: Path | None, output_format: str, previous_path: Path | None) -> None:
    """Print the DNS records every domain should publish."""
    settings = _settings(settings_path)
    previous = _settings(previous_path) if previous_path is not None else None
    records = dns_records(settings, previous)
    click.echo(render_zone(records) if output_format == "zone" else render_json(records), nl=False)


@main.command()
@SETTINGS_OPTION
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Folder to write into; one sub-folder per domain, to serve as that domain's web root.",
)
def render(settings_path: Path | None, out_dir: Path) -> None:
    """Write the files that need no address, for hosts that can only serve files.

    For every domain: DOMAIN/mail/config-v1.1.xml and DOMAIN/.well-known/autoconfig/mail/config-v1.1.xml,
    with the clients' placeholders for the login. What those files get wrong is said on standard error.
    """
    # The routes that need no address, from the route table (which loads the web side: only here).
    from .web.routes import exported_paths  # noqa: PLC0415

    settings = _settings(settings_path)
    written = 0
    for provider in settings.providers:
        document = build_clientconfig(provider)
        for domain in (*provider.domains, *provider.aliases):
            for relative in exported_paths():
                target = out_dir / domain / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(document)
                written += 1
    domains = sum(len(p.domains) + len(p.aliases) for p in settings.providers)
    click.echo(f"{out_dir}: {written} files for {domains} domains")
    for note in generic_answer_notes(settings):
        click.echo(f"warning: {note.render()}", err=True)


@main.command()
@click.argument("topic", type=click.Choice(["settings", "endpoints"]))
def reference(topic: str) -> None:
    """Print the reference of every settings key, or of every HTTP endpoint, in Markdown.

    docs/reference/settings.md and docs/reference/endpoints.md are this command's output.
    """
    if topic == "settings":
        click.echo(settings_reference(), nl=False)
        return
    from .web.routes import endpoint_reference  # noqa: PLC0415 - the route table loads the web side

    click.echo(endpoint_reference(), nl=False)


from .probe.command import probe  # noqa: E402

main.add_command(probe)
