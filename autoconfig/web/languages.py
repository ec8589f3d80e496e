"""Which language to answer a person in: `?lang=`, then the browser's Accept-Language, then the default."""

from __future__ import annotations

from autoconfig.caches import memoize
from autoconfig.settings import ServiceSettings


def choose_language(service: ServiceSettings, asked: str | None, accept_language: str | None) -> str:
    """One of `service.languages`.

    `asked` is an explicit choice (a `?lang=` link); `accept_language` is the header, weighed by q.
    """
    return _choose(service.languages, service.default_language, asked, accept_language)


# Browsers send a handful of distinct headers: the answer is remembered for the usual ones (a short
# `?lang=` and header). What the version offers is among the arguments: right for any version.
@memoize("languages", max_chars=16 + 256)
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
