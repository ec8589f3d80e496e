"""The one lxml parser for XML that comes from outside: a client's POX request, a file given to `autoconfig
import`, a deployment's answers read by the probe.

Nothing outside the document is ever read (no DTD loaded, no entity looked up, no network), no entity
is expanded (a "billion laughs" stays a few bytes), libxml2 keeps its limits on depth and text size
(huge_tree=False: a text node past 10 MB is refused), and comments and processing instructions are
dropped. Dropping them is also what the clients do: Thunderbird's JXON reader and Android's pull
parser join the text around a comment, where lxml would otherwise stop `.text` at the comment.

A DTD is still parsed (without effect) when the document declares one: whether that is refused is
the caller's choice, through `declares_dtd`.
"""

from __future__ import annotations

from lxml import etree

PARSER = etree.XMLParser(
    resolve_entities=False,
    no_network=True,
    load_dtd=False,
    dtd_validation=False,
    huge_tree=False,
    remove_comments=True,
    remove_pis=True,
)


def parse(document: bytes) -> etree._Element:
    """The root element of `document`. Raises etree.XMLSyntaxError for anything not well-formed or past
    libxml2's limits."""
    return etree.fromstring(document, PARSER)


def declares_dtd(root: etree._Element) -> bool:
    """Whether the document declared a DTD: its entities were not read, so its text may have holes."""
    docinfo = root.getroottree().docinfo
    # lxml-stubs lacks DocInfo.doctype; lxml has it (the whole <!DOCTYPE …> line, or "").
    return bool(getattr(docinfo, "doctype", "")) or docinfo.internalDTD is not None
