"""Reading the manual's pages: a section by its heading, the fenced code blocks."""

from __future__ import annotations


def section(document: str, title: str) -> str:
    start = document.index(title)
    level = title.split(" ", 1)[0]
    end = document.find(f"\n{level} ", start + len(title))
    return document[start : end if end != -1 else len(document)]


def code_blocks(document: str, language: str | None = None) -> list[str]:
    """The fenced blocks of a page, in order; with `language`, only those fenced as that language."""
    blocks: list[str] = []
    opened: str | None = None
    lines: list[str] = []
    for line in document.splitlines(keepends=True):
        if line.startswith("```") and opened is None:
            opened, lines = line[3:].strip(), []
        elif line.startswith("```"):
            if language is None or opened == language:
                blocks.append("".join(lines))
            opened = None
        elif opened is not None:
            lines.append(line)
    return blocks
