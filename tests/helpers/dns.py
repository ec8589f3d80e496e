"""Zone-file lines read back strictly, and settings with every kind of record (RICH)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import pytest


@dataclass(frozen=True)
class ZoneLine:
    name: str
    ttl: int
    type: str
    data: str


def _without_comment(line: str) -> str:
    """The line up to its `;` comment, a `;` inside a quoted string being data."""
    quoted = False
    for index, char in enumerate(line):
        if char == '"':
            quoted = not quoted
        elif char == ";" and not quoted:
            return line[:index]
    return line


def parse_zone(text: str) -> tuple[list[ZoneLine], list[str]]:
    """A zone file's records (name, ttl, IN, type, data) and its comment-only lines, strictly:
    every line that is not blank or a comment must have the five fields."""
    records: list[ZoneLine] = []
    comments: list[str] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        if line.lstrip().startswith(";"):
            comments.append(line.lstrip()[1:].strip())
            continue
        fields = _without_comment(line).split(None, 4)
        assert len(fields) == 5, line
        name, ttl, klass, kind, data = fields
        assert klass == "IN", line
        assert name.endswith("."), line  # fully qualified: no $ORIGIN to add
        records.append(ZoneLine(name, int(ttl), kind, data.strip()))
    return records, comments


def check_record_data(record: ZoneLine) -> None:
    """What each type's data must look like in a zone file."""
    if record.type == "CNAME":
        assert record.data.endswith("."), record
        assert record.data != record.name, record  # a CNAME to itself loops
    elif record.type == "SRV":
        priority, weight, port, target = record.data.split()
        assert 0 <= int(priority) <= 65535
        assert 0 <= int(weight) <= 65535
        assert 0 <= int(port) <= 65535
        assert target.endswith("."), record
        if target == ".":
            assert (priority, weight, port) == ("0", "0", "0"), record  # RFC 6186 §3.4: not offered
        else:
            assert int(port) > 0, record
        assert record.name.startswith("_"), record
        assert "._tcp." in record.name, record
    elif record.type == "TXT":
        assert record.data.startswith('"'), record
        assert record.data.endswith('"'), record
        text = json.loads(record.data)
        if record.name.startswith("_ua-auto-config."):
            assert re.fullmatch(r"v=UAAC1; a=sha256; d=[A-Za-z0-9+/]{43}=", text), record
        else:
            assert text.startswith("path=/"), record
    else:
        pytest.fail(f"unexpected record type {record.type}")


def check_json_matches_zone(zone: str, document: str) -> None:
    """Every JSON record is in the zone, as a record or (for the service's own name) as a comment."""
    records, comments = parse_zone(zone)
    items: list[dict[str, Any]] = json.loads(document)
    unpasted = ("A/AAAA", "NOTE")  # the service's own name, a provider without a PACC document
    pasted = [item for item in items if item["type"] not in unpasted]
    assert [ZoneLine(i["name"], i["ttl"], i["type"], i["data"]) for i in pasted] == records
    assert [f"{i['name']} {i['comment']}" for i in items if i["type"] in unpasted] == comments
    assert {frozenset(item) for item in items} == {frozenset({"name", "type", "data", "comment", "ttl"})}


# Settings with every kind of record: an alias, IMAP with TLS and STARTTLS, plain POP3, two SMTP
# servers, a calendar over https and contacts over http on a port of their own.
RICH: dict[str, Any] = {
    "service": {"public_url": "https://autodiscover.example.org:8443"},
    "providers": [
        {
            "id": "example.org",
            "name": "Example",
            "domains": ["example.org"],
            "aliases": ["example.net"],
            "incoming": [
                {"protocol": "imap", "host": "imap.%EMAILDOMAIN%", "port": 993, "security": "tls"},
                {"protocol": "imap", "host": "imap-legacy.example.org", "port": 143, "security": "starttls"},
                {"protocol": "pop3", "host": "pop.example.org", "port": 110, "security": "none"},
            ],
            "outgoing": [
                {"host": "smtp.example.org", "port": 465, "security": "tls"},
                {"host": "smtp2.example.org", "port": 465, "security": "tls"},
            ],
            "calendar": {"url": "https://dav.example.org/cal/"},
            "contacts": {"url": "http://dav.example.org:8008/card/"},
        }
    ],
}
