"""The README is the manual: these tests keep what it says true."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from starlette.routing import Mount, Route

from autoconfig.accounts import resolve_account
from autoconfig.cli import main
from autoconfig.errors import SettingsError
from autoconfig.settings import Settings, iter_keys, load_settings
from autoconfig.web.app import create_app
from tests.helpers.paths import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


def _section(title: str) -> str:
    start = README.index(title)
    end = README.find("\n## ", start + len(title))
    return README[start : end if end != -1 else len(README)]


def _code_blocks(text: str, language: str = "") -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.S)


def test_every_settings_key_is_documented_and_every_documented_key_exists() -> None:
    documented = set(re.findall(r"^\| `([a-z_.]+)` \|", _section("### Every key"), flags=re.M))
    declared = {path for path, _ in iter_keys()}
    assert declared - documented == set(), "keys missing from the README"
    assert documented - declared == set(), "keys in the README that the settings do not have"


def test_the_minimal_settings_file_is_valid(write_toml: Callable[[str], Path]) -> None:
    block = _code_blocks(_section("## The settings file"), "toml")[0]
    settings = load_settings(write_toml(block))
    assert settings.summary() == "1 provider, 1 domain, 2 servers"


def test_the_sample_problem_report_is_what_check_prints(write_toml: Callable[[str], Path]) -> None:
    sample = next(b for b in _code_blocks(_section("## Using it")) if "problems" in b)
    broken = """
    [service]
    public_url = "https://autoconfig.example.org"

    [[providers]]
    id = "example.org"
    name = "Example"
    domains = ["example.org"]

    [[providers.incoming]]
    hots = "imap.example.org"
    host = "imap.example.org"
    port = 99999
    security = "starttls"

    [[providers.outgoing]]
    host = "smtp.example.org"
    security = "starttls"
    """
    with pytest.raises(SettingsError) as caught:
        load_settings(write_toml(broken))
    printed = caught.value.render().replace(str(caught.value.source), "settings.toml")
    assert sorted(printed.strip().splitlines()) == sorted(sample.strip().splitlines())


def test_the_login_table_is_what_the_bundled_rule_derives(settings: Settings) -> None:
    rows = re.findall(r"^\| `([^`]+@ac-paris\.fr)` \| `([^`]+)`[^|]*\| ([^|]+) \|$", README, flags=re.M)
    assert len(rows) >= 5
    for address, login, name in rows:
        account = resolve_account(settings, address)
        assert account.login == login, address
        expected_name = None if name.startswith("(none") else name.strip()
        assert account.display_name == expected_name, address


def test_the_documented_endpoints_are_routes(settings: Settings) -> None:
    documented = set(re.findall(r"^\| `(/[^`]*)` \|", _section("## HTTP endpoints"), flags=re.M))
    app_routes = create_app(settings).routes
    routes = {r.path for r in app_routes if isinstance(r, Route)}
    routes |= {f"{r.path}/…" for r in app_routes if isinstance(r, Mount)}
    assert documented
    assert documented <= routes


def test_the_documented_command_options_exist() -> None:
    usage = _code_blocks(_section("## Using it"))[0]
    for line in usage.strip().splitlines():
        words = line.split()
        command = main.commands[words[1]]
        declared = {opt for param in command.params for opt in getattr(param, "opts", [])}
        for option in re.findall(r"--[a-z-]+", line):
            assert option in declared, f"{words[1]} has no {option}"


def test_the_two_commands_are_the_ones_ci_and_people_run() -> None:
    commands = _code_blocks(_section("## The two commands"), "sh")
    assert commands[0].strip().endswith("autoconfig serve")
    assert commands[2].strip() == "tests/run"
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "exec tests/run" in ci
