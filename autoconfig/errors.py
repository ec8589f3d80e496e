"""The one exception tree. Only the CLI turns these into exit codes; the app turns them into answers."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path


class AutoconfigError(Exception):
    """Base of every error this package raises on purpose."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a settings file: where, what was found, why it is wrong, and how to fix it."""

    path: str
    found: str | None
    message: str
    fix: str

    def render(self) -> str:
        where = self.path or "(top level)"
        found = "" if self.found is None else f": found {self.found}"
        return f"  {where}{found}\n    {self.message}\n    fix: {self.fix}"


@dataclass(frozen=True)
class Note:
    """Something the settings allow but the IT team should know: a warning.

    `headline` is one line in plain words, what `serve` logs when it starts; `detail` is the why and the
    fix, which `check` prints below it. A first run should read as a service that works, with its few
    caveats, not as a page of jargon.
    """

    headline: str
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.headline}. {self.detail}" if self.detail else self.headline

    def render(self, width: int = 100) -> str:
        """The headline, then the detail wrapped and indented under it."""
        if not self.detail:
            return self.headline
        # Keys, values and paths stay whole, to be copied: `password-cleartext` is not cut at its hyphen.
        body = textwrap.fill(
            self.detail,
            width,
            initial_indent="  ",
            subsequent_indent="  ",
            break_long_words=False,
            break_on_hyphens=False,
        )
        return f"{self.headline}\n{body}"


def counted(count: int, word: str) -> str:
    """`1 file`, `2 files`: a count and its noun, right in the singular."""
    return f"{count} {word}{'' if count == 1 else 's'}"


class SettingsError(AutoconfigError):
    """A settings file that cannot be used, with every problem found in it."""

    def __init__(self, source: Path | str, problems: list[Problem]) -> None:
        self.source = str(source)
        self.problems = problems
        super().__init__(self.render())

    def brief(self) -> str:
        """What a command says of settings it cannot use: the report of every problem, each with its key
        and fix; or one line when the file itself could not be read (missing, not UTF-8, not TOML),
        which has no key to list."""
        if len(self.problems) == 1 and not self.problems[0].path:
            (problem,) = self.problems
            return f"{self.source}: {problem.message}; fix: {problem.fix}"
        return self.render()

    def render(self) -> str:
        count = len(self.problems)
        head = f"{self.source}: {count} problem{'s' if count != 1 else ''}"
        return "\n".join([head, *(p.render() for p in self.problems)])


class RequestError(AutoconfigError):
    """A request the service cannot answer; the message is one plain sentence safe to show anyone."""

    def __init__(self, message: str, status: int = 400, headers: dict[str, str] | None = None) -> None:
        self.message = message
        self.status = status
        self.headers = headers or {}  # what the answer says besides, e.g. Retry-After
        super().__init__(message)


class BusyError(RequestError):
    """Too much under way (profiles waiting to be signed, MX lookups in flight): come back in a moment."""

    def __init__(self) -> None:
        super().__init__(
            "The service is busy; try again in a moment.", status=503, headers={"Retry-After": "1"}
        )


class UnknownDomainError(RequestError):
    """An address or host whose domain no provider in the settings serves."""

    def __init__(self) -> None:
        super().__init__("This service does not configure mail for that domain.", status=404)
