"""Which language to answer a person in: `?lang=`, then the browser's Accept-Language, then the default."""

from __future__ import annotations

import functools

from autoconfig.settings import ServiceSettings


def choose_language(service: ServiceSettings, asked: str | None, accept_language: str | None) -> str:
    """One of `service.languages`.

    `asked` is an explicit choice (a `?lang=` link); `accept_language` is the header, weighed by q.
    """
    if (asked is None or len(asked) <= 16) and (accept_language is None or len(accept_language) <= 256):
        # Browsers send a handful of distinct headers: the answer is remembered for the usual ones.
        return _choose(service.languages, service.default_language, asked, accept_language)
    return _choose.__wrapped__(service.languages, service.default_language, asked, accept_language)


@functools.lru_cache(maxsize=512)
def _choose(offered: tuple[str, ...], default: str, asked: str | None, accept_language: str | None) -> str:
    if asked is not None:
        primary = asked.strip().lower().split("-", 1)[0]
        if primary in offered:
            return primary
    for tag in _by_preference(accept_language or ""):
        primary = tag.split("-", 1)[0]
        if primary in offered:
            return primary
    return default


def _by_preference(header: str) -> list[str]:
    weighted: list[tuple[float, int, str]] = []
    # A header is short; anything past the first few kilobytes or dozens of tags is not a browser's.
    for index, item in enumerate(header[:2048].split(",")[:32]):
        tag, _, params = item.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if tag and quality > 0:
            weighted.append((-quality, index, tag.strip().lower()))
    return [tag for _, _, tag in sorted(weighted)]
