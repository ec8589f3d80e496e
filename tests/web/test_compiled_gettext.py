"""Messages translated when a template compiles: the same pages as Jinja's i18n extension renders, in
every language, with values still escaped at render time."""

from __future__ import annotations

import gettext
from typing import Any

import pytest
from jinja2 import DictLoader, Environment, select_autoescape

from autoconfig.accounts import resolve_account
from autoconfig.paths import templates_dir
from autoconfig.settings import Settings
from autoconfig.web.compiled_gettext import CompiledGettext
from autoconfig.web.pages import DEVICES, Pages, guide_context

JEAN = "jean.dupont@ac-paris.fr"
BASE = "https://autoconfig.ac-paris.fr"


class Catalogue(gettext.NullTranslations):
    """A catalogue from a dict, as a .mo file gives one."""

    def __init__(self, messages: dict[str, str]) -> None:
        super().__init__()
        self.messages = messages

    def gettext(self, message: str) -> str:
        return self.messages.get(message, message)


def environment(templates: dict[str, str], messages: dict[str, str], *, compiled: bool = True) -> Environment:
    extensions: list[Any] = ["jinja2.ext.i18n"] + ([CompiledGettext] if compiled else [])
    env = Environment(
        loader=DictLoader(templates), autoescape=select_autoescape(default=True), extensions=extensions
    )
    catalogue = Catalogue(messages)
    env.install_gettext_translations(catalogue, newstyle=True)  # type: ignore[attr-defined]
    env.extend(compiled_translations=catalogue)
    return env


FRENCH = {
    "Copy": "Copier",
    "Copy: %(what)s": "Copier : %(what)s",
    "<b>Bold</b> 100%%": "<b>Gras</b> 100 %%",
    "Wants %(value)s": "Veut %(value)s",
}


def test_a_message_without_values_is_a_constant_of_the_compiled_template() -> None:
    env = environment({}, FRENCH)
    code = env.compile("<p>{{ _(\"Copy\") }}</p><p>{{ _('<b>Bold</b> 100%%') }}</p>", raw=True)
    assert "Copier" in code
    assert "gettext" not in code  # no call left at render time
    html = env.from_string("<p>{{ _(\"Copy\") }}</p><p>{{ _('<b>Bold</b> 100%%') }}</p>").render()
    # As the i18n extension gives it: the translation is markup, `%%` is formatted away.
    assert html == "<p>Copier</p><p><b>Gras</b> 100 %</p>"


def test_a_message_with_values_still_escapes_them_at_render_time() -> None:
    env = environment({}, FRENCH)
    source = '{{ _("Copy: %(what)s", what=what) }}|{{ _("Copy") ~ "!" }}'
    assert env.from_string(source).render(what="<script>") == "Copier : &lt;script&gt;|Copier!"


def test_a_message_that_wants_values_but_has_none_fails_as_it_did() -> None:
    source = '{{ _("Wants %(value)s") }}'
    for compiled in (True, False):
        with pytest.raises(KeyError):
            environment({}, FRENCH, compiled=compiled).from_string(source).render()


def test_an_attribute_named_underscore_is_not_gettext() -> None:
    env = environment({}, FRENCH)

    class Thing:
        def _(self, message: str) -> str:
            return message.upper()

    assert env.from_string('{{ thing._("Copy") }}|{{ _("Copy") }}').render(thing=Thing()) == "COPY|Copier"


def test_without_a_catalogue_the_extension_says_what_it_needs() -> None:
    env = Environment(autoescape=True, extensions=["jinja2.ext.i18n", CompiledGettext])
    with pytest.raises(TypeError, match="compiled_translations"):
        env.from_string('{{ _("Copy") }}')


@pytest.mark.parametrize("language", ["fr", "en"])
def test_every_page_is_what_the_i18n_extension_renders(settings: Settings, language: str) -> None:
    pages = Pages(settings, templates_dir())
    plain = Environment(
        loader=pages.environments[language].loader,
        autoescape=select_autoescape(default=True, default_for_string=True),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    plain.install_gettext_translations(pages.translations[language], newstyle=True)  # type: ignore[attr-defined]
    account = resolve_account(settings, JEAN)
    common: dict[str, Any] = {
        "language": language,
        "languages": ("fr", "en"),
        "organisation": "Académie de Paris",
    }
    common["language_links"] = {"fr": "/?lang=fr", "en": "/?lang=en"}
    for device in DEVICES:
        # Read on a computer, and on the phone itself (the Android guide puts its steps first there).
        for handheld in (False, True):
            context = {**common, **guide_context(account, device, language, BASE, "development")}
            context["handheld"] = handheld
            compiled = pages.environments[language].get_template("guide.html").render(context)
            assert compiled == plain.get_template("guide.html").render(context), (device, handheld)
    assert ("Configurer votre messagerie" in compiled) == (language == "fr")
