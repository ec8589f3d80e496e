"""choose_language: `?lang=`, then Accept-Language weighed by q, then the settings' default."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autoconfig.settings import ServiceSettings
from autoconfig.web.languages import choose_language

PUBLIC = "https://autoconfig.example.org"


def service(languages: tuple[str, ...] = ("fr", "en"), default: str = "fr") -> ServiceSettings:
    return ServiceSettings.model_validate(
        {"public_url": PUBLIC, "languages": list(languages), "default_language": default}
    )


BOTH = service()
ENGLISH_FIRST = service(("en", "fr"), "en")
ONLY_ENGLISH = service(("en",), "en")
ONLY_FRENCH = service(("fr",), "fr")


@pytest.mark.parametrize(
    ("asked", "header", "expected"),
    [
        # An explicit choice wins over the browser.
        ("en", "fr-FR,fr;q=0.9", "en"),
        ("fr", "en-GB,en;q=0.9", "fr"),
        ("EN", None, "en"),
        ("en-GB", None, "en"),
        (" en ", None, "en"),
        # An unusable choice falls through to the header, then to the default.
        ("de", "en", "en"),
        ("", "en", "en"),
        ("<script>", "en", "en"),
        ("en\r\nX: y", "fr", "fr"),
        ("de", None, "fr"),
    ],
)
def test_explicit_choice(asked: str, header: str | None, expected: str) -> None:
    assert choose_language(BOTH, asked, header) == expected


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        # Browsers' real headers.
        ("fr-FR,fr;q=0.9,en-US;q=0.8,en;q=0.7", "fr"),
        ("en-GB,en-US;q=0.9,en;q=0.8", "en"),
        ("en-US,en;q=0.9,fr;q=0.8", "en"),
        ("de-DE,de;q=0.9,en;q=0.8,fr;q=0.7", "en"),  # the first offered, even with a lower weight
        ("zh-Hant-TW,zh;q=0.9,fr;q=0.1", "fr"),
        # Weights, not order.
        ("fr;q=0.5,en;q=0.8", "en"),
        ("fr;q=0.5, en", "en"),  # no q is q=1
        ("en;q=0.001,fr;q=0.002", "fr"),
        ("fr;q=1.0,en;q=0.999", "fr"),
        # Ties keep the browser's order.
        ("en,fr", "en"),
        ("fr,en", "fr"),
        ("en;q=0.5,fr;q=0.5", "en"),
        ("fr;q=0.5,en;q=0.5", "fr"),
        # q=0 means "not this one".
        ("en;q=0,fr;q=0.1", "fr"),
        ("fr;q=0,en;q=0.1", "en"),
        ("en;q=0", "fr"),
        # Case and spacing.
        ("EN-gb", "en"),
        ("  en  ;  q=0.9 ,  fr;q=0.1", "en"),
        ("en;Q=0.1,fr;q=0.5", "en"),  # "Q" is not the q parameter: en keeps q=1
        # Other parameters are ignored.
        ("en;level=1;q=0.9,fr;q=0.8", "en"),
        # Nothing usable: the default.
        (None, "fr"),
        ("", "fr"),
        ("*", "fr"),
        ("de, es;q=0.5", "fr"),
        (",,,;;;", "fr"),
        ("en;q=abc", "fr"),  # an unreadable weight counts as 0
        ("en;q=nan", "fr"),
        ("en;q=-1", "fr"),
        ("\x00en", "fr"),
        ("fren", "fr"),  # not "fr" with a subtag
        ("english", "fr"),
    ],
)
def test_accept_language(header: str | None, expected: str) -> None:
    assert choose_language(BOTH, None, header) == expected


def test_the_default_is_the_settings_default() -> None:
    assert choose_language(ENGLISH_FIRST, None, None) == "en"
    assert choose_language(ENGLISH_FIRST, "de", "de-DE") == "en"
    assert choose_language(BOTH, None, None) == "fr"


@pytest.mark.parametrize("asked", [None, "fr", "en", "de"])
@pytest.mark.parametrize("header", [None, "fr", "en", "fr-FR,fr;q=0.9", "en-GB,en;q=0.9,fr;q=0.8"])
def test_one_language_offered_is_always_the_answer(asked: str | None, header: str | None) -> None:
    assert choose_language(ONLY_ENGLISH, asked, header) == "en"
    assert choose_language(ONLY_FRENCH, asked, header) == "fr"


def test_only_the_first_tags_of_a_long_header_count() -> None:
    # 40 tags before English: a header that long is nobody's browser, and reading it all costs.
    junk = ",".join(f"x{i}" for i in range(40))
    assert choose_language(ENGLISH_FIRST, None, "fr," + junk) == "fr"
    assert choose_language(BOTH, None, junk + ",en") == "fr"
    assert choose_language(BOTH, None, "a" * 100_000 + ",en") == "fr"


@given(asked=st.one_of(st.none(), st.text(max_size=40)), header=st.one_of(st.none(), st.text(max_size=300)))
def test_any_input_gives_an_offered_language(asked: str | None, header: str | None) -> None:
    assert choose_language(BOTH, asked, header) in ("fr", "en")
    assert choose_language(ONLY_ENGLISH, asked, header) == "en"


@given(
    tags=st.lists(
        st.tuples(st.sampled_from(["fr", "en", "de", "fr-CA", "en-US", "es"]), st.integers(0, 1000)),
        min_size=1,
        max_size=8,
    )
)
def test_the_heaviest_offered_tag_wins(tags: list[tuple[str, int]]) -> None:
    header = ",".join(f"{tag};q={weight / 1000:.3f}" for tag, weight in tags)
    offered = [
        (weight, -index, tag[:2]) for index, (tag, weight) in enumerate(tags) if tag[:2] in ("fr", "en")
    ]
    offered = [o for o in offered if o[0] > 0]
    expected = max(offered)[2] if offered else "fr"
    assert choose_language(BOTH, None, header) == expected
