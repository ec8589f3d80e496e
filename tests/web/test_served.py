"""served.py: a version of the settings as one worker serves it, and the one way an address becomes an
account: resolved once per address and kept, in a bounded cache that a reload starts again."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from autoconfig import caches
from autoconfig.errors import RequestError
from autoconfig.settings import load_settings
from autoconfig.version import Version
from autoconfig.web.served import Served
from tests.helpers.settings import settings_data

LOGIN = {"pattern": "^(?P<first>[a-z])[a-z-]*\\.(?P<last>[a-z-]+)$", "template": "{first}{last}"}


def loaded_from(path: Path) -> Served:
    """What a worker serves for this file (profiles unsigned: these tests are about accounts)."""
    return Served.wrap(Version.build(load_settings(path), None))


def account_login(served: Served, address: str) -> str:
    return asyncio.run(served.account(address)).login


def test_an_address_is_resolved_once_and_kept(settings_file: Callable[..., Path]) -> None:
    served = loaded_from(settings_file(provider={"login": LOGIN}))
    first = asyncio.run(served.account("jean.dupont@example.org"))
    assert first.login == "jdupont"
    assert asyncio.run(served.account("jean.dupont@example.org")) is first
    assert list(served.accounts) == ["jean.dupont@example.org"]


def test_the_cache_is_bounded(settings_file: Callable[..., Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(caches.SIZES, "accounts", 50)
    served = loaded_from(settings_file())
    for i in range(120):
        asyncio.run(served.account(f"person{i}@example.org"))
    assert len(served.accounts) == 50
    assert "person119@example.org" in served.accounts  # the newest stay
    assert "person0@example.org" not in served.accounts


def test_a_reload_starts_with_the_new_rule(settings_file: Callable[..., Path]) -> None:
    path = settings_file(provider={"login": LOGIN})
    before = loaded_from(path)
    assert account_login(before, "jean.dupont@example.org") == "jdupont"
    settings_file(settings_data(provider={"login": {"fallback": "%EMAILADDRESS%"}}))
    after = loaded_from(path)
    assert after.accounts == {}
    assert account_login(after, "jean.dupont@example.org") == "jean.dupont@example.org"


def test_errors_are_not_kept(settings_file: Callable[..., Path]) -> None:
    served = loaded_from(settings_file())
    for address in ("not an address", "a@unknown.example"):
        with pytest.raises(RequestError):  # 400, and UnknownDomainError's 404
            asyncio.run(served.account(address))
    assert served.accounts == {}
