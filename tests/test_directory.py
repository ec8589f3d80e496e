"""The staff directory (issue 8) against a real OpenLDAP: lookups, escaping, the cache, outages, the
settings keys, and the looked-up login and name in every answer the service gives."""

from __future__ import annotations

import asyncio
import logging
import plistlib
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ldap3
import pytest
from lxml import html
from prometheus_client import REGISTRY
from starlette.applications import Starlette
from starlette.testclient import TestClient

from autoconfig import directory
from autoconfig.directory import Entry, StaffDirectory, search_filter
from autoconfig.errors import SettingsError
from autoconfig.settings import DirectoryLookup, Settings, load_settings
from autoconfig.web.app import create_app
from tests.helpers.ldap_server import PEOPLE, SERVICE_DN, SERVICE_PASSWORD, Slapd, own_slapd, slapd
from tests.helpers.live import free_port
from tests.helpers.outlook import outlook_request, read_pox
from tests.helpers.settings import write_settings
from tests.helpers.thunderbird import read_config

__all__ = ["own_slapd", "slapd"]  # the fixtures, imported for pytest

DOMAIN = "ac-paris.fr"
JEAN = "jean.dupont@ac-paris.fr"
JEAN2 = "jean.dupont2@ac-paris.fr"

MakeClient = Callable[..., TestClient]
SettingsFile = Callable[..., Path]


def lookups(result: str) -> float:
    """The LOOKUPS counter for one result, as /metrics shows it."""
    return REGISTRY.get_sample_value("autoconfig_directory_lookups_total", {"result": result}) or 0.0


def staff(url: str, **keys: Any) -> StaffDirectory:
    keys.setdefault("starttls", False)
    lookup = DirectoryLookup(url=url, **keys)
    password = (
        lookup.bind_password_file.read_text(encoding="utf-8").strip() if lookup.bind_password_file else None
    )
    return StaffDirectory(lookup, PEOPLE, password)


def find(staff_directory: StaffDirectory, local: str) -> Entry | None:
    return asyncio.run(staff_directory.find(local, DOMAIN))


def raw_search(server: Slapd, ldap_filter: str) -> list[str]:
    """The DNs a plain anonymous search finds, without autoconfig in the way."""
    connection = ldap3.Connection(ldap3.Server("127.0.0.1", port=server.port, get_info=ldap3.NONE))
    connection.bind()
    connection.search(PEOPLE, ldap_filter, attributes=["uid"])
    found = [str(entry.entry_dn) for entry in connection.entries]
    connection.unbind()
    return found


# --- search_filter: RFC 4515 escaping ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("local", "escaped"),
    [
        ("jean.dupont", "jean.dupont"),
        ("*", r"\2a"),
        ("a(b", r"a\28b"),
        ("a)b", r"a\29b"),
        ("a\\b", r"a\5cb"),
        ("a\x00b", r"a\00b"),
        ("*)(uid=*", r"\2a\29\28uid=\2a"),
        (r"\2a", r"\5c2a"),  # an escape sequence in the input is itself escaped
        ("élodie", "élodie"),
    ],
)
def test_search_filter_escapes_each_special_character(local: str, escaped: str) -> None:
    assert search_filter("(mail={address})", local, DOMAIN) == f"(mail={escaped}@{DOMAIN})"
    assert search_filter("(uid={localpart})", local, DOMAIN) == f"(uid={escaped})"


def test_search_filter_fills_every_field() -> None:
    template = "(&(objectClass=inetOrgPerson)(|(mail={address})(mailAlternateAddress={localpart}@{domain})))"
    assert search_filter(template, "a*b", "ac-paris.fr") == (
        r"(&(objectClass=inetOrgPerson)(|(mail=a\2ab@ac-paris.fr)(mailAlternateAddress=a\2ab@ac-paris.fr)))"
    )


def test_braces_in_an_address_are_not_read_as_fields() -> None:
    # `{domain}@ac-paris.fr` is a valid address: its braces are text, not a field filled in later.
    assert search_filter("(mail={address})", "{domain}", DOMAIN) == "(mail={domain}@ac-paris.fr)"
    assert search_filter("(|(uid={localpart})(mail={address}))", "{address}", DOMAIN) == (
        "(|(uid={address})(mail={address}@ac-paris.fr))"
    )


def test_an_injection_does_not_widen_the_search(slapd: Slapd) -> None:
    # A plain wildcard would find the whole staff...
    assert len(raw_search(slapd, "(mail=*@ac-paris.fr)")) >= 50
    # ...the escaped attempt is a valid filter that finds nothing.
    for local in ("*)(uid=*", "*", "*)(|(mail=*", "x)(objectClass=*"):
        assert raw_search(slapd, search_filter("(mail={address})", local, DOMAIN)) == []
    lookup = staff(slapd.url)
    before = (lookups("not_found"), lookups("fallback"))
    for local in ("*)(uid=*", "*", "jean.dupont*", "*)(|(mail=*"):
        assert find(lookup, local) is None
    # Each was asked and answered "nobody" (a broken filter would have been a fallback).
    assert (lookups("not_found"), lookups("fallback")) == (before[0] + 4, before[1])


# --- StaffDirectory against slapd ---------------------------------------------------------------------


def test_hit_gives_the_login_and_the_name(slapd: Slapd) -> None:
    lookup = staff(slapd.url)
    before = lookups("found")
    assert find(lookup, "jean.dupont") == Entry("jdupont1", "Jean Dupont")
    assert find(lookup, "jean.dupont2") == Entry("jdupont2b", "Jean Dupont (Lycée Voltaire)")
    assert find(lookup, "marie.martin") == Entry("mmartin", "Marie Martin-Durand")
    assert find(lookup, "élodie.lefevre".replace("é", "e")) == Entry("elefevre", "Élodie Lefèvre")
    assert find(lookup, "francois.garcon") == Entry("fgarcon", "François Garçon")
    assert lookups("found") == before + 5


def test_addresses_match_whatever_their_case(slapd: Slapd) -> None:
    # The cache key is normalised, and mail is a case-insensitive attribute.
    assert find(staff(slapd.url), "Jean.Dupont2") == Entry("jdupont2b", "Jean Dupont (Lycée Voltaire)")


def test_attribute_names_are_case_insensitive(slapd: Slapd) -> None:
    lookup = staff(slapd.url, login_attribute="UID", name_attribute="displayname")
    assert find(lookup, "jean.dupont") == Entry("jdupont1", "Jean Dupont")


def test_other_attributes_and_filters(slapd: Slapd) -> None:
    lookup = staff(
        slapd.url, login_attribute="employeeNumber", name_attribute="cn", filter="(uid={localpart})"
    )
    assert find(lookup, "jdupont2b") == Entry("0002", "Jean Dupont")
    # An entry without the name attribute still gives its login; the rule's name stays.
    assert find(staff(slapd.url, name_attribute="title"), "jean.dupont") == Entry("jdupont1", None)


@pytest.mark.parametrize(
    "local",
    [
        "nobody.here",  # miss
        "paul.robert",  # two entries hold this address: ambiguous, the rule decides
        "stagiaire.temporaire",  # an entry without uid
    ],
)
def test_no_single_login_is_none(slapd: Slapd, local: str) -> None:
    before = (lookups("not_found"), lookups("fallback"))
    assert find(staff(slapd.url), local) is None
    assert (lookups("not_found"), lookups("fallback")) == (before[0] + 1, before[1])


def test_ambiguity_is_real_in_the_seed(slapd: Slapd) -> None:
    # The test above means something only if the seed does hold these.
    assert len(raw_search(slapd, "(mail=paul.robert@ac-paris.fr)")) == 2
    assert len(raw_search(slapd, "(mail=stagiaire.temporaire@ac-paris.fr)")) == 1


def test_bind_with_the_password_file(slapd: Slapd, tmp_path: Path) -> None:
    password = tmp_path / "bind.pw"
    password.write_text(SERVICE_PASSWORD + "\n", encoding="utf-8")
    # employeeType is readable by the service account only (tests/ldap_server.py's ACL).
    bound = staff(
        slapd.url, bind_dn=SERVICE_DN, bind_password_file=str(password), login_attribute="employeeType"
    )
    assert find(bound, "jean.dupont") == Entry("staff-jdupont1", "Jean Dupont")
    anonymous = staff(slapd.url, login_attribute="employeeType")
    assert find(anonymous, "jean.dupont") is None
    # Anonymous reads what anyone may.
    assert find(staff(slapd.url), "jean.dupont") == Entry("jdupont1", "Jean Dupont")


def test_a_wrong_bind_password_falls_back(slapd: Slapd, tmp_path: Path) -> None:
    password = tmp_path / "bind.pw"
    password.write_text("not-the-password", encoding="utf-8")
    lookup = staff(slapd.url, bind_dn=SERVICE_DN, bind_password_file=str(password))
    before = lookups("fallback")
    assert find(lookup, "jean.dupont") is None
    assert lookups("fallback") == before + 1


def test_answers_are_cached_found_or_not(own_slapd: Slapd) -> None:
    lookup = staff(own_slapd.url)
    assert find(lookup, "jean.dupont") == Entry("jdupont1", "Jean Dupont")
    assert find(lookup, "nobody.here") is None
    found, cached, fallback = lookups("found"), lookups("cached"), lookups("fallback")
    own_slapd.stop()  # no second query can reach it now
    assert find(lookup, "jean.dupont") == Entry("jdupont1", "Jean Dupont")
    assert find(lookup, "JEAN.DUPONT") == Entry("jdupont1", "Jean Dupont")
    assert find(lookup, "nobody.here") is None
    assert (lookups("found"), lookups("cached"), lookups("fallback")) == (found, cached + 3, fallback)


def test_cache_ttl_zero_asks_every_time(own_slapd: Slapd) -> None:
    lookup = staff(own_slapd.url, cache_ttl=0)
    found, cached = lookups("found"), lookups("cached")
    assert find(lookup, "jean.dupont") == Entry("jdupont1", "Jean Dupont")
    assert find(lookup, "jean.dupont") == Entry("jdupont1", "Jean Dupont")
    assert (lookups("found"), lookups("cached")) == (found + 2, cached)
    own_slapd.stop()
    assert find(lookup, "jean.dupont") is None  # nothing kept


def test_the_cache_keeps_the_most_recent_answers(own_slapd: Slapd) -> None:
    lookup = staff(own_slapd.url, cache_size=1)
    find(lookup, "jean.dupont")
    find(lookup, "jean.dupont2")
    own_slapd.stop()
    assert find(lookup, "jean.dupont2") == Entry("jdupont2b", "Jean Dupont (Lycée Voltaire)")
    assert find(lookup, "jean.dupont") is None  # pushed out, and the directory is down


def test_a_stopped_directory_falls_back_then_is_left_alone(own_slapd: Slapd) -> None:
    lookup = staff(own_slapd.url, timeout=0.5)
    assert find(lookup, "jean.dupont") == Entry("jdupont1", "Jean Dupont")
    own_slapd.stop()
    before = lookups("fallback")
    started = time.monotonic()
    assert find(lookup, "jean.dupont2") is None
    assert time.monotonic() - started < 0.5 + 0.5
    started = time.monotonic()
    assert find(lookup, "marie.martin") is None
    assert time.monotonic() - started < 0.05
    assert lookups("fallback") == before + 2


def test_a_hung_directory_falls_back_within_the_timeout(own_slapd: Slapd) -> None:
    lookup = staff(own_slapd.url, timeout=0.5)
    assert find(lookup, "jean.dupont") == Entry("jdupont1", "Jean Dupont")
    own_slapd.freeze()  # the port still accepts connections; nothing answers
    before = lookups("fallback")

    async def run() -> tuple[Entry | None, float, Entry | None, float]:
        started = time.monotonic()
        first = await lookup.find("jean.dupont2", DOMAIN)
        middle = time.monotonic()
        second = await lookup.find("marie.martin", DOMAIN)  # paused: not asked
        return first, middle - started, second, time.monotonic() - middle

    try:
        first, waited, second, then = asyncio.run(run())
    finally:
        own_slapd.thaw()
    assert (first, second) == (None, None)
    assert 0.4 < waited < 0.5 + 0.5
    assert then < 0.05
    assert lookups("fallback") == before + 2


def test_a_frozen_directory_is_said_once_per_pause(
    own_slapd: Slapd, caplog: pytest.LogCaptureFixture
) -> None:
    lookup = staff(own_slapd.url, timeout=0.5)
    own_slapd.freeze()

    async def several() -> list[Entry | None]:
        # The searches already under way when it froze fail one after the other: one pause, one line.
        names = ["jean.dupont", "marie.martin", "jean.dupont2", "paul.durand"]
        return await asyncio.gather(*(lookup.find(name, DOMAIN) for name in names))

    try:
        with caplog.at_level(logging.WARNING, logger="autoconfig"):
            assert asyncio.run(several()) == [None] * 4
    finally:
        own_slapd.thaw()
    warnings = [r.getMessage() for r in caplog.records if "unavailable" in r.getMessage()]
    assert len(warnings) == 1
    assert warnings[0].startswith(f"directory {own_slapd.url} unavailable")


def test_the_directory_is_asked_again_after_the_pause(
    own_slapd: Slapd, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(directory, "RETRY_AFTER_SECONDS", 1.1)
    # ldap3 itself leaves a refused address alone for whole seconds more than this (default 5).
    monkeypatch.setattr("ldap3.utils.config._RESET_AVAILABILITY_TIMEOUT", 0)
    lookup = staff(own_slapd.url)
    own_slapd.stop()
    failed = time.monotonic()
    assert find(lookup, "jean.dupont") is None
    own_slapd.start()
    assert find(lookup, "jean.dupont") is None  # still in the pause: not asked, though it is back
    time.sleep(max(0.0, failed + 1.15 - time.monotonic()))
    assert find(lookup, "jean.dupont") == Entry("jdupont1", "Jean Dupont")


def test_an_unreachable_port_falls_back_fast() -> None:
    lookup = staff(f"ldap://127.0.0.1:{free_port()}", timeout=2.0)
    before = lookups("fallback")
    started = time.monotonic()
    assert find(lookup, "jean.dupont") is None
    assert time.monotonic() - started < 0.5
    assert lookups("fallback") == before + 1


# --- end to end, through the application ---------------------------------------------------------------

RULE = r"^(?P<first>[a-z]+)(?:[-\x27][a-z]+)*\.(?P<last>[a-z][a-z.\x27-]*?)(?P<n>[0-9]*)$"


def academie_data(lookup: dict[str, Any], overrides: str | None = None) -> dict[str, Any]:
    """The Académie's provider, its login rule and a directory looked up with these keys (starttls off)."""
    login = {"pattern": RULE, "template": "{first:.1}{last}{n}", "fallback": "%EMAILLOCALPART%"}
    if overrides:
        login["overrides"] = overrides
    return {
        "service": {"public_url": "https://autoconfig.ac-paris.fr"},
        "providers": [
            {
                "id": "ac-paris.fr",
                "name": "Académie de Paris",
                "domains": ["ac-paris.fr"],
                "login": login,
                "incoming": [
                    {"protocol": "imap", "host": "imap.ac-paris.fr", "port": 143, "security": "starttls"}
                ],
                "outgoing": [{"host": "smtp.ac-paris.fr", "port": 587, "security": "starttls"}],
                "directory": {
                    "host": "ldap.ac-paris.fr",
                    "base_dn": PEOPLE,
                    "lookup": {**lookup, "starttls": False},
                },
            }
        ],
    }


def directory_settings(folder: Path, url: str) -> Settings:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "overrides.csv").write_text(
        "address,login,name\njean.dupont2@ac-paris.fr,jd2-override,Jean Dupont Deux\n", encoding="utf-8"
    )
    return load_settings(write_settings(folder, academie_data({"url": url, "timeout": 0.5}, "overrides.csv")))


@pytest.fixture(scope="module")
def directory_app(slapd: Slapd, tmp_path_factory: pytest.TempPathFactory) -> Starlette:
    """One application for the module's end-to-end tests, as one server would be: its cache is shared."""
    return create_app(directory_settings(tmp_path_factory.mktemp("e2e"), slapd.url))


@pytest.fixture
def directory_client(make_client: MakeClient, directory_app: Starlette) -> TestClient:
    """A client of the application whose provider looks logins up in the module's slapd."""
    return make_client(directory_app)


def thunderbird_login(client: TestClient, address: str) -> str:
    response = client.get("/mail/config-v1.1.xml", params={"emailaddress": address})
    assert response.status_code == 200
    config = read_config(response.content)
    logins = {server.username for server in (*config.incoming, *config.outgoing)}
    assert len(logins) == 1, logins
    return logins.pop()


def pox(client: TestClient, address: str) -> tuple[str | None, set[str]]:
    response = client.post(
        "/autodiscover/autodiscover.xml",
        content=outlook_request(address),
        headers={"Content-Type": "text/xml"},
    )
    assert response.status_code == 200
    view = read_pox(response.content)
    return view.display_name, {protocol.login_name for protocol in view.protocols}


def apple(client: TestClient, address: str) -> dict[str, Any]:
    response = client.get("/profile.mobileconfig", params={"email": address})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-apple-aspen-config"
    profile: dict[str, Any] = plistlib.loads(response.content)  # unsigned: these settings have no [signing]
    (mail,) = [p for p in profile["PayloadContent"] if p["PayloadType"] == "com.apple.mail.managed"]
    return dict(mail)


def guide_text(client: TestClient, address: str) -> str:
    response = client.get("/guide/other", params={"email": address, "lang": "en"})
    assert response.status_code == 200
    return " ".join("".join(str(part) for part in html.fromstring(response.text).itertext()).split())


def test_the_rule_alone_would_get_the_homonyms_wrong(tmp_path: Path, make_client: MakeClient) -> None:
    # Without the directory (an unreachable one), the rule says jdupont and jdupont2.
    alone = make_client(directory_settings(tmp_path, f"ldap://127.0.0.1:{free_port()}"))
    assert thunderbird_login(alone, JEAN) == "jdupont"
    assert thunderbird_login(alone, "jean.dupont3@ac-paris.fr") == "jdupont3"


def test_thunderbird_gets_the_directory_login(directory_client: TestClient) -> None:
    assert thunderbird_login(directory_client, JEAN) == "jdupont1"
    assert thunderbird_login(directory_client, "marie.martin@ac-paris.fr") == "mmartin"


def test_outlook_gets_the_directory_login_and_name(directory_client: TestClient) -> None:
    assert pox(directory_client, JEAN) == ("Jean Dupont", {"jdupont1"})
    assert pox(directory_client, "elodie.lefevre@ac-paris.fr") == ("Élodie Lefèvre", {"elefevre"})


def test_the_apple_profile_gets_the_directory_login_and_name(directory_client: TestClient) -> None:
    mail = apple(directory_client, JEAN)
    assert mail["IncomingMailServerUsername"] == "jdupont1"
    assert mail["OutgoingMailServerUsername"] == "jdupont1"
    assert mail["EmailAccountName"] == "Jean Dupont"
    mail = apple(directory_client, "marie.martin@ac-paris.fr")
    assert (mail["IncomingMailServerUsername"], mail["EmailAccountName"]) == (
        "mmartin",
        "Marie Martin-Durand",
    )


def test_the_guide_shows_the_directory_login(directory_client: TestClient) -> None:
    text = guide_text(directory_client, JEAN)
    assert "jdupont1" in text
    assert not re.search(r"\bjdupont\b", text)


def test_the_overrides_file_wins_over_the_directory(directory_client: TestClient) -> None:
    assert thunderbird_login(directory_client, JEAN2) == "jd2-override"
    assert pox(directory_client, JEAN2) == ("Jean Dupont Deux", {"jd2-override"})
    assert apple(directory_client, JEAN2)["IncomingMailServerUsername"] == "jd2-override"


@pytest.mark.parametrize(
    ("address", "login"),
    [
        ("nobody.here@ac-paris.fr", "nhere"),  # not in the directory
        ("paul.robert@ac-paris.fr", "probert"),  # ambiguous
        ("stagiaire.temporaire@ac-paris.fr", "stemporaire"),  # no uid
        # Injection attempts (the address syntax already refuses parentheses): nobody, the rule's fallback.
        ("*@ac-paris.fr", "*"),
        ("jean.dupont*@ac-paris.fr", "jean.dupont*"),
        ("{address}@ac-paris.fr", "{address}"),
    ],
)
def test_no_single_entry_gets_the_rule(directory_client: TestClient, address: str, login: str) -> None:
    assert thunderbird_login(directory_client, address) == login


def test_a_stopped_directory_still_answers_with_the_rule(
    own_slapd: Slapd, tmp_path: Path, make_client: MakeClient
) -> None:
    app_client = make_client(directory_settings(tmp_path, own_slapd.url))
    assert thunderbird_login(app_client, JEAN) == "jdupont1"
    own_slapd.stop()
    before = lookups("fallback")
    started = time.monotonic()
    assert thunderbird_login(app_client, "jean.dupont3@ac-paris.fr") == "jdupont3"
    assert pox(app_client, "marie.martin@ac-paris.fr")[1] == {"mmartin"}  # the rule happens to agree
    assert apple(app_client, "francois.garcon@ac-paris.fr")["IncomingMailServerUsername"] == "fgarcon"
    assert "jlaurent" in guide_text(app_client, "julien.laurent@ac-paris.fr")
    assert time.monotonic() - started < 2.0
    assert lookups("fallback") >= before + 4
    # What was looked up before the outage is still served from the cache.
    assert thunderbird_login(app_client, JEAN) == "jdupont1"


# --- the settings keys ----------------------------------------------------------------------------------


def settings_error(settings_file: SettingsFile, **lookup: Any) -> str:
    """The report on the directory settings with these [providers.directory.lookup] keys."""
    with pytest.raises(SettingsError) as info:
        load_settings(settings_file(academie_data(lookup)))
    return info.value.render()


def test_a_valid_lookup_loads(settings_file: SettingsFile) -> None:
    path = settings_file(academie_data({"url": "ldaps://ldap.ac-paris.fr/"}))
    (provider,) = load_settings(path).providers
    assert provider.directory is not None
    assert provider.directory.lookup is not None
    lookup = provider.directory.lookup
    assert lookup.url == "ldaps://ldap.ac-paris.fr"
    assert (lookup.filter, lookup.login_attribute, lookup.name_attribute) == (
        "(mail={address})",
        "uid",
        "displayName",
    )


@pytest.mark.parametrize(
    "url",
    [
        "http://ldap.ac-paris.fr",
        "ldap://",
        "ldap://ldap.ac-paris.fr/ou=people",
        "ldap://ldap.ac-paris.fr:99999",
    ],
)
def test_a_bad_url_is_refused(settings_file: SettingsFile, url: str) -> None:
    text = settings_error(settings_file, url=url)
    assert "providers[0].directory.lookup.url" in text
    assert "ldap://host[:port]" in text


@pytest.mark.parametrize(
    "ldap_filter",
    [
        "(mail=jean@ac-paris.fr)",
        "(mail={email})",
        "(|(mail={address})(uid={login}))",
        "mail={address}",
        "((mail={address})",
    ],
)
def test_a_bad_filter_is_refused(settings_file: SettingsFile, ldap_filter: str) -> None:
    text = settings_error(settings_file, url="ldap://127.0.0.1", filter=ldap_filter)
    assert "providers[0].directory.lookup.filter" in text
    assert "(mail={address})" in text  # the fix shows one


def test_bind_dn_without_password_file_is_refused(settings_file: SettingsFile) -> None:
    text = settings_error(settings_file, url="ldap://127.0.0.1", bind_dn=SERVICE_DN)
    assert "providers[0].directory.lookup.bind_password_file" in text
    assert "go together" in text


@pytest.mark.parametrize(
    ("key", "value"), [("timeout", 0), ("timeout", 60), ("cache_ttl", -1), ("cache_size", -5)]
)
def test_out_of_range_numbers_are_refused(settings_file: SettingsFile, key: str, value: int) -> None:
    assert f"providers[0].directory.lookup.{key}" in settings_error(
        settings_file, url="ldap://127.0.0.1", **{key: value}
    )


# --- what the review of the directory code asked for ----------------------------------------------


@pytest.mark.parametrize(
    ("value", "login", "expected"),
    [
        ("jdupont1", True, "jdupont1"),
        ("  jdupont1 ", True, "jdupont1"),
        ("j dupont", True, None),
        ("jdu\x0bpont", True, None),
        ("", True, None),
        ("Élodie Mérand", False, "Élodie Mérand"),
        ("Jean\u2028Dupont", False, None),
        ("Jean\x00Dupont", False, None),
    ],
)
def test_directory_values_unfit_for_a_client_are_dropped(
    value: str, login: bool, expected: str | None
) -> None:
    assert directory._clean(value, login=login) == expected


def test_when_every_search_slot_is_busy_the_rule_answers_at_once(slapd: Slapd) -> None:
    lookup = staff(slapd.url)

    async def with_slots_taken() -> tuple[Entry | None, float]:
        for _ in range(directory.MAX_CONCURRENT_SEARCHES):
            await lookup._slots.acquire()
        started = time.monotonic()
        entry = await lookup.find("jean.dupont", DOMAIN)
        return entry, time.monotonic() - started

    before = lookups("fallback")
    entry, elapsed = asyncio.run(with_slots_taken())
    assert entry is None
    assert elapsed < 0.05
    assert lookups("fallback") - before == 1
    # Busy is not down: the next lookup with a free slot asks the directory.
    assert lookup._down_until == 0.0


def test_requests_for_an_address_being_searched_wait_for_that_search(own_slapd: Slapd) -> None:
    # Outlook asks on two hosts at once, a service starts with a crowd: one search, one answer for all.
    lookup = staff(own_slapd.url)
    found, shared = lookups("found"), lookups("shared")

    async def together() -> list[Entry | None]:
        return await asyncio.gather(*(lookup.find("jean.dupont", DOMAIN) for _ in range(8)))

    assert asyncio.run(together()) == [Entry("jdupont1", "Jean Dupont")] * 8
    assert (lookups("found"), lookups("shared")) == (found + 1, shared + 7)
    assert lookup._under_way == {}


def test_those_waiting_on_a_frozen_search_fall_back_with_it(own_slapd: Slapd) -> None:
    lookup = staff(own_slapd.url, timeout=0.5)
    own_slapd.freeze()
    fallback, shared = lookups("fallback"), lookups("shared")

    async def together() -> tuple[list[Entry | None], float]:
        started = time.monotonic()
        entries = await asyncio.gather(*(lookup.find("jean.dupont", DOMAIN) for _ in range(5)))
        return entries, time.monotonic() - started

    try:
        entries, waited = asyncio.run(together())
    finally:
        own_slapd.thaw()
    assert entries == [None] * 5
    assert waited < 0.5 + 0.5  # the one search's deadline bounds them all
    assert (lookups("fallback"), lookups("shared")) == (fallback + 1, shared + 4)


def test_a_search_whose_request_went_away_still_answers_those_waiting(own_slapd: Slapd) -> None:
    lookup = staff(own_slapd.url, timeout=0.5)
    own_slapd.freeze()

    async def first_cancelled() -> Entry | None:
        first = asyncio.create_task(lookup.find("jean.dupont", DOMAIN))
        await asyncio.sleep(0.05)
        second = asyncio.create_task(lookup.find("jean.dupont", DOMAIN))
        await asyncio.sleep(0.05)
        first.cancel()  # the client that started the search hung up
        return await asyncio.wait_for(second, 2)

    try:
        assert asyncio.run(first_cancelled()) is None  # the rule answers; nobody hangs
    finally:
        own_slapd.thaw()
    assert lookup._under_way == {}
