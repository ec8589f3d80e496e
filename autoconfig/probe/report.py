"""The probe's results: one per client and step, each pass, warning or failure, with its fix; printed as
text lines or as one JSON document."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from autoconfig.errors import AutoconfigError


class Status(StrEnum):
    OK = "pass"
    WARN = "warn"
    FAIL = "fail"


# What the exit status says: warnings alone do not fail a run (they are things to know, not to fix now).
EXIT_PASS = 0
EXIT_FAIL = 1
EXIT_UNUSABLE = 2  # bad input, or nothing to probe with (no resolver): nothing was judged


class ProbeError(AutoconfigError):
    """Nothing can be probed (bad input, no resolver): the command says why in one line, exit 2."""


@dataclass(frozen=True)
class Result:
    client: str  # dns, https, thunderbird, thunderbird-android, outlook, apple, pacc, caldav, carddav
    step: str  # a short name, stable for one client (the JSON's consumers key on client + step)
    status: Status
    detail: str
    fix: str | None = None
    url: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        return {
            "client": self.client,
            "step": self.step,
            "status": self.status.value,
            "detail": self.detail,
            "fix": self.fix,
            "url": self.url,
        }


def exit_status(results: Iterable[Result]) -> int:
    return EXIT_FAIL if any(r.status is Status.FAIL for r in results) else EXIT_PASS


_LABELS = {Status.OK: "pass", Status.WARN: "WARN", Status.FAIL: "FAIL"}


def render_text(results: list[Result], heading: str) -> str:
    """One line per result; a warning or failure's fix on the line after it, indented; a count last."""
    client_width = max((len(r.client) for r in results), default=0)
    step_width = max((len(r.step) for r in results), default=0)
    lines = [heading]
    for result in results:
        lines.append(
            f"{_LABELS[result.status]}  {result.client:<{client_width}}  {result.step:<{step_width}}  "
            f"{result.detail}"
        )
        if result.fix and result.status is not Status.OK:
            lines.append(f"{'':6}{'':<{client_width}}  fix: {result.fix}")
    lines.append(summary(results))
    return "\n".join(lines) + "\n"


def summary(results: Iterable[Result]) -> str:
    counts = Counter(r.status for r in results)
    warnings, failures = counts[Status.WARN], counts[Status.FAIL]
    return (
        f"{counts[Status.OK]} passed, {warnings} warning{'s' if warnings != 1 else ''}, "
        f"{failures} failure{'s' if failures != 1 else ''}"
    )


def render_json(results: list[Result]) -> str:
    return json.dumps([r.as_dict() for r in results], indent=2, ensure_ascii=False) + "\n"
