"""XML documents built once, with holes for the values that change from one person to the next.

A generator builds its document with lxml when the settings load, putting `slots(key)` wherever a
person's value goes; a request then costs a join of byte strings with the escaped values.
"""

from __future__ import annotations

import re
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
    escape: Callable[[str], str] = _escape

    def render(self, value_of: Callable[[K], str]) -> bytes:
        out = [self.parts[0]]
        escape = self.escape
        for key, part in zip(self.keys, self.parts[1:], strict=True):
            out.append(escape(value_of(key)).encode("utf-8"))
            out.append(part)
        return b"".join(out)


class SlotBuilder(Generic[K]):
    """Hands out hole markers while a document is built, then cuts the serialised document at them."""

    def __init__(self, escape: Callable[[str], str] = _escape) -> None:
        # Random, so that no text from the settings can collide with it.
        self._marker = f"slot-{secrets.token_hex(16)}"
        self._keys: list[K] = []
        self._escape = escape

    def __call__(self, key: K) -> str:
        # Numbered: a writer may put the holes in another order than they were handed out (plistlib
        # sorts keys).
        self._keys.append(key)
        return f"{self._marker}-{len(self._keys) - 1}-"

    def build(self, root: etree._Element) -> SlottedXml[K]:
        return self.cut(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))

    def cut(self, document: bytes) -> SlottedXml[K]:
        """A document serialised by any writer, cut at the markers handed out, in the order handed out."""
        pieces = re.split(rb"%s-(\d+)-" % self._marker.encode("ascii"), document)
        parts, numbers = tuple(pieces[0::2]), [int(number) for number in pieces[1::2]]
        if sorted(numbers) != list(range(len(self._keys))):
            raise AssertionError("a hole marker was lost or repeated while serialising")
        return SlottedXml(parts, tuple(self._keys[number] for number in numbers), self._escape)
