"""The runs docs/probe.md shows are what `autoconfig probe` prints against the probe's lab: each block is
marked `<!-- output, probe lab[ with FAULT]: autoconfig probe ADDRESS … -->` (tests/helpers/docs_output.py),
produced here, where the lab is started once, and compared (tests/test_docs_output.py leaves them to this
module)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import pytest

from tests.helpers.docs_output import PROBE_LAB, Block, Shown, blocks, compare, json_data, shown
from tests.helpers.paths import ROOT
from tests.helpers.probe_lab import NAMES, Deployment, Field, Lab

PAGE = ROOT / "docs" / "probe.md"
# Every page's, as tests/test_docs_output.py skips them wherever they are.
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LAB_MARKED = [
    block
    for page in PAGES
    for block in blocks(page.read_text(encoding="utf-8"))
    if block.marker and shown(block).setup.startswith(PROBE_LAB)
]


def _without_autodiscover_record(records: list[str]) -> list[str]:
    return [r for r in records if not r.startswith("autodiscover.example.org. ")]


# Each fault a block may name after `probe lab with`: the deployment that has it, and the exit status the
# page says the run has.
Start = Callable[[Lab, Field], AbstractContextManager[Deployment]]


@contextmanager
def _as_is(deployment: Deployment) -> Iterator[Deployment]:
    yield deployment


FAULTS: dict[str, tuple[Start, int]] = {
    "": (lambda lab, _: _as_is(lab.healthy), 0),
    "no-autodiscover-name": (
        lambda lab, _: lab.with_certificate(
            "docs-no-autodiscover-name", tuple(n for n in NAMES if n != "autodiscover.example.org")
        ),
        1,
    ),
    "no-autodiscover-record": (
        lambda lab, _: lab.with_zone("docs-no-autodiscover-record", _without_autodiscover_record),
        1,
    ),
    "main-401": (lambda _, field: _as_is(field.at("main-401")), 1),
    "ipv6-other": (lambda _, field: _as_is(field.at("ipv6-other")), 1),
}


def test_every_lab_block_of_the_page_is_checked_here() -> None:
    # The runs docs/probe.md shows (the healthy one, four faults, the JSON), all on that page.
    assert len(LAB_MARKED) == 6
    assert len([b for b in blocks(PAGE.read_text(encoding="utf-8")) if b in LAB_MARKED]) == 6
    for block in LAB_MARKED:
        fault = shown(block).setup.removeprefix(PROBE_LAB).removeprefix(" with ").strip()
        assert fault in FAULTS, f"docs/probe.md:{block.line}: unknown fault {fault!r}"


def _data(item: Shown, printed: str) -> tuple[Any, Any]:
    """A JSON excerpt (lines of `…` for the results left out) against the real document: the excerpt's
    results, and the real results with the same keys, in the real order; the first is the real first unless
    the excerpt starts with `…`."""
    excerpt: list[dict[str, Any]] = json_data(item.expected)
    real: list[dict[str, Any]] = json_data(printed)
    shown_keys = {(r["client"], r["step"]) for r in excerpt}
    picked = [r for r in real if (r["client"], r["step"]) in shown_keys]
    if item.expected.splitlines()[1].strip() != "…":
        picked = [real[0], *(r for r in picked if r is not real[0])]
    return excerpt, picked


@pytest.mark.parametrize("block", LAB_MARKED, ids=[f"docs/probe.md:{b.line}" for b in LAB_MARKED])
def test_the_shown_run_is_what_the_probe_prints(block: Block, lab: Lab, field: Field) -> None:
    item = shown(block)
    fault = item.setup.removeprefix(PROBE_LAB).removeprefix(" with ").strip()
    start, status = FAULTS[fault]
    assert item.command[:2] == ["autoconfig", "probe"], item.command
    with start(lab, field) as deployment:
        result = deployment.probe(*item.command[2:])
    assert result.returncode == status, result.stdout
    printed = result.stdout + result.stderr
    if "--json" in item.command:
        expected, actual = _data(item, printed)
    else:
        expected, actual = compare(item, lambda _: printed)
    assert actual == expected, f"docs/probe.md:{block.line}: {block.marker}\n--- real output:\n{printed}"
