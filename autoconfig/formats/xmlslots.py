"""XML documents built once, with holes for the values that change from one person to the next.

A generator builds its document with lxml when the settings load, putting `slots(key)` wherever a
person's value goes; a request then costs a join of byte strings with the escaped values.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Generic, TypeVar
from xml.sax.saxutils import escape

from lxml import etree

K = TypeVar("K")
# Holes sit in element text and in double-quoted attribute values alike: escape for both.
_escape = partial(escape, entities={'"': "&quot;"})


@dataclass(frozen=True)
class SlottedXml(Generic[K]):
    """A serialised document cut at each hole; `keys[i]` says what goes after `parts[i]`."""

    parts: tuple[bytes, ...]
    keys: tuple[K, ...]

    def render(self, value_of: Callable[[K], str]) -> bytes:
        out = [self.parts[0]]
        for key, part in zip(self.keys, self.parts[1:], strict=True):
            out.append(_escape(value_of(key)).encode("utf-8"))
            out.append(part)
        return b"".join(out)


class SlotBuilder(Generic[K]):
    """Hands out hole markers while a document is built, then cuts the serialised document at them."""

    def __init__(self) -> None:
        # Random, so that no text from the settings can collide with it.
        self._marker = f"slot-{secrets.token_hex(16)}"
        self._keys: list[K] = []

    def __call__(self, key: K) -> str:
        self._keys.append(key)
        return self._marker

    def build(self, root: etree._Element) -> SlottedXml[K]:
        document = etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
        parts = tuple(document.split(self._marker.encode("ascii")))
        if len(parts) != len(self._keys) + 1:
            raise AssertionError("a hole marker was lost or repeated while serialising")
        return SlottedXml(parts, tuple(self._keys))
