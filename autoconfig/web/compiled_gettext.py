"""Translations resolved when a template compiles, not on every render.

A guide page holds about 130 `_("...")` messages. Through Jinja's i18n extension each one costs two
`Context.call`s, a Markup and a `%` at every render: 40 % of a guide page's time. Each language has its
own environment (pages.Pages), so a message without values can be translated once, when the template
compiles: `_("literal")` becomes the translated literal, marked safe, exactly what the i18n extension's
newstyle gettext returns for it (`Markup(translated) % {}`). Messages with values keep the runtime
path, where Markup's `%` escapes the values.
"""

from __future__ import annotations

import gettext
from collections.abc import Iterator

from jinja2.ext import Extension
from jinja2.lexer import Token, TokenStream


class CompiledGettext(Extension):
    """Rewrites `_("literal")` as `("translated"|safe)` in the token stream of a language's templates.

    Needs the i18n extension too (for messages with values) and the environment's catalogue, given by
    `environment.extend(compiled_translations=...)`.
    """

    def filter_stream(self, stream: TokenStream) -> Iterator[Token]:
        # Set after the extension is made (Environment.extend never replaces a value): read it here.
        translations = getattr(self.environment, "compiled_translations", None)
        if not isinstance(translations, gettext.NullTranslations):
            raise TypeError("CompiledGettext needs environment.extend(compiled_translations=...)")
        window: list[Token] = []
        previous: Token | None = None
        for token in stream:
            window.append(token)
            while window and not _could_start(window, previous):
                previous = window.pop(0)
                yield previous
            if len(window) == 4:
                replaced = _translated(window, translations)
                yield from replaced
                previous = replaced[-1]
                window.clear()
        yield from window


_SHAPE = (("name", "_"), ("lparen", None), ("string", None), ("rparen", None))


def _could_start(window: list[Token], previous: Token | None) -> bool:
    # `x._(...)` is an attribute call, not the gettext alias.
    if previous is not None and previous.type == "dot":
        return False
    return all(
        token.type == kind and (value is None or token.value == value)
        for token, (kind, value) in zip(window, _SHAPE, strict=False)
    )


def _translated(window: list[Token], translations: gettext.NullTranslations) -> list[Token]:
    _, opening, message, closing = window
    try:
        text = translations.gettext(message.value) % {}
    except (KeyError, TypeError, ValueError):
        return window  # a message that wants values: the runtime path says what is wrong
    line = message.lineno
    return [
        Token(opening.lineno, "lparen", "("),
        Token(line, "string", text),
        Token(line, "pipe", "|"),
        Token(line, "name", "safe"),
        Token(closing.lineno, "rparen", ")"),
    ]
