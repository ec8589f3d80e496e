"""The gettext catalogues: complete, in step with the code and templates, compiled; every visible word
of every page translated."""

from __future__ import annotations

import gettext
import io
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po
from lxml import html
from starlette.testclient import TestClient

from autoconfig.settings import Settings
from autoconfig.web.pages import CATALOGUE_DOMAIN, DEVICES
from tests.helpers.paths import ROOT
from tests.helpers.settings import MINIMAL, settings_data

LOCALE = ROOT / "templates" / "locale"
POT = LOCALE / "messages.pot"
FR_PO = LOCALE / "fr" / "LC_MESSAGES" / "messages.po"
FR_MO = LOCALE / "fr" / "LC_MESSAGES" / "messages.mo"
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")
JEAN = "jean.dupont@ac-paris.fr"


def read_catalogue(path: Path, locale: str | None = None) -> Catalog:
    with path.open("rb") as file:
        return read_po(file, locale=locale)


def messages(catalogue: Catalog) -> dict[str, Message]:
    """The catalogue's messages by msgid, without the header entry."""
    found: dict[str, Message] = {}
    for message in catalogue:
        if message.id:
            assert isinstance(message.id, str), f"plural forms are not used here: {message.id!r}"
            found[message.id] = message
    return found


def pybabel() -> str:
    """The pybabel next to this Python (the project's virtual environment), else the one on PATH."""
    beside = Path(sys.executable).parent / "pybabel"
    if beside.exists():
        return str(beside)
    found = shutil.which("pybabel")
    if found is None:
        pytest.fail("pybabel is missing: install the test extras (pip install -e '.[test]')")
    return found


@pytest.fixture(scope="module")
def extracted(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    """What the code and templates mark for translation today, as the catalogue's README line extracts it."""
    output = tmp_path_factory.mktemp("extract") / "messages.pot"
    command = [
        pybabel(),
        "extract",
        "-F",
        "templates/locale/babel.cfg",
        "-k",
        "N_",
        "--no-location",
        "--omit-header",
        "--sort-output",
        "-o",
        str(output),
        ".",
    ]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False, timeout=60)
    assert result.returncode == 0, result.stderr
    return read_catalogue(output)


@pytest.fixture(scope="module")
def french() -> Catalog:
    return read_catalogue(FR_PO, locale="fr")


def test_extraction_finds_the_messages_of_code_and_templates(extracted: Catalog) -> None:
    ids = set(messages(extracted))
    # One from each source: a template, a macro argument, an N_() constant in pages.py.
    assert "Set up your mail" in ids
    assert "Copy: %(what)s" in ids
    assert "This service sets up addresses at %(domains)s only." in ids
    assert "None (no encryption)" in ids
    assert len(ids) > 50


def test_committed_template_is_up_to_date(extracted: Catalog) -> None:
    committed = messages(read_catalogue(POT))
    fresh = messages(extracted)
    assert sorted(committed) == sorted(fresh), "re-run pybabel extract (see templates/locale/babel.cfg)"
    for msgid, message in fresh.items():
        assert committed[msgid].flags == message.flags, msgid


def test_french_catalogue_has_exactly_the_extracted_messages(extracted: Catalog, french: Catalog) -> None:
    assert sorted(messages(french)) == sorted(messages(extracted)), "run pybabel update, then translate"
    assert not [m.id for m in french.obsolete.values()]


def test_every_french_message_is_translated_and_not_fuzzy(french: Catalog) -> None:
    assert not french.fuzzy
    assert french.locale is not None
    assert str(french.locale) == "fr"
    untranslated = [msgid for msgid, m in messages(french).items() if not m.string]
    assert untranslated == []
    fuzzy = [msgid for msgid, m in messages(french).items() if m.fuzzy]
    assert fuzzy == []


def test_placeholders_are_the_same_in_both_languages(french: Catalog) -> None:
    for msgid, message in messages(french).items():
        assert isinstance(message.string, str)
        assert sorted(PLACEHOLDER.findall(message.string)) == sorted(PLACEHOLDER.findall(msgid)), msgid
        # A lone % would break the %-formatting the pages do.
        assert "%" not in PLACEHOLDER.sub("", message.string).replace("%%", ""), msgid
    assert list(french.check()) == []


def test_french_typography(french: Catalog) -> None:
    """French puts a space before : ; ? ! and writes quotes as « »."""
    for msgid, message in messages(french).items():
        string = str(message.string)
        assert not re.search(r"\S[:;?!](\s|$)", PLACEHOLDER.sub("x", string)), (msgid, string)
        assert "“" not in string, (msgid, string)
        assert string.count("«") == string.count("»"), (msgid, string)


def test_compiled_catalogue_matches_the_po_file(french: Catalog) -> None:
    compiled = io.BytesIO()
    write_mo(compiled, french)
    compiled.seek(0)
    with FR_MO.open("rb") as file:
        committed = read_mo(file)
    fresh = read_mo(compiled)
    assert {m.id: m.string for m in committed if m.id} == {m.id: m.string for m in fresh if m.id}, (
        "recompile: pybabel compile -d templates/locale -D messages"
    )
    assert len([m for m in committed if m.id]) == len(messages(french))


def test_gettext_loads_the_committed_catalogue() -> None:
    translations = gettext.translation(CATALOGUE_DOMAIN, localedir=LOCALE, languages=["fr"])
    assert translations.gettext("Set up your mail") == "Configurer votre messagerie"
    assert translations.gettext("None (no encryption)") == "Aucune (pas de chiffrement)"
    assert translations.gettext("no such message") == "no such message"


# --- every visible word translated ----------------------------------------------------------------------

# What reads the same in French and English: names, values, and words French borrows.
SAME_IN_BOTH = {
    "Académie de Paris",
    "Français",
    "English",
    "iPhone, iPad",
    "Android",
    "Mac",
    "Thunderbird",
    "Outlook",
    "Gmail",
    "Samsung Email",
    "FairEmail",
    "Webmail",
    "Port",
    JEAN,
    "jdupont",
    "élodie.mérand@ac-paris.fr",
    "emerand",
    "imap.ac-paris.fr",
    "smtp.ac-paris.fr",
    "143",
    "587",
    "STARTTLS",
    "SSL/TLS",
    "+33 1 44 62 40 40",
    "https://agenda.ac-paris.fr/dav/",
    "annuaire.ac-paris.fr",
    "636",
    "ou=ac-paris,ou=education,o=gouv,c=fr",
    "Contacts",
    "Contacts (CardDAV)",
    "·",
}
# Attributes that assistive technology reads out or that replace visible text.
SPOKEN_ATTRIBUTES = ("aria-label", "title", "alt", "placeholder", "data-done")


def visible_texts(page: str) -> list[str]:
    """Every text node and spoken attribute of a page, in document order (the QR code's SVG aside)."""
    doc = html.document_fromstring(page)
    found: list[str] = []

    def walk(element: Any) -> None:
        if not isinstance(element.tag, str) or element.tag in ("script", "style", "svg"):
            return
        found.extend(f"@{name}={element.get(name)}" for name in SPOKEN_ATTRIBUTES if element.get(name))
        if element.text and element.text.strip():
            found.append(" ".join(element.text.split()))
        for child in element:
            walk(child)
            if child.tail and child.tail.strip():
                found.append(" ".join(child.tail.split()))

    walk(doc)
    return found


PAGES: list[tuple[str, dict[str, str]]] = [
    ("/", {}),
    *[(f"/guide/{device}", {"email": JEAN}) for device in DEVICES],
    ("/guide", {}),
    ("/guide", {"email": "nope"}),
    ("/guide", {"email": "nope@"}),
    # No account code for this address: the reason, translated.
    ("/guide/android", {"email": "élodie.mérand@ac-paris.fr"}),
    ("/guide", {"email": "jean.dupont@example.com"}),
    ("/guide/nowhere", {"email": JEAN}),
]


@pytest.mark.parametrize(("path", "query"), PAGES)
def test_every_visible_text_is_translated(client: TestClient, path: str, query: dict[str, str]) -> None:
    fr = visible_texts(client.get(path, params={**query, "lang": "fr"}).text)
    en = visible_texts(client.get(path, params={**query, "lang": "en"}).text)
    assert len(fr) == len(en), "the two languages should render the same elements"
    assert len(fr) > 20
    same = [a for a, b in zip(fr, en, strict=True) if a == b and a not in SAME_IN_BOTH]
    assert same == [], "untranslated, or add to SAME_IN_BOTH if it is a name or a value"


def test_the_no_encryption_label_is_translated(
    make_client: Callable[..., TestClient], make_settings: Callable[..., Settings]
) -> None:
    plain = settings_data(
        provider={"incoming": [{"host": "imap.example.org", "port": 143, "security": "none"}]}
    )
    assert plain != MINIMAL
    test_client = make_client(make_settings(plain), host="autoconfig.example.org")
    fr = test_client.get("/guide/other", params={"email": "ana@example.org", "lang": "fr"}).text
    en = test_client.get("/guide/other", params={"email": "ana@example.org", "lang": "en"}).text
    assert "Aucune (pas de chiffrement)" in visible_texts(fr)
    assert "None (no encryption)" not in visible_texts(fr)
    assert "None (no encryption)" in visible_texts(en)
