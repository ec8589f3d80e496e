"""`autoconfig check` and `serve` on bad settings, run as the real command: exit codes and what is printed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from autoconfig.errors import SettingsError
from autoconfig.settings import load_settings
from tests.helpers.certs import make_chain
from tests.helpers.commands import assert_no_traceback, autoconfig
from tests.helpers.settings import MINIMAL_TOML as MINIMAL

WriteSettings = Callable[..., Path]

SUMMARY = "valid: 1 provider, 1 domain, 2 servers"
# Two mistakes: a quoted port and a security mode that does not exist.
INVALID = MINIMAL.replace("port = 143", 'port = "143"').replace(
    'port = 587\nsecurity = "starttls"', 'port = 587\nsecurity = "ssl"'
)


def test_check_valid_file(write_toml: WriteSettings) -> None:
    path = write_toml(MINIMAL)
    result = autoconfig("check", "--settings", str(path))
    assert result.returncode == 0, result.stderr
    # The summary is the one line on stdout; warnings go to stderr, one a line.
    assert result.stdout == f"{path}: {SUMMARY}\n"
    assert result.stderr.splitlines() == [
        "warning: no [signing]: Apple profiles will be served unsigned (iOS shows them as Not Verified)"
    ]
    assert_no_traceback(result)


def test_check_valid_file_without_warnings_is_one_line(write_toml: WriteSettings) -> None:
    # `check` reads the signing files: real ones, named relative to the settings file as in DESIGN.md.
    path = write_toml(MINIMAL + '[signing]\ncertificate = "tls/fullchain.pem"\nkey = "tls/privkey.pem"\n')
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


def test_check_invalid_file_lists_every_problem(write_toml: WriteSettings) -> None:
    path = write_toml(INVALID)
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


def test_check_prints_what_load_settings_reports(write_toml: WriteSettings) -> None:
    text = MINIMAL.replace('domains = ["example.org"]', "domains = []").replace(
        "[[providers.outgoing]]", "[[providers.outgoing]]\nhots = 'smtp.example.org'"
    )
    path = write_toml(text)
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
    lines = result.stderr.splitlines()
    assert lines[0] == f"{path}: 1 problem"
    assert lines[1] == "  (top level)"
    assert says in lines[2]
    assert lines[3].startswith("    fix: ")
    assert_no_traceback(result)


def test_serve_refuses_invalid_settings(write_toml: WriteSettings) -> None:
    path = write_toml(INVALID)
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
    assert served.stderr.splitlines()[:2] == [f"{path}: 1 problem", "  (top level)"]
    assert "cannot read the file" in served.stderr
    assert_no_traceback(served)
