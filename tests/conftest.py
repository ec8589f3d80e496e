"""Fixtures shared by the tests: the state folder, the bundled settings, settings built from data, and
the one factory of application clients."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from autoconfig.paths import STATE_ENV
from autoconfig.settings import Provider, Settings, load_settings
from autoconfig.web.app import create_app

# The helpers assert too: let pytest show their failing values as it does in the test modules.
pytest.register_assert_rewrite("tests.helpers")

from tests.helpers.parallel import heaviest_first, scheduler  # noqa: E402 - after the rewrite hook
from tests.helpers.settings import settings_data, write_settings  # noqa: E402 - after the rewrite hook


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """In pytest-xdist's workers, the heaviest groups first (tests/helpers/parallel.py)."""
    if os.environ.get("PYTEST_XDIST_WORKER") is not None:
        heaviest_first(items)


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist's
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """The workers run whole groups: a module, tests/probe, the Debian roots (tests/helpers/parallel.py)."""
    return scheduler(config, log)


# The Host a mail client sends to the Académie's service: TestClient's own "testserver" names no domain.
PARIS_HOST = "autoconfig.ac-paris.fr"


@pytest.fixture(scope="session", autouse=True)
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Keep what the service makes for itself (the development signing certificate) out of $HOME.

    Set in the environment, so the servers the tests start inherit it too.
    """
    path = tmp_path_factory.mktemp("state")
    previous = os.environ.get(STATE_ENV)
    os.environ[STATE_ENV] = str(path)
    yield path
    if previous is None:
        os.environ.pop(STATE_ENV, None)
    else:
        os.environ[STATE_ENV] = previous


@pytest.fixture(scope="session")
def settings() -> Settings:
    """The bundled default: profiles/ac-paris.toml."""
    return load_settings()


@pytest.fixture(scope="session")
def paris(settings: Settings) -> Provider:
    return settings.providers[0]


@pytest.fixture
def settings_file(tmp_path: Path) -> Callable[..., Path]:
    """Write settings to a file in a fresh folder: `settings_file(data)` for whole data, or
    `settings_file(service=…, provider=…)` for the minimal settings with changes (see settings_data)."""

    def write(data: dict[str, Any] | None = None, *, name: str = "settings.toml", **changes: Any) -> Path:
        return write_settings(tmp_path, data if data is not None else settings_data(**changes), name)

    return write


@pytest.fixture
def make_settings(settings_file: Callable[..., Path]) -> Callable[..., Settings]:
    """Settings loaded from data, as `settings_file` writes them."""

    def make(data: dict[str, Any] | None = None, **changes: Any) -> Settings:
        return load_settings(settings_file(data, **changes))

    return make


@pytest.fixture
def write_toml(tmp_path: Path) -> Callable[..., Path]:
    """Write TOML text (dedented) to a settings file: for the tests about the file's syntax itself."""

    def write(text: str, name: str = "settings.toml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return write


@pytest.fixture(scope="session")
def paris_app(settings: Settings) -> Starlette:
    """The application on the bundled settings, built once for the tests that only read from it."""
    return create_app(settings)


@pytest.fixture
def make_client(paris_app: Starlette) -> Iterator[Callable[..., TestClient]]:
    """The one way tests talk to the application: `make_client()` for the bundled settings, or
    `make_client(settings)`, with a Host (default the Académie's service), more headers, the client's
    address, and whether a server error raises in the test (default) or answers 500."""
    opened: list[TestClient] = []

    def make(
        settings: Settings | Starlette | None = None,
        *,
        host: str | None = PARIS_HOST,
        headers: dict[str, str] | None = None,
        client: tuple[str, int] = ("testclient", 50000),
        raise_server_exceptions: bool = True,
    ) -> TestClient:
        if settings is None:
            app = paris_app
        elif isinstance(settings, Starlette):
            app = settings
        else:
            app = create_app(settings)
        sent = {"Host": host} if host is not None else {}
        test_client = TestClient(
            app,
            headers={**sent, **(headers or {})},
            client=client,
            raise_server_exceptions=raise_server_exceptions,
        )
        opened.append(test_client.__enter__())
        return test_client

    yield make
    for test_client in reversed(opened):
        test_client.__exit__(None, None, None)


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    """A client of the application on the bundled settings, as the Académie's service."""
    return make_client()
