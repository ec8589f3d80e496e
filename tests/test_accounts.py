"""accounts.py: address validation, the provider by domain or Host, logins by rule, display names."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from autoconfig.accounts import (
    Account,
    fill_placeholders,
    guess_display_name,
    lacks_form,
    nearest_domain,
    parse_address,
    provider_for_host,
    resolve_account,
)
from autoconfig.addresses import MAX_ADDRESS, MAX_LOCAL_PART
from autoconfig.errors import RequestError, UnknownDomainError
from autoconfig.settings import Provider, Settings, load_settings
from autoconfig.settings.login import fold

MakeSettings = Callable[..., Settings]

IDN_DOMAINS = ["example.org", "exämple.fr"]


# --- the Académie de Paris rule, bundled ---------------------------------------------------------------

# address, login, guessed display name
ACADEMIE_NAMES = [
    # simple, and homonyms: the number stays in the login, leaves the name
    ("jean.dupont@ac-paris.fr", "jdupont", "Jean Dupont"),
    ("jean.dupont2@ac-paris.fr", "jdupont2", "Jean Dupont"),
    ("jean.dupont12@ac-paris.fr", "jdupont12", "Jean Dupont"),
    ("marie.dupont3@ac-paris.fr", "mdupont3", "Marie Dupont"),
    ("j.dupont@ac-paris.fr", "jdupont", "J Dupont"),
    # composite first names: the first letter of the first one
    ("jean-pierre.dupont@ac-paris.fr", "jdupont", "Jean-Pierre Dupont"),
    ("jean-pierre.dupont2@ac-paris.fr", "jdupont2", "Jean-Pierre Dupont"),
    ("marie-claire.martin@ac-paris.fr", "mmartin", "Marie-Claire Martin"),
    ("anne-sophie.lefebvre@ac-paris.fr", "alefebvre", "Anne-Sophie Lefebvre"),
    # hyphenated last names keep their hyphen (as the profile says)
    ("marie.martin-durand@ac-paris.fr", "mmartin-durand", "Marie Martin-Durand"),
    ("jean.dupont-durand2@ac-paris.fr", "jdupont-durand2", "Jean Dupont-Durand"),
    ("dominique.strauss-kahn@ac-paris.fr", "dstrauss-kahn", "Dominique Strauss-Kahn"),
    ("mohamed.ben-ali@ac-paris.fr", "mben-ali", "Mohamed Ben-Ali"),
    # particles and articles: dots and apostrophes leave the login, hyphens stay; the name follows
    # French typography (de small, Le/La capital)
    ("jean.de.la.fontaine@ac-paris.fr", "jdelafontaine", "Jean de La Fontaine"),
    ("marie.de.montaigne@ac-paris.fr", "mdemontaigne", "Marie de Montaigne"),
    ("charles.de-gaulle@ac-paris.fr", "cde-gaulle", "Charles de Gaulle"),
    ("marie.du-pont@ac-paris.fr", "mdu-pont", "Marie du Pont"),
    ("jean.le.goff@ac-paris.fr", "jlegoff", "Jean Le Goff"),
    ("jean-marc.le-bihan@ac-paris.fr", "jle-bihan", "Jean-Marc Le Bihan"),
    ("ludwig.van-beethoven@ac-paris.fr", "lvan-beethoven", "Ludwig van Beethoven"),
    ("pierre.d'alembert@ac-paris.fr", "pdalembert", "Pierre d'Alembert"),
    ("jeanne.d'arc2@ac-paris.fr", "jdarc2", "Jeanne d'Arc"),
    ("jean.o'neil@ac-paris.fr", "joneil", "Jean O'Neil"),
    ("jean.l'hôte@ac-paris.fr", "jlhote", "Jean L'Hôte"),
    # accents folded in the login, kept in the name
    ("élodie.mérand@ac-paris.fr", "emerand", "Élodie Mérand"),
    ("françois.lefèvre@ac-paris.fr", "flefevre", "François Lefèvre"),
    ("josé.núñez@ac-paris.fr", "jnunez", "José Núñez"),
    ("zoë.brontë@ac-paris.fr", "zbronte", "Zoë Brontë"),
    ("aïcha.benaïssa@ac-paris.fr", "abenaissa", "Aïcha Benaïssa"),
    ("hélène.boucher2@ac-paris.fr", "hboucher2", "Hélène Boucher"),
    ("louis.de.funès@ac-paris.fr", "ldefunes", "Louis de Funès"),
    ("gaëlle.le.guéné@ac-paris.fr", "gleguene", "Gaëlle Le Guéné"),
    ("marie.lecœur@ac-paris.fr", "mlecoeur", "Marie Lecœur"),
    ("jean.cœur2@ac-paris.fr", "jcoeur2", "Jean Cœur"),
    # the accent as a separate combining mark (NFD, as some systems send it) is the same person
    ("e\u0301lodie.me\u0301rand@ac-paris.fr", "emerand", "Élodie Mérand"),
    # upper case
    ("Jean.Dupont@AC-PARIS.FR", "jdupont", "Jean Dupont"),
    ("JEAN-PIERRE.DUPONT3@ac-paris.fr", "jdupont3", "Jean-Pierre Dupont"),
    ("Élodie.Mérand@Ac-Paris.Fr", "emerand", "Élodie Mérand"),
    # service mailboxes and other shapes: the local part as typed, no name
    ("ce.0751234a@ac-paris.fr", "ce.0751234a", None),
    ("CE.0751234A@ac-paris.fr", "CE.0751234A", None),
    ("secretariat@ac-paris.fr", "secretariat", None),
    ("dsden75@ac-paris.fr", "dsden75", None),
    ("ien.paris-11e@ac-paris.fr", "ien.paris-11e", None),
    ("1jean.dupont@ac-paris.fr", "1jean.dupont", None),
    # underscore is not the Académie's shape: local part as login, but the name is still guessed
    ("jean_dupont@ac-paris.fr", "jean_dupont", "Jean Dupont"),
    # a dotted double first name cannot be told from a particle: such people need an override
    ("jean.pierre.dupont@ac-paris.fr", "jpierredupont", "Jean Pierre Dupont"),
]


@pytest.mark.parametrize(("address", "login", "name"), ACADEMIE_NAMES)
def test_academie_login_and_name(settings: Settings, address: str, login: str, name: str | None) -> None:
    account = resolve_account(settings, address)
    assert account.login == login
    assert account.display_name == name
    assert account.provider.id == "ac-paris.fr"
    assert account.domain == "ac-paris.fr"


def test_academie_table_is_wide() -> None:
    assert len(ACADEMIE_NAMES) >= 25
    assert len({address for address, _, _ in ACADEMIE_NAMES}) == len(ACADEMIE_NAMES)


def test_account_keeps_local_part_as_typed_and_folds_domain(settings: Settings) -> None:
    account = resolve_account(settings, "Jean.Dupont@AC-PARIS.FR.")
    assert account.local_part == "Jean.Dupont"
    assert account.domain == "ac-paris.fr"
    assert account.address == "Jean.Dupont@ac-paris.fr"
    assert account.unicode_address == "Jean.Dupont@ac-paris.fr"
    assert account.fill("%EMAILLOCALPART%|%EMAILDOMAIN%|%EMAILADDRESS%") == (
        "Jean.Dupont|ac-paris.fr|Jean.Dupont@ac-paris.fr"
    )


def test_nfd_local_part_is_composed(settings: Settings) -> None:
    account = resolve_account(settings, "e\u0301lodie.me\u0301rand@ac-paris.fr")
    assert account.local_part == "élodie.mérand"
    assert unicodedata.is_normalized("NFC", account.address)


@pytest.mark.parametrize(
    "local", ["nobody", "x", "zz.top99", "postmaster", "no-such-person.ever", "a.b.c.d.e.f", "999"]
)
def test_any_local_part_at_a_known_domain_is_answered(
    settings: Settings, paris: Provider, local: str
) -> None:
    account = resolve_account(settings, f"{local}@ac-paris.fr")
    assert account.provider is paris
    assert account.login


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("Jérôme", "jerome"),
        ("Cœur", "coeur"),
        ("ÆSOPE", "aesope"),
        ("Strauß", "strauss"),
        ("Øre", "ore"),
        ("Łódź", "lodz"),
        ("Ñúñez", "nunez"),
        ("ﬁlle", "fille"),
    ],
)
def test_fold(text: str, folded: str) -> None:
    assert fold(text) == folded


@pytest.mark.parametrize(
    ("local", "name"),
    [
        ("jean.dupont", "Jean Dupont"),
        ("jean.de", "Jean De"),  # a particle at the end is a name, not a particle
        ("jean.d", "Jean D"),
        ("marie.de-la-tour", "Marie de La Tour"),
        ("jean.des-jardins", "Jean des Jardins"),
        ("jean.le", "Jean Le"),
        ("dupont", None),
        ("jean.dupont-2", None),
        ("jean..dupont", "Jean Dupont"),
        ("jean.dup0nt", None),
        ("jean.-dupont", None),
        ("jean.'dupont", None),
        ("дмитрий.иванов", "Дмитрий Иванов"),
        ("ce.0751234a", None),
        ("", None),
    ],
)
def test_guess_display_name(local: str, name: str | None) -> None:
    assert guess_display_name(local) == name


# --- plain forms, remove, truncation, overrides --------------------------------------------------------


@pytest.mark.parametrize(
    ("fallback", "address", "login"),
    [
        (None, "jean.dupont@example.org", "jean.dupont@example.org"),  # no [providers.login]: %EMAILADDRESS%
        ("%EMAILADDRESS%", "Jean.Dupont@EXAMPLE.org", "Jean.Dupont@example.org"),
        ("%EMAILLOCALPART%", "jean.dupont@example.org", "jean.dupont"),
        ("%EMAILLOCALPART%", "Élodie@example.org", "Élodie"),
        ("%EMAILLOCALPART%.%EMAILDOMAIN%", "jean.dupont@example.org", "jean.dupont.example.org"),
        ("%EMAILDOMAIN%", "jean.dupont@Example.Org", "example.org"),
        ("%EMAILLOCALPART%@corp.example.net", "jean@example.org", "jean@corp.example.net"),
        ("CORP\\%EMAILLOCALPART%", "jean@example.org", "CORP\\jean"),
        ("staff-%EMAILLOCALPART%-%EMAILDOMAIN%", "jean@example.org", "staff-jean-example.org"),
    ],
)
def test_fallback_only_rules(
    make_settings: MakeSettings, fallback: str | None, address: str, login: str
) -> None:
    provider = {} if fallback is None else {"login": {"fallback": fallback}}
    account = resolve_account(make_settings(provider=provider), address)
    assert account.login == login


def test_local_part_looking_like_a_placeholder_is_not_substituted_again(
    make_settings: MakeSettings,
) -> None:
    settings = make_settings(provider={"login": {"fallback": "%EMAILLOCALPART%.%EMAILDOMAIN%"}})
    account = resolve_account(settings, "%EMAILDOMAIN%@example.org")
    assert account.login == "%EMAILDOMAIN%.example.org"
    assert account.fill("%EMAILADDRESS%") == "%EMAILDOMAIN%@example.org"
    assert fill_placeholders("%EMAILLOCALPART%", "%EMAILADDRESS%", "example.org") == "%EMAILADDRESS%"
    assert fill_placeholders("%EMAILADDRESS%", "%EMAILLOCALPART%", "example.org") == (
        "%EMAILLOCALPART%@example.org"
    )


def test_fill_placeholders_leaves_unknown_and_literal_text() -> None:
    assert fill_placeholders("imap.%EMAILDOMAIN%", "jean", "example.org") == "imap.example.org"
    assert fill_placeholders("%EMAILNAME% 100%", "jean", "example.org") == "%EMAILNAME% 100%"


TRUNCATING: dict[str, Any] = {
    "pattern": r"^(?P<first>[a-z]+)\.(?P<last>[a-z.\x27-]+?)(?P<n>[0-9]+)?$",
    "template": "{first:.2}{last:.5}{n}",
}


@pytest.mark.parametrize(
    ("local", "login"),
    [
        ("jean.dupontel", "jedupon"),
        ("jean.dupontel7", "jedupon7"),  # the optional group that did not match is empty
        ("j.li", "jli"),  # shorter than the width: kept whole
        ("élodie.mérand", "elmeran"),
        ("Jean.Dupontel", "jedupon"),
        ("jean", "jean@example.org"),  # no match: fallback
    ],
)
def test_template_truncation(make_settings: MakeSettings, local: str, login: str) -> None:
    settings = make_settings(provider={"login": TRUNCATING})
    assert resolve_account(settings, f"{local}@example.org").login == login


REMOVING: dict[str, Any] = {
    "pattern": r"^(?P<first>[a-z]+)\.(?P<last>[a-z.\x27-]+)$",
    "template": "{first}.{last}",
    "remove": "-'",
}


@pytest.mark.parametrize(
    ("local", "login"),
    [
        ("jean.martin-durand", "jean.martindurand"),
        ("pierre.d'alembert", "pierre.dalembert"),
        ("jean.de.la-fontaine", "jean.de.lafontaine"),
        ("jean.dupont", "jean.dupont"),
    ],
)
def test_remove_option(make_settings: MakeSettings, local: str, login: str) -> None:
    settings = make_settings(provider={"login": REMOVING})
    assert resolve_account(settings, f"{local}@example.org").login == login


def test_without_remove_the_characters_stay(make_settings: MakeSettings) -> None:
    rule = {key: value for key, value in REMOVING.items() if key != "remove"}
    settings = make_settings(provider={"login": rule})
    assert resolve_account(settings, "jean.martin-durand@example.org").login == "jean.martin-durand"


def test_login_emptied_by_remove_falls_back(make_settings: MakeSettings) -> None:
    rule = {
        "pattern": "^(?P<dashes>-+)$",
        "template": "{dashes}",
        "remove": "-",
        "fallback": "%EMAILLOCALPART%",
    }
    settings = make_settings(provider={"login": rule})
    assert resolve_account(settings, "---@example.org").login == "---"


@pytest.mark.parametrize(
    ("template", "login"),
    [
        ("{localpart}", "elodie.merand"),
        ("{first}@{domain}", "elodie@example.org"),
        ("{address}", "elodie.merand@example.org"),
        ("u-{last}", "u-merand"),
    ],
)
def test_template_builtins(make_settings: MakeSettings, template: str, login: str) -> None:
    rule = {"pattern": r"^(?P<first>[a-z]+)\.(?P<last>[a-z]+)$", "template": template}
    settings = make_settings(provider={"login": rule})
    assert resolve_account(settings, "Élodie.Mérand@example.org").login == login


def test_folding_into_a_space_is_no_login(make_settings: MakeSettings) -> None:
    # U+037A (GREEK YPOGEGRAMMENI) is a letter whose compatibility form is a space.
    rule = {"pattern": "^(?P<all>.+)$", "template": "{all}", "fallback": "%EMAILLOCALPART%"}
    settings = make_settings(provider={"login": rule})
    assert resolve_account(settings, "ab\u037acd@example.org").login == "ab\u037acd"
    assert resolve_account(settings, "Élodie@example.org").login == "elodie"


OVERRIDES_CSV = """\
address,login,name
Jean.Dupont@Example.org,jdupont-ext,Jean-Baptiste Dupont
marie.curie@example.org,mcurie42,
élodie.mérand@EXÄMPLE.FR,emerand-idn,
"""

OVERRIDES_RULE: dict[str, Any] = {
    "pattern": r"^(?P<first>[a-z]+)\.(?P<last>[a-z]+)$",
    "template": "{first:.1}{last}",
    "overrides": "overrides.csv",
}


@pytest.fixture
def with_overrides(make_settings: MakeSettings, tmp_path: Path) -> Settings:
    # Next to the settings file, which make_settings writes in tmp_path.
    (tmp_path / "overrides.csv").write_text(OVERRIDES_CSV, encoding="utf-8")
    return make_settings(provider={"login": OVERRIDES_RULE, "domains": IDN_DOMAINS})


@pytest.mark.parametrize(
    ("address", "login", "name"),
    [
        ("jean.dupont@example.org", "jdupont-ext", "Jean-Baptiste Dupont"),  # override wins over the rule
        ("JEAN.DUPONT@EXAMPLE.ORG", "jdupont-ext", "Jean-Baptiste Dupont"),  # case-insensitive
        ("marie.curie@example.org", "mcurie42", "Marie Curie"),  # no name in the file: guessed
        ("Élodie.Mérand@exämple.fr", "emerand-idn", "Élodie Mérand"),  # IDN key matched by A-label
        ("élodie.mérand@xn--exmple-cua.fr", "emerand-idn", "Élodie Mérand"),
        ("paul.durand@example.org", "pdurand", "Paul Durand"),  # not in the file: the rule
        ("jean.dupont@exämple.fr", "jdupont", "Jean Dupont"),  # same local part, other domain
    ],
)
def test_overrides(with_overrides: Settings, address: str, login: str, name: str) -> None:
    account = resolve_account(with_overrides, address)
    assert account.login == login
    assert account.display_name == name


# --- validation -------------------------------------------------------------------------------------

EMPTY = "The address is empty."
NO_AT = "The address has no @ sign."
LOCAL_TOO_LONG = f"The part before the @ sign is longer than {MAX_LOCAL_PART} characters."
TOO_LONG = f"The address is longer than {MAX_ADDRESS} characters."
HUGE = "The address is too long."
DOT = "The part before the @ sign has a misplaced dot."
CONTROL = "The address holds spaces, line breaks or control characters."
BAD_CHARACTER = "The part before the @ sign holds a character addresses cannot have."
BAD_DOMAIN = "The part after the @ sign is not a valid domain name."
LONG_DOMAIN = ".".join(["a" * 63, "b" * 63, "c" * 60]) + ".fr"  # 191 octets, a valid name


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", EMPTY),
        ("jean.dupont", NO_AT),
        ("jean.dupont.ac-paris.fr", NO_AT),
        ("@ac-paris.fr", "The address has nothing before the @ sign."),
        ("a" * 65 + "@ac-paris.fr", LOCAL_TOO_LONG),
        ("é" * 33 + "@ac-paris.fr", LOCAL_TOO_LONG),  # 33 letters but 66 octets
        ("a" * 64 + "@" + LONG_DOMAIN, TOO_LONG),
        ("a" * 990 + "@ac-paris.fr", LOCAL_TOO_LONG),  # 1,002 characters
        ("a" * 1000, NO_AT),
        ("a" * 2000 + "@ac-paris.fr", HUGE),
        ("\n" * 5000, HUGE),
        (".jean@ac-paris.fr", DOT),
        ("jean.@ac-paris.fr", DOT),
        ("jean..dupont@ac-paris.fr", DOT),
        (".@ac-paris.fr", DOT),
        ("jean dupont@ac-paris.fr", CONTROL),
        (" jean@ac-paris.fr", CONTROL),
        ("jean@ac-paris.fr ", CONTROL),
        ("jean\t@ac-paris.fr", CONTROL),
        ("jean@ac-paris.fr\n", CONTROL),
        ("jean@ac-paris.fr\r", CONTROL),
        ("a@b.fr\r\nX: y", CONTROL),
        ("jean@ac-paris.fr\r\nBcc: victim@example.org", CONTROL),
        ("jean\x00@ac-paris.fr", CONTROL),
        ("jean\x1b[31m@ac-paris.fr", CONTROL),
        ("jean\x7f@ac-paris.fr", CONTROL),
        ("jean\x85@ac-paris.fr", CONTROL),
        ("jean\u00a0dupont@ac-paris.fr", CONTROL),
        ("jean\u200b@ac-paris.fr", CONTROL),
        ("jean\u200d@ac-paris.fr", CONTROL),
        ("jean\u202e@ac-paris.fr", CONTROL),
        ("jean\u2028@ac-paris.fr", CONTROL),
        ("jean\ufeff@ac-paris.fr", CONTROL),
        ("jean@ac-\u00adparis.fr", CONTROL),
        ("<script>@ac-paris.fr", BAD_CHARACTER),
        ("jean<@ac-paris.fr", BAD_CHARACTER),
        ("jean>@ac-paris.fr", BAD_CHARACTER),
        ('"jean"@ac-paris.fr', BAD_CHARACTER),
        ('jean"dupont@ac-paris.fr', BAD_CHARACTER),
        ("jean(x)@ac-paris.fr", BAD_CHARACTER),
        ("jean,dupont@ac-paris.fr", BAD_CHARACTER),
        ("jean;dupont@ac-paris.fr", BAD_CHARACTER),
        ("jean:dupont@ac-paris.fr", BAD_CHARACTER),
        ("jean\\dupont@ac-paris.fr", BAD_CHARACTER),
        ("jean[0]@ac-paris.fr", BAD_CHARACTER),
        ("jean@dupont@ac-paris.fr", BAD_CHARACTER),
        ("jean\uff1c@ac-paris.fr", BAD_CHARACTER),  # FULLWIDTH LESS-THAN SIGN
        ("jean\u2764@ac-paris.fr", BAD_CHARACTER),  # a symbol, not a letter
        ("jean@", BAD_DOMAIN),
        ("jean@.", BAD_DOMAIN),
        ("jean@localhost", BAD_DOMAIN),
        ("jean@ac-paris..fr", BAD_DOMAIN),
        ("jean@-ac-paris.fr", BAD_DOMAIN),
        ("jean@ac_paris.fr", BAD_DOMAIN),
        ("jean@192.0.2.1", BAD_DOMAIN),
        ("jean@[192.0.2.1]", BAD_DOMAIN),
        ("jean@ac-paris.fr<script>", BAD_DOMAIN),
        ("jean@☃.fr", BAD_DOMAIN),
        ("jean@" + "a" * 64 + ".fr", BAD_DOMAIN),
    ],
)
def test_invalid_addresses(settings: Settings, text: str, message: str) -> None:
    with pytest.raises(RequestError) as caught:
        resolve_account(settings, text)
    assert caught.value.message == message
    assert str(caught.value) == message
    assert caught.value.status == 400
    assert not isinstance(caught.value, UnknownDomainError)


def test_length_limits_are_inclusive() -> None:
    local, domain = parse_address("a" * MAX_LOCAL_PART + "@ac-paris.fr")
    assert len(local) == MAX_LOCAL_PART
    assert domain == "ac-paris.fr"
    longest_domain = ".".join(["a" * 63, "b" * 63, "c" * 57]) + ".fr"  # 188 octets: 64 + 1 + 188 = 253
    local, domain = parse_address("a" * 64 + "@" + longest_domain)
    assert len(local) + 1 + len(domain) == 253
    local, domain = parse_address("a" * 64 + "@" + longest_domain + "x")
    assert len(local) + 1 + len(domain) == MAX_ADDRESS


@pytest.mark.parametrize(
    "local",
    [
        "o'neil",
        "jean&marie",
        "jean+newsletter",
        "{jean}",
        "jean/dupont",
        "a!#$%*=?^_`|~-z",
        "%EMAILDOMAIN%",
        "élodie",
        "дмитрий",
        "小林",
        "प्रिया",  # Devanagari: letters and vowel signs (combining marks)
        "สมชาย",
        "1234",
    ],
)
def test_valid_characters_are_accepted(settings: Settings, local: str) -> None:
    account = resolve_account(settings, f"{local}@ac-paris.fr")
    assert account.local_part == local
    assert account.address == f"{local}@ac-paris.fr"


@pytest.mark.parametrize(
    "text",
    [
        "jean@exämple.fr",
        "jean@EXÄMPLE.FR",
        "jean@Exämple.Fr.",
        "jean@xn--exmple-cua.fr",
        "jean@XN--EXMPLE-CUA.FR",
        "jean@exämple\u3002fr",  # IDEOGRAPHIC FULL STOP, mapped by UTS 46
        "jean@exa\u0308mple.fr",  # decomposed ä
    ],
)
def test_idn_domain_is_matched_by_a_label(make_settings: MakeSettings, text: str) -> None:
    settings = make_settings(provider={"domains": IDN_DOMAINS})
    account = resolve_account(settings, text)
    assert account.domain == "xn--exmple-cua.fr"
    assert account.address == "jean@xn--exmple-cua.fr"
    assert account.unicode_address == "jean@exämple.fr"
    assert account.provider.id == "example.org"
    assert account.login == "jean@xn--exmple-cua.fr"


@pytest.mark.parametrize(
    "text",
    [
        "jean@example.com",
        "jean@paris.fr",
        "jean@mail.ac-paris.fr",
        "jean@autoconfig.ac-paris.fr",
        "jean@ac-paris.fr.evil.example",
        "jean@ac-paris.com",
        "jean@ac-creteil.fr",
    ],
)
def test_unknown_domain(settings: Settings, text: str) -> None:
    with pytest.raises(UnknownDomainError) as caught:
        resolve_account(settings, text)
    assert caught.value.status == 404
    assert caught.value.message == "This service does not configure mail for that domain."
    assert isinstance(caught.value, RequestError)


# --- provider_for_host ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    [
        "ac-paris.fr",
        "autoconfig.ac-paris.fr",
        "autodiscover.ac-paris.fr",
        "autoconfig.ac-paris.fr:443",
        "autodiscover.ac-paris.fr:8443",
        "AUTOCONFIG.AC-PARIS.FR",
        "Autodiscover.Ac-Paris.Fr:443",
        "ac-paris.fr.",
        "autoconfig.ac-paris.fr.",
        " autoconfig.ac-paris.fr ",
    ],
)
def test_provider_for_host(settings: Settings, paris: Provider, host: str) -> None:
    assert provider_for_host(settings, host) is paris


@pytest.mark.parametrize(
    "host",
    [
        "other.ac-paris.fr",
        "www.ac-paris.fr",
        "mail.ac-paris.fr",
        "autoconfig.other.ac-paris.fr",
        "autoconfig.autoconfig.ac-paris.fr",
        "autoconfig-ac-paris.fr",
        "evil-ac-paris.fr",
        "ac-paris.fr.evil.example",
        "autoconfig.example.org",
        "autoconfig",
        "localhost",
        "localhost:8000",
        "127.0.0.1",
        "127.0.0.1:8000",
        "[::1]",
        "[::1]:8080",
        "::1",
        "[2001:db8::1]:443",
        "ac-paris.fr:443:1",
        "",
        " ",
        "garbage",
        "ac paris.fr",
        "ac-paris.fr/x",
        "ac-paris.fr\x00",
        "☃.fr",
    ],
)
def test_provider_for_unknown_host(settings: Settings, host: str) -> None:
    with pytest.raises(UnknownDomainError) as caught:
        provider_for_host(settings, host)
    assert caught.value.status == 404


@pytest.mark.parametrize(
    "host",
    ["exämple.fr", "autoconfig.exämple.fr", "autoconfig.xn--exmple-cua.fr:443", "AUTODISCOVER.EXÄMPLE.FR"],
)
def test_provider_for_idn_host(make_settings: MakeSettings, host: str) -> None:
    settings = make_settings(provider={"domains": IDN_DOMAINS})
    assert provider_for_host(settings, host).id == "example.org"


# --- properties ---------------------------------------------------------------------------------------

_NAMEISH = st.text(alphabet="abcdeéèëïôœçñß-.'_0123456789ABÉ", min_size=1, max_size=30)
_DOMAINS = st.sampled_from(["ac-paris.fr", "AC-PARIS.FR.", "example.org", "exämple.fr", "", "x"])
ADDRESSES = st.one_of(
    st.text(max_size=300),
    st.builds(lambda local, domain: f"{local}@{domain}", st.text(max_size=70), _DOMAINS),
    st.builds(lambda local, domain: f"{local}@{domain}", _NAMEISH, _DOMAINS),
)


def _assert_safe(value: str) -> None:
    assert "<" not in value
    assert ">" not in value
    assert "\n" not in value
    assert "\r" not in value
    assert not any(unicodedata.category(c) in {"Cc", "Cf", "Zl", "Zp"} for c in value)


def _answer(settings: Settings, text: str) -> Account | RequestError:
    try:
        return resolve_account(settings, text)
    except RequestError as exc:
        return exc


def test_resolve_account_answers_or_refuses_cleanly(make_settings: MakeSettings) -> None:
    academie = load_settings()
    permissive = make_settings(
        provider={
            "login": {"pattern": "^(?P<all>.*)$", "template": "{all}", "fallback": "%EMAILADDRESS%"},
            "domains": ["example.org", "ac-paris.fr", "exämple.fr"],
        }
    )

    @hypothesis_settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(ADDRESSES)
    def check(text: str) -> None:
        for settings in (academie, permissive):
            account = _answer(settings, text)  # any other exception fails the test
            if isinstance(account, RequestError):
                assert account.message
                assert account.status in (400, 404)
                continue
            _assert_safe(account.login)
            assert not any(c.isspace() for c in account.login)
            if account.display_name is not None:
                _assert_safe(account.display_name)
            assert parse_address(account.address) == (account.local_part, account.domain)

    check()


# --- the ASCII shortcuts: the same answers as the Unicode rules they stand for ----------------------------


def test_ascii_shortcuts_agree_with_the_unicode_rules() -> None:
    from autoconfig import addresses  # noqa: PLC0415 - the private rules under test
    from autoconfig.settings.login import _LIGATURES  # noqa: PLC0415

    for code in range(128):
        c = chr(code)
        assert addresses._spaces_or_controls(f"a{c}b") == (unicodedata.category(c)[0] in "CZ"), repr(c)
        general = (
            c not in addresses._ATEXT and c != "." and (c.isascii() or not addresses._is_letter_or_mark(c))
        )
        assert addresses._unfit_local_part(f"a{c}b") == general, repr(c)
        decomposed = unicodedata.normalize("NFKD", f"A{c}b".lower().translate(_LIGATURES))
        assert fold(f"A{c}b") == "".join(x for x in decomposed if not unicodedata.combining(x)), repr(c)
    # And a non-ASCII address still takes the Unicode way.
    assert fold("Jérôme.Cœur") == "jerome.coeur"
    assert addresses._spaces_or_controls("é\u00a0x")  # a no-break space
    assert not addresses._unfit_local_part("éloïse")


# --- the address form, and the domain a slip away -------------------------------------------------------

STRICT_FORM: dict[str, Any] = {
    "pattern": r"^[a-z]+\.[a-z]+$",
    "example": "jean.dupont",
    "description": {"fr": "prénom.nom", "en": "firstname.lastname"},
}


@pytest.mark.parametrize(
    ("address", "lacks"),
    [
        ("jean.dupont@ac-paris.fr", False),
        ("Jean.Dupont@AC-PARIS.FR", False),
        ("élodie.mérand@ac-paris.fr", False),
        ("ce.0751234a@ac-paris.fr", False),
        ("jdupont@ac-paris.fr", True),
        ("jean.dupont-@ac-paris.fr", True),
        ("dupont_jean@ac-paris.fr", True),
    ],
)
def test_lacks_form(settings: Settings, address: str, lacks: bool) -> None:
    assert lacks_form(resolve_account(settings, address)) is lacks


def test_an_address_the_overrides_know_never_lacks_the_form(
    make_settings: MakeSettings, tmp_path: Path
) -> None:
    (tmp_path / "overrides.csv").write_text("address,login\njdupont@example.org,jdupont\n", encoding="utf-8")
    rule = {"overrides": "overrides.csv"}
    settings = make_settings(provider={"login": rule, "address_form": STRICT_FORM})
    assert lacks_form(resolve_account(settings, "jdupont@example.org")) is False  # known: it exists
    assert lacks_form(resolve_account(settings, "mdurand@example.org")) is True


def test_a_provider_without_form_lacks_none(make_settings: MakeSettings) -> None:
    assert lacks_form(resolve_account(make_settings(), "jdupont@example.org")) is False


def test_an_alias_address_is_checked_by_its_local_part(make_settings: MakeSettings) -> None:
    settings = make_settings(provider={"aliases": ["example.net"], "address_form": STRICT_FORM})
    assert lacks_form(resolve_account(settings, "jean.dupont@example.net")) is False
    assert lacks_form(resolve_account(settings, "jdupont@example.net")) is True


@pytest.mark.parametrize(
    ("typed", "nearest"),
    [
        ("ac-pari.fr", "ac-paris.fr"),  # a letter missed
        ("acparis.fr", "ac-paris.fr"),
        ("ac-pariss.fr", "ac-paris.fr"),  # a letter doubled
        ("ac-parsi.fr", "ac-paris.fr"),  # two swapped
        ("ac-paros.fr", "ac-paris.fr"),  # a letter wrong
        ("ac-prais.fr", "ac-paris.fr"),
        ("acpari.fr", "ac-paris.fr"),  # two edits
        ("ac-paris.com", "ac-paris.fr"),  # another top-level domain
        ("ac-paris.org", "ac-paris.fr"),
        ("ac-creteil.com", "ac-creteil.fr"),
        ("ac-versaille.fr", "ac-versailles.fr"),
        ("gmail.com", None),
        ("ac-lyon.fr", None),
        ("paris.fr", None),  # three edits
        ("ac-paris.fr.evil.example", None),
        ("fr", None),
    ],
)
def test_nearest_domain(typed: str, nearest: str | None) -> None:
    settings = load_settings(Path(__file__).resolve().parents[1] / "profiles" / "ile-de-france.toml")
    assert nearest_domain(settings, typed) == nearest


def test_no_nearest_domain_between_two_equally_close(make_settings: MakeSettings) -> None:
    settings = make_settings(provider={"domains": ["ab-cd.fr", "ab-ce.fr"]})
    assert nearest_domain(settings, "ab-cf.fr") is None  # one edit from each: no guess
    assert nearest_domain(settings, "ab-cdd.fr") == "ab-cd.fr"


def test_nearest_domain_includes_aliases(make_settings: MakeSettings) -> None:
    settings = make_settings(provider={"aliases": ["example.net"]})
    assert nearest_domain(settings, "exemple.net") == "example.net"
