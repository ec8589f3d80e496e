"""cli.py: `autoconfig check` and `serve` on bad settings, `dns`, `render` and `healthcheck`, run as the real
command: exit codes and what is printed."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from starlette.testclient import TestClient

from autoconfig import __version__
from autoconfig.errors import SettingsError
from autoconfig.formats.dns import dns_records, render_json, render_zone
from autoconfig.paths import SETTINGS_ENV, default_settings_path, profiles_dir
from autoconfig.serving.startup import serving_line
from autoconfig.settings import load_settings
from tests.helpers.certs import make_chain, write_mismatched_key
from tests.helpers.commands import assert_no_traceback, autoconfig
from tests.helpers.dns import RICH, check_json_matches_zone, check_record_data, parse_zone
from tests.helpers.live import free_port, serving
from tests.helpers.settings import incoming, outgoing, settings_data, write_settings

WriteSettings = Callable[..., Path]
MakeClient = Callable[..., TestClient]

PROFILES = ["ac-paris.toml", "ile-de-france.toml"]
NOW = dt.datetime.now(dt.UTC)
# The minimal provider's two servers, for the tests that change one key of one of them.


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    """`python -m autoconfig ARGS`, without settings from the environment (but `env`'s), and no traceback."""
    result = autoconfig(*args, env=env, timeout=timeout)
    assert "Traceback" not in result.stderr
    return result


# --- check, and serve on bad settings -------------------------------------------------------------------

SUMMARY = "valid: 1 provider, 1 domain, 2 servers"
# Two mistakes: a quoted port and a security mode that does not exist.
INVALID = settings_data(
    provider={
        "incoming": incoming(port="143"),
        "outgoing": outgoing(security="ssl"),
    }
)


def test_check_valid_file(settings_file: WriteSettings) -> None:
    path = settings_file()
    result = autoconfig("check", "--settings", str(path))
    assert result.returncode == 0, result.stderr
    # The summary is the one line on stdout; warnings go to stderr, each a line with its why and fix
    # indented below it.
    assert result.stdout == f"{path}: {SUMMARY}\n"
    assert result.stderr.splitlines() == [
        "warning: no [signing]: Apple profiles will be served unsigned (iOS shows them as Not Verified)",
        "  configure [signing] with a publicly trusted certificate and its key: the web server's certificate",
        "  will do",
    ]
    assert_no_traceback(result)


def test_check_valid_file_without_warnings_is_one_line(settings_file: WriteSettings) -> None:
    # `check` reads the signing files: real ones, named relative to the settings file as in DESIGN.md.
    path = settings_file(signing={"certificate": "tls/fullchain.pem", "key": "tls/privkey.pem"})
    make_chain("ec").write(path.parent / "tls")
    result = autoconfig("check", "--settings", str(path))
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{path}: {SUMMARY}\n"
    assert result.stderr == ""


def test_check_bundled_default() -> None:
    result = autoconfig("check")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == f"bundled ac-paris.toml: {SUMMARY}"
    assert_no_traceback(result)


def test_check_invalid_file_lists_every_problem(settings_file: WriteSettings) -> None:
    path = settings_file(INVALID)
    result = autoconfig("check", "--settings", str(path))
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"{path}: 2 problems",
        '  providers[0].incoming[0].port: found "143"',
        "    input should be a valid integer",
        "    fix: write a whole number without quotes",
        '  providers[0].outgoing[0].security: found "ssl"',
        "    this value is not allowed",
        "    fix: use one of 'starttls', 'tls' or 'none'",
    ]
    assert_no_traceback(result)


def test_check_prints_what_load_settings_reports(settings_file: WriteSettings) -> None:
    # No domain, and a misspelt key in the SMTP server.
    path = settings_file(provider={"domains": [], "outgoing": outgoing(hots="smtp.example.org")})
    with pytest.raises(SettingsError) as info:
        load_settings(path)
    result = autoconfig("check", "--settings", str(path))
    assert result.returncode == 1
    assert result.stderr == info.value.render() + "\n"
    assert "did you mean 'host'?" in result.stderr
    assert_no_traceback(result)


@pytest.mark.parametrize(
    ("content", "says"),
    [
        pytest.param(b"", "", id="missing"),
        pytest.param(
            b'[service]\npublic_url = "caf\xe9"\n', "the file is not UTF-8 text: line 2", id="latin-1"
        ),
        pytest.param(b"[service\n", "not valid TOML: ", id="syntax"),
    ],
)
def test_check_unreadable_file(tmp_path: Path, content: bytes, says: str) -> None:
    path = tmp_path / "settings.toml"
    if says:
        path.write_bytes(content)
    else:
        says = "cannot read the file: No such file or directory"
    result = autoconfig("check", "--settings", str(path))
    assert result.returncode == 1
    assert result.stdout == ""
    # A file that cannot be read has no key to list: one line, what is wrong and the fix.
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"{path}: ")
    assert says in line
    assert "; fix: " in line
    assert_no_traceback(result)


def test_serve_refuses_invalid_settings(settings_file: WriteSettings) -> None:
    path = settings_file(INVALID)
    check = autoconfig("check", "--settings", str(path))
    served = autoconfig("serve", "--settings", str(path), "--port", "0", timeout=20)
    assert served.returncode == 1
    assert served.stderr == check.stderr
    assert f"{path}: 2 problems" in served.stderr
    assert "Uvicorn running" not in served.stdout + served.stderr
    assert "Started server" not in served.stdout + served.stderr
    assert_no_traceback(served)


def test_serve_refuses_missing_settings(tmp_path: Path) -> None:
    path = tmp_path / "absent.toml"
    served = autoconfig("serve", "--settings", str(path), "--port", "0", timeout=20)
    assert served.returncode == 1
    assert served.stderr.splitlines() == [
        f"{path}: cannot read the file: No such file or directory; fix: check the path given to --settings"
    ]
    assert_no_traceback(served)


# --- dns ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", PROFILES)
def test_dns_prints_the_zone_and_the_same_records_as_json(name: str) -> None:
    path = profiles_dir() / name
    zone = run_cli("dns", "--settings", str(path))
    as_json = run_cli("dns", "--settings", str(path), "--format", "json")
    assert zone.returncode == 0, zone.stderr
    assert as_json.returncode == 0, as_json.stderr
    records = dns_records(load_settings(path))
    assert zone.stdout == render_zone(records)
    assert as_json.stdout == render_json(records)
    parsed, _ = parse_zone(zone.stdout)
    assert len(parsed) >= 10
    for record in parsed:
        check_record_data(record)
    check_json_matches_zone(zone.stdout, as_json.stdout)
    assert zone.stderr == ""  # warnings (no [signing]) are for `check` and `serve`


def test_dns_without_settings_is_the_bundled_default() -> None:
    result = run_cli("dns")
    assert result.returncode == 0
    assert result.stdout == run_cli("dns", "--settings", str(default_settings_path())).stdout
    assert "_caldavs._tcp.ac-paris.fr." in result.stdout


def test_dns_reads_the_settings_named_by_the_environment(settings_file: WriteSettings) -> None:
    path = settings_file(RICH)
    result = run_cli("dns", "--format", "json", env={SETTINGS_ENV: str(path)})
    assert result.returncode == 0, result.stderr
    names = {item["name"] for item in json.loads(result.stdout)}
    assert "_carddav._tcp.example.net." in names


def test_dns_refuses_a_broken_file(settings_file: WriteSettings) -> None:
    path = settings_file(provider={"incoming": incoming(port=99999)})
    result = run_cli("dns", "--settings", str(path))
    assert result.returncode == 1
    assert result.stdout == ""
    assert "providers[0].incoming[0].port: found 99999" in result.stderr


def test_dns_and_render_do_not_use_the_signing_key(tmp_path: Path, settings_file: WriteSettings) -> None:
    # What they publish does not depend on the signing files: a key that does not match its certificate
    # (which `check` and `serve` refuse) does not stop them.
    chain = make_chain("ec")
    files = chain.write(tmp_path / "tls")
    wrong_key = write_mismatched_key(chain, tmp_path / "tls" / "other.pem")
    path = settings_file(signing=files.signing_data(key=wrong_key))
    env = {"AUTOCONFIG_STATE_DIR": str(tmp_path / "state")}
    dns = run_cli("dns", "--settings", str(path), env=env)
    assert dns.returncode == 0, dns.stderr
    assert "_imap._tcp.example.org." in dns.stdout
    render = run_cli("render", "--settings", str(path), "--out", str(tmp_path / "www"), env=env)
    assert render.returncode == 0, render.stderr
    assert (tmp_path / "www" / "example.org" / "mail" / "config-v1.1.xml").is_file()
    check = run_cli("check", "--settings", str(path), env=env)
    assert check.returncode == 1
    assert "this key does not belong to the certificate" in check.stderr


def test_dns_of_the_bundled_default_makes_no_certificate(tmp_path: Path) -> None:
    state = tmp_path / "state"
    assert run_cli("dns", env={"AUTOCONFIG_STATE_DIR": str(state)}).returncode == 0
    assert not state.exists()  # the development certificate is for `serve` and `check`


def test_dns_for_one_customer_domain_of_a_hoster() -> None:
    path = str(profiles_dir() / "hoster.toml")
    zone = run_cli("dns", "--settings", path, "--customer", "Customer.example")
    assert zone.returncode == 0, zone.stderr
    records, comments = parse_zone(zone.stdout)
    assert [(r.name, r.type, r.data) for r in records] == [
        ("_autodiscover._tcp.customer.example.", "SRV", "0 0 443 autoconfig.hoster.example.")
    ]
    assert comments[0].startswith("customer.example. its MX must name mx1.mail.hoster.example")
    as_json = json.loads(
        run_cli("dns", "--settings", path, "--customer", "customer.example", "--format", "json").stdout
    )
    assert {item["part"] for item in as_json} == {"customer"}
    refused = run_cli("dns", "--customer", "customer.example")  # the bundled default hosts no one
    assert refused.returncode == 1
    assert "no provider of" in refused.stderr
    assert "add [providers.hosting]" in refused.stderr
    listed = run_cli("dns", "--settings", path, "--customer", "hoster.example")
    assert listed.returncode == 1
    assert "a domain of the settings, not a customer's" in listed.stderr


def test_check_of_a_hoster_names_its_records_and_certificate_names(tmp_path: Path) -> None:
    result = run_cli("check", "--settings", str(profiles_dir() / "hoster.toml"))
    assert result.returncode == 0, result.stderr
    assert "warning: Hoster Mail answers customer domains through their MX" in result.stderr
    assert "-d autoconfig.mail.hoster.example" in result.stderr.replace("\n  ", " ")
    # Without a resolver named and without one in resolv.conf, every MX lookup fails: said.
    from autoconfig.settings.report import hosting_notes  # noqa: PLC0415

    empty = tmp_path / "resolv.conf"
    empty.write_text("# nothing\n", encoding="utf-8")
    settings = load_settings(profiles_dir() / "hoster.toml")
    for missing in (empty, tmp_path / "absent"):
        headlines = [note.headline for note in hosting_notes(settings, missing)]
        assert any(h.startswith("no resolver: service.resolver.servers is empty") for h in headlines)
    named = tmp_path / "named.conf"
    named.write_text("nameserver 192.0.2.53\n", encoding="utf-8")
    assert len(hosting_notes(settings, named)) == 1
    assert hosting_notes(load_settings(profiles_dir() / "ac-paris.toml"), empty) == []


# --- render -------------------------------------------------------------------------------------------

EXPORTS = ("mail/config-v1.1.xml", ".well-known/autoconfig/mail/config-v1.1.xml")
SERVICE_PATHS = ("/mail/config-v1.1.xml", "/.well-known/autoconfig/mail/config-v1.1.xml")


def read_xml(data: bytes) -> etree._Element:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    return etree.fromstring(data, parser)


def canonical(element: etree._Element) -> bytes:
    return etree.tostring(element, method="c14n")


@pytest.mark.parametrize("source", [*PROFILES, "rich"])
def test_render_writes_what_the_service_answers_for_each_host(
    source: str, tmp_path: Path, settings_file: WriteSettings, make_client: MakeClient
) -> None:
    path = settings_file(RICH) if source == "rich" else profiles_dir() / source
    settings = load_settings(path)
    out = tmp_path / "www"
    result = run_cli("render", "--settings", str(path), "--out", str(out))
    assert result.returncode == 0, result.stderr
    domains = [d for p in settings.providers for d in (*p.domains, *p.aliases)]
    said = "1 domain" if len(domains) == 1 else f"{len(domains)} domains"
    assert result.stdout == f"{out}: {2 * len(domains)} files for {said}\n"
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert written == sorted(f"{domain}/{export}" for domain in domains for export in EXPORTS)
    client = make_client(settings, host=None)  # each request names its Host
    for domain in domains:
        for export, service_path in zip(EXPORTS, SERVICE_PATHS, strict=True):
            data = (out / domain / export).read_bytes()
            assert data.startswith(b"<?xml")  # UTF-8, declared, no BOM
            document = read_xml(data)
            assert document.tag == "clientConfig"
            assert domain in [e.text for e in document.iterfind("emailProvider/domain")]
            assert all(e.text for e in document.iterfind("emailProvider/incomingServer/username"))
            for host in (f"autoconfig.{domain}", domain):
                answer = client.get(service_path, headers={"Host": host})
                assert answer.status_code == 200, (host, answer.text)
                assert canonical(read_xml(answer.content)) == canonical(document), (domain, host)
                assert answer.content == data


def test_render_and_check_name_what_the_files_get_wrong(tmp_path: Path) -> None:
    # The files name no person: with the Académie's pattern, the login they give is the fallback.
    rendered = run_cli("render", "--out", str(tmp_path / "www"))
    checked = run_cli("check")
    assert rendered.returncode == 0
    assert checked.returncode == 0
    for result in (rendered, checked):
        (warning,) = [line for line in result.stderr.splitlines() if line.startswith("warning: ac-paris.fr")]
        assert "Thunderbird and K-9 Mail" in warning
        assert '"prenom.nom" where the rule gives "pnom"' in warning
        assert "providers[0] (ac-paris.fr): these apps send no address" in result.stderr
    username = read_xml((tmp_path / "www" / "ac-paris.fr" / EXPORTS[0]).read_bytes()).find(
        "emailProvider/incomingServer/username"
    )
    assert username is not None
    assert username.text == "%EMAILLOCALPART%"


def test_render_refuses_a_broken_file(tmp_path: Path, settings_file: WriteSettings) -> None:
    # A key the settings do not know, in the last table of the file (the SMTP server).
    path = settings_file(provider={"outgoing": outgoing(surprise=1)})
    result = run_cli("render", "--settings", str(path), "--out", str(tmp_path / "www"))
    assert result.returncode == 1
    assert "surprise" in result.stderr
    assert not (tmp_path / "www").exists()


# --- healthcheck --------------------------------------------------------------------------------------


def signed_data(folder: Path, validity: dt.timedelta) -> dict[str, Any]:
    """The minimal settings, signing with a new chain in folder/tls whose leaf expires after `validity`."""
    chain = make_chain("ec", leaf_not_before=NOW - dt.timedelta(days=400), leaf_not_after=NOW + validity)
    files = chain.write(folder / "tls")
    return settings_data(signing=files.signing_data())


def signed_settings(folder: Path, validity: dt.timedelta) -> Path:
    return write_settings(folder, signed_data(folder, validity))


def healthcheck(port: int, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return run_cli("healthcheck", "--port", str(port), "--timeout", "5", env=env)


def test_healthcheck_ok_then_degraded_while_the_file_is_broken(tmp_path: Path) -> None:
    data = signed_data(tmp_path, dt.timedelta(days=90))
    path = write_settings(tmp_path, data)
    with serving(tmp_path / "logs", settings=path) as server:
        ok = healthcheck(server.port)
        assert ok.returncode == 0, ok.stderr
        assert ok.stdout == f"http://127.0.0.1:{server.port}/healthz: ok\n"
        # A proxy in the environment (as in many containers) must not carry the probe.
        dead_proxy = f"http://127.0.0.1:{free_port()}"
        proxied = healthcheck(server.port, env={"http_proxy": dead_proxy, "HTTP_PROXY": dead_proxy})
        assert proxied.returncode == 0, proxied.stderr

        good = path.read_text(encoding="utf-8")
        # A security mode that does not exist, for the IMAP server.
        broken = settings_data(provider={"incoming": incoming(security="ssl")}, signing=data["signing"])
        assert write_settings(tmp_path, broken) == path
        # The previous settings keep serving: a load balancer must keep the service; the reason is said.
        # Every problem of the file on disk is printed, under the reason that names them.
        degraded = healthcheck(server.port)
        assert degraded.returncode == 0
        assert degraded.stdout.splitlines() == [
            f"http://127.0.0.1:{server.port}/healthz: degraded",
            "  the settings on disk would not load: the previous ones keep serving (file_problems)",
            f"    {path}: 1 problem",
            '      providers[0].incoming[0].security: found "ssl"',
            "        this value is not allowed",
            "        fix: use one of 'starttls', 'tls' or 'none'",
        ]

        path.write_text(good, encoding="utf-8")
        assert healthcheck(server.port).stdout == f"http://127.0.0.1:{server.port}/healthz: ok\n"


def test_healthcheck_passes_a_certificate_near_its_end_and_says_so(tmp_path: Path) -> None:
    # An expired one does not load (signing_check.py); one that expires while serving is degraded the same
    # way (tests/web/test_health.py).
    validity = dt.timedelta(days=10)
    reason = f"the signing certificate expires on {NOW + validity:%Y-%m-%d}: renew it, then reload"
    with serving(tmp_path / "logs", settings=signed_settings(tmp_path, validity)) as server:
        result = healthcheck(server.port)
    assert result.returncode == 0
    assert result.stdout.splitlines()[1:] == [f"  {reason}"]
    assert result.stdout.startswith(f"http://127.0.0.1:{server.port}/healthz: degraded\n")


def test_healthcheck_fails_when_nothing_answers() -> None:
    result = healthcheck(free_port())
    assert result.returncode == 1
    assert "no answer" in result.stderr


def test_the_first_line_of_serve_says_what_runs_and_where(settings_file: WriteSettings) -> None:
    bundled = load_settings(None)
    assert serving_line(bundled, "127.0.0.1", 8080) == (
        f"autoconfig {__version__}: serving the bundled example settings (Académie de Paris) at "
        "http://127.0.0.1:8080/: open it in a browser; serve your own with --settings FILE"
    )
    own = load_settings(settings_file())
    line = serving_line(own, "::1", 8443)
    assert line == f"autoconfig {__version__}: serving {own.source} ({own.summary()}) at http://[::1]:8443/"
