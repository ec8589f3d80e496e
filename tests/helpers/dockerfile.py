"""A Dockerfile read as Docker reads it, for the tests of the image and of the Kubernetes manifests."""

from __future__ import annotations


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    logical: list[str] = []
    current = ""
    for line in text.splitlines():
        if line.lstrip().startswith("#") or not line.strip():
            continue
        if line.rstrip().endswith("\\"):
            current += line.rstrip()[:-1] + " "
            continue
        logical.append(current + line.strip())
        current = ""
    assert not current, "a continuation line ends the file"
    return [
        (words[0].upper(), words[1] if len(words) > 1 else "")
        for words in (x.split(None, 1) for x in logical)
    ]
