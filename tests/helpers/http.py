"""What every HTTP answer must look like: headers, caching, plain-sentence errors."""

from __future__ import annotations

from typing import Any

from tests.helpers.thunderbird import parse


def cache_directives(response: Any) -> set[str]:
    return {part.strip() for part in response.headers["cache-control"].split(",")}


def check_xml_answer(response: Any, personal: bool) -> None:
    """A 200 answer with a config-v1.1.xml document and the headers Thunderbird and caches need."""
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/xml"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "server" not in response.headers
    directives = cache_directives(response)
    assert directives == {"private" if personal else "public", "max-age=3600"}
    assert int(response.headers["content-length"]) == len(response.content)
    parse(response.content)


def check_plain_sentence(response: Any, status: int) -> str:
    """An error answer: one plain sentence, never cached, nothing of the request echoed as markup."""
    assert response.status_code == status
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-content-type-options"] == "nosniff"
    text: str = response.text
    assert text.endswith(".\n")
    assert text.count("\n") == 1
    assert text[0].isupper()
    assert len(text) < 120
    assert "Traceback" not in text
    assert "<" not in text
    return text
