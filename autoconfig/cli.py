"""The `autoconfig` command: serve, check, healthcheck, import, dns, render, reference and probe. The only
place errors become exit codes."""

from __future__ import annotations

import errno
import json
import logging
import logging.config
import socket
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from . import __version__
from .errors import SettingsError, counted
from .formats.dns import customer_zone, dns_records, render_json, render_zone
from .formats.importer import ImportFormatError, import_clientconfig
from .formats.thunderbird import generic_answer_notes
from .paths import SETTINGS_ENV
from .serving.startup import log_config, serving_line, serving_snapshot, serving_version
from .settings import Settings, load_settings
from .settings.reference import settings_reference
from .version import Version
from .web.funnel import summary_table

SETTINGS_OPTION = click.option(
    "--settings",
    "settings_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    envvar=SETTINGS_ENV,
    help="The settings file (TOML); also read from AUTOCONFIG_SETTINGS. Default: the bundled ac-paris.toml.",
)


class CommandError(click.ClickException):
    """A failure the command reports as it is, on standard error, exiting 1: a settings report, a file
    that cannot be read, a service that does not answer."""

    def show(self, file: Any = None) -> None:
        click.echo(self.format_message(), err=True)


class OneLineUsageError(click.UsageError):
    """A command line click cannot take (a missing option, a folder where a file is wanted): one line
    with the command, what is wrong and where the help is, exit 2, instead of click's usage block."""

    def show(self, file: Any = None) -> None:
        where = command_name(self.ctx)
        click.echo(f"{where}: {self.format_message()} See {where} --help.", err=True)


def command_name(ctx: click.Context | None, subcommand: str | None = None) -> str:
    """`autoconfig render`, also when run as `python -m autoconfig` (the name the docs give)."""
    names = [subcommand] if subcommand else []
    while ctx is not None and ctx.parent is not None:
        names.insert(0, ctx.info_name or "")
        ctx = ctx.parent
    return " ".join(["autoconfig", *names])


@contextmanager
def _usage_in_one_line() -> Iterator[None]:
    try:
        yield
    except OneLineUsageError:
        raise
    except click.UsageError as exc:
        raise OneLineUsageError(exc.format_message(), exc.ctx) from None


class Commands(click.Group):
    """The `autoconfig` group: what goes wrong on the command line, or on writing the output, is one line.

    Usage errors are raised while the group parses its own options and while it parses a command's
    (both below); a closed pipe is click's (exit 1, silent); any other error on writing standard output
    (a full disk) is said in one line.
    """

    def make_context(
        self, info_name: str | None, args: list[str], parent: click.Context | None = None, **extra: Any
    ) -> click.Context:
        with _usage_in_one_line():
            return super().make_context(info_name, args, parent, **extra)

    def invoke(self, ctx: click.Context) -> Any:
        with _usage_in_one_line():
            try:
                return super().invoke(ctx)
            except OSError as exc:
                if exc.errno == errno.EPIPE or not _writing_output(exc):
                    raise
                command = command_name(ctx, ctx.invoked_subcommand)
                raise CommandError(f"{command}: cannot write the output: {exc.strerror or exc}") from None


def _writing_output(exc: OSError) -> bool:
    """Whether the error came from writing standard output (it names no file; ours all do)."""
    return exc.filename is None and exc.errno in (errno.ENOSPC, errno.EIO, errno.EDQUOT, errno.EFBIG)


def _settings(path: Path | None, option: str = "--settings") -> Settings:
    """The settings alone, for commands that publish what they say (dns, render): these need no access
    to the signing key, and make no development certificate. `option`: the option that named the file,
    for the fix of a file that cannot be read."""
    try:
        return load_settings(path)
    except SettingsError as exc:
        raise CommandError(exc.brief().replace("given to --settings", f"given to {option}")) from None


@click.group(cls=Commands)
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
    from .serving.snapshot import Snapshot  # noqa: PLC0415
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
        version, notes = serving_version(settings_path)
    except SettingsError as exc:
        raise CommandError(exc.brief()) from None
    settings = version.settings
    try:
        check_address(host, port)
    except AddressInUseError:
        raise CommandError(
            f"{host}:{port} is already in use: stop what listens there, or choose another --port"
        ) from None
    except OSError as exc:
        raise CommandError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}; give --host an address of this machine "
            "(127.0.0.1, or 0.0.0.0 for every one)"
        ) from None
    logger.info("%s", serving_line(settings, host, port))
    for note in notes:
        logger.warning("%s", note.headline)
    if any(note.detail for note in notes):
        shown = "" if settings_path is None else f" --settings {settings_path}"
        logger.info("the why and the fix of each warning: autoconfig check%s", shown)
    try:
        supervisor = Supervisor(
            lambda: serving_snapshot(settings_path),
            Snapshot.take(version),
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


@main.command()
@click.option(
    "--port", default=8080, show_default=True, type=click.IntRange(1, 65535), help="The service's port."
)
@click.option("--host", default="127.0.0.1", show_default=True, help="The service's address.")
@click.option(
    "--timeout",
    default=5.0,
    show_default=True,
    type=click.FloatRange(0.1, 600),
    help="Seconds to wait for the answer.",
)
@click.option(
    "--clients",
    is_flag=True,
    help="Also print the setup funnel: each client family's requests over 24 hours.",
)
def healthcheck(port: int, host: str, timeout: float, clients: bool) -> None:
    """Ask a running service for /healthz: exit 0 when ok or degraded, 1 when failing or unreachable;
    print its status, then every reason, file problem and warning it gives.

    The container's HEALTHCHECK (the slim image has no curl).
    """
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{port}/healthz"
    # Straight to the service: an HTTP_PROXY in the container's environment must not carry the probe.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=timeout) as answer:
            code, content = answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        code, content = exc.code, exc.read()
    except (OSError, ValueError) as exc:
        raise CommandError(f"{url}: no answer: {_unreachable(exc, host, port, timeout)}") from None
    body = _health_body(content)
    if body is None:
        raise CommandError(
            f"{url}: answered {code}, but not as autoconfig's /healthz does: is another service on that "
            "port? Give the service's --host and --port"
        )
    lines = [f"{url}: {body['status']}", *health_lines(body)]
    if code >= 400:  # failing (503): told as a failure, on standard error
        raise CommandError("\n".join(lines))
    for line in lines:
        click.echo(line)
    if clients:
        if body.get("clients") is None:
            raise CommandError(f"{url}: no client counts: ask from an address in service.metrics_networks")
        for line in summary_table(body["clients"]):
            click.echo(line)


def _health_body(content: bytes) -> dict[str, Any] | None:
    """The /healthz document, or None when the answer is not one (another service on the port)."""
    try:
        body = json.loads(content)
    except ValueError:
        return None
    return body if isinstance(body, dict) and isinstance(body.get("status"), str) else None


def health_lines(body: dict[str, Any]) -> list[str]:
    """What the status line leaves out, indented under it: each reason, the problems of a settings file
    on disk that would not load (under the reason that names them), then each warning."""
    lines = [f"  {reason}" for reason in body.get("reasons") or []]
    problems = (body.get("settings") or {}).get("file_problems")
    if problems:
        lines += [f"    {line}" for line in str(problems).splitlines()]
    lines += [f"  warning: {warning}" for warning in body.get("warnings") or []]
    return lines


def _unreachable(exc: OSError | ValueError, host: str, port: int, timeout: float) -> str:
    """Why nothing answered, and what to do, in plain words rather than urllib's."""
    reason: object = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(reason, ConnectionRefusedError):
        return (
            f"nothing listens on {host}:{port} (connection refused): start autoconfig serve, or give its "
            "--host and --port"
        )
    if isinstance(reason, socket.gaierror) and reason.errno == socket.EAI_NONAME:
        return f"the name {host} is not known: give the service's address with --host"
    if isinstance(reason, socket.gaierror):  # no resolver, or none that answers
        return f"the name {host} could not be looked up ({reason.strerror}): give the service's IP address"
    if isinstance(reason, TimeoutError):
        return (
            f"no answer within {timeout:g} s: the service is overloaded or stuck (see its log), or a "
            "firewall drops the connection; a longer --timeout waits more"
        )
    if isinstance(reason, OSError):
        return f"{reason.strerror or reason}: check --host and --port"
    return f"{reason}: check --host and --port"


@main.command()
@SETTINGS_OPTION
def check(settings_path: Path | None) -> None:
    """Validate a settings file as `serve` does before it serves: every problem, or a one-line summary and
    each warning with its why and fix (exit 0 when `serve` would start, 1 otherwise)."""
    try:
        version, notes = serving_version(settings_path)
    except SettingsError as exc:
        raise CommandError(exc.brief()) from None
    shown = settings_path or "bundled ac-paris.toml"
    click.echo(f"{shown}: valid: {version.settings.summary()}")
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
        raise CommandError(
            f"{xml_file}: cannot read the file: {exc.strerror or exc}; give the path of a config-v1.1.xml "
            "file"
        ) from None
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
@click.option(
    "--customer",
    default=None,
    metavar="DOMAIN",
    help="For a provider that hosts mail for other domains: only what this customer domain publishes.",
)
def dns(
    settings_path: Path | None, output_format: str, previous_path: Path | None, customer: str | None
) -> None:
    """Print the DNS records every domain should publish (with --customer, one customer domain's)."""
    settings = _settings(settings_path)
    previous = _settings(previous_path, "--previous") if previous_path is not None else None
    try:
        records = dns_records(settings, previous) if customer is None else customer_zone(settings, customer)
    except ValueError as exc:
        raise CommandError(f"autoconfig dns: --customer {customer}: {exc}") from None
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
    version = Version.build(settings, signer=None)  # the answers served, without what signs profiles
    written = 0
    for provider in settings.providers:
        document = version.clientconfig[provider.id].render()
        for domain in (*provider.domains, *provider.aliases):
            for relative in exported_paths():
                target = out_dir / domain / relative
                try:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(document)
                except OSError as exc:
                    failed = exc.filename or target
                    what = "the folder" if str(failed) == str(out_dir) else str(failed)
                    raise CommandError(
                        f"{out_dir}: cannot create {what}: {exc.strerror or exc}; give --out a folder "
                        "this user can create and write"
                    ) from None
                written += 1
    domains = sum(len(p.domains) + len(p.aliases) for p in settings.providers)
    click.echo(f"{out_dir}: {counted(written, 'file')} for {counted(domains, 'domain')}")
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
