"""What the manual shows as output, and the real output to compare it with.

Each fenced block of the manual that shows what a command prints or what the service answers is preceded
by a marker naming how to produce it:

    <!-- output: autoconfig check --settings tests/data/docs/problems/settings.toml -->
    <!-- output: autoconfig dns --settings profiles/ile-de-france.toml | grep ac-creteil -->
    <!-- output, serving profiles/ile-de-france.toml: GET https://ua-auto-config.ac-creteil.fr/… -->
    <!-- output, serving A then B: autoconfig healthcheck --port 8080 -->
    <!-- output, probe lab with main-401: autoconfig probe jean.dupont@example.org | grep -v "^pass " -->

The command is a pipeline: `autoconfig ARGS` (the real command) or `GET URL` (the answer's body), then any
number of `grep RE` / `grep -v RE` (Python regular expressions, line by line). What comes before the colon
says where it runs: nothing (the command alone), `serving FILE` (an application on FILE; a real `autoconfig
serve` for `healthcheck`, whose `8080` becomes its port), `serving FILE then OTHER` (OTHER's bytes then
written over FILE: a settings file changed under the running service), `serving FILE with the funnel's
traffic` (a real serve, sent the requests tests/test_docs_output.py lists first), `probe lab` or `probe lab
with FAULT` (the probe's loopback lab, healthy or with one fault: tests/probe/test_docs_output.py). A
command prints its standard output, then its standard error; a request shows the answer's body (with a
final line break, as a block has one). A `json` block is compared as data: a fragment (`"key": …`) or a
list whose left-out items are lines of `…`.
Paths are from the project's root. Every other fenced block is input, and listed as such by the test.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from tests.helpers.paths import ROOT

FUNNEL_TRAFFIC = " with the funnel's traffic"  # a setup's end: tests/test_docs_output.py sends it
PROBE_LAB = "probe lab"  # the setup of the blocks tests/probe/test_docs_output.py produces
MARKER = re.compile(r"^<!-- output(?:, (?P<setup>[^:]+))?: (?P<command>.+?) -->$")

# What truly varies between runs and machines, and nothing else: each rule applies to the manual's block
# and to the real output alike, so the manual keeps real-looking values.
NORMALISATIONS: list[tuple[re.Pattern[str], str]] = [
    # The project's checkout, wherever it is (the files the markers name are shown by their own name).
    (re.compile(re.escape(str(ROOT / "tests" / "data" / "docs")) + r"/[\w-]+/"), ""),
    (re.compile(re.escape(str(ROOT)) + "/"), ""),
    # The folder of a settings file: the manual shows where it would be (/etc/autoconfig), a test writes
    # it in a temporary folder.
    (re.compile(r"(?:/[\w.-]+)+/settings\.toml\b"), "<folder>/settings.toml"),
    # Other temporary folders the tests make.
    (re.compile(r"/tmp/[^\s:,;)]+"), "<tmp>"),  # noqa: S108 - a pattern, no file is made
    # Ports a test picks (a served address, a resolver).
    (re.compile(r"\b(127\.0\.0\.1|localhost|\[::1\]):\d+"), r"\1:<port>"),
    # Dates and times: certificates' validity, when settings were loaded.
    (re.compile(r"\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?)?"), "<date>"),
    # Process ids.
    (re.compile(r"\bpid \d+"), "pid <pid>"),
    # Digests of files made for the test (settings in a temporary folder, a fresh signing key).
    (re.compile(r"\b[0-9a-f]{64}\b"), "<sha256>"),
    # A signed profile's size: an ECDSA signature is 70 to 72 bytes.
    (re.compile(r"\b\d+ bytes\b"), "<n> bytes"),
]


def normalise(text: str) -> str:
    for pattern, replacement in NORMALISATIONS:
        text = pattern.sub(replacement, text)
    return text


@dataclass(frozen=True)
class Block:
    """A fenced block of a page: where it starts, its language, its text, and its marker if any."""

    line: int  # of the opening fence, from 1
    language: str
    text: str
    marker: str | None

    @property
    def first_line(self) -> str:
        return self.text.split("\n", 1)[0]


@dataclass(frozen=True)
class Shown:
    """A marked block: how to produce it."""

    setup: str  # "" (the command alone), "serving FILE", "serving FILE then OTHER"
    command: list[str]
    filters: list[tuple[bool, re.Pattern[str]]]  # (keep matching lines, pattern)
    expected: str

    def filtered(self, output: str) -> str:
        lines = output.splitlines(keepends=True)
        for keep, pattern in self.filters:
            lines = [line for line in lines if bool(pattern.search(line)) == keep]
        return "".join(lines)


def blocks(document: str) -> Iterator[Block]:
    """Every fenced block, with the marker on the line just before its fence."""
    previous = ""
    opened: tuple[int, str, str | None] | None = None
    indent = 0  # a block in a list item is indented as the item's text
    lines: list[str] = []
    for number, line in enumerate(document.splitlines(keepends=True), start=1):
        fence = line.lstrip(" ").startswith("```")
        if fence and opened is None:
            found = MARKER.match(previous.strip())
            indent = len(line) - len(line.lstrip(" "))
            opened, lines = (number, line.strip()[3:], previous.strip() if found else None), []
        elif fence and opened is not None:
            yield Block(opened[0], opened[1], "".join(lines), opened[2])
            opened = None
        elif opened is not None:
            lines.append(line[indent:] if not line[:indent].strip() else line.lstrip(" "))
        previous = line


def stray_markers(document: str) -> list[int]:
    """Lines holding an output marker that no fenced block follows (a marker that checks nothing)."""
    marked = {block.line - 1 for block in blocks(document) if block.marker}  # the marker's line, from 1
    lines = document.splitlines()
    return [
        i
        for i, line in enumerate(lines, start=1)
        if line.lstrip().startswith("<!-- output") and i not in marked
    ]


def listed(block: Block, firsts: set[str]) -> bool:
    """Whether a block is one of those listed by the start of their first line."""
    return any(block.first_line.startswith(first) for first in firsts)


def unmarked(document: str, listed_firsts: set[str]) -> list[Block]:
    """The blocks that are neither marked as output nor listed (by the start of their first line)."""
    return [b for b in blocks(document) if b.marker is None and not listed(b, listed_firsts)]


def shown(block: Block) -> Shown:
    assert block.marker is not None
    found = MARKER.match(block.marker)
    assert found, block.marker
    words = shlex.split(found["command"])
    pipeline: list[list[str]] = [[]]
    for word in words:
        if word == "|":
            pipeline.append([])
        else:
            pipeline[-1].append(word)
    filters: list[tuple[bool, re.Pattern[str]]] = []
    for stage in pipeline[1:]:
        assert stage[0] == "grep", f"only grep [-v] RE may follow: {stage}"
        assert len(stage) in (2, 3), f"only grep [-v] RE may follow: {stage}"
        filters.append((stage[1] != "-v", re.compile(stage[-1])))
    return Shown((found["setup"] or "").strip(), pipeline[0], filters, block.text)


def compare(item: Shown, produce: Callable[[Shown], str]) -> tuple[str, str]:
    """The manual's block and the real output, both normalised."""
    return normalise(item.expected), normalise(item.filtered(produce(item)))


def rooted(argument: str) -> str:
    """A path of the project's (profiles/…, tests/…) as the command must be given it from anywhere."""
    return str(ROOT / argument) if argument.startswith(("profiles/", "tests/")) else argument


def json_data(text: str) -> Any:
    """A JSON block as data, normalised: a document, a member (`"key": value`), or a list with `…` lines
    for the items left out (they are dropped)."""
    kept = "\n".join(line for line in text.splitlines() if line.strip() not in ("…", "…,"))
    kept = re.sub(r",(\s*[\]}])", r"\1", kept)  # the comma before a left-out last item
    if kept.lstrip().startswith('"'):
        kept = "{" + kept + "}"
    return json.loads(normalise(kept))
