"""The README and docs/ say what the code does: these tests keep each fact true where it is written."""

from __future__ import annotations

import re
import textwrap
import unicodedata
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from autoconfig.accounts import resolve_account
from autoconfig.cli import main
from autoconfig.errors import SettingsError
from autoconfig.formats.dns import dns_records, render_zone
from autoconfig.settings import Settings, iter_keys, load_settings
from autoconfig.settings.reference import settings_reference
from autoconfig.web.routes import endpoint_for, endpoint_reference
from tests.helpers.markdown import code_blocks, section
from tests.helpers.paths import ROOT
from tests.helpers.settings import provider_data, settings_data

README = ROOT / "README.md"
DOCS = ROOT / "docs"
PAGES = sorted([README, *DOCS.rglob("*.md")])
MAX_README_BYTES = 15_000


def text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def without_code(document: str) -> str:
    """The page without its fenced blocks (a `# comment` in a shell or ini block is no heading)."""
    return re.sub(r"^```.*?^```", "", document, flags=re.S | re.M)


def slug(heading: str) -> str:
    """A heading's anchor as GitHub makes it: lower case, punctuation dropped, spaces to hyphens."""
    kept = "".join(c for c in heading.strip().lower() if c.isalnum() or c in " -_")
    return unicodedata.normalize("NFC", kept).replace(" ", "-")


# --- the generated references --------------------------------------------------------------------------


def test_the_settings_reference_is_what_the_command_generates() -> None:
    committed = text(DOCS / "reference" / "settings.md")
    assert committed == settings_reference(), (
        "run: autoconfig reference settings > docs/reference/settings.md"
    )


def test_the_endpoint_reference_is_what_the_command_generates() -> None:
    committed = text(DOCS / "reference" / "endpoints.md")
    assert committed == endpoint_reference(), (
        "run: autoconfig reference endpoints > docs/reference/endpoints.md"
    )


def test_the_reference_command_prints_both() -> None:
    runner = CliRunner()
    settings = runner.invoke(main, ["reference", "settings"])
    endpoints = runner.invoke(main, ["reference", "endpoints"])
    assert settings.exit_code == 0
    assert endpoints.exit_code == 0
    assert settings.output == settings_reference()
    assert endpoints.output == endpoint_reference()


def test_every_settings_key_has_a_row_and_a_description() -> None:
    reference = settings_reference()
    for path, description in iter_keys():
        assert f"| `{path}` |" in reference
        assert description, f"{path} has no description"


# --- the README --------------------------------------------------------------------------------------


def test_the_readme_is_a_front_door() -> None:
    assert len(README.read_bytes()) <= MAX_README_BYTES


def test_the_two_commands_are_the_ones_ci_and_people_run() -> None:
    commands = code_blocks(section(text(README), "## The two commands"), "sh")
    assert (
        commands[0].strip()
        == "python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/autoconfig serve"
    )
    assert commands[2].strip() == "tests/run"
    ci = text(ROOT / ".ci" / "run")
    assert "exec tests/run" in ci


def test_the_documented_command_options_exist() -> None:
    usage = code_blocks(section(text(README), "### Commands"))[0]
    names = set()
    for line in usage.strip().splitlines():
        words = line.split()
        command = main.commands[words[1]]
        names.add(words[1])
        declared = {opt for param in command.params for opt in getattr(param, "opts", [])}
        for option in re.findall(r"--[a-z-]+", line):
            assert option in declared, f"{words[1]} has no {option}"
    assert names == set(main.commands), "every command is in the README's list"


def test_the_documented_endpoints_are_routes() -> None:
    table = section(text(README), "### Endpoints")
    paths = re.findall(r"`(/[^`?]*)", table)
    assert len(paths) >= 10
    for path in paths:
        concrete = path.replace("{device}", "android")
        assert endpoint_for(concrete) is not None, path


def test_the_minimal_settings_file_is_valid(write_toml: Callable[..., Path]) -> None:
    for document in (text(README), text(DOCS / "settings.md")):
        block = code_blocks(document, "toml")[0]
        assert load_settings(write_toml(block)).summary() == "1 provider, 1 domain, 2 servers"


def test_the_login_table_is_what_the_bundled_rule_derives(settings: Settings) -> None:
    rows = re.findall(r"^\| `([^`]+@ac-paris\.fr)` \| `([^`]+)`[^|]*\| ([^|]+) \|$", text(README), flags=re.M)
    assert len(rows) >= 5
    for address, login, name in rows:
        account = resolve_account(settings, address)
        assert account.login == login, address
        expected_name = None if name.startswith("(none") else name.strip()
        assert account.display_name == expected_name, address


# --- docs/ -------------------------------------------------------------------------------------------


def test_the_sample_problem_report_is_what_check_prints(settings_file: Callable[..., Path]) -> None:
    sample = next(b for b in code_blocks(text(DOCS / "settings.md")) if "problems" in b)
    incoming = {"hots": "imap.example.org", "host": "imap.example.org", "port": 99999, "security": "starttls"}
    path = settings_file(provider={"incoming": [incoming]})
    with pytest.raises(SettingsError) as caught:
        load_settings(path)
    printed = caught.value.render().replace(str(caught.value.source), "settings.toml")
    assert sorted(printed.strip().splitlines()) == sorted(sample.strip().splitlines())


def test_the_dns_sample_is_what_dns_prints(settings: Settings) -> None:
    sample = next(b for b in code_blocks(section(text(DOCS / "deployment.md"), "## DNS")) if "IN" in b)
    assert sample == render_zone(dns_records(settings))


def test_the_several_providers_profile_is_valid() -> None:
    assert load_settings(ROOT / "profiles" / "ile-de-france.toml").summary().startswith("3 providers")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_link_between_pages_leads_somewhere(page: Path) -> None:
    for target in re.findall(r"\]\(([^)\s]+)\)", text(page)):
        if re.match(r"[a-z]+:", target):
            continue  # an address on the web: not checked offline
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        assert linked.exists(), f"{page.name}: {target}"
        if anchor and linked.suffix == ".md":
            headings = re.findall(r"^#+ (.+)$", without_code(text(linked)), flags=re.M)
            assert anchor in {slug(h) for h in headings}, f"{page.name}: {target}"


def test_the_security_page_names_the_test_of_each_case() -> None:
    table = section(text(DOCS / "security.md"), "## What hostile input gets")
    rows = [line for line in table.splitlines() if line.startswith("| ") and "tests/" in line]
    assert len(rows) >= 15
    assert len(re.findall(r"`tests/[\w/]+\.py::\w+`", table)) >= 20


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_test_the_docs_name_exists(page: Path) -> None:
    for module, name in re.findall(r"`(tests/[\w/]+\.py)::(\w+)`", text(page)):
        source = ROOT / module
        assert source.is_file(), f"{page.name}: {module}"
        assert re.search(rf"^(async )?def {name}\(", text(source), flags=re.M), (
            f"{page.name}: {module}::{name}"
        )


def test_the_settings_guide_examples_load(settings_file: Callable[..., Path]) -> None:
    # The rule the guide shows is the bundled one; a provider with only a fallback needs no pattern.
    guide = text(DOCS / "settings.md")
    assert "pattern = '^(?P<first>" in guide
    for fallback in ("%EMAILADDRESS%", "%EMAILLOCALPART%"):
        data = settings_data(providers=[provider_data(login={"fallback": fallback})])
        assert load_settings(settings_file(data)).providers[0].login.fallback == fallback


def test_the_hosting_example_loads(write_toml: Callable[..., Path]) -> None:
    # The page's settings, completed with what every file has: the service and the provider's servers.
    (block,) = re.findall(r"```toml\n(.*?)```", text(DOCS / "hosting.md"), flags=re.S)
    providers, _, resolver = block.partition("[service.resolver]")
    servers = """
        [[providers.incoming]]
        protocol = "imap"
        host = "imap.mail.hoster.example"
        security = "tls"
        [[providers.outgoing]]
        host = "smtp.mail.hoster.example"
        security = "tls"
    """
    service = '[service]\npublic_url = "https://autoconfig.hoster.example"\n[service.resolver]'
    settings = load_settings(write_toml(f"{service}{resolver}\n{providers}\n{textwrap.dedent(servers)}"))
    (provider,) = settings.hosting_providers
    assert provider.hosting is not None
    assert provider.hosting.mx[0] == "mx1.mail.hoster.example"
    assert settings.service.resolver.max_in_flight == 64
