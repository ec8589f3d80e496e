"""Checks on the settings loader's reports, and the minimal provider's servers with changes: shared by the
tests of autoconfig.settings (tests/settings/).

Error tests assert on the rendered report, as a person reads it: the file, the key path, the value found,
the reason and the fix.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from autoconfig.errors import Problem, SettingsError
from autoconfig.settings import load_settings
from tests.helpers.settings import MINIMAL_TOML


def load_error(path: Path) -> SettingsError:
    with pytest.raises(SettingsError) as info:
        load_settings(path)
    return info.value


def problem_lines(problem: Problem) -> list[str]:
    return problem.render().splitlines()


def assert_problem(
    error: SettingsError, *, path: str, found: str | None, says: str, fix: str, count: int = 1
) -> None:
    """The report holds `count` problems, one of them at `path` with that value, reason and fix."""
    # Each assertion carries the whole report: outside a test module, pytest does not explain them.
    text = error.render()
    header = text.splitlines()[0]
    assert header == f"{error.source}: {count} problem{'s' if count != 1 else ''}", text
    assert len(error.problems) == count, text
    where = f"  {path}" if found is None else f"  {path}: found {found}"
    matches = [p for p in error.problems if problem_lines(p)[0] == where]
    assert matches, f"no problem at {where!r} in:\n{text}"
    lines = problem_lines(matches[0])
    assert says in lines[1], text
    assert lines[2].startswith("    fix: "), text
    assert fix in lines[2], text
    assert "Traceback" not in text, text


def shown_path(path: Path) -> str:
    """A file's path as the report shows a value found: quoted, and past 80 characters cut to 77 and "…"
    (a temporary folder's path depends on the run: longer under pytest-xdist's workers)."""
    text = f'"{path}"'
    return text if len(text) <= 80 else text[:77] + "…"


def edit_toml(*pairs: tuple[str, str], text: str = MINIMAL_TOML) -> str:
    """The minimal settings as TOML text with each `old` replaced by `new`, for the tests about the
    file's syntax itself; each `old` must occur exactly once."""
    for old, new in pairs:
        assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times"
        text = text.replace(old, new)
    return text
