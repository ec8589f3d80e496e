"""Behaviour kept: every endpoint and command answers as recorded in tests/data/golden/ (see golden.py).

A difference is either a regression or a change meant to happen; in the second case, record anew with
`.venv/bin/python -m tests.helpers.golden --update` and let the diff of tests/data/golden/ show what changed.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.helpers.golden import golden_path, record_all


@pytest.fixture(scope="module")
def recorded() -> dict[str, dict[str, Any]]:
    return record_all()


@pytest.mark.parametrize("name", ["ac-paris", "ile-de-france", "rich", "commands"])
def test_answers_are_as_recorded(recorded: dict[str, dict[str, Any]], name: str) -> None:
    expected = json.loads(golden_path(name).read_text(encoding="utf-8"))
    fresh = json.loads(json.dumps(recorded[name]))
    assert sorted(fresh) == sorted(expected), "the recorded cases differ: record anew if that is meant"
    changed = [case for case in expected if fresh[case] != expected[case]]
    for case in changed[:3]:  # the first few in full, so that a failure says what changed
        assert fresh[case] == expected[case], case
    assert changed == []
