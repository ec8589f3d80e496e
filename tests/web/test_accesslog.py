"""accesslog.py: addresses hidden in access logs, one line per request, hostile paths escaped."""

from __future__ import annotations

import json
import logging
import os
import re
import stat
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from autoconfig.paths import STATE_ENV
from autoconfig.settings import Settings, load_settings
from autoconfig.web.accesslog import (
    ACCESS_LOGGER,
    HASH_KEY_FILE,
    AccessLog,
    Format,
    Mode,
    _publish_key,
    redact_addresses,
    redact_target,
)
from autoconfig.web.app import create_app
from autoconfig.web.middleware import Edge, ServiceMiddleware
from tests.helpers.versions import serve_again

HASHED = re.compile(r"h:[0-9a-f]{12}@ac-paris\.fr")


def access_log_only(mode: Mode, fmt: Format = "plain") -> Middleware:
    """The service's middleware with the access log as its only observer, in this mode and format."""
    return Middleware(
        ServiceMiddleware,
        edge_of=lambda scope: Edge((), 10.0),
        observers=[AccessLog(lambda scope: (mode, fmt))],
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("jean.dupont@ac-paris.fr", "j***@ac-paris.fr"),
        ("/guide?email=jean.dupont@ac-paris.fr", "/guide?email=j***@ac-paris.fr"),
        ("/guide?email=jean.dupont%40ac-paris.fr", "/guide?email=j***@ac-paris.fr"),
        ("/guide?email=jean.dupont%2540ac-paris.fr", "/guide?email=j***@ac-paris.fr"),  # encoded twice
        ("/guide?email=%C3%A9lodie.m%C3%A9rand%40ac-paris.fr", "/guide?email=é***@ac-paris.fr"),
        ("/guide?email=pierre.d'alembert%40ac-paris.fr", "/guide?email=p***@ac-paris.fr"),
        ("/guide?email=pierre.d%27alembert%40ac-paris.fr", "/guide?email=p***@ac-paris.fr"),
        ("/guide?email=jean%2Bnews%40ac-paris.fr&lang=fr", "/guide?email=j***@ac-paris.fr&lang=fr"),
        (
            "/autodiscover/autodiscover.json/v1.0/jean.dupont@ac-paris.fr?Protocol=AutodiscoverV1",
            "/autodiscover/autodiscover.json/v1.0/j***@ac-paris.fr?Protocol=AutodiscoverV1",
        ),
        (
            "/autodiscover/autodiscover.json/v1.0/jean.dupont%40ac-paris.fr",
            "/autodiscover/autodiscover.json/v1.0/j***@ac-paris.fr",
        ),
        (
            "/mail/config-v1.1.xml?emailaddress=jean.dupont@ac-paris.fr&cc=marie.curie@ac-paris.fr",
            "/mail/config-v1.1.xml?emailaddress=j***@ac-paris.fr&cc=m***@ac-paris.fr",
        ),
        ("/a/jean@x.fr/b/marie@y.fr;paul@z.fr", "/a/j***@x.fr/b/m***@y.fr;p***@z.fr"),
        ("/guide/ios", "/guide/ios"),
        ("/guide?email=", "/guide?email="),
        ("/guide?email=jean.dupont", "/guide?email=jean.dupont"),
        ("/guide?email=%40ac-paris.fr", "/guide?email=@ac-paris.fr"),
        ("", ""),
    ],
)
def test_redact(text: str, expected: str) -> None:
    assert redact_addresses(text, "redact") == expected


@pytest.mark.parametrize(
    "text",
    [
        "/guide?email=jean.dupont@ac-paris.fr",
        "/guide?email=jean.dupont%40ac-paris.fr",
        "/guide?email=jean.dupont%2540ac-paris.fr",
        "/autodiscover/autodiscover.json/v1.0/jean.dupont@ac-paris.fr",
    ],
)
def test_hash(text: str) -> None:
    hashed = redact_addresses(text, "hash")
    assert "jean" not in hashed
    assert "dupont" not in hashed
    assert len(HASHED.findall(hashed)) == 1


def test_hash_links_the_same_person_only() -> None:
    first = redact_addresses("jean.dupont@ac-paris.fr", "hash")
    assert HASHED.fullmatch(first)
    assert redact_addresses("jean.dupont%40ac-paris.fr", "hash") == first
    assert redact_addresses("Jean.Dupont@ac-paris.fr", "hash") == first  # one mailbox, any casing
    assert redact_addresses("marie.curie@ac-paris.fr", "hash") != first
    assert redact_addresses("jean.dupont2@ac-paris.fr", "hash") != first


@pytest.mark.parametrize(
    "text",
    [
        "/guide?email=jean.dupont@ac-paris.fr",
        "/guide?email=jean.dupont%40ac-paris.fr",
        "/a/jean@x.fr/b/marie@y.fr",
        "%0d%0a",
    ],
)
def test_full_leaves_text_as_it_is(text: str) -> None:
    assert redact_addresses(text, "full") == text


def test_redaction_takes_linear_time() -> None:
    # A long run without @ must not cost quadratic time: the log line is written for every request.
    hostile = "/" + "a" * 200_000 + "/b@c.fr?" + "x." * 50_000
    start = time.perf_counter()
    out = redact_addresses(hostile, "redact")
    assert time.perf_counter() - start < 2.0
    assert out.endswith("/b***@c.fr?" + "x." * 50_000)


_LOCAL_CHARS = st.text(
    alphabet=st.sampled_from("abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123456789.!#$+-^_`{|}~'éèçœñ"),
    min_size=1,
    max_size=40,
)


@hypothesis_settings(max_examples=200, deadline=None)
@given(_LOCAL_CHARS)
def test_redact_hides_every_local_part(local: str) -> None:
    for text in (f"/guide?email={quote(local)}%40ac-paris.fr", f"/x/{local}@ac-paris.fr?y=1"):
        redacted = redact_addresses(text, "redact")
        assert f"{local[:1]}***@ac-paris.fr" in redacted
        assert f"{local}@" not in redacted
        if len(local) > 1:
            assert local[1:] + "@" not in redacted


# --- the middleware, through a real Starlette app ------------------------------------------------------


async def ok(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


async def boom(request: Request) -> PlainTextResponse:
    raise RuntimeError("boom")


def make_app(mode: Mode) -> Starlette:
    return Starlette(
        routes=[Route("/boom", boom), Route("/{rest:path}", ok)],
        middleware=[access_log_only(mode)],
    )


@contextmanager
def access_lines(caplog: pytest.LogCaptureFixture) -> Iterator[list[str]]:
    lines: list[str] = []
    with caplog.at_level(logging.INFO, logger=ACCESS_LOGGER):
        yield lines
    lines.extend(r.getMessage() for r in caplog.records if r.name == ACCESS_LOGGER)


Get = Callable[[str], list[str]]


@pytest.fixture
def get(caplog: pytest.LogCaptureFixture, make_settings: Callable[..., Settings]) -> Get:
    """GET a URL through an app whose mode is the settings' default; return the access log lines."""
    mode = make_settings().service.log_addresses
    assert mode == "redact"
    client = TestClient(make_app(mode))

    def fetch(url: str) -> list[str]:
        caplog.clear()
        with access_lines(caplog) as lines:
            client.get(url)
        return lines

    return fetch


TIME = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"


def test_one_line_per_request(get: Get) -> None:
    (line,) = get("/guide/ios")
    assert re.fullmatch(TIME + r' testclient "GET /guide/ios" 200 \d+\.\dms', line)


def test_default_hides_the_address_in_query(get: Get) -> None:
    (line,) = get("/guide?email=jean.dupont%40ac-paris.fr")
    assert re.fullmatch(TIME + r' testclient "GET /guide\?email=j\*\*\*@ac-paris\.fr" 200 \d+\.\dms', line)
    assert "jean" not in line
    assert "dupont" not in line


def test_default_hides_the_address_in_path(get: Get) -> None:
    (line,) = get("/autodiscover/autodiscover.json/v1.0/jean.dupont@ac-paris.fr?Protocol=AutodiscoverV1")
    assert "/v1.0/j***@ac-paris.fr?Protocol=AutodiscoverV1" in line
    assert "dupont" not in line


def test_default_hides_several_addresses(get: Get) -> None:
    (line,) = get("/x/marie.curie@ac-paris.fr?emailaddress=jean.dupont%40ac-paris.fr&b=paul%2540ac-paris.fr")
    assert line.count("***@ac-paris.fr") == 3
    for word in ("curie", "dupont", "paul"):
        assert word not in line


@pytest.mark.parametrize(
    ("url", "escaped"),
    [
        ("/guide/a%0D%0AX-Injected:%20yes", "a\\r\\nX-Injected: yes"),
        ("/guide?email=a%0D%0AX-Injected:%20yes", "a\\r\\nX-Injected: yes"),
        ("/guide/%1B%5B31mred", "\\x1b[31mred"),
        ("/guide/a%00b", "a\\x00b"),
        ("/guide/a%E2%80%AEb", "a\\u202eb"),
    ],
)
def test_control_characters_are_escaped(get: Get, url: str, escaped: str) -> None:
    (line,) = get(url)
    assert escaped in line
    assert "\n" not in line
    assert "\r" not in line
    assert "\x1b" not in line
    assert "\x00" not in line
    assert line.isprintable()


def test_full_mode_logs_the_address(caplog: pytest.LogCaptureFixture) -> None:
    client = TestClient(make_app("full"))
    with access_lines(caplog) as lines:
        client.get("/autodiscover/autodiscover.json/v1.0/jean.dupont@ac-paris.fr")
        client.get("/guide?email=marie.curie%40ac-paris.fr")
    assert len(lines) == 2
    assert "/autodiscover/autodiscover.json/v1.0/jean.dupont@ac-paris.fr" in lines[0]
    assert "/guide?email=marie.curie%40ac-paris.fr" in lines[1]


def test_hash_mode_logs_a_keyed_hash(caplog: pytest.LogCaptureFixture) -> None:
    client = TestClient(make_app("hash"))
    with access_lines(caplog) as lines:
        client.get("/guide?email=jean.dupont%40ac-paris.fr")
        client.get("/autodiscover/autodiscover.json/v1.0/Jean.Dupont@ac-paris.fr")
    assert len(lines) == 2
    first, second = (HASHED.findall(line) for line in lines)
    assert first == second
    assert len(first) == 1
    assert not any("dupont" in line.lower() for line in lines)


def test_status_is_logged_for_errors(caplog: pytest.LogCaptureFixture) -> None:
    app = Starlette(
        routes=[Route("/boom", boom, methods=["GET", "POST"])],
        middleware=[access_log_only("redact")],
    )
    client = TestClient(app, raise_server_exceptions=False)
    with access_lines(caplog) as lines:
        assert client.get("/nowhere?email=jean.dupont%40ac-paris.fr").status_code == 404
        assert client.get("/boom?email=jean.dupont%40ac-paris.fr").status_code == 500
        assert client.post("/boom").status_code == 500
    assert len(lines) == 3
    assert '"GET /nowhere?email=j***@ac-paris.fr" 404 ' in lines[0]
    assert '"GET /boom?email=j***@ac-paris.fr" 500 ' in lines[1]
    assert '"POST /boom" 500 ' in lines[2]


def test_lifespan_passes_through_without_a_line(caplog: pytest.LogCaptureFixture) -> None:
    events: list[str] = []

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        events.append("startup")
        yield
        events.append("shutdown")

    app = Starlette(
        routes=[Route("/", ok)],
        middleware=[access_log_only("redact")],
        lifespan=lifespan,
    )
    with access_lines(caplog) as lines, TestClient(app):
        pass
    assert events == ["startup", "shutdown"]
    assert lines == []


def test_nothing_logged_below_info(caplog: pytest.LogCaptureFixture) -> None:
    client = TestClient(make_app("redact"))
    with caplog.at_level(logging.WARNING, logger=ACCESS_LOGGER):
        assert client.get("/guide?email=jean.dupont%40ac-paris.fr").text == "ok"
    assert [r for r in caplog.records if r.name == ACCESS_LOGGER] == []


# --- JSON lines ----------------------------------------------------------------------------------------


def make_json_app(mode: Mode) -> Starlette:
    return Starlette(
        routes=[Route("/boom", boom), Route("/{rest:path}", ok)],
        middleware=[access_log_only(mode, "json")],
    )


def test_json_lines_are_one_object_each(caplog: pytest.LogCaptureFixture) -> None:
    client = TestClient(make_json_app("redact"), raise_server_exceptions=False)
    with access_lines(caplog) as lines:
        client.get("/guide?email=jean.dupont%40ac-paris.fr&lang=fr")
        client.get("/boom")
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert set(first) == {"time", "client", "method", "target", "status", "ms"}
    assert re.fullmatch(TIME, first["time"])
    assert first["client"] == "testclient"
    assert first["method"] == "GET"
    assert first["target"] == "/guide?email=j***@ac-paris.fr&lang=fr"
    assert first["status"] == 200
    assert isinstance(first["ms"], float)
    assert first["ms"] >= 0
    assert (second["method"], second["target"], second["status"]) == ("GET", "/boom", 500)
    assert "dupont" not in "".join(lines)


@pytest.mark.parametrize(
    ("url", "target"),
    [
        ("/guide/a%0D%0AX-Injected:%20yes", "/guide/a\r\nX-Injected: yes"),
        ("/guide/%1B%5B31mred", "/guide/\x1b[31mred"),
        ("/guide/%C3%A9l%C3%A8ve%E2%80%AE", "/guide/élève\u202e"),
        ('/guide/"},{"status":200', '/guide/"},{"status":200'),
    ],
)
def test_json_lines_escape_what_a_request_sends(
    caplog: pytest.LogCaptureFixture, url: str, target: str
) -> None:
    client = TestClient(make_json_app("redact"))
    with access_lines(caplog) as lines:
        client.get(url)
    (line,) = lines
    # One line of printable ASCII whatever the path holds; the JSON gives the path back exactly.
    assert line.isascii()
    assert line.isprintable()
    entry = json.loads(line)
    assert entry["target"] == target
    assert entry["method"] == "GET"


def test_json_hash_mode(caplog: pytest.LogCaptureFixture) -> None:
    client = TestClient(make_json_app("hash"))
    with access_lines(caplog) as lines:
        client.get("/guide?email=jean.dupont%40ac-paris.fr")
    (entry,) = (json.loads(line) for line in lines)
    assert HASHED.fullmatch(entry["target"].removeprefix("/guide?email="))


def test_the_log_settings_follow_a_reload(
    caplog: pytest.LogCaptureFixture,
    settings_file: Callable[..., Path],
    make_client: Callable[..., TestClient],
) -> None:
    # create_app's access log reads the settings being served at each request.
    path = settings_file()
    app = create_app(load_settings(path))
    client = make_client(app, host=None)
    url = "/guide?email=ana.lopez%40example.org&lang=en"
    with access_lines(caplog) as lines:
        client.get(url)
        # The file being served, rewritten in place.
        assert settings_file(service={"log_format": "json", "log_addresses": "full"}) == path
        serve_again(app)
        client.get(url)
        assert settings_file(service={"log_addresses": "hash"}) == path
        serve_again(app)
        client.get(url)
    plain, as_json, hashed = lines
    assert '"GET /guide?email=a***@example.org&lang=en" 200 ' in plain
    assert json.loads(as_json)["target"] == url  # "full": as the client sent it
    assert re.search(r'"GET /guide\?email=h:[0-9a-f]{12}@example\.org&lang=en" 200 ', hashed)


# --- the hash key --------------------------------------------------------------------------------------

HASH_SCRIPT = (
    "import sys; from autoconfig.web.accesslog import redact_addresses; "
    "print(redact_addresses(sys.argv[1], 'hash'))"
)


def hash_in_new_process(state: Path, text: str = "jean.dupont@ac-paris.fr") -> str:
    env = {**os.environ, STATE_ENV: str(state)}
    result = subprocess.run(
        [sys.executable, "-c", HASH_SCRIPT, text],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return result.stdout.strip()


def test_the_hash_key_is_kept_private_in_the_state_folder(state_dir: Path) -> None:
    hashed = redact_addresses("jean.dupont@ac-paris.fr", "hash")
    key = state_dir / HASH_KEY_FILE
    assert key.is_file()
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert len(key.read_bytes()) == 32
    # Any other process with the same state folder (another worker, the next restart) agrees.
    assert hash_in_new_process(state_dir) == hashed
    assert hash_in_new_process(state_dir, "Jean.Dupont%40ac-paris.fr") == hashed


def test_another_state_folder_means_another_key(tmp_path: Path, state_dir: Path) -> None:
    elsewhere = hash_in_new_process(tmp_path / "state")
    assert HASHED.fullmatch(elsewhere)
    assert elsewhere != hash_in_new_process(state_dir)
    folder = tmp_path / "state"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700  # made by the service, for itself
    assert stat.S_IMODE((folder / HASH_KEY_FILE).stat().st_mode) == 0o600
    assert hash_in_new_process(folder) == elsewhere


def test_a_damaged_key_file_is_replaced(tmp_path: Path) -> None:
    folder = tmp_path / "state"
    folder.mkdir()
    (folder / HASH_KEY_FILE).write_bytes(b"short")
    first = hash_in_new_process(folder)
    assert len((folder / HASH_KEY_FILE).read_bytes()) == 32
    assert hash_in_new_process(folder) == first
    assert sorted(p.name for p in folder.iterdir()) == [HASH_KEY_FILE]  # no temporary file left


def test_workers_starting_together_agree_on_one_key(tmp_path: Path) -> None:
    """Several processes make their first hash at the same moment, with no key yet: one key wins for all.

    A race: a regression fails this only some of the time (the next test checks the step that settles
    it, deterministically); with the fix it never fails.
    """
    state, start = tmp_path / "state", tmp_path / "go"
    script = (
        "import pathlib, sys\n"
        "from autoconfig.web.accesslog import redact_addresses\n"
        "pathlib.Path(sys.argv[2]).touch()\n"
        "while not pathlib.Path(sys.argv[1]).exists(): pass\n"
        "print(redact_addresses('jean.dupont@ac-paris.fr', 'hash'))\n"
    )
    env = {**os.environ, STATE_ENV: str(state)}
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(start), str(tmp_path / f"ready-{n}")],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for n in range(10)
    ]
    deadline = time.monotonic() + 30
    while len(list(tmp_path.glob("ready-*"))) < len(processes) and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.2)  # every process spinning on the start line
    start.touch()
    outputs = {process.communicate(timeout=30)[0].strip() for process in processes}
    assert len(outputs) == 1, outputs
    (hashed,) = outputs
    assert HASHED.fullmatch(hashed)
    assert sorted(p.name for p in state.iterdir()) == [HASH_KEY_FILE]  # no temporary file left


def test_a_key_put_in_place_first_is_never_replaced(tmp_path: Path) -> None:
    # The step that settles the race above, on its own: a process that made its key too late keeps
    # the one already on disk (and then reads it back), instead of replacing it under the others.
    path = tmp_path / HASH_KEY_FILE
    first, late = b"1" * 32, b"2" * 32
    _publish_key(path, first)
    _publish_key(path, late)
    assert path.read_bytes() == first
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    path.write_bytes(b"damaged")
    _publish_key(path, late)
    assert path.read_bytes() == late
    assert sorted(p.name for p in tmp_path.iterdir()) == [HASH_KEY_FILE]


@pytest.mark.parametrize(
    ("path", "query", "shown"),
    [
        # A local part holding &, = or / is hidden whole, not split at them.
        (
            "/mail/config-v1.1.xml",
            "emailaddress=jean%26dupont%40ac-paris.fr",
            "/mail/config-v1.1.xml?emailaddress=j***@ac-paris.fr",
        ),
        (
            "/mail/config-v1.1.xml",
            "emailaddress=a%3Db%2Fc%40ac-paris.fr",
            "/mail/config-v1.1.xml?emailaddress=a***@ac-paris.fr",
        ),
        (
            "/guide/android",
            "email=jean.dupont%2540ac-paris.fr&lang=fr",
            "/guide/android?email=j***@ac-paris.fr&lang=fr",
        ),
        (
            "/autodiscover/autodiscover.json/v1.0/jean.dupont@ac-paris.fr",
            "Protocol=AutodiscoverV1",
            "/autodiscover/autodiscover.json/v1.0/j***@ac-paris.fr?Protocol=AutodiscoverV1",
        ),
        ("/healthz", "", "/healthz"),
        ("/x", "a=1&flag", "/x?a=1&flag"),
    ],
)
def test_redact_target_hides_each_value_whole(path: str, query: str, shown: str) -> None:
    assert redact_target(path, query, "redact") == shown
    assert "dupont" not in redact_target(path, query, "redact")


def test_redact_target_in_full_and_hash_modes() -> None:
    assert redact_target("/x", "email=jean%26co%40ac-paris.fr", "full") == "/x?email=jean%26co%40ac-paris.fr"
    hashed = redact_target("/x", "email=jean%26co%40ac-paris.fr", "hash")
    assert hashed.startswith("/x?email=h:")
    assert hashed.endswith("@ac-paris.fr")
    assert "jean" not in hashed


# --- what a hostile target cannot do to a line -------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "/guide?email=jean.dupont%EF%BC%A0ac-paris.fr",  # a full-width commercial at
        "/guide?email=jean.dupont%2525252540ac-paris.fr",  # encoded four times
        "/autodiscover/autodiscover.json/v1.0/jean%2Fdupont@ac-paris.fr",  # a slash in the local part
        "/guide?email=jean%2Fdupont%40ac-paris.fr",
        "/x?a=jean%252Fdupont%2540ac-paris.fr",
    ],
)
def test_near_addresses_are_hidden_too(get: Get, url: str) -> None:
    # Refused or not by the service, what reads as an address once decoded is not kept.
    (line,) = get(url)
    assert "j***@ac-paris.fr" in line
    assert "dupont" not in line


def test_a_quote_cannot_forge_fields_of_a_plain_line(get: Get) -> None:
    (line,) = get('/guide/x" 200 0.1ms forged "GET /')
    assert '\\" 200 0.1ms forged \\"GET' in line
    # Exactly the two quotes that frame the request are unescaped.
    assert line.replace('\\"', "").count('"') == 2
    assert line.endswith("ms")
    assert re.search(r'" 200 \d+\.\dms$', line)


def test_a_long_target_is_cut(get: Get) -> None:
    (line,) = get("/guide/" + "a" * 60_000)
    assert len(line) < 1200
    assert "…(+" in line


# --- an address spelled out so as not to read as one ------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "email=jean.dupont+at+ac-paris.fr",
        "email=jean.dupont%20AT%20ac-paris.fr",
        "email=jean.dupont+(at)+ac-paris.fr",
        "email=jean.dupont%20%28At%29%20ac-paris.fr",
        "email=jean.dupont[at]ac-paris.fr",
        "email=jean.dupont%7Bat%7Dac-paris.fr",
        "email=jean.dupont+%3Cat%3E+ac-paris.fr",
        "email=jean.dupont&#64;ac-paris.fr",  # raw: its "&" would split the address
        "email=jean.dupont&#x40;ac-paris.fr",
        "email=jean.dupont%26%2364%3Bac-paris.fr",
        "email=jean.dupont%26commat%3Bac-paris.fr",
        "email=jean.dupont%u0040ac-paris.fr",
        "email=jean.dupont%U0040ac-paris.fr",
        "email=jean.dupont%2525u0040ac-paris.fr",
        "email=jean.dupont%EF%BC%A0ac-paris.fr",
        "email=jean.dupont%EF%BC%88%EF%BD%81%EF%BD%94%EF%BC%89ac-paris.fr",  # full-width (at)
    ],
)
def test_an_address_spelled_out_is_hidden(query: str) -> None:
    for mode in ("redact", "hash"):
        shown = redact_target("/guide", query, mode)
        assert "dupont" not in shown, shown
        assert shown.endswith("@ac-paris.fr"), shown
    assert redact_target("/guide", query, "redact") == "/guide?email=j***@ac-paris.fr"
    # The same person as the plain spelling, in the hash mode.
    plain = redact_target("/guide", "email=jean.dupont%40ac-paris.fr", "hash")
    assert redact_target("/guide", query, "hash") == plain
    assert "dupont" not in redact_addresses(f"/x/{query}", "redact")


@pytest.mark.parametrize(
    "text", ["/static/app.css", "/guide/android?lang=fr&flag", "/x?what=a+cat+at", "/x?a=b&c=d&at=1"]
)
def test_words_holding_at_are_left_alone(text: str) -> None:
    path, _, query = text.partition("?")
    assert redact_target(path, query, "redact") == text
    assert redact_addresses(text, "redact") == text


@pytest.mark.parametrize(
    "hostile",
    ["+" * 100_000, "(" * 100_000, " " * 100_000 + "(", "+at" * 50_000, "&#" * 50_000, "%u" * 50_000],
)
def test_spelled_out_redaction_takes_linear_time(hostile: str) -> None:
    start = time.perf_counter()
    redact_target("/x/" + hostile, "a=" + hostile, "redact")
    redact_addresses(hostile, "redact")
    assert time.perf_counter() - start < 2.0
