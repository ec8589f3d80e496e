"""Whether the tests run in CI, and what a missing tool means there.

tests/run installs every program the tests drive, and CI runs tests/run: a test skipped in CI for a
missing program is a check that silently never ran. Outside CI such a test skips, so that a developer
without, say, Chromium still runs the rest.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

# Values CI services and .ci/run set ("true"), and the ones that say "not CI" when set by hand.
_NOT_CI = ("", "0", "false", "no")


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in _NOT_CI


def missing(reason: str, ci_must: str) -> NoReturn:
    """Skip for `reason`; in CI fail instead, saying what CI must do (`ci_must`: "run the browser tests")."""
    if in_ci():
        pytest.fail(f"{reason}; CI must {ci_must}", pytrace=False)
    pytest.skip(reason)


def require(found: str | None, reason: str, ci_must: str) -> str:
    """`found` (a program's path), or `missing(reason, ci_must)` when it is None."""
    if found is None:
        missing(reason, ci_must)
    return found
