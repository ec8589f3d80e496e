"""autoconfig.settings.hosting: [providers.hosting] and [service.resolver] as profiles/hoster.toml writes
them, what they are normalised to, the names they make the service answer on, and every bad value refused
with its key path and its fix."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from autoconfig.settings import Settings, load_settings
from autoconfig.settings.models import hosting_names
from tests.helpers.commands import autoconfig
from tests.helpers.hosting_lab import MX1, MX2, hoster_data
from tests.helpers.settings import write_settings
from tests.helpers.settings_checks import assert_problem, load_error

LAB = "127.0.0.1:5353"


def write(folder: Path, data: dict[str, Any]) -> Path:
    return write_settings(folder, data)


def test_the_hoster_profile(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, hoster_data(LAB)))
    (hoster,) = settings.hosting_providers
    assert hoster.hosting is not None
    assert hoster.hosting.mx == (MX1, MX2)
    assert (hoster.hosting.allow, hoster.hosting.deny, hoster.hosting.require_dnssec) == ((), (), False)
    resolver = settings.service.resolver
    assert (resolver.servers, resolver.timeout, resolver.max_in_flight) == ((LAB,), 2.0, 64)
    # Where Thunderbird asks: autoconfig.<MX host less its first label>, and the names above it.
    assert hosting_names(hoster) == ("mail.hoster.example", "hoster.example")
    assert settings.hoster_named("mail.hoster.example") is hoster
    assert settings.hoster_named("hoster.example") is None  # a listed domain: found as such
    assert settings.hoster_of_mx(MX2) is hoster
    assert settings.hoster_of_mx("mx3.mail.hoster.example") is None
    assert settings.hoster_of_mx("mail.hoster.example") is None


def test_without_hosting_nothing_is_hosted(settings: Settings) -> None:
    assert settings.hosting_providers == ()
    assert settings.service.resolver.servers == ()  # the system's resolver, were it used


@pytest.mark.parametrize(
    ("written", "kept"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("127.0.0.1:53", "127.0.0.1"),
        (" 127.0.0.1:5353 ", "127.0.0.1:5353"),
        ("::1", "::1"),
        ("[::1]:5353", "[::1]:5353"),
        ("[::1]:53", "::1"),
    ],
)
def test_name_servers_are_kept_in_one_spelling(tmp_path: Path, written: str, kept: str) -> None:
    assert load_settings(write(tmp_path, hoster_data(written))).service.resolver.servers == (kept,)


def test_mx_patterns_are_a_labels_and_wildcards_match_below_only(tmp_path: Path) -> None:
    data = hoster_data(LAB, hosting={"mx": ["MX.Hébergeur.example.", "*.mail.hoster.example"]})
    settings = load_settings(write(tmp_path, data))
    (hoster,) = settings.hosting_providers
    assert hoster.hosting is not None
    assert hoster.hosting.mx == ("mx.xn--hbergeur-b1a.example", "*.mail.hoster.example")
    assert hoster.hosting.hosts_mx("mx.xn--hbergeur-b1a.example")
    assert hoster.hosting.hosts_mx("mx9.mail.hoster.example")
    assert not hoster.hosting.hosts_mx("mail.hoster.example")
    assert not hoster.hosting.hosts_mx("evilmail.hoster.example")
    # Thunderbird asks autoconfig.<MX host less its first label>: under a wildcard, any depth.
    assert settings.hoster_named("mail.hoster.example") is hoster
    assert settings.hoster_named("eu.mail.hoster.example") is hoster
    assert settings.hoster_named("evilmail.hoster.example") is None


def test_allow_and_deny(tmp_path: Path) -> None:
    data = hoster_data(
        LAB, hosting={"allow": ["*.customers.example", "one.example"], "deny": ["x.customers.example"]}
    )
    (hoster,) = load_settings(write(tmp_path, data)).hosting_providers
    assert hoster.hosting is not None
    admits = hoster.hosting.admits
    assert admits("one.example")
    assert admits("a.customers.example")
    assert not admits("x.customers.example")  # denied, though allowed by the wildcard
    assert not admits("customers.example")  # the wildcard is for the names below
    assert not admits("two.example")


OTHER_HOSTER: dict[str, Any] = {"id": "other.example", "name": "Other", "domains": ["other.example"]}


@pytest.mark.parametrize(
    ("change", "path", "found", "said"),
    [
        (
            {"hosting": {"mx": ["mx1 mail.hoster.example"]}},
            "providers[0].hosting.mx[0]",
            '"mx1 mail.hoster.example"',
            (
                "this is neither a domain name nor *.<domain name>",
                "write a name such as mx1.mail.hoster.example, or *.mail.hoster.example",
            ),
        ),
        (
            {"hosting": {"mx": ["*.example"]}},  # every .example MX: no hoster's
            "providers[0].hosting.mx[0]",
            '"*.example"',
            (
                "this is neither a domain name nor *.<domain name>",
                "write a name such as mx1.mail.hoster.example",
            ),
        ),
        (
            {"hosting": {"mx": []}},
            "providers[0].hosting.mx",
            "[]",
            ("this list is empty", "add at least one entry"),
        ),
        (
            {"hosting": {"allow": ["a.example", "b.example"], "deny": ["b.example"]}},
            "providers[0].hosting.deny",
            '"b.example"',
            ("b.example is both allowed and denied", "keep it in one of allow and deny"),
        ),
        (
            {"hosting": {"deny": ["not a domain"]}},
            "providers[0].hosting.deny[0]",
            '"not a domain"',
            ("this is neither a domain name", "write a name such as"),
        ),
        (
            {"servers": ["ns.example"]},
            "service.resolver.servers[0]",
            '"ns.example"',
            (
                "this is not a name server's IP address (and port)",
                'write an IP address, with a port if not 53: "192.0.2.53", "127.0.0.1:5353" or "[::1]:5353"',
            ),
        ),
        (
            {"servers": ["127.0.0.1:70000"]},
            "service.resolver.servers[0]",
            '"127.0.0.1:70000"',
            ("the port 70000 is not between 1 and 65535", "write an IP address, with a port if not 53"),
        ),
        (
            {"min_ttl": 600, "max_ttl": 60},
            "service.resolver.min_ttl",
            "600",
            ("min_ttl (600) is above max_ttl (60)", "make min_ttl at most max_ttl"),
        ),
    ],
)
def test_bad_values_are_refused_naming_the_key_and_the_fix(
    tmp_path: Path, change: dict[str, Any], path: str, found: str, said: tuple[str, str]
) -> None:
    says, fix = said
    hosting = change.get("hosting")
    resolver = {k: v for k, v in change.items() if k != "hosting"}
    data = hoster_data(LAB, hosting=hosting, **resolver)
    assert_problem(load_error(write(tmp_path, data)), path=path, found=found, says=says, fix=fix)


@pytest.mark.parametrize(
    ("written", "owned"),
    [
        (MX2, MX2),
        ("MX2.Mail.Hoster.Example.", MX2),
        # A wildcard and a host under it, either way round, name one host twice.
        ("*.mail.hoster.example", "mx1.mail.hoster.example"),
        ("x.mx9.mail.hoster.example", "*.mail.hoster.example"),
    ],
)
def test_one_mx_host_in_two_providers_is_refused(tmp_path: Path, written: str, owned: str) -> None:
    data = hoster_data(LAB)
    if owned.startswith("*."):
        data["providers"][0]["hosting"]["mx"] = [owned]
    other = copy.deepcopy(data["providers"][0])
    other.update(OTHER_HOSTER, hosting={"mx": ["mx.other.example", written]})
    data["providers"].append(other)
    assert_problem(
        load_error(write(tmp_path, data)),
        path="providers[1].hosting.mx[1]",
        found=f'"{written}"',
        says=f"providers[0] hosts mail on this MX host already ({owned}); an MX host belongs to one provider",
        fix="remove it from one of the two providers",
    )


def test_check_command_names_the_key_and_the_fix(tmp_path: Path) -> None:
    data = hoster_data(LAB, hosting={"mx": ["mx1 mail.hoster.example"]}, min_ttl=600, max_ttl=60)
    result = autoconfig("check", "--settings", str(write(tmp_path, data)))
    assert result.returncode == 1
    text = result.stdout + result.stderr
    assert "Traceback" not in text
    assert "2 problems" in text
    assert 'providers[0].hosting.mx[0]: found "mx1 mail.hoster.example"' in text
    assert "fix: write a name such as mx1.mail.hoster.example" in text
    assert "service.resolver.min_ttl: found 600" in text
    assert "fix: make min_ttl at most max_ttl" in text
