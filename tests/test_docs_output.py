"""Every output the README and docs/ show is what the real command prints or the service answers: each such
block is marked with how to produce it (tests/helpers/docs_output.py), produced here and compared; a
block neither marked nor listed below as input fails, so that no shown output goes unchecked."""

from __future__ import annotations

import shutil
import textwrap
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import httpx2
import pytest
from starlette.testclient import TestClient

from autoconfig.settings import load_settings
from tests.helpers.commands import autoconfig
from tests.helpers.docs_output import (
    FUNNEL_TRAFFIC,
    PROBE_LAB,
    Block,
    Shown,
    blocks,
    compare,
    json_data,
    listed,
    rooted,
    shown,
    stray_markers,
    unmarked,
)
from tests.helpers.golden import pox_body
from tests.helpers.live import Server, serving
from tests.helpers.paths import ROOT

PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
# Blocks that are input, by page and the start of their first line: what to type or write, not what
# anything prints.
# docs/reference/ is generated and compared whole by tests/test_docs.py.
INPUTS: dict[str, set[str]] = {
    "README.md": {
        "python3 -m venv .venv && .venv/bin/pip install -e . && .venv",  # to type
        "curl 'http://127.0.0.1:8080/mail/config-v1.1.xml?emailaddress=jean.dupont@ac-paris.fr'",  # to type
        "tests/run",  # to type
        # The commands' synopsis: tests/test_docs.py checks each option exists.
        "autoconfig serve  [--settings FILE] [--host 127.0.0.1] [--po",
        "[service]",  # the minimal settings file: tests/test_docs.py loads it
    },
    "docs/clients.md": {"[signing]"},  # settings to write
    "docs/hosting.md": {"[[providers]]"},  # settings to write: tests/test_docs.py loads them
    "docs/deployment.md": {
        "    location ~* ^/autodiscover/ {",  # a sample's part: tests/test_samples.py finds it in deploy/
        "docker build -t autoconfig .",  # to type
        # Commands to type (tests/test_compose.py and tests/test_deploy.py run the samples they use).
        "cd deploy/compose",
        "docker compose build",
        "kubectl create namespace autoconfig",
        "kubectl apply -k deploy/kubernetes",
        "kubectl -n autoconfig create secret tls autoconfig-signing -",
    },
    "docs/development.md": {
        "autoconfig/              the package (nothing runs at import time)",  # the layout, a description
        ".venv/bin/python -m tests.helpers.golden --update",  # to type
        ".venv/bin/pybabel extract -F templates/locale/babel.cfg -k N",
    },
    "docs/performance.md": {
        ".venv/bin/python -m tests.bench.bench              # --durat",
    },
    "docs/probe.md": {
        "autoconfig probe jean.dupont@ac-paris.fr --settings /etc/aut",  # to type
        # The synopsis: the options' table below it says what each does.
        "autoconfig probe ADDRESS [--settings FILE] [--resolver IP[:P",
        "# a new server, before the DNS points to it (the DNS checks",  # to type
    },
    "docs/settings.md": {
        "[service]",  # the minimal settings file: tests/test_docs.py loads it
        "[providers.login]",  # settings to write (two blocks)
        "[providers.directory.lookup]",  # settings to write
        "[providers.oauth]",  # settings to write
        "[providers.address_form]",  # settings to write
    },
    "docs/systemd.md": {
        # The layout on the server, a description (tests/test_systemd.py installs it).
        "/opt/autoconfig/releases/<version>-<commit>/   one venv per release",
        "git clone <the project's repository> /usr/src/autoconfig",  # to type
        "runuser -u autoconfig -- /opt/autoconfig/current/bin/autocon",
        # The unit as shipped: tests/test_systemd.py compares it with deploy/systemd/autoconfig.service.
        "# autoconfig: mail client autoconfiguration (Thunderbird, Ou",
        "cd /usr/src/autoconfig && git pull",  # to type
        "/usr/src/autoconfig/deploy/systemd/install.sh rollback",  # to type
        "name=autoconfig.ac-paris.fr   # the certificate's name: ls /etc/letsencrypt/live",  # to type
        "[signing]",  # settings to write
        "install -m 0755 deploy/systemd/certbot-deploy-hook /etc/lets",
        "journalctl -u autoconfig -f                 # follow",  # to type
    },
}


def _name(page: Path) -> str:
    return str(page.relative_to(ROOT))


def _marked() -> list[tuple[str, Block]]:
    # The runs against the probe's lab (`probe lab …`) are produced and compared in
    # tests/probe/test_docs_output.py, where the lab is started once for tests/probe.
    return [
        (_name(page), block)
        for page in PAGES
        for block in blocks(page.read_text(encoding="utf-8"))
        if block.marker is not None and not shown(block).setup.startswith(PROBE_LAB)
    ]


MARKED = _marked()


# --- the rule: every block is output checked here, or listed input ------------------------------------


@pytest.mark.parametrize("page", PAGES, ids=_name)
def test_every_block_is_marked_output_or_listed_input(page: Path) -> None:
    document = page.read_text(encoding="utf-8")
    found = unmarked(document, INPUTS.get(_name(page), set()))
    assert found == [], (
        f"{_name(page)}: precede each shown output with <!-- output: COMMAND -->"
        f" (tests/helpers/docs_output.py), or list an input block in INPUTS: lines {[b.line for b in found]}"
    )
    assert stray_markers(document) == [], f"{_name(page)}: a marker not followed by its block"


def test_every_listed_block_is_still_on_its_page_and_unmarked() -> None:
    for name, firsts in INPUTS.items():
        present = [b for b in blocks((ROOT / name).read_text(encoding="utf-8")) if b.marker is None]
        for first in firsts:
            assert any(listed(b, {first}) for b in present), f"{name}: listed but gone: {first}"


SAMPLE = textwrap.dedent("""\
    # A page

    To type:

    ```sh
    autoconfig check
    ```

    It prints:

    <!-- output: autoconfig check | grep ^bundled -->
    ```
    bundled ac-paris.toml: valid: 1 provider, 1 domain, 2 servers
    ```

    And this, nobody checks:

    ```
    settings.toml: 2 problems
    ```
    """)


SAMPLE_MARKER = "<!-- output: autoconfig check | grep ^bundled -->"


def test_an_unmarked_output_block_is_found_and_a_marked_one_is_not() -> None:
    found = unmarked(SAMPLE, {"autoconfig check"})
    assert [(b.line, b.first_line) for b in found] == [(18, "settings.toml: 2 problems")]
    marked = [b for b in blocks(SAMPLE) if b.marker]
    assert len(marked) == 1
    item = shown(marked[0])
    assert item.command == ["autoconfig", "check"]
    assert item.setup == ""
    # Listing the first line makes it input; dropping the marker makes the checked one unmarked.
    assert unmarked(SAMPLE, {"autoconfig check", "settings.toml: 2 problems"}) == []
    bare = SAMPLE.replace(f"{SAMPLE_MARKER}\n", "")
    assert [b.line for b in unmarked(bare, {"autoconfig check"})] == [11, 17]
    # A marker separated from its block by a line is no marker, and is said to be stray.
    loose = SAMPLE.replace(f"{SAMPLE_MARKER}\n", f"{SAMPLE_MARKER}\n\n")
    assert stray_markers(loose) == [11]


def test_a_wrong_block_differs_after_normalisation() -> None:
    # The sample's block is true, a changed count is not, and a different time or port is no difference.
    item = shown(next(b for b in blocks(SAMPLE) if b.marker))
    expected, actual = compare(item, _command)
    assert expected == actual
    wrong = Shown(item.setup, item.command, item.filters, item.expected.replace("2 servers", "3 servers"))
    expected, actual = compare(wrong, _command)
    assert expected != actual
    timed = Shown("", ["x"], [], "at 127.0.0.1:8080, 2025-01-02T03:04:05Z, pid 12\n")
    assert compare(timed, lambda _: "at 127.0.0.1:41234, 2026-07-08T09:10:11Z, pid 4567\n")[0] == (
        "at 127.0.0.1:<port>, <date>, pid <pid>\n"
    )


# --- producing each marked block ------------------------------------------------------------------------


def _printed(result_stdout: str, result_stderr: str) -> str:
    return result_stdout + result_stderr


def _command(item: Shown) -> str:
    assert item.command[0] == "autoconfig", item.command
    result = autoconfig(*(rooted(word) for word in item.command[1:]))
    assert "Traceback" not in result.stderr, result.stderr
    return _printed(result.stdout, result.stderr)


def _request(item: Shown, make_client: Callable[..., TestClient]) -> str:
    served = item.setup.removeprefix("serving ").strip()
    url = urlsplit(item.command[1])
    client = make_client(load_settings(ROOT / served), host=url.hostname)
    answer = client.get(f"{url.path}?{url.query}" if url.query else url.path)
    # A fenced block ends with a line break; a body on one line has none.
    return answer.text if answer.text.endswith("\n") else answer.text + "\n"


def _served_command(item: Shown, folder: Path) -> str:
    served, _, then = item.setup.removeprefix("serving ").partition(" then ")
    settings = folder / "settings.toml"
    shutil.copyfile(ROOT / served.strip(), settings)
    with serving(folder / "serve", settings=settings) as server:
        if then:
            # A settings file changed under the running service, as an editor leaves it.
            settings.write_bytes((ROOT / then.strip()).read_bytes())
        words = [str(server.port) if word == "8080" else rooted(word) for word in item.command[1:]]
        result = autoconfig(*words)
    assert "Traceback" not in result.stderr, result.stderr
    return _printed(result.stdout, result.stderr)


# --- the funnel's traffic: a day of the Académie's, by client ---------------------------------------------

THUNDERBIRD = "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Thunderbird/140.5.0"
ANDROID_APP = "okhttp/5.4.0"  # Thunderbird for Android sets none of its own
FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:145.0) Gecko/20100101 Firefox/145.0"
ANDROID_BROWSER = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/131.0 Mobile Safari/537.36"
)
MONITOR = "Python-urllib/3.13"  # `autoconfig healthcheck`, the container's HEALTHCHECK
JEAN = "jean.dupont@ac-paris.fr"
CLIENTCONFIG = "/mail/config-v1.1.xml"
# (how many, User-Agent, method, path): what docs/funnel.md's blocks show the counts of. The serving
# helper's own first request (/startup-probe, httpx's User-Agent) is one of `unknown`'s two `other`.
TRAFFIC: list[tuple[int, str, str, str]] = [
    (205, THUNDERBIRD, "GET", f"{CLIENTCONFIG}?emailaddress={JEAN}"),
    (3, THUNDERBIRD, "GET", f"{CLIENTCONFIG}?emailaddress=jean.dupont@ac-pari.fr"),  # a typo: 404
    (4, THUNDERBIRD, "POST", "/autodiscover/autodiscover.xml"),  # its account hub's POX, beside
    (57, ANDROID_APP, "GET", CLIENTCONFIG),  # never the address: the rule's placeholder login
    (58, FIREFOX, "GET", "/"),
    (29, FIREFOX, "GET", f"/guide?email={JEAN}"),
    (2, FIREFOX, "GET", "/guide?email=jdupont"),  # a login, not an address: 400
    (6, ANDROID_BROWSER, "GET", f"/guide/android?email={JEAN}"),
    (288, MONITOR, "GET", "/healthz"),  # every five minutes
    (1, "curl/8.14.1", "GET", "/wp-login.php"),  # a scanner: no such path
]


def _send_traffic(server: Server) -> None:
    with httpx2.Client(base_url=server.base_url, timeout=10) as client:
        for count, user_agent, method, path in TRAFFIC:
            headers = {"User-Agent": user_agent, "Host": "autoconfig.ac-paris.fr"}
            body = pox_body(JEAN) if method == "POST" else None
            for _ in range(count):
                answer = client.request(method, path, headers=headers, content=body)
                assert answer.status_code in (200, 400, 404), (path, answer.status_code)


def _after_traffic(item: Shown, folder: Path) -> str:
    served = item.setup.removeprefix("serving ").removesuffix(FUNNEL_TRAFFIC).strip()
    with serving(folder / "serve", settings=ROOT / served) as server:
        _send_traffic(server)
        if item.command[0] == "GET":
            answer = httpx2.get(item.command[1].replace(":8080/", f":{server.port}/"), timeout=10)
            return answer.text
        words = [str(server.port) if word == "8080" else rooted(word) for word in item.command[1:]]
        result = autoconfig(*words)
    assert "Traceback" not in result.stderr, result.stderr
    return _printed(result.stdout, result.stderr)


@pytest.mark.parametrize(("page", "block"), MARKED, ids=[f"{p}:{b.line}" for p, b in MARKED])
def test_the_shown_output_is_what_the_real_one_is(
    page: str,
    block: Block,
    make_client: Callable[..., TestClient],
    tmp_path: Path,
) -> None:
    item = shown(block)
    produce: Callable[[Shown], str]
    if item.setup.endswith(FUNNEL_TRAFFIC):
        produce = lambda i: _after_traffic(i, tmp_path)  # noqa: E731
    elif item.command[0] == "GET":
        produce = lambda i: _request(i, make_client)  # noqa: E731
    elif item.setup.startswith("serving "):
        produce = lambda i: _served_command(i, tmp_path)  # noqa: E731
    else:
        assert item.setup == "", f"{page}:{block.line}: unknown setup {item.setup!r}"
        produce = _command
    if block.language == "json" and item.expected.startswith('"'):
        # A fragment of a document (`"key": …`) is compared as data with that key of the real one;
        # whole documents are compared as text (the PACC document's bytes are its digest).
        printed = produce(item)
        expected_data, actual_data = json_data(item.expected), json_data(printed)
        actual_data = {key: actual_data[key] for key in expected_data}
        assert actual_data == expected_data, (
            f"{page}:{block.line}: {block.marker}\n--- real output:\n{printed}"
        )
        return
    expected, actual = compare(item, produce)
    assert actual == expected, f"{page}:{block.line}: {block.marker}\n--- real output:\n{actual}"
