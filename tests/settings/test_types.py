"""autoconfig.settings.types: localized text, read from a table of languages and chosen by language."""

from __future__ import annotations

from collections.abc import Callable

from autoconfig.settings import Localized, Settings

MakeSettings = Callable[..., Settings]


def test_localized_text_by_language(make_settings: MakeSettings) -> None:
    table = {"hours": {"fr": "9 h - 17 h", "en": "9 am - 5 pm"}, "postal_address": "1 rue de l'Exemple"}
    support = make_settings(provider={"support": table}).providers[0].support
    assert support.hours is not None
    assert support.hours.items() == (("fr", "9 h - 17 h"), ("en", "9 am - 5 pm"))
    assert support.hours.get("en") == "9 am - 5 pm"
    assert support.postal_address == "1 rue de l'Exemple"


def test_localized_get_fallbacks() -> None:
    texts = Localized((("fr", "bonjour"), ("pt-BR", "olá"), ("en-GB", "hello")))
    assert texts.get("fr") == "bonjour"
    assert texts.get("fr-CA") == "bonjour"  # primary subtag
    assert texts.get("pt-PT") == "olá"  # another region of the same language
    assert texts.get("en") == "hello"
    assert texts.get("de") == "bonjour"  # none fits: the first
    anywhere = Localized((("fr", "bonjour"), (None, "hi")))
    assert anywhere.get("de") == "hi"  # the text for any language beats the first
    assert anywhere.get("fr") == "bonjour"
    assert Localized(((None, "one text"),)).get("en") == "one text"
